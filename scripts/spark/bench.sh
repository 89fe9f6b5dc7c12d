#!/usr/bin/env bash
# Figures for docs/scale-out.md (not part of CI; minutes of CPU, run niced):
#   1. export rows/s: the lab's tracing-large block files exported by the release build of
#      crates/index/examples/export_blocks.rs (all in memory, then with a 16 MiB UTXO map that spills);
#   2. Spark local mode on a synthetic chain of 1,000,000 transactions (scripts/spark/synth.py):
#      wall time and peak memory (GNU time's maximum RSS of the job's processes, the JVM included);
#   3. the tracing-large cross-check (the --ignored test of crates/index/tests/spark_clusters.rs).
# Usage: scripts/spark/bench.sh [WORK_DIR]   (WORK_DIR must not exist; default /tmp/custos-spark-bench-PID)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="${1:-/tmp/custos-spark-bench-$$}"
[ -e "$work" ] && { echo "bench.sh: $work exists; not overwriting it" >&2; exit 2; }
mkdir -p "$work"
txs="${SYNTH_TXS:-1000000}"

# Runs "$@" and prints its wall time and the peak of the summed RSS of its whole process tree
# (the JVM that PySpark starts is a grandchild GNU time does not see), sampled every 0.5 s.
peak() {
  local start end pid max=0 cur
  start=$(date +%s)
  "$@" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    cur=$(ps -e -o pid=,ppid=,rss= | awk -v root="$pid" '
      { parent[$1]=$2; rss[$1]=$3 }
      END { for (p in rss) { q=p; while (q != "" && q != 0 && q != root) q=parent[q]; if (q == root) s+=rss[p] } print s+0 }')
    [ "$cur" -gt "$max" ] && max=$cur
    sleep 0.5
  done
  wait "$pid"
  end=$(date +%s)
  echo "wall_s=$((end - start)) peak_rss_mib=$((max / 1024))"
}

echo "== lab tracing-large block files" >&2
cargo build -q -p custos-lab
lab="${CARGO_TARGET_DIR:-$root/target}/debug/custos-lab"
"$lab" up --scenario tracing-large --data "$work/lab" >/dev/null 2>&1 &
lab_pid=$!
until [ -s "$work/lab/control.json" ]; do sleep 1; kill -0 "$lab_pid"; done
"$lab" down --data "$work/lab" >/dev/null
wait "$lab_pid" || true

echo "== export rows/s (release)" >&2
cargo build -q --release -p custos-index --example export_blocks
ex="${CARGO_TARGET_DIR:-$root/target}/release/examples/export_blocks"
nice "$ex" "$work/lab/kernel/blocks" "$work/export" regtest | tee "$work/export.json"
nice "$ex" "$work/lab/kernel/blocks" "$work/export-spill" regtest 16 | tee "$work/export-spill.json"

echo "== synthetic chain of $txs transactions" >&2
peak nice python3 "$root/scripts/spark/synth.py" "$work/synth" --txs "$txs" >"$work/synth.out" 2>"$work/synth.err"
tail -2 "$work/synth.out"
echo "== Spark clustering, local[2]" >&2
peak nice python3 "$root/scripts/spark/cluster.py" "$work/synth" "$work/synth-clusters" \
  --master 'local[2]' --driver-memory 3g --shuffle-partitions 8 >"$work/cluster.out" 2>"$work/cluster.err"
cat "$work/synth-clusters/job.json"
tail -1 "$work/cluster.out"

echo "== tracing-large: Spark clusters against custos-trace" >&2
nice cargo test -q -p custos-index --test spark_clusters -- --ignored --nocapture 2>&1 | tail -5
