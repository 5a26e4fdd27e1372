"""Static checks of docker-compose.yml (Docker's engine is not needed, nothing is started).

The compose stack must have the topology of scripts/stack.sh: the same programs with the
same subcommands and options for the Prefect server, the MLflow server, the work pools and
the workers. The commands are read from scripts/stack.sh; where that script is absent the
test falls back to STACK_FALLBACK below.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
STACK_SH = ROOT / "scripts" / "stack.sh"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
GPU_JOB_VARIABLES = ROOT / "docker" / "gpu-pool-job-variables.json"

ONE_SHOT = {"minio-init", "pools", "check-secrets"}
LONG_RUNNING = {
    "postgres",
    "prefect-server",
    "mlflow",
    "minio",
    "worker-cpu",
    "worker-gpu",
    "dask-scheduler",
    "dask-worker",
}
APP_IMAGE_SERVICES = {
    "prefect-server",
    "mlflow",
    "minio-init",
    "pools",
    "worker-cpu",
    "worker-gpu",
    "dask-scheduler",
    "dask-worker",
}
WORKERS = {"worker-cpu": "cpu", "worker-gpu": "gpu"}

EXPECTED_DEPENDS = {
    "postgres": {"check-secrets": "service_completed_successfully"},
    "minio": {"check-secrets": "service_completed_successfully"},
    "prefect-server": {"postgres": "service_healthy"},
    "minio-init": {"minio": "service_healthy"},
    "mlflow": {
        "postgres": "service_healthy",
        "minio": "service_healthy",
        "minio-init": "service_completed_successfully",
    },
    "pools": {"prefect-server": "service_healthy"},
    "worker-cpu": {
        "prefect-server": "service_healthy",
        "mlflow": "service_healthy",
        "pools": "service_completed_successfully",
        "dask-scheduler": "service_healthy",
    },
    "worker-gpu": {
        "prefect-server": "service_healthy",
        "mlflow": "service_healthy",
        "pools": "service_completed_successfully",
        "dask-scheduler": "service_healthy",
    },
    "dask-worker": {
        "dask-scheduler": "service_healthy",
        "prefect-server": "service_healthy",
        "mlflow": "service_healthy",
    },
}

WORKER_ENV = {
    "PREFECT_API_URL": "http://prefect-server:4200/api",
    "MLFLOW_TRACKING_URI": "http://mlflow:5000",
    "AUGMENT_HOME": "/data",
    "AUGMENT_PROJECT_DIR": "/app",  # prefect.yaml: set_working_directory {{ $AUGMENT_PROJECT_DIR }}
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
    "AUGMENT_DASK_ADDRESS": "tcp://dask-scheduler:8786",  # the engine (scripts/stack.sh exports it too)
}

# Options compose may add to a stack.sh command, and why.
COMPOSE_ONLY_OPTIONS = {
    "mlflow server": {"--allowed-hosts"},  # Host header is mlflow:5000, not localhost
    "work-pool create": {"--overwrite"},  # a one-shot job instead of `inspect || create`
    "worker start": {"--with-healthcheck"},  # the container healthcheck calls it
}

# The stack.sh commands, for a checkout without scripts/stack.sh.
STACK_FALLBACK = {
    "server start": 'prefect server start --host "$HOST" --port "$PREFECT_PORT"',
    "mlflow server": 'mlflow server --backend-store-uri "$MLFLOW_DB_URL" --artifacts-destination "$DIR" '
    '--serve-artifacts --host "$HOST" --port "$MLFLOW_PORT" --workers 1',
    "work-pool create": 'prefect --no-prompt work-pool create "$pool" --type process',
    "set-concurrency-limit": 'prefect --no-prompt work-pool set-concurrency-limit gpu "$GPU_SLOTS"',
    "worker start": 'prefect worker start --pool "$pool" --type process --name "$name" --limit "$limit"',
}
STACK_FALLBACK_POOLS = ["gpu", "cpu"]

# Options that take no value (so the next word is not read as their value).
FLAGS = {
    "--no-prompt",
    "--prompt",
    "--serve-artifacts",
    "--no-serve-artifacts",
    "--overwrite",
    "--no-overwrite",
    "--with-healthcheck",
    "--no-with-healthcheck",
    "--run-once",
    "--no-dashboard",
}

SECRET_KEY = re.compile(r"(PASSWORD|SECRET|TOKEN|ACCESS_KEY)", re.I)


# ---------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def compose() -> dict:
    assert COMPOSE.exists(), f"{COMPOSE} is missing"
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def argv(command) -> list[str]:
    """A compose command (string or list) as argv; `sh -c SCRIPT` stays one script token.

    ${VAR:?message} becomes ${VAR} first: compose interpolates before it splits the words,
    so a message with spaces does not split an argument.
    """
    if isinstance(command, list):
        return [unrequire(str(part)) for part in command]
    return shlex.split(unrequire(command))


def unrequire(text: str) -> str:
    return re.sub(r"\$\{([A-Za-z0-9_]+):?\?[^}]*\}", r"${\1}", text)


def parse(tokens: list[str]) -> tuple[list[str], dict[str, str | None]]:
    """Positional words and --options (value or None for a flag) of one command line."""
    words: list[str] = []
    options: dict[str, str | None] = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in {"&&", "||", ";", "|"} or tok.startswith((">", "2>", "<")):
            break
        if tok.startswith("--"):
            if tok in FLAGS:
                options[tok] = None
            elif "=" in tok:
                key, value = tok.split("=", 1)
                options[key] = value
            elif i + 1 < len(tokens) and not tokens[i + 1].startswith("-") and not tokens[i + 1].startswith(">"):
                options[tok] = tokens[i + 1]
                i += 1
            else:
                options[tok] = None
        else:
            words.append(tok)
        i += 1
    return words, options


def compose_commands(services: dict) -> dict[str, list[list[str]]]:
    """Command lines of the compose services, keyed like STACK_FALLBACK."""
    found: dict[str, list[list[str]]] = {}

    def add(tokens: list[str]) -> None:
        words, _ = parse(tokens)
        for key in STACK_FALLBACK:
            if " ".join(words).find(key) != -1 and words and Path(words[0]).name in {"prefect", "mlflow"}:
                found.setdefault(key, []).append(tokens)

    for svc in services.values():
        if "command" not in svc:
            continue
        tokens = argv(svc["command"])
        if tokens[:2] == ["sh", "-c"]:
            for line in re.split(r"&&|;|\n", tokens[2]):
                if line.strip():
                    add(shlex.split(unrequire(line)))
        else:
            add(tokens)
    return found


def stack_commands() -> tuple[dict[str, list[list[str]]], list[str], str]:
    """Command lines of scripts/stack.sh (or the fallback), its pool names, and the source."""
    if not STACK_SH.exists():
        return {k: [shlex.split(v)] for k, v in STACK_FALLBACK.items()}, STACK_FALLBACK_POOLS, "STACK_FALLBACK"
    text = re.sub(r"\\\n\s*", " ", STACK_SH.read_text())  # join continued lines
    found: dict[str, list[list[str]]] = {}
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        for part in re.split(r'(?="\$BIN/)', line):  # `a || b` on one line: two commands
            m = re.match(r'"\$BIN/(prefect|mlflow)"(.*)', part)
            if not m:
                continue
            try:
                tokens = [m.group(1)] + shlex.split(m.group(2), comments=True)
            except ValueError:
                continue
            joined = " ".join(parse(tokens)[0])
            for key in STACK_FALLBACK:
                if key in joined:
                    found.setdefault(key, []).append(tokens)
    pools_m = re.search(r"for pool in ([\w ]+); do", text)
    pools = pools_m.group(1).split() if pools_m else []
    return found, pools, str(STACK_SH.relative_to(ROOT))


def env_of(svc: dict) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


# ---------------------------------------------------------------- structure
def test_expected_services(services):
    missing = (ONE_SHOT | LONG_RUNNING) - set(services)
    assert not missing, f"docker-compose.yml lacks services {sorted(missing)}"


def test_long_running_services_have_healthchecks(services):
    for name in sorted(LONG_RUNNING):
        check = services[name].get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"service {name!r} has no healthcheck"
        assert services[name].get("restart") in {"unless-stopped", "always"}, (
            f"service {name!r} should restart (restart: unless-stopped), has {services[name].get('restart')!r}"
        )
    for name in sorted(ONE_SHOT):
        assert services[name].get("restart") in {None, "no"}, (
            f'one-shot service {name!r} must not restart (restart: "no"), has {services[name].get("restart")!r}'
        )


def test_healthcheck_targets(services):
    def test_of(name):
        t = services[name]["healthcheck"]["test"]
        return " ".join(t) if isinstance(t, list) else t

    assert "pg_isready" in test_of("postgres"), "postgres healthcheck should run pg_isready"
    assert "localhost:4200/api/health" in test_of("prefect-server"), (
        "prefect-server healthcheck should GET http://localhost:4200/api/health"
    )
    assert "localhost:5000/health" in test_of("mlflow"), "mlflow healthcheck should GET http://localhost:5000/health"
    for name in WORKERS:
        assert "--with-healthcheck" in argv(services[name]["command"]), (
            f"{name} healthcheck calls the worker's /health, but its command lacks --with-healthcheck"
        )


def test_depends_on_conditions(services):
    for name, expected in EXPECTED_DEPENDS.items():
        deps = services[name].get("depends_on") or {}
        assert isinstance(deps, dict), f"{name}: depends_on must be a mapping with conditions, got a list {deps}"
        got = {dep: (spec or {}).get("condition") for dep, spec in deps.items()}
        assert got == expected, f"{name}: depends_on conditions are {got}, expected {expected}"


def test_published_ports_bind_loopback_by_default(services):
    published = set()
    for name, svc in services.items():
        for port in svc.get("ports") or []:
            if isinstance(port, dict):
                assert port.get("host_ip") in {"${BIND:-127.0.0.1}", "127.0.0.1"}, (
                    f"{name}: port {port} must bind to ${{BIND:-127.0.0.1}}"
                )
                published.add(int(port["published"]))
                continue
            m = re.fullmatch(r"\$\{BIND:-127\.0\.0\.1\}:(\d+):(\d+)", str(port))
            assert m, (
                f'{name}: port {port!r} must look like "${{BIND:-127.0.0.1}}:HOST:CONTAINER" (loopback by default)'
            )
            published.add(int(m.group(1)))
    for port in (4200, 5000, 9001):
        assert port in published, f"port {port} is not published (expected on ${{BIND:-127.0.0.1}})"
    assert "postgres" not in {n for n, s in services.items() if s.get("ports")}, "postgres should not publish a port"


def test_images_and_build(services):
    for name, svc in services.items():
        assert svc.get("image"), f"service {name!r} has no image"
    app_images = {services[n]["image"] for n in APP_IMAGE_SERVICES}
    assert len(app_images) == 1, f"the application services should share one image, got {app_images}"
    for name in sorted(APP_IMAGE_SERVICES):
        build = services[name].get("build") or {}
        assert build.get("dockerfile") == "docker/Dockerfile" and build.get("context") == ".", (
            f"{name}: build should be context '.' with dockerfile docker/Dockerfile, got {build}"
        )
    assert services["postgres"]["image"].startswith("postgres:15"), (
        f"postgres should be PostgreSQL 15, got {services['postgres']['image']!r}"
    )
    docker = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", docker, re.M), "docker/Dockerfile should build FROM python:3.11-slim"
    assert re.search(r"pip install\b.*\bboto3", docker), (
        "docker/Dockerfile should pip install boto3 (MLflow's S3 store)"
    )
    assert re.search(r"pip install (--no-deps )?\.", docker), "docker/Dockerfile should `pip install .` the project"
    ignore = [
        line.strip()
        for line in (ROOT / "docker" / "Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert ignore and (ignore[0] == "*" or ".venv" in ignore), (
        "docker/Dockerfile.dockerignore must keep .venv out of the build context"
    )


def test_postgres_creates_both_databases(services):
    pg = services["postgres"]
    assert env_of(pg).get("POSTGRES_DB") == "prefect", "postgres should create the `prefect` database (POSTGRES_DB)"
    mounts = [v for v in pg.get("volumes") or [] if "docker-entrypoint-initdb.d" in str(v)]
    assert mounts, "postgres needs an init script in /docker-entrypoint-initdb.d for the mlflow database"
    script = ROOT / str(mounts[0]).split(":")[0]
    assert re.search(r"CREATE DATABASE\s+\"?mlflow", script.read_text(), re.I), (
        f"{script} should CREATE DATABASE mlflow"
    )


def test_no_secret_literals(services):
    text = COMPOSE.read_text()
    assert not re.search(r"://[^\s:/@]+:(?!\$\{)[^\s@]+@", text), (
        "a connection URL in docker-compose.yml has a literal password; use ${POSTGRES_PASSWORD}"
    )
    for name, svc in services.items():
        for key, value in env_of(svc).items():
            if SECRET_KEY.search(key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+(:?[?-][^}]*)?\}", value), (
                    f"{name}: {key} is a literal ({value!r}); take it from .env as ${{VAR}}"
                )
    example = (ROOT / ".env.example").read_text()
    values = dict(
        line.split("=", 1) for line in example.splitlines() if "=" in line and not line.lstrip().startswith("#")
    )
    for key, value in values.items():
        if SECRET_KEY.search(key):
            assert value not in text, f"the example value of {key} appears literally in docker-compose.yml"
    required = set(re.findall(r"\$\{([A-Z0-9_]+):?\?", text))
    assert required <= set(values), (
        f"variables required by docker-compose.yml are missing from .env.example: {sorted(required - set(values))}"
    )
    gitignore = (ROOT / ".gitignore").read_text().split()
    assert ".env" in gitignore, ".env must be git-ignored"
    for name in sorted(set(WORKERS) | {"pools"}):
        assert "env_file" not in services[name], f"{name} should not get the .env secrets (env_file)"
    for name in ("postgres", "minio", "minio-init"):
        assert services[name].get("env_file") in (".env", [".env"]), (
            f"{name} should read its secrets with env_file: .env"
        )


def test_gpu_worker_reserves_nvidia_devices(services):
    devices = services["worker-gpu"].get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices") or []
    assert devices, "worker-gpu has no deploy.resources.reservations.devices"
    dev = devices[0]
    assert dev.get("driver") == "nvidia", f"worker-gpu device driver is {dev.get('driver')!r}, expected nvidia"
    assert "gpu" in (dev.get("capabilities") or []), (
        f"worker-gpu device capabilities {dev.get('capabilities')} lack gpu"
    )
    assert str(dev.get("count")) == "${GPU_COUNT:-1}", (
        f"worker-gpu device count should be ${{GPU_COUNT:-1}}, got {dev.get('count')!r}"
    )
    assert "deploy" not in services["worker-cpu"], "worker-cpu should not reserve GPUs"


def test_workers_environment_and_volume(services):
    for name in WORKERS:
        env = env_of(services[name])
        for key, value in WORKER_ENV.items():
            assert env.get(key) == value, f"{name}: {key}={env.get(key)!r}, expected {value!r}"
        assert any(str(v).endswith(":/data") for v in services[name].get("volumes") or []), (
            f"{name} should mount the shared output volume at /data"
        )
    a, b = (services[n].get("volumes") for n in WORKERS)
    assert a == b, f"the workers should share one output volume, got {a} and {b}"


def test_dask_engine_as_in_the_local_stack(services):
    """A scheduler and its workers as scripts/stack.sh starts them: one process and one thread
    per worker, the Prefect workers pointed at the scheduler, the Dask workers with what runs
    a flow (the tracking and Prefect servers, the data volume) but no address of their own."""
    text = re.sub(r"\\\n\s*", " ", STACK_SH.read_text())
    stack_worker = parse(shlex.split(re.search(r'"\$BIN/dask" (worker [^\n]*)', text).group(1)))[1]
    words, opts = parse(argv(services["dask-scheduler"]["command"]))
    assert words[:2] == ["dask", "scheduler"] and opts.get("--port") == "8786", words
    assert "localhost:8787/health" in " ".join(services["dask-scheduler"]["healthcheck"]["test"])
    words, opts = parse(argv(services["dask-worker"]["command"]))
    assert words == ["dask", "worker", "tcp://dask-scheduler:8786"], words
    for option in ("--nworkers", "--nthreads", "--no-dashboard"):
        assert opts.get(option, "absent") == stack_worker.get(option), (option, opts, stack_worker)
    port = opts["--dashboard-address"].rsplit(":", 1)[1]
    assert f"localhost:{port}/health" in " ".join(services["dask-worker"]["healthcheck"]["test"])
    env = env_of(services["dask-worker"])
    for key in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI", "AUGMENT_HOME"):
        assert env.get(key) == WORKER_ENV[key], f"dask-worker: {key}={env.get(key)!r}"
    assert "AUGMENT_DASK_ADDRESS" not in env, "a Dask worker runs its data set's gate itself"
    assert services["dask-worker"].get("volumes") == services["worker-gpu"].get("volumes")


def test_mlflow_server_setup(services):
    words, opts = parse(argv(services["mlflow"]["command"]))
    env = env_of(services["mlflow"])
    assert (opts.get("--artifacts-destination") or "").startswith("s3://"), (
        "mlflow --artifacts-destination should be an s3:// bucket on MinIO, "
        f"got {opts.get('--artifacts-destination')!r}"
    )
    assert (opts.get("--backend-store-uri") or "").startswith("postgresql://") and opts["--backend-store-uri"].endswith(
        "@postgres:5432/mlflow"
    ), (
        "mlflow --backend-store-uri should be postgresql://...@postgres:5432/mlflow, "
        f"got {opts.get('--backend-store-uri')!r}"
    )
    assert env.get("MLFLOW_S3_ENDPOINT_URL") == "http://minio:9000", (
        "mlflow needs MLFLOW_S3_ENDPOINT_URL=http://minio:9000"
    )
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(env), (
        "mlflow needs AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
    )
    # MLflow 3 rejects Host headers that are not localhost or private IPs (DNS-rebinding guard)
    hosts_opt = opts.get("--allowed-hosts") or ""
    m = re.fullmatch(r"\$\{MLFLOW_ALLOWED_HOSTS:-(.*)\}", hosts_opt)
    hosts = (m.group(1) if m else hosts_opt).split(",")
    for host in ("mlflow:5000", "localhost:5000", "127.0.0.1:5000"):
        assert any(fnmatch.fnmatch(host, pattern) for pattern in hosts), (
            f"mlflow --allowed-hosts {hosts} does not admit Host {host!r}; requests to it would be refused"
        )


def test_prefect_ui_api_url_reachable_from_browser(services):
    env = env_of(services["prefect-server"])
    assert "127.0.0.1:4200/api" in env.get("PREFECT_UI_API_URL", ""), (
        "prefect-server should set PREFECT_UI_API_URL to a browser address (default http://127.0.0.1:4200/api)"
    )
    assert env.get("PREFECT_SERVER_ANALYTICS_ENABLED") == "false", "prefect-server should disable analytics"
    url = env.get("PREFECT_API_DATABASE_CONNECTION_URL", "")
    assert url.startswith("postgresql+asyncpg://") and url.endswith("@postgres:5432/prefect"), (
        f"PREFECT_API_DATABASE_CONNECTION_URL should be postgresql+asyncpg://...@postgres:5432/prefect, got {url!r}"
    )


# ---------------------------------------------------------------- same commands as the local stack
@pytest.mark.parametrize("against", ["stack.sh", "fallback"])
def test_commands_match_local_stack(services, against):
    if against == "stack.sh":
        stack, _, source = stack_commands()
    else:  # the constants used where scripts/stack.sh is absent must agree too
        stack, source = {k: [shlex.split(v)] for k, v in STACK_FALLBACK.items()}, "STACK_FALLBACK"
    mine = compose_commands(services)
    for key in STACK_FALLBACK:
        assert stack.get(key), f"{source} has no `{key}` command (the comparison would be empty)"
        assert mine.get(key), f"docker-compose.yml has no `{key}` command, {source} has {stack[key][0]}"
        s_words, s_opts = parse(stack[key][0])
        allowed_extra = COMPOSE_ONLY_OPTIONS.get(key, set())
        for tokens in mine[key]:
            c_words, c_opts = parse(tokens)
            assert [Path(c_words[0]).name] + c_words[1:3] == [Path(s_words[0]).name] + s_words[1:3], (
                f"`{key}`: compose runs {c_words[:3]}, {source} runs {s_words[:3]}"
            )
            for i, word in enumerate(s_words[1:], 1):
                if "$" not in word:
                    assert i < len(c_words) and c_words[i] == word, (
                        f"`{key}`: compose runs {c_words}, {source} has {word!r} at position {i}: {s_words}"
                    )
            missing = set(s_opts) - set(c_opts)
            assert not missing, f"`{key}` in docker-compose.yml lacks options {sorted(missing)} that {source} passes"
            extra = set(c_opts) - set(s_opts) - allowed_extra
            assert not extra, (
                f"`{key}` in docker-compose.yml has options {sorted(extra)} that {source} does not pass "
                "(add them to the stack or to COMPOSE_ONLY_OPTIONS with a reason)"
            )
            for opt, value in s_opts.items():
                if value is not None and "$" not in value:
                    assert c_opts[opt] == value, f"`{key}` {opt}: compose has {c_opts[opt]!r}, {source} has {value!r}"


def test_pools_ports_and_names(services):
    _, stack_pools, source = stack_commands()
    mine = compose_commands(services)
    created = {parse(t)[0][3] for t in mine["work-pool create"]}
    assert created == set(stack_pools) == {"gpu", "cpu"}, (
        f"pools created: compose {sorted(created)}, {source} {stack_pools}, expected gpu and cpu"
    )
    for tokens in mine["work-pool create"]:
        assert parse(tokens)[1].get("--type") == "process", f"pool create should use --type process: {tokens}"
    limit_words, _ = parse(mine["set-concurrency-limit"][0])
    assert limit_words[3:] == ["gpu", "${GPU_COUNT:-1}"], (
        f"the gpu pool's concurrency should be ${{GPU_COUNT:-1}} (one per GPU), got {limit_words[3:]}"
    )
    for name, pool in WORKERS.items():
        _, opts = parse(argv(services[name]["command"]))
        assert opts.get("--pool") == pool and opts.get("--type") == "process", (
            f"{name} should run `prefect worker start --pool {pool} --type process`, got {opts}"
        )
    _, server = parse(mine["server start"][0])
    assert server.get("--host") == "0.0.0.0" and server.get("--port") == "4200", (
        f"prefect-server should listen on 0.0.0.0:4200 inside the container, got {server}"
    )
    _, ml = parse(mine["mlflow server"][0])
    assert ml.get("--host") == "0.0.0.0" and ml.get("--port") == "5000" and ml.get("--workers") == "1", (
        f"mlflow should listen on 0.0.0.0:5000 with --workers 1, got {ml}"
    )


# ---------------------------------------------------------------- docker work pool variables
def test_gpu_pool_job_variables():
    data = json.loads(GPU_JOB_VARIABLES.read_text())
    requests = (data.get("container_create_kwargs") or {}).get("device_requests") or []
    assert requests, f"{GPU_JOB_VARIABLES.name} lacks container_create_kwargs.device_requests"
    req = requests[0]
    assert req.get("driver") == "nvidia", f"device request driver is {req.get('driver')!r}, expected nvidia"
    assert req.get("capabilities") == [["gpu"]], (
        f"device request capabilities are {req.get('capabilities')}, expected [['gpu']]"
    )
    compose_text = COMPOSE.read_text()
    assert "docker/gpu-pool-job-variables.json" in compose_text, (
        "docker-compose.yml should point to docker/gpu-pool-job-variables.json in a comment"
    )
    compose = yaml.safe_load(compose_text)
    network = compose.get("networks", {}).get("default", {}).get("name")
    assert data.get("networks") == [network], (
        f"job variables attach flow runs to {data.get('networks')}, the compose network is named {network!r}"
    )
    volume = compose.get("volumes", {}).get("augment-data", {}).get("name")
    assert f"{volume}:/data" in data.get("volumes", []), f"job variables should mount the {volume!r} volume at /data"
    assert data.get("env", {}).get("PREFECT_API_URL") == WORKER_ENV["PREFECT_API_URL"], (
        "job variables need PREFECT_API_URL"
    )


@pytest.mark.parametrize(
    ("postgres", "minio", "refused"),
    [
        ("change-me-postgres", "s3cret-minio", True),
        ("s3cret-pg", "change-me-minio", True),
        ("", "x", True),
        ("s3cret-pg", "s3cret-minio", False),
    ],
)
def test_placeholder_secrets_are_refused(services, postgres, minio, refused):
    """The check-secrets service's script, run here with sh as the container would."""
    script = services["check-secrets"]["command"][0].replace("$$", "$")
    env = {"PATH": os.environ["PATH"], "POSTGRES_PASSWORD": postgres, "MINIO_ROOT_PASSWORD": minio}
    result = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True)
    assert (result.returncode != 0) == refused, result.stdout
    assert ("placeholder" in result.stdout) == refused
