# Sourced by scripts/bench.sh and scripts/idle.sh: start_server runs bin/infradash serve on a free
# 127.0.0.1 port with a private PostgreSQL in a temporary folder and waits until it is ready;
# stop_server (installed as the EXIT trap) stops both and removes the folder, also on failure.
# After start_server: $work (the folder), $pid (infradash), $base (its URL), $ADMIN_EMAIL and
# $ADMIN_PASSWORD (the admin created at first start).

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=""
pid=""

stop_server() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
  fi
  # infradash stops the private PostgreSQL it started; this catches a server that crashed.
  local pgpid="$work/.data/postgres/postmaster.pid"
  if [ -n "$work" ] && [ -f "$pgpid" ]; then
    local p
    p=$(head -1 "$pgpid")
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
  fi
  if [ -n "$work" ]; then rm -rf "$work"; fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# start_server [VAR=value ...]: extra environment for the server.
start_server() {
  work=$(mktemp -d /tmp/infradash-bench.XXXXXX)
  chmod 0755 "$work" # the private PostgreSQL runs as the postgres user when we are root
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  base="http://127.0.0.1:$port"
  export DATABASE_URL="" HTTP_ADDR="127.0.0.1:$port" ENVIRONMENT=development LOG_LEVEL=warn
  export ADMIN_EMAIL=admin@example.com ADMIN_PASSWORD="bench-$(date +%s)-$RANDOM-password"
  # The server keeps its private database in .data/postgres of its working directory.
  (cd "$work" && exec env "$@" "$root/bin/infradash" serve >"$work/serve.log" 2>&1) &
  pid=$!
  for _ in $(seq 1 120); do
    if curl -fsS "$base/readyz" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then echo "infradash serve exited:" >&2; cat "$work/serve.log" >&2; exit 1; fi
    sleep 0.5
  done
  echo "infradash serve not ready after 60 s:" >&2
  cat "$work/serve.log" >&2
  exit 1
}
