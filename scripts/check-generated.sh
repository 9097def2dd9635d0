#!/usr/bin/env bash
# Fails when the committed generated code (sqlc, templ) or go.mod and go.sum differ from what
# the sources generate.
set -euo pipefail
cd "$(dirname "$0")/.."
tool="go tool -modfile=tools/go.mod"

# sqlc diff compares without writing.
if ! $tool sqlc diff; then
  echo "check-generated: queries/ is stale; run 'make generate' and commit the result" >&2
  exit 1
fi

# templ writes in place, so regenerate a copy of views/ and compare.
if ls views/*.templ >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  cp -r views "$tmp/views"
  $tool templ generate -path "$tmp/views" >/dev/null 2>&1
  if ! diff -r -q views "$tmp/views" >/dev/null; then
    diff -r views "$tmp/views" | head -20 >&2
    echo "check-generated: views/*_templ.go is stale; run 'make generate' and commit the result" >&2
    exit 1
  fi
fi
# A direct dependency marked "// indirect", or a go.sum line missing, is what go mod tidy fixes.
for mod in go.mod tools/go.mod; do
  if ! (cd "$(dirname "$mod")" && go mod tidy -diff >/dev/null); then
    (cd "$(dirname "$mod")" && go mod tidy -diff | head -20) >&2 || true
    echo "check-generated: $mod is not tidy; run 'go mod tidy' there and commit the result" >&2
    exit 1
  fi
done
echo "generated code is fresh"
