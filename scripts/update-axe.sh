#!/usr/bin/env bash
# Replaces browsertest/axe.min.js with the axe-core release named below, fetched with npm (npm is
# only the way to get the file: nothing is built with it, and the tests never call it). The file
# keeps axe-core's licence header (MPL-2.0). Usage: scripts/update-axe.sh [VERSION]
set -euo pipefail
version=${1:-4.14.1}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "axe-core@$version" >/dev/null && tar xzf "axe-core-$version.tgz")
head -1 "$tmp/package/axe.min.js" | grep -q "axe v$version" || { echo "update-axe: unexpected file header" >&2; exit 1; }
cp "$tmp/package/axe.min.js" "$root/browsertest/axe.min.js"
echo "browsertest/axe.min.js is axe-core $version"
