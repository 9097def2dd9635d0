#!/usr/bin/env bash
# Load-tests a real `infradash serve` on 127.0.0.1 (private PostgreSQL in a temporary folder):
# the API with a bearer token (health: 10 clients, 20,000 requests; report: 10 clients, 2,000),
# then the dashboard with a session cookie (first load: page and assets, bytes as a browser
# gets them; the 5-second poll). Stops everything it started, also on failure.
# Targets (PRODUCT.md section 12) and recorded numbers: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build # the binary as shipped (static, trimmed), which is what gets measured
go build -o bin/loadtest ./cmd/loadtest
source scripts/private-server.sh

start_server JOBS_ENABLED=false
token=$(cd "$work" && "$root/bin/infradash" token create --email "$ADMIN_EMAIL" --name bench --ttl 1h)

api="$base/api/v1/observability/infrastructure"
echo "== GET /health, 10 clients, 20,000 requests"
bin/loadtest -url "$api/health" -c 10 -n 20000 -token "$token"
echo "== GET /report, 10 clients, 2,000 requests"
bin/loadtest -url "$api/report" -c 10 -n 2000 -token "$token"

# A browser session: the login form, as a browser posts it (no Origin header: not cross-site).
jar="$work/cookies"
code=$(curl -sS -o /dev/null -w '%{http_code}' -c "$jar" --data-urlencode "email=$ADMIN_EMAIL" \
  --data-urlencode "password=$ADMIN_PASSWORD" "$base/login")
[ "$code" = 303 ] || { echo "bench: login answered $code, want 303" >&2; exit 1; }
cookie=$(awk '$6 ~ /infradash_session$/ {print $6 "=" $7}' "$jar")
[ -n "$cookie" ] || { echo "bench: no session cookie after login" >&2; exit 1; }

echo "== first load of /observability: bytes over the wire, gzip accepted"
page="$work/page.html"
total=0
get() { # get URL OUT: prints "bytes URL", adds to total
  local n
  n=$(curl -fsS -H 'Accept-Encoding: gzip' -H "Cookie: $cookie" -o "$2" -w '%{size_download}' "$1")
  printf '%8d  %s\n' "$n" "${1#"$base"}"
  total=$((total + n))
}
get "$base/observability" "$page"
curl -fsS -H "Cookie: $cookie" --compressed -o "$page" "$base/observability"
for asset in $(grep -oE '(src|href)="/static/[^"]+"' "$page" | sed -E 's/^[a-z]+="//; s/"$//' | sort -u); do
  get "$base$asset" /dev/null
done
printf '%8d  total\n' "$total"

echo "== GET /observability (server time), 1 client, 200 requests"
bin/loadtest -url "$base/observability" -c 1 -n 200 -cookie "$cookie" -gzip
echo "== one poll: GET /observability/fragments/live, 10 clients, 2,000 requests"
bin/loadtest -url "$base/observability/fragments/live" -c 10 -n 2000 -cookie "$cookie" -htmx -gzip
echo "== one poll, 1 client, 200 requests"
bin/loadtest -url "$base/observability/fragments/live" -c 1 -n 200 -cookie "$cookie" -htmx -gzip
