#!/usr/bin/env bash
# Measures the hub at fleet scale and the agent at rest, side by side in one run (issue 13's and
# issue 11's targets; docs/benchmarks.md records the numbers, docs/scaling.md what they mean):
#   1. 1,000 simulated hosts at 5 s (200 samples/s) against a real `infradash serve` (private
#      PostgreSQL, fsync on, scheduled jobs on): the hub's CPU (its process, from /proc),
#      PostgreSQL's, ingest latency percentiles, errors, bytes per sample on the wire.
#   2. capacity: 26,250 simulated hosts at 5 s (5,250 samples/s offered, 5 % over the target, so
#      that holding 5,000 a second shows; exactly 5,000 offered can only measure a hair under it)
#      for a minute: errors, the rate held, latency.
#   3. the database: bytes per sample and per host-day of each history table, WAL per sample.
#   4. the real `infradash agent` (5 s interval) against that hub: CPU and RSS after a warm-up.
#   5. with BENCH_GO (the Go benchmarks' output, as make bench passes it), the targets those measure.
# cmd/fleetsim is the simulator. FLEET_WARMUP, FLEET_DURATION, FLEET_HOSTS, FLEET_CAPACITY_HOSTS,
# AGENT_WARMUP and AGENT_MEASURE (seconds, or host counts) change the run. Stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=${FLEET_HOSTS:-1000}
capacity=${FLEET_CAPACITY_HOSTS:-26250}
fwarm=${FLEET_WARMUP:-10}
fdur=${FLEET_DURATION:-60}
awarm=${AGENT_WARMUP:-60}
ameasure=${AGENT_MEASURE:-60}
make -s build # the binary as shipped (static, trimmed), which is what gets measured
go build -o bin/fleetsim ./cmd/fleetsim
source scripts/private-server.sh

start_server COLLECT_INTERVAL=5s JOBS_ENABLED=true
token=$(cd "$work" && "$root/bin/infradash" token create --email "$ADMIN_EMAIL" --name fleet-bench --ttl 2h)
# The private database's URL, as serve prints it; its host= is the data folder. fleetsim enrols
# the simulated hosts there, as `infradash host add` does (the API takes 60 changes a minute).
dburl=$(grep -o 'Database: [^ ]*' "$work/serve.log" | head -1 | cut -d' ' -f2)
pgdir=$(python3 -c 'import sys, urllib.parse as u; print(u.parse_qs(u.urlparse(sys.argv[1]).query)["host"][0])' "$dburl")
pgpid=$(head -1 "$pgdir/postmaster.pid")
agent_pid=""
stop_all() {
  if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then kill -TERM "$agent_pid"; wait "$agent_pid" 2>/dev/null || true; fi
  stop_server
}
trap stop_all EXIT

sim() { # sim HOSTS: one fleetsim run; its "result" line goes to $work/result-HOSTS
  bin/fleetsim -hub "$base" -database-url "$dburl" -hosts "$1" -interval 5s -warmup "${fwarm}s" -duration "${fdur}s" \
    -hub-pid "$pid" -db-pid "$pgpid" | tee "$work/sim-$1"
  grep '^result ' "$work/sim-$1" >"$work/result-$1"
}
field() { # field FILE NAME: a value of a result line
  tr ' ' '\n' <"$1" | awk -F= -v k="$2" '$1 == k {print $2}'
}

sql() { psql "$dburl" -XAtq -c "$1"; }
wal() { sql "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"; }
wal0=$(wal)
echo "== $hosts simulated hosts at 5 s: ${fwarm}s warm-up, ${fdur}s measured (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
sim "$hosts" || true
wal1=$(wal)
conns=$(sql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
echo "== capacity: $capacity simulated hosts at 5 s: ${fwarm}s warm-up, ${fdur}s measured (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
sim "$capacity" || true
wal2=$(wal)

# What a sample costs the database: each table's bytes (indexes and TOAST included) per row, a
# host-day being 17,280 samples at 5 s; the WAL written per sample stored; and how many of
# host_state's updates were HOT (no index entries written).
echo "== the database after both runs"
sql "CHECKPOINT" >/dev/null
sql "VACUUM ANALYZE system_metrics_history, process_metrics_history, infrastructure_health, host_state" >/dev/null
# The history tables are partitioned: their rows and bytes are those of their partitions.
sql "SELECT p.relname, sum(c.n_live_tup), sum(pg_total_relation_size(c.relid)),
            round(sum(pg_total_relation_size(c.relid))::numeric / greatest(sum(c.n_live_tup), 1)),
            round(sum(pg_total_relation_size(c.relid))::numeric / greatest(sum(c.n_live_tup), 1) * 17280 / 1048576, 2)
     FROM pg_stat_user_tables c
     JOIN pg_inherits i ON i.inhrelid = c.relid
     JOIN pg_class p ON p.oid = i.inhparent
     WHERE p.relname IN ('system_metrics_history', 'process_metrics_history', 'infrastructure_health')
     GROUP BY p.relname ORDER BY p.relname" | awk -F'|' 'BEGIN {printf "%-26s %10s %14s %14s %16s\n", "table", "rows", "bytes", "bytes/sample", "MB/host-day"}
       {printf "%-26s %10d %14d %14d %16.2f\n", $1, $2, $3, $4, $5}' | tee "$work/storage"
sql "SELECT 'host_state: ' || n_live_tup || ' rows, ' || pg_size_pretty(pg_total_relation_size(relid)) || ', '
            || n_tup_upd || ' updates, ' || round(100.0 * n_tup_hot_upd / greatest(n_tup_upd, 1), 1) || ' % HOT'
     FROM pg_stat_user_tables WHERE relname = 'host_state'"
echo "database connections of the hub after the first run: $conns"

echo "== the real infradash agent at a 5 s interval: ${awarm}s warm-up, then ${ameasure}s measured"
agent_token=$(cd "$work" && "$root/bin/infradash" host add bench-agent --quiet)
mkdir -p "$work/agent"
# A copy of the binary, as on a host of its own: started from the hub's file, the agent would map
# the pages the hub keeps in the page cache (a hub's host runs its agent in process instead).
cp "$root/bin/infradash" "$work/agent/infradash"
(cd "$work/agent" && exec env -i PATH="$PATH" HOME="$work/agent" HUB_URL="$base" AGENT_TOKEN="$agent_token" \
  AGENT_SPOOL_DIR="$work/agent/spool" COLLECT_INTERVAL=5s LOG_LEVEL=warn "$work/agent/infradash" agent >"$work/agent.log" 2>&1) &
agent_pid=$!
sleep "$awarm"
kill -0 "$agent_pid" 2>/dev/null || { echo "the agent exited:" >&2; cat "$work/agent.log" >&2; exit 1; }
cputicks() { awk '{print $14 + $15}' "/proc/$agent_pid/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$agent_pid/status"; }
hz=$(getconf CLK_TCK)
t0=$(cputicks)
s0=$(date +%s.%N)
peak=0
for _ in $(seq 1 "$ameasure"); do
  sleep 1
  r=$(rss_kb)
  if [ "$r" -gt "$peak" ]; then peak=$r; fi
done
t1=$(cputicks)
s1=$(date +%s.%N)
agent_cpu=$(awk -v t="$((t1 - t0))" -v hz="$hz" -v s0="$s0" -v s1="$s1" 'BEGIN {printf "%.3f", 100 * t / hz / (s1 - s0)}')
agent_rss=$(awk -v p="$peak" 'BEGIN {printf "%.1f", p / 1024}')
echo "cpu:        $((t1 - t0)) ticks in $(awk -v a="$s0" -v b="$s1" 'BEGIN {printf "%.1f", b - a}') s = ${agent_cpu} % of one core"
echo "rss:        ${agent_rss} MB at most while measured"
stored=$(curl -fsS -H "Authorization: Bearer $token" "$base/api/v1/hosts/bench-agent" | grep -o '"status":"[a-z_]*"' | head -1 || true)
echo "agent:      $stored on the hub"

r1="$work/result-$hosts" r2="$work/result-$capacity"
walper() { # walper FROM TO RESULT: WAL bytes per stored sample
  awk -v a="$1" -v b="$2" -v n="$(field "$3" samples)" 'BEGIN { if (n > 0) printf "%d", (b - a) / n; else print "?" }'
}
ok() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { if ((op == "<=" && v + 0 <= t + 0) || (op == ">=" && v + 0 >= t + 0)) print "met"; else print "MISSED" }'; }
echo
echo "== issue 13 and 11 targets (2 cores; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-58s %-22s %s\n' "target" "measured" ""
row() { printf '%-58s %-22s %s\n' "$1" "$2" "$3"; }
if [ -s "$r1" ]; then
  row "$hosts hosts at 5 s: hub CPU <= 15 % of one core" "$(field "$r1" hub_cpu_pct) %" "$(ok "$(field "$r1" hub_cpu_pct)" 15 '<=')"
  row "$hosts hosts at 5 s: ingest p99 <= 20 ms" "$(field "$r1" p99_ms) ms" "$(ok "$(field "$r1" p99_ms)" 20 '<=')"
  row "$hosts hosts at 5 s: zero errors" "$(field "$r1" errors)" "$(ok "$(field "$r1" errors)" 0 '<=')"
  row "hub CPU per ingested sample (at $hosts hosts)" "$(field "$r1" hub_us_per_sample) µs" ""
  row "PostgreSQL CPU per ingested sample (at $hosts hosts)" "$(field "$r1" db_us_per_sample) µs" ""
  row "bytes per sample on the wire (gzip) <= 2 KB" "$(field "$r1" bytes_per_sample) B" "$(ok "$(field "$r1" bytes_per_sample)" 2048 '<=')"
  row "WAL per sample stored (at $hosts hosts)" "$(walper "$wal0" "$wal1" "$r1") B" ""
fi
if [ -s "$r2" ]; then
  row "capacity: >= 5,000 samples/s for ${fdur}s, zero errors" "$(field "$r2" rate)/s, $(field "$r2" errors) errors" \
    "$( [ "$(field "$r2" errors)" = 0 ] && ok "$(field "$r2" rate)" 5000 '>=' || echo MISSED)"
  row "capacity: ingest p99 (no target)" "$(field "$r2" p99_ms) ms" ""
  row "capacity: hub CPU per ingested sample" "$(field "$r2" hub_us_per_sample) µs" ""
  row "capacity: PostgreSQL CPU per ingested sample" "$(field "$r2" db_us_per_sample) µs" ""
  row "capacity: WAL per sample stored" "$(walper "$wal1" "$wal2" "$r2") B" ""
  row "capacity: batches waiting for a free sender, p99" "$(field "$r2" late_p99_ms) ms" ""
fi
row "agent idle at 5 s: CPU <= 0.2 % of one core" "$agent_cpu %" "$(ok "$agent_cpu" 0.2 '<=')"
row "agent idle at 5 s: RSS <= 15 MB" "$agent_rss MB" "$(ok "$agent_rss" 15 '<=')"
# The system rows here are the first hours' (the compact job makes blocks of them later): their
# size is told, the target is the blocks' (BenchmarkCompact, below).
while read -r table _ _ per _; do
  if [ "$table" = system_metrics_history ]; then
    row "  system rows as ingested here, first 2-3 h (no target)" "$per B" ""
  else
    row "storage, as ingested here: $table <= 200 B" "$per B" "$(ok "$per" 200 '<=')"
  fi
done < <(tail -n +2 "$work/storage")

# The rows the Go benchmarks measure (make bench passes their output as BENCH_GO).
if [ -n "${BENCH_GO:-}" ] && [ -s "$BENCH_GO" ]; then
  bench() { # bench NAME UNIT: the value reported in UNIT by benchmark NAME (its -GOMAXPROCS suffix aside)
    awk -v name="$1" -v unit="$2" '$1 ~ "^" name "-[0-9]+$" { for (i = 3; i < NF; i++) if ($(i + 1) == unit) { print $i; exit } }' "$BENCH_GO"
  }
  inunit() { # inunit NS DIVISOR: a ns/op value in ms (1e6) or s (1e9), "?" when not measured
    if [ -z "$1" ]; then echo "?"; else awk -v v="$1" -v d="$2" 'BEGIN {printf "%.1f", v / d}'; fi
  }
  okv() { if [ "$1" = "?" ]; then echo "not run"; else ok "$@"; fi; }
  v=$(inunit "$(bench BenchmarkRetention/drop-day ns/op)" 1e9)
  row "dropping a day of history <= 1 s ($(bench BenchmarkRetention/drop-day rows) rows)" "$v s" "$(okv "$v" 1 '<=')"
  row "no bloat: MB left after drop / after DELETE" "$(bench BenchmarkRetention/drop-day MB-after) / $(bench BenchmarkRetention/delete-day MB-after) MB" ""
  for t in infrastructure_health process_metrics_history; do
    v=$(bench BenchmarkFleetHistory/storage "$t-B/sample")
    row "storage, BenchmarkFleetHistory: ${t%_history} <= 200 B" "${v:-?} B" "$(okv "${v:-?}" 200 '<=')"
  done
  v=$(bench BenchmarkCompact/hour month-B/sample)
  row "storage: system, a month of history <= 200 B" "${v:-?} B" "$(okv "${v:-?}" 200 '<=')"
  row "  in blocks / as rows (the first 2-3 h)" "$(bench BenchmarkCompact/hour block-B/sample) / $(bench BenchmarkCompact/hour row-B/sample) B" ""
  v=$(inunit "$(bench BenchmarkCompact/hour ns/op)" 1e9)
  row "compacting an hour of the fleet, hourly (no target)" "$v s" ""
  v=$(inunit "$(bench BenchmarkCompact/series-24h-blocks ns/op)" 1e6)
  row "24 h of one host's raw samples from blocks (no target)" "$v ms" ""
  for m in cpu_percent disk_percent health_score; do
    v=$(inunit "$(bench "BenchmarkFleetChart/series-24h/$m" ns/op)" 1e6)
    row "24 h chart of one host among many: $m <= 50 ms" "$v ms" "$(okv "$v" 50 '<=')"
    v=$(inunit "$(bench "BenchmarkFleetChart/series-24h-raw/$m" ns/op)" 1e6)
    row "  the same line from raw samples (no target)" "$v ms" ""
    v=$(inunit "$(bench "BenchmarkFleetChart/series-30d/$m" ns/op)" 1e6)
    row "30 d chart from rollups: $m <= 50 ms" "$v ms" "$(okv "$v" 50 '<=')"
  done
  v=$(inunit "$(bench BenchmarkFleetHistory/aggregate-hourly ns/op)" 1e9)
  row "hourly rollup of a fleet <= 30 s" "$v s" "$(okv "$v" 30 '<=')"
  v=$(inunit "$(bench BenchmarkFleetHistory/aggregate-5min ns/op)" 1e9)
  row "five-minute rollup of a fleet, every 5 min (no target)" "$v s" ""
fi
