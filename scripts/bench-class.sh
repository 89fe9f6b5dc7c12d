#!/usr/bin/env bash
# Class benchmark (issue 14): `custos-lab class up --students N` (default 10) on this machine —
# wall time until every student's lab answers `status`, and peak memory. All labs run in one
# process, so its peak RSS (VmHWM) is the class's memory. Not a test: run by hand, report figures.
# Usage: scripts/bench-class.sh [N] [SCENARIO]   (CUSTOS_LAB: the binary; default target/debug)
set -euo pipefail
N="${1:-10}"
SCENARIO="${2:-ex-01-passphrase-decoys}"
LAB="${CUSTOS_LAB:-${CARGO_TARGET_DIR:-target}/debug/custos-lab}"
DIR="$(mktemp -d)/class"
start=$(date +%s%N)
"$LAB" class up --students "$N" --scenario "$SCENARIO" --dir "$DIR" >/dev/null 2>&1 &
PID=$!
trap 'kill -TERM $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$(dirname "$DIR")"' EXIT
until [ -f "$DIR/class.toml" ]; do
  kill -0 $PID 2>/dev/null || { echo "class up failed" >&2; exit 1; }
  sleep 0.1
done
ports=$(grep '^port' "$DIR/class.toml" | awk '{print $3}')
for p in $ports; do
  until "$LAB" status --port "$p" >/dev/null 2>&1; do sleep 0.1; done
done
end=$(date +%s%N)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
echo "class of $N on $SCENARIO: all labs answer after $(( (end - start) / 1000000 )) ms"
echo "peak RSS $(( hwm / 1024 )) MiB (now $(( rss / 1024 )) MiB), $(echo "$ports" | wc -w) ports"
