#!/usr/bin/env bash
# scripts/bench.sh — runs the criterion benchmarks of every crate that has them and prints the
# summary lines. Usage: scripts/bench.sh [CRATE...]   (default: all crates with benches/)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
crates=("$@")
if [ "${#crates[@]}" -eq 0 ]; then
  for d in crates/*/benches; do
    [ -d "$d" ] || continue
    crates+=("custos-$(basename "$(dirname "$d")")")
  done
fi
for c in "${crates[@]}"; do
  echo "==> cargo bench -p $c" >&2
  cargo bench --locked -p "$c" -- --noplot 2>&1 | grep -E '^[A-Za-z0-9_/ :.-]+ +time:|thrpt:|^Benchmarking .*: Analyzing' | grep -v Analyzing || true
done
