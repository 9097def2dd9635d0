#!/usr/bin/env bash
# Soaks a real `infradash serve` on 127.0.0.1 (private PostgreSQL in a temporary folder, jobs on):
# 200 simulated agents posting every 5 s, 20 dashboard sessions polling, API clients reading
# history, for SOAK_DURATION (default 1h). cmd/soak samples the hub every 30 s into docs/soak.csv
# and draws docs/soak.svg, and fails on any failed request, on more database connections than
# the pool, or on RSS or goroutines growing by more than 10 % after the first 10 minutes. It also
# fails when the hub logged an ERROR line. Results: docs/benchmarks.md, "Soak".
# Usage: scripts/soak.sh   (SOAK_DURATION=10m SOAK_AGENTS=200 SOAK_DASHBOARDS=20 scripts/soak.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build # the binary as shipped (static, trimmed), which is what gets measured
go build -o bin/soak ./cmd/soak
source scripts/private-server.sh

duration=${SOAK_DURATION:-1h}
start_server LOG_LEVEL=warn
token=$(cd "$work" && "$root/bin/infradash" token create --email "$ADMIN_EMAIL" --name soak --ttl 48h)
# The hub's connections: its pool (10 unless DATABASE_URL has pool_max_conns) plus the one the
# scheduler's leader election holds outside the pool for its advisory lock (jobs/elector.go).
status=0
bin/soak -url "$base" -duration "$duration" -agents "${SOAK_AGENTS:-200}" -dashboards "${SOAK_DASHBOARDS:-20}" \
  -api "${SOAK_API_CLIENTS:-4}" -every "${SOAK_EVERY:-30s}" -pool "${SOAK_POOL:-11}" -pid "$pid" -token "$token" -email "$ADMIN_EMAIL" -password "$ADMIN_PASSWORD" \
  -database-url "postgres://postgres@/infradash?host=$work/.data/postgres&port=5432&sslmode=disable" \
  -csv "${SOAK_CSV:-docs/soak.csv}" -svg "${SOAK_SVG:-docs/soak.svg}" || status=$?
if grep -q 'level=ERROR' "$work/serve.log"; then
  echo "soak: the hub logged errors:" >&2
  grep 'level=ERROR' "$work/serve.log" | head -20 >&2
  status=1
fi
echo "soak: the hub's log had $(wc -l <"$work/serve.log") lines (LOG_LEVEL=warn); its messages, counted:"
sed -nE 's/.*level=([A-Z]+) msg=("[^"]*"|[^ ]*).*/\1 \2/p' "$work/serve.log" | sort | uniq -c | sort -rn | head -20
exit "$status"
