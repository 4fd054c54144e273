#!/usr/bin/env bash
# Start a gradwire server on a free loopback port, run locust headless against it
# for a bounded time, print the summary, stop the server.
#
#   USERS=20 RATE=10 DURATION=30s WORKERS= OUT=loadtest/out bash loadtest/run.sh
#
# Exit status is locust's: non-zero when any request failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY=${PY:-.venv/bin/python}
USERS=${USERS:-20}
RATE=${RATE:-10}
DURATION=${DURATION:-30s}
export NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-$PWD/.numba_cache}

out=${OUT:-loadtest/out}
mkdir -p "$out" && echo "*" >"$out/.gitignore"   # run output, never committed
log="$out/server.log"
server_args=(--host 127.0.0.1 --port 0)
[[ -n "${WORKERS:-}" ]] && server_args+=(--workers "$WORKERS")

PYTHONUNBUFFERED=1 "$PY" -m gradwire.service "${server_args[@]}" >"$log" 2>&1 &
server_pid=$!
cleanup() {
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
}
trap cleanup EXIT

# Wait for the ready line (Numba warm-up can take a while on a cold cache).
addr=
for _ in $(seq 1800); do
  addr=$(sed -n 's/.*gradwire-server ready on \([^ ]*\).*/\1/p' "$log" | head -n1)
  [[ -n "$addr" ]] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "server exited before it was ready:" >&2; cat "$log" >&2; exit 1
  fi
  sleep 0.1
done
[[ -n "$addr" ]] || { echo "server not ready after 180 s:" >&2; cat "$log" >&2; exit 1; }
port=${addr##*:}
echo "load test: $USERS users (spawn $RATE/s) for $DURATION against 127.0.0.1:$port (server pid $server_pid)"

status=0
"$PY" -m locust -f loadtest/locustfile.py --headless --only-summary \
  -u "$USERS" -r "$RATE" -t "$DURATION" --stop-timeout 10 \
  --host "127.0.0.1:$port" --csv "$out/locust" || status=$?
echo "load test: CSV in $out/locust_stats.csv, server log in $log"
exit "$status"
