#!/usr/bin/env bash
# Measures what an idle `infradash serve` costs: the real server (collecting every 5 s, scheduled
# jobs on, nobody browsing) with a private PostgreSQL, warmed up for WARMUP seconds (default 60),
# then the infradash process's CPU time over MEASURE seconds (default 60, from utime+stime in
# /proc/PID/stat) and its resident memory (VmRSS). PostgreSQL is not counted.
# Target (PRODUCT.md section 12): under 1 % of one core and under 50 MB. Stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
warmup=${WARMUP:-60}
measure=${MEASURE:-60}
[ -x bin/infradash ] || make -s build
source scripts/private-server.sh

start_server COLLECT_INTERVAL=5s JOBS_ENABLED=true
echo "== idle infradash serve (pid $pid): ${warmup}s warm-up, then ${measure}s measured"
sleep "$warmup"

cputicks() { awk '{print $14 + $15}' "/proc/$pid/stat"; } # utime + stime, in clock ticks
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
hz=$(getconf CLK_TCK)
t0=$(cputicks)
s0=$(date +%s.%N)
peak=0
for _ in $(seq 1 "$measure"); do
  sleep 1
  r=$(rss_kb)
  if [ "$r" -gt "$peak" ]; then peak=$r; fi
done
t1=$(cputicks)
s1=$(date +%s.%N)
awk -v t="$((t1 - t0))" -v hz="$hz" -v s0="$s0" -v s1="$s1" -v rss="$(rss_kb)" -v peak="$peak" 'BEGIN {
  secs = s1 - s0
  printf "cpu:        %.3f s of CPU in %.1f s = %.2f %% of one core\n", t / hz, secs, 100 * t / hz / secs
  printf "rss:        %.1f MB now, %.1f MB at most while measured\n", rss / 1024, peak / 1024
}'
