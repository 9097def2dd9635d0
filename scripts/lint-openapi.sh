#!/usr/bin/env bash
# Lints handlers/openapi.yaml with Redocly's recommended rules; any error fails (warnings are
# printed). Redocly CLI is installed once with npm, at the pinned version below, into .tools/
# (ignored by git); later runs reuse it and need no network.
set -euo pipefail
cd "$(dirname "$0")/.."
version=2.77.0
dir=.tools/redocly-cli-$version
cli=$dir/node_modules/.bin/redocly
if [ ! -x "$cli" ]; then
  scripts/ensure-deps.sh node
  echo "lint-openapi: installing @redocly/cli@$version into $dir" >&2
  rm -rf "$dir.tmp"
  npm install --prefix "$dir.tmp" --no-audit --no-fund --no-save --loglevel=error "@redocly/cli@$version" >/dev/null
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
fi
# No telemetry, no update check: the lint must not reach out.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
rc=0
out=$("$cli" lint --extends recommended --format stylish handlers/openapi.yaml 2>&1) || rc=$?
# Redocly's boxed notices (Node.js version) are not about the document.
printf '%s\n' "$out" | grep -v -e '^ *[║╔╚]' -e '^$' || true
exit "$rc"
