#!/usr/bin/env bash
# Runs every go test -fuzz target of the module, one at a time, each for FUZZTIME (default 60s),
# or only those matching FUZZ (a regular expression). An input that fails is written by go test
# to PKG/testdata/fuzz/TARGET/: fix the code, then commit that file, and it runs as a regression
# seed in every `go test` from then on.
# Usage: scripts/fuzz.sh   (FUZZTIME=10m FUZZ=Ingest scripts/fuzz.sh)
set -uo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-60s}
only=${FUZZ:-.}

passed=0
failed=0
failures=()
# Every "func FuzzX(f *testing.F)" in a _test.go file: "dir target" per line.
targets=$(git ls-files --cached --others --exclude-standard '*_test.go' | xargs grep -HoE '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' |
  sed -E 's|^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*).*|\1 \2|; s|^[^/ ]*_test\.go:func (Fuzz[A-Za-z0-9_]*).*|. \1|' | sort -u)
if [ -z "$targets" ]; then echo "fuzz: no fuzz targets found" >&2; exit 1; fi

while read -r dir target; do
  [[ "$target" =~ $only ]] || continue
  corpus="$dir/testdata/fuzz/$target"
  before=$(ls "$corpus" 2>/dev/null | sort)
  echo "== $target ($dir) for $fuzztime"
  log=$(mktemp)
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "./$dir" 2>&1 | tee "$log" | grep -v '^fuzz: elapsed'
  status=${PIPESTATUS[0]}
  grep '^fuzz: elapsed' "$log" | tail -1 # how many inputs it tried
  after=$(ls "$corpus" 2>/dev/null | sort)
  found=$(comm -13 <(echo "$before") <(echo "$after") | sed '/^$/d')
  if [ "$status" -eq 0 ]; then
    passed=$((passed + 1))
  elif [ -z "$found" ] && grep -q '^    context deadline exceeded$' "$log" && ! grep -q 'Failing input written' "$log"; then
    # Go 1.26's fuzz coordinator can report its own -fuzztime deadline as a failure when a
    # worker is busy as time runs out (golang/go#75804, fixed in Go 1.27): no input failed.
    echo "fuzz: $target ran its time; go test's 'context deadline exceeded' is golang/go#75804, not a failing input"
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failures+=("$target ($dir)${found:+: $corpus/$found}")
  fi
  rm -f "$log"
done <<< "$targets"

for f in "${failures[@]}"; do echo "fuzz: FAILED $f" >&2; done
if [ "$failed" -gt 0 ]; then
  echo "fuzz: fix the code, then commit each failing input above: it becomes a regression seed that every go test runs" >&2
fi
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
