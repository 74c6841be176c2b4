#!/usr/bin/env bash
# Runs every benchmark of the module, each in its own process (so one
# benchmark's heap does not slow the next), COUNT times, and prints the
# benchstat summary. Usage: ./bench.sh [count] [pattern]
set -euo pipefail
cd "$(dirname "$0")"
count=${1:-5}
pattern=${2:-.}
out=$(mktemp)
for pkg in . ./internal/vector; do
  for b in $(go test -list "Benchmark.*" "$pkg" | grep '^Benchmark' | grep -E "$pattern"); do
    go test -run '^$' -bench "^${b}\$" -benchmem -count "$count" -timeout 60m "$pkg" | grep '^Benchmark' >> "$out"
  done
done
go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da "$out"
echo "raw results: $out"
