"""The warm runner: a background process that serves `augment run` and `augment generate`
with torch, Prefect and MLflow already imported.

A fresh Python process pays about 10 s to import them (and torch's first optimiser 2.5 s
more) before any work: every invocation paid it again. After the first `augment run` of
an artifacts home ends, it leaves this runner behind; a later `augment run` or `augment
generate` hands it the command line, working folder, environment and terminal (stdin,
stdout and stderr), and the runner forks a copy of itself that runs the command exactly as
the CLI would, writing to the caller's terminal. The caller waits, passes Ctrl-C on, and
exits with the copy's status. Where no runner answers, the command runs in its own
process as before.

It is visible and bounded, like the local Prefect server (flows/local_server.py):
- `augment server status` shows it (PID, idle time), `augment server stop` stops it;
- it stops by itself after AUGMENT_SERVER_IDLE seconds (default 900) without a command;
- AUGMENT_RUNNER=0 turns it off (nothing is started or used), as does AUGMENT_EPHEMERAL=1;
- it listens on a Unix socket in a folder only its user can open, answers only its own user
  (the peer's credentials are checked), and serves only callers with the same Python, the
  same code and the same settings (AUGMENT_*, PREFECT_*, MLFLOW_*, thread and CUDA
  variables), in the runner's own context as the system tells it (ids, groups, namespaces,
  root, cgroup, limits, umask: pipeline.processes.context_differences); any other caller
  runs in its own process, told in a `note:` line where its context differed. A runner whose code changed on
  disk, or whose home's local Prefect server was replaced (its Prefect points at the old
  one), stops at the next call.
Its files, status and stop, which `augment server` uses too, are in flows/runner_state.py.

This module is the `augment` entry point: it imports nothing heavy until it knows where the
command will run.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from flows.runner_state import IDLE_SECONDS, runner_files, socket_path, status
from flows.settings import artifacts_root, check_environment
from pipeline.processes import context_differences, hold_locked, record_own_pid

SERVED = ("run", "generate")  # the commands that import torch, Prefect and MLflow
SETTING_PREFIXES = (
    "AUGMENT_",
    "PREFECT_",
    "MLFLOW_",
    "OMP_",
    "MKL_",
    "CUDA_",
    "TORCH",
    "PYTORCH_",
    "PYTHON",
    "HF_",
    "DO_NOT_TRACK",
    "GIT_PYTHON",
)
MAX_MESSAGE = 1 << 20


def main() -> None:
    """`augment ...`: served by the warm runner where one is ready, else run here (and, for a
    served command, a runner is left behind for the next one)."""
    argv, env = sys.argv[1:], dict(os.environ)  # the environment as given, before the command sets defaults
    served = bool(argv) and argv[0] in SERVED and enabled() and _environment_ok()
    if served:
        code = run_in_runner(argv)
        if code is not None:
            sys.exit(code)
    try:
        from flows.cli import app

        app()
    finally:
        if served:
            start_in_background(_root(), env)


def _environment_ok() -> bool:
    """Whether the environment passes the command's own check: with a bad one (an empty
    AUGMENT_HOME, a threads count that is not a number) the command refuses it here, in this
    process, and no runner is asked or started for a home the command did not mean."""
    try:
        check_environment()
    except Exception:  # noqa: BLE001 - the command itself says what is wrong
        return False
    return True


def enabled() -> bool:
    """Off with AUGMENT_RUNNER=0, and with Prefect's own temporary server (AUGMENT_EPHEMERAL=1),
    which lives and dies with one process."""
    return os.environ.get("AUGMENT_RUNNER", "1") != "0" and os.environ.get("AUGMENT_EPHEMERAL") != "1"


def _root() -> Path:
    return artifacts_root()


def fingerprint(env: dict[str, str]) -> str:
    """What must match for a runner to serve a caller: Python, the code on disk, the settings."""
    code = []
    for package in (Path(__file__).parent, Path(__file__).parent.parent / "pipeline"):
        for path in sorted(package.rglob("*.py")):
            stat = path.stat()
            code.append(f"{path}:{stat.st_mtime_ns}:{stat.st_size}")
    settings = sorted((k, v) for k, v in env.items() if k.startswith(SETTING_PREFIXES))
    text = json.dumps([sys.executable, code, settings])
    return hashlib.sha256(text.encode()).hexdigest()


# --- the caller's side ---------------------------------------------------------------------


def run_in_runner(argv: list[str]) -> int | None:
    """The command's exit status as served by this home's runner, or None where none serves it."""
    try:
        path = socket_path(_root())
    except OSError:
        return None
    if not path.exists():
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        conn.connect(str(path))
        request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "fingerprint": fingerprint(os.environ)}
        socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
        answer = _receive(conn)
    except OSError:
        conn.close()
        return None
    if answer is None or "pid" not in answer:  # refused: another Python, code, settings or context
        conn.close()
        if answer and answer.get("context"):
            print(
                "note: this command runs in its own process, not in the warm runner, whose context differs "
                "from this command's: " + ", ".join(answer["context"]),
                file=sys.stderr,
            )
        return None
    return _wait(conn, answer["pid"])


def _wait(conn: socket.socket, pid: int) -> int:
    """Pass Ctrl-C and termination on to the job; its exit status when it ends."""

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            pass

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    with conn:
        while True:
            message = _receive(conn)
            if message is None:
                print("augment: the warm runner's job ended without an exit status", file=sys.stderr)
                return 1
            if "exit" in message:
                return int(message["exit"])


def _receive(conn: socket.socket) -> dict | None:
    data = conn.recv(MAX_MESSAGE)
    return json.loads(data) if data else None


def start_in_background(root: Path, env: dict[str, str]) -> None:
    """Start this home's runner, with the environment the command was given (so it serves the
    next command given the same), unless one runs or is starting; never fails the command."""
    if not enabled():
        return
    try:
        files = runner_files(root)
        files["home"].mkdir(parents=True, exist_ok=True)
        with open(files["lock"], "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # another command is starting it
            if status(root) is not None:
                return
            fd = hold_locked(files["state"], {"pid": None, "started": time.time(), "ready": False})
            if fd is None:
                return  # a runner of this home still runs (or is going away)
            try:
                with open(files["log"], "ab") as log:
                    process = subprocess.Popen(
                        [sys.executable, "-m", "flows.runner", str(root), str(fd)],
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=log,
                        start_new_session=True,
                        pass_fds=(fd,),
                        cwd=str(Path(__file__).parent.parent),
                        env=env,
                    )
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps({"pid": process.pid, "started": time.time(), "ready": False}).encode(), 0)
            finally:
                os.close(fd)  # the runner holds the state file's lock for its whole life now
    except OSError:
        return


# --- the runner's side ---------------------------------------------------------------------


class Runner:
    """The serving loop: one forked copy per command, until idle or told to stop."""

    def __init__(self, root: Path, lock_fd: int | None = None) -> None:
        from flows.settings import configure_environment

        self.root, self.spawn_env, self.lock_fd = root, dict(os.environ), lock_fd
        configure_environment(root)
        self.api_url = _point_prefect_at_local_server(root)
        _warm_imports()
        self.mine = fingerprint(self.spawn_env)
        self.path = socket_path(root)
        self.jobs: set[int] = set()
        self.stopping = False

    def serve(self) -> "Job | None":
        """Serve until idle or stopped (then None); returns in a forked copy only, with its job."""
        import select

        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.path.unlink(missing_ok=True)
        listener.bind(str(self.path))
        os.chmod(self.path, 0o600)
        listener.listen(16)
        state = runner_files(self.root)["state"]
        state.write_text(json.dumps({"pid": os.getpid(), "started": time.time(), "ready": True}))
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: setattr(self, "stopping", True))
        last = time.time()
        while not self.stopping:
            ready, _, _ = select.select([listener], [], [], 1.0)
            self.jobs = {pid for pid in self.jobs if not _reaped(pid)}
            if ready:
                conn, _ = listener.accept()
                last = time.time()
                os.utime(self.path)
                job = self._handle(conn, listener)
                if job is not None:  # this is the forked copy
                    return job
            elif not self.jobs and time.time() - last > IDLE_SECONDS:
                break
        listener.close()
        self.path.unlink(missing_ok=True)
        return None  # the state file's lock goes with this process: no runner is seen from then on

    def _handle(self, conn: socket.socket, listener: socket.socket) -> "Job | None":
        """Check the caller, then fork: the copy gets the job, this process keeps nothing of it."""
        with conn:
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            caller, uid, gid = struct.unpack("3i", creds)
            if uid != os.getuid():
                return None
            try:
                data, fds, _, _ = socket.recv_fds(conn, MAX_MESSAGE, 3)
                request = json.loads(data)
            except (OSError, ValueError):
                return None
            refusal = self._refusal(request, fds)
            differences = [] if refusal else context_differences(caller, uid, gid, request.get("cwd"))
            if differences:  # the caller is told: it would not expect its command to run elsewhere
                refusal = "its context differs from this runner's: " + ", ".join(differences)
            if refusal:
                for fd in fds:
                    os.close(fd)
                conn.send(json.dumps({"refused": refusal, "context": differences}).encode())
                _log(f"refused pid {caller}: {refusal}" + ("; stopping" if self.stopping else ""))
                return None
            pid = os.fork()
            if pid == 0:
                listener.close()
                if self.lock_fd is not None:
                    os.close(self.lock_fd)  # a job that outlives the runner is not the runner
                return Job(conn.dup(), request, fds)
            self.jobs.add(pid)
            for fd in fds:
                os.close(fd)
            _log(f"served `{' '.join(request['argv'][:1])}` for pid {caller} as pid {pid}")
            return None

    def _refusal(self, request: dict, fds: list[int]) -> str:
        """Why this runner cannot serve the request ('' when it can); it stops when it never
        could again (its code changed on disk, or its home's local server is not the one its
        Prefect points at)."""
        if len(fds) != 3:
            return "no terminal passed"
        if request.get("fingerprint") != self.mine:
            self.stopping = fingerprint(self.spawn_env) != self.mine
            return "different Python, code or settings"
        if self.api_url is not None:
            from flows import local_server

            server = local_server.status(self.root)
            if server is None or server["url"] != self.api_url:
                self.stopping = True
                return "the home's local Prefect server is not the one this runner's Prefect points at"
        return ""


def _log(line: str) -> None:
    """One line in <home>/runner/runner.log (this process's stdout)."""
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}", flush=True)


def _point_prefect_at_local_server(root: Path) -> str | None:
    """Prefect fixes its settings, the API URL among them, when it is imported: point this
    process at the URL the commands will use, the home's local server (started if none runs),
    as the CLI does before its own import. None where the commands name a server themselves
    (PREFECT_API_URL, part of the fingerprint)."""
    if os.environ.get("PREFECT_API_URL"):
        return None
    from flows.local_server import ensure

    os.environ["PREFECT_API_URL"] = url = ensure(root)
    os.environ.setdefault("PREFECT_UI_URL", "")  # as flows.local_server.api_for_run
    return url


def _warm_imports() -> None:
    """What every served command imports. No thread may be running and no torch op has run
    when the runner forks, so the copies start clean: checked here."""
    import threading

    import torch

    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])  # imports torch._dynamo (2.5 s)
    import flows.augment  # noqa: F401 - Prefect, MLflow, pandas, scikit-learn, the pipeline
    import flows.cli  # noqa: F401
    import flows.generate  # noqa: F401

    if threading.active_count() != 1:
        raise RuntimeError(f"threads running before the runner forks: {threading.enumerate()}")


def _reaped(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == pid


class Job:
    """One command in a forked copy of the runner: it takes over the caller's terminal, folder
    and environment and runs the command as the CLI would."""

    def __init__(self, conn: socket.socket, request: dict, fds: list[int]) -> None:
        self.conn, self.request, self.fds = conn, request, fds
        self.done = False

    def run(self) -> int:
        """The command's exit status, also sent to the caller; the interpreter then exits as
        after any command (exit handlers run)."""
        import threading
        import traceback

        self._take_over()
        threading.Thread(target=self._watch_caller, daemon=True).start()
        code = 1
        try:
            from flows.cli import app

            app(args=self.request["argv"], prog_name="augment")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except KeyboardInterrupt:
            code = 130
        except BaseException:  # noqa: BLE001 - printed as the CLI would print it
            traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        self.done = True
        try:
            self.conn.send(json.dumps({"exit": code}).encode())
        except OSError:
            pass
        return code

    def _take_over(self) -> None:
        import io

        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in zip((0, 1, 2), self.fds):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdin = io.TextIOWrapper(open(0, "rb", closefd=False), encoding="utf-8", errors="replace")
        sys.stdout = io.TextIOWrapper(open(1, "wb", closefd=False), encoding="utf-8", line_buffering=os.isatty(1))
        sys.stderr = io.TextIOWrapper(open(2, "wb", closefd=False), encoding="utf-8", line_buffering=True)
        os.chdir(self.request["cwd"])
        os.environ.clear()
        os.environ.update(self.request["env"])
        self.conn.send(json.dumps({"pid": os.getpid()}).encode())

    def _watch_caller(self) -> None:
        """The caller went away (killed) while the command runs: stop it as Ctrl-C would."""
        try:
            while self.conn.recv(MAX_MESSAGE):
                pass
        except OSError:
            pass
        if not self.done:
            os.kill(os.getpid(), signal.SIGINT)


if __name__ == "__main__":
    if len(sys.argv) > 2:
        record_own_pid(int(sys.argv[2]))
    job = Runner(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else None).serve()
    if job is not None:
        sys.exit(job.run())
