#!/usr/bin/env bash
# The real stack as local processes on loopback, for machines without Docker:
# a private PostgreSQL cluster, the Prefect server and the MLflow tracking server on it,
# work pools `gpu` and `cpu`, process workers, and a Dask scheduler with its workers (the
# engine: the Prefect workers get AUGMENT_DASK_ADDRESS, so the gate's fits and a sweep's data
# sets run there). docker-compose.yml has the same topology.
#
#   scripts/stack.sh up       start what is not running (idempotent), wait for health
#   scripts/stack.sh down     stop everything this script started, by PID
#   scripts/stack.sh status   what runs, where, and its health
#   scripts/stack.sh env      the exports a shell needs to talk to the stack
#   scripts/stack.sh stop S   stop one service (e.g. mlflow, worker-gpu-1, dask-worker-1); `up` restarts it
#
# Settings (environment): STACK_DIR, STACK_HOST, STACK_PG_PORT (55432), STACK_PREFECT_PORT
# (4200), STACK_MLFLOW_PORT (5000), STACK_GPU_WORKERS (2), STACK_CPU_WORKERS (1),
# STACK_GPU_SLOTS (gpu pool concurrency: the number of GPUs, else STACK_GPU_WORKERS),
# STACK_DASK_PORT (8786), STACK_DASK_DASHBOARD_PORT (8787: the scheduler's /health),
# STACK_DASK_WORKERS (2; 0: no engine, the gate's fits stay on each run's own processes),
# STACK_BIN (the venv's bin), STACK_PG_BINDIR (where initdb and pg_ctl are).
#
# Everything lives under $STACK_DIR (default .stack/): data, logs, PID files, the MLflow
# artifact store, one home folder per worker (as if each worker were its own machine).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STACK_DIR="$(mkdir -p "${STACK_DIR:-$ROOT/.stack}" && cd "${STACK_DIR:-$ROOT/.stack}" && pwd)"
HOST="${STACK_HOST:-127.0.0.1}"
PG_PORT="${STACK_PG_PORT:-55432}"
PREFECT_PORT="${STACK_PREFECT_PORT:-4200}"
MLFLOW_PORT="${STACK_MLFLOW_PORT:-5000}"
GPU_WORKERS="${STACK_GPU_WORKERS:-2}"
CPU_WORKERS="${STACK_CPU_WORKERS:-1}"
DASK_PORT="${STACK_DASK_PORT:-8786}"
DASK_DASHBOARD_PORT="${STACK_DASK_DASHBOARD_PORT:-8787}"
DASK_WORKERS="${STACK_DASK_WORKERS:-2}"
BIN="${STACK_BIN:-$ROOT/.venv/bin}"
PG_USER=postgres

PREFECT_API_URL="http://$HOST:$PREFECT_PORT/api"
MLFLOW_URL="http://$HOST:$MLFLOW_PORT"
DASK_ADDRESS="tcp://$HOST:$DASK_PORT"
DASK_HTTP="http://$HOST:$DASK_DASHBOARD_PORT"
# PostgreSQL asks for a password (scram-sha-256): a random one, made on first use and kept in
# $STACK_DIR/pg-password, readable by its owner only
PG_PASSWORD_FILE="$STACK_DIR/pg-password"
if [ ! -s "$PG_PASSWORD_FILE" ]; then
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$PG_PASSWORD_FILE")
fi
PG_PASSWORD="$(cat "$PG_PASSWORD_FILE")"
export PGPASSWORD="$PG_PASSWORD"
PREFECT_DB_URL="postgresql+asyncpg://$PG_USER:$PG_PASSWORD@$HOST:$PG_PORT/prefect"
MLFLOW_DB_URL="postgresql://$PG_USER:$PG_PASSWORD@$HOST:$PG_PORT/mlflow"
PIDS="$STACK_DIR/pids"
LOGS="$STACK_DIR/logs"

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

gpu_count() {
    if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true; else echo 0; fi
}

# Training slots of the `gpu` pool: one per GPU; on a machine without GPUs the pool trains
# on the CPU, one flow run per gpu worker.
GPU_SLOTS="${STACK_GPU_SLOTS:-$(n=$(gpu_count); [ "$n" -gt 0 ] && echo "$n" || echo "$GPU_WORKERS")}"

# Quiet, offline, and fail fast on MLflow outages (a task retry then gets a clear error).
common_env() {
    export PREFECT_API_URL MLFLOW_TRACKING_URI="$MLFLOW_URL"
    export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=true MLFLOW_DISABLE_TELEMETRY=true
    export MLFLOW_HTTP_REQUEST_MAX_RETRIES="${MLFLOW_HTTP_REQUEST_MAX_RETRIES:-2}"
    export MLFLOW_HTTP_REQUEST_TIMEOUT="${MLFLOW_HTTP_REQUEST_TIMEOUT:-20}"
    export GIT_PYTHON_REFRESH=quiet OMP_NUM_THREADS=1
    export DASK_LOGGING__DISTRIBUTED=warning  # Dask logs every connection at INFO otherwise
}

# ---------------------------------------------------------------- PostgreSQL
pg_bindir() {
    local found
    for found in "${STACK_PG_BINDIR:-}" "$(dirname "$(command -v initdb 2>/dev/null || echo /x/x)")" /usr/lib/postgresql/*/bin; do
        [ -n "$found" ] && [ -x "$found/initdb" ] && [ -x "$found/pg_ctl" ] && { echo "$found"; return 0; }
    done
    return 1
}

ensure_postgres_installed() {
    pg_bindir >/dev/null && return 0
    [ "$(id -u)" -eq 0 ] || die "PostgreSQL binaries not found; install Debian's postgresql package (sudo apt-get install -y postgresql) or set STACK_PG_BINDIR"
    log "installing PostgreSQL (apt-get install postgresql)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    pg_bindir >/dev/null || die "PostgreSQL was installed but initdb/pg_ctl were not found"
}

as_pg() {  # PostgreSQL refuses to run as root: run its tools as the postgres user then
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_running() { local b; b="$(pg_bindir)" && as_pg "$b/pg_ctl" -D "$STACK_DIR/pgdata" status >/dev/null 2>&1; }

start_postgres() {
    ensure_postgres_installed
    local bindir; bindir="$(pg_bindir)"
    mkdir -p "$STACK_DIR/pgrun" "$LOGS"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$STACK_DIR/pgrun" "$LOGS"; fi
    if [ ! -s "$STACK_DIR/pgdata/PG_VERSION" ]; then
        log "initialising PostgreSQL cluster in $STACK_DIR/pgdata"
        mkdir -p "$STACK_DIR/pgdata"; [ "$(id -u)" -eq 0 ] && chown postgres "$STACK_DIR/pgdata"
        local pwfile="$STACK_DIR/pgrun/initdb-password"
        cp "$PG_PASSWORD_FILE" "$pwfile"; [ "$(id -u)" -eq 0 ] && chown postgres "$pwfile"
        as_pg "$bindir/initdb" -D "$STACK_DIR/pgdata" -U "$PG_USER" --auth=scram-sha-256 --pwfile="$pwfile" -E UTF8 \
            >"$LOGS/initdb.log" 2>&1 || { rm -f "$pwfile"; die "initdb failed, see $LOGS/initdb.log"; }
        rm -f "$pwfile"
    fi
    if pg_running; then
        log "postgres already running on $HOST:$PG_PORT"
    else
        log "starting postgres on $HOST:$PG_PORT"
        touch "$LOGS/postgres.log"; [ "$(id -u)" -eq 0 ] && chown postgres "$LOGS/postgres.log"
        as_pg "$bindir/pg_ctl" -D "$STACK_DIR/pgdata" -l "$LOGS/postgres.log" -w -t 60 \
            -o "-p $PG_PORT -k $STACK_DIR/pgrun -c listen_addresses=$HOST" start >/dev/null \
            || die "postgres did not start, see $LOGS/postgres.log (is port $PG_PORT taken? set STACK_PG_PORT)"
    fi
    local db
    for db in prefect mlflow; do
        if ! psql -h "$HOST" -p "$PG_PORT" -U "$PG_USER" -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1; then
            psql -h "$HOST" -p "$PG_PORT" -U "$PG_USER" -qc "CREATE DATABASE $db" >/dev/null
        fi
    done
}

stop_postgres() {
    pg_running || return 0
    log "stopping postgres"
    as_pg "$(pg_bindir)/pg_ctl" -D "$STACK_DIR/pgdata" -m fast -w stop >/dev/null || true
}

# ---------------------------------------------------------------- processes by PID
alive() { [ -s "$PIDS/$1.pid" ] && kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null; }

spawn() {  # spawn NAME CMD...: its own session, so stopping it stops its children too
    local name="$1"; shift
    mkdir -p "$PIDS" "$LOGS"
    if alive "$name"; then log "$name already running (pid $(cat "$PIDS/$name.pid"))"; return 0; fi
    log "starting $name"
    setsid "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
    echo $! >"$PIDS/$name.pid"
}

stop_pid() {  # INT first (Prefect workers ignore TERM for a while), then TERM, then KILL
    local name="$1" pid sig i
    [ -s "$PIDS/$name.pid" ] || return 0
    pid="$(cat "$PIDS/$name.pid")"
    if [[ "$name" == dask-* ]]; then  # a Dask nanny closes its worker in ~2 s; INT to the whole group took 20 s
        kill -INT "$pid" 2>/dev/null || true
        for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
    for sig in INT TERM KILL; do
        kill -0 "$pid" 2>/dev/null || break
        kill -"$sig" -- "-$pid" 2>/dev/null || kill -"$sig" "$pid" 2>/dev/null || true
        for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    done
    kill -KILL -- "-$pid" 2>/dev/null || true  # children left in the group
    rm -f "$PIDS/$name.pid"
    log "stopped $name"
}

wait_http() {  # wait_http NAME URL SECONDS
    local name="$1" url="$2" limit="$3" i
    for i in $(seq 1 "$limit"); do
        curl -fsS -o /dev/null "$url" 2>/dev/null && { log "$name healthy ($url)"; return 0; }
        alive "$name" || die "$name exited during start-up, see $LOGS/$name.log"
        sleep 1
    done
    die "$name not healthy after ${limit}s at $url, see $LOGS/$name.log"
}

# ---------------------------------------------------------------- services
start_prefect() {
    PREFECT_HOME="$STACK_DIR/prefect-server" PREFECT_API_DATABASE_CONNECTION_URL="$PREFECT_DB_URL" \
        PREFECT_SERVER_ANALYTICS_ENABLED=false PREFECT_UI_API_URL="$PREFECT_API_URL" \
        spawn prefect-server "$BIN/prefect" server start --host "$HOST" --port "$PREFECT_PORT"
    wait_http prefect-server "$PREFECT_API_URL/health" 180
}

start_mlflow() {
    mkdir -p "$STACK_DIR/mlflow-artifacts"
    DO_NOT_TRACK=true MLFLOW_DISABLE_TELEMETRY=true \
        spawn mlflow "$BIN/mlflow" server --backend-store-uri "$MLFLOW_DB_URL" \
        --artifacts-destination "$STACK_DIR/mlflow-artifacts" --serve-artifacts \
        --host "$HOST" --port "$MLFLOW_PORT" --workers 1
    wait_http mlflow "$MLFLOW_URL/health" 180
}

create_pools() {
    common_env
    local pool
    for pool in gpu cpu; do
        "$BIN/prefect" --no-prompt work-pool inspect "$pool" >/dev/null 2>&1 \
            || "$BIN/prefect" --no-prompt work-pool create "$pool" --type process >/dev/null
    done
    "$BIN/prefect" --no-prompt work-pool set-concurrency-limit gpu "$GPU_SLOTS" >/dev/null
    log "work pools gpu (concurrency $GPU_SLOTS) and cpu ready"
}

start_worker() {  # start_worker POOL N: a process worker with a home of its own
    local pool="$1" n="$2" name="worker-$1-$2"
    mkdir -p "$STACK_DIR/workers/$name"
    (
        common_env
        export AUGMENT_HOME="$STACK_DIR/workers/$name" PREFECT_HOME="$STACK_DIR/workers/$name/prefect"
        if [ "$DASK_WORKERS" -gt 0 ]; then export AUGMENT_DASK_ADDRESS="$DASK_ADDRESS"; fi
        [ "$pool" = gpu ] && limit=1 || limit="${STACK_CPU_WORKER_LIMIT:-4}"
        spawn "$name" "$BIN/prefect" worker start --pool "$pool" --type process --name "$name" --limit "$limit"
    )
}

# ---------------------------------------------------------------- the engine (Dask)
engine_env() {  # this checkout's code, as the Prefect workers run it (prefect.yaml's working
    # directory): the workers run the tasks, and the scheduler unpickles them too
    common_env
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
    cd "$ROOT"
}

start_dask() {  # the scheduler, healthy, then its workers: one process and one thread each
    [ "$DASK_WORKERS" -gt 0 ] || return 0
    (
        engine_env
        spawn dask-scheduler "$BIN/dask" scheduler --host "$HOST" --port "$DASK_PORT" \
            --dashboard-address "$HOST:$DASK_DASHBOARD_PORT"
    )
    wait_http dask-scheduler "$DASK_HTTP/health" 120
    local i
    for i in $(seq 1 "$DASK_WORKERS"); do start_dask_worker "$i"; done
}

start_dask_worker() {  # start_dask_worker N: a Dask worker with a home of its own
    local name="dask-worker-$1"
    mkdir -p "$STACK_DIR/workers/$name"
    (
        engine_env
        export AUGMENT_HOME="$STACK_DIR/workers/$name" PREFECT_HOME="$STACK_DIR/workers/$name/prefect"
        spawn "$name" "$BIN/dask" worker "$DASK_ADDRESS" --name "$name" --nworkers 1 --nthreads 1 \
            --host "$HOST" --no-dashboard --local-directory "$STACK_DIR/workers/$name/dask"
    )
}

dask_workers_online() {  # how many workers the scheduler knows (0 when it does not answer)
    curl -fsS "$DASK_HTTP/json/counts.json" 2>/dev/null \
        | "$BIN/python" -c 'import json, sys; print(json.load(sys.stdin)["workers"])' 2>/dev/null || echo 0
}

wait_dask_workers() {
    [ "$DASK_WORKERS" -gt 0 ] || return 0
    local i online
    for i in $(seq 1 120); do
        online="$(dask_workers_online)"
        [ "${online:-0}" -ge "$DASK_WORKERS" ] && { log "$online Dask workers online at $DASK_ADDRESS"; return 0; }
        sleep 1
    done
    die "Dask workers did not join the scheduler, see $LOGS/dask-worker-*.log"
}

wait_workers() {
    local i online
    for i in $(seq 1 90); do
        online="$("$BIN/python" - <<'EOF' 2>/dev/null || echo 0
import asyncio
from prefect.client.orchestration import get_client
async def main():
    async with get_client() as c:
        n = 0
        for pool in ("gpu", "cpu"):
            n += sum(w.status.value == "ONLINE" for w in await c.read_workers_for_work_pool(pool))
        print(n)
asyncio.run(main())
EOF
)"
        [ "${online:-0}" -ge $((GPU_WORKERS + CPU_WORKERS)) ] && { log "$online workers online"; return 0; }
        sleep 2
    done
    die "workers did not come online, see $LOGS/worker-*.log"
}

up() {
    [ -x "$BIN/prefect" ] || die "$BIN/prefect not found; run 'make venv' first (or set STACK_BIN)"
    start_postgres
    start_prefect
    start_mlflow
    start_dask
    create_pools
    local i
    for i in $(seq 1 "$GPU_WORKERS"); do start_worker gpu "$i"; done
    for i in $(seq 1 "$CPU_WORKERS"); do start_worker cpu "$i"; done
    common_env; wait_workers; wait_dask_workers
    log "stack up: Prefect UI http://$HOST:$PREFECT_PORT  MLflow UI $MLFLOW_URL"
    if [ "$DASK_WORKERS" -gt 0 ]; then log "engine: Dask scheduler $DASK_ADDRESS with $DASK_WORKERS workers"; fi
    log "talk to it with: eval \"\$(scripts/stack.sh env)\""
}

down() {
    local f
    for f in "$PIDS"/worker-*.pid "$PIDS"/dask-worker-*.pid; do [ -e "$f" ] && stop_pid "$(basename "$f" .pid)"; done
    stop_pid dask-scheduler
    stop_pid mlflow
    stop_pid prefect-server
    stop_postgres
    log "stack down"
}

status() {
    local rc=0 f name
    if pg_running; then echo "postgres        running  $HOST:$PG_PORT"; else echo "postgres        stopped"; rc=1; fi
    for name in prefect-server mlflow; do
        if alive "$name"; then printf '%-15s running  pid %s\n' "$name" "$(cat "$PIDS/$name.pid")"; else printf '%-15s stopped\n' "$name"; rc=1; fi
    done
    curl -fsS -o /dev/null "$PREFECT_API_URL/health" 2>/dev/null && echo "prefect api     healthy  $PREFECT_API_URL" || { echo "prefect api     down"; rc=1; }
    curl -fsS -o /dev/null "$MLFLOW_URL/health" 2>/dev/null && echo "mlflow api      healthy  $MLFLOW_URL" || { echo "mlflow api      down"; rc=1; }
    if [ "$DASK_WORKERS" -gt 0 ]; then
        if curl -fsS -o /dev/null "$DASK_HTTP/health" 2>/dev/null; then
            echo "dask scheduler  healthy  $DASK_ADDRESS ($(dask_workers_online) workers)"
        else
            echo "dask scheduler  down"; rc=1
        fi
    fi
    for f in "$PIDS"/worker-*.pid "$PIDS"/dask-worker-*.pid; do
        [ -e "$f" ] || continue; name="$(basename "$f" .pid)"
        if alive "$name"; then printf '%-15s running  pid %s\n' "$name" "$(cat "$f")"; else printf '%-15s dead\n' "$name"; rc=1; fi
    done
    return $rc
}

env_exports() {
    echo "export PREFECT_API_URL=$PREFECT_API_URL"
    echo "export MLFLOW_TRACKING_URI=$MLFLOW_URL"
    if [ "$DASK_WORKERS" -gt 0 ]; then echo "export AUGMENT_DASK_ADDRESS=$DASK_ADDRESS"; fi
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    env) env_exports ;;
    stop) [ -n "${2:-}" ] || die "name a service: postgres, prefect-server, mlflow, dask-scheduler, worker-<pool>-<n> or dask-worker-<n>"
          if [ "$2" = postgres ]; then stop_postgres; else stop_pid "$2"; fi ;;
    *) echo "usage: $0 up|down|status|env|stop SERVICE" >&2; exit 2 ;;
esac
