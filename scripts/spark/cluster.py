#!/usr/bin/env python3
"""Multi-input address clustering over a custos index export, on Apache Spark.

    spark-submit scripts/spark/cluster.py EXPORT_DIR OUT_DIR [--checkpoint-dir DIR] [--max-rounds N]
    python3 scripts/spark/cluster.py EXPORT_DIR OUT_DIR --master 'local[2]'

EXPORT_DIR is what `custos index export` wrote (tables transactions/, inputs/, outputs/ and
manifest.json). OUT_DIR must not exist; the job writes

    OUT_DIR/clusters/   address (text), cluster_id (text: the cluster's smallest address), cluster_size (long)
    OUT_DIR/coinjoins/  txid, kind (whirlpool | wasabi | joinmarket | equal-output)
    OUT_DIR/job.json    parameters, the export manifest's sha256, counts, wall time

The rules are custos-trace's (crates/trace/src/heuristics/{coinjoin,cluster}.rs), default set:
common-input over every non-coinbase transaction that is not a CoinJoin, CoinJoin kinds tried in
the order Whirlpool, Wasabi (1.x, then 2.x), JoinMarket, generic equal-output (BlockSci); only
addresses link (`script:<hex>` labels do not), and only transactions with two or more distinct
input addresses make links. Clusters are connected components, computed with the alternating
large-star / small-star algorithm (Kiveris et al., "Connected Components in MapReduce and
Beyond", SoCC 2014) in plain DataFrame code: no graph package is downloaded. Every round's edge
set is checkpointed (reliable with --checkpoint-dir, else local) to cut the lineage.
"""

import argparse
import hashlib
import json
import os
import sys
import time

from pyspark.sql import SparkSession, functions as F

WHIRLPOOL_POOLS = [100_000, 1_000_000, 5_000_000, 50_000_000]
WASABI1_BASE = 10_000_000
WASABI1_PRECISION = 2_000_000
WABISABI_MIN = 5_000
WABISABI_MAX = 134_375_000_000
EQUAL_OUTPUT_EXCLUDED = [546, 2730]


def wabisabi_denominations():
    """WalletWasabi's standard denominations within [WABISABI_MIN, WABISABI_MAX]: powers of 2,
    powers of 3, 2x powers of 3, powers of 10, 2x and 5x powers of 10 (is_wabisabi_denomination)."""
    out = set()
    for base, mults in ((2, (1,)), (3, (1, 2)), (10, (1, 2, 5))):
        p = 1
        while p <= WABISABI_MAX:
            for m in mults:
                v = p * m
                if WABISABI_MIN <= v <= WABISABI_MAX:
                    out.add(v)
            p *= base
    return sorted(out)


def shapes(txs, inputs, outputs):
    """Per non-coinbase transaction with >= 2 inputs: the counts custos-trace's Shape holds."""
    cand = txs.where(~F.col("coinbase") & (F.col("input_count") >= 2)).select(
        "txid", F.col("input_count").alias("n_in"))
    distinct_in = inputs.join(cand.select("txid"), "txid").groupBy("txid").agg(
        F.countDistinct("address").alias("distinct_in"))
    outs = outputs.join(cand.select("txid"), "txid").where(F.col("script_type") != "op_return")
    per_value = outs.groupBy("txid", "value").agg(F.count(F.lit(1)).alias("c"))
    std = F.col("value").isin(wabisabi_denominations())
    agg = per_value.groupBy("txid").agg(
        F.sum("c").alias("n_out"),
        F.max(F.struct("c", "value")).alias("top"),
        F.sum(F.when(std, F.col("c")).otherwise(F.lit(0))).alias("standard"),
        F.max(F.when(std, F.struct("c", "value"))).alias("top_std"),
    )
    return (cand.join(distinct_in, "txid", "left").join(agg, "txid", "left")
            .fillna({"n_out": 0, "standard": 0, "distinct_in": 0}))


def coinjoin_kinds(shape):
    """The most specific matching kind per transaction (None when no rule matches)."""
    n_in, n_out = F.col("n_in"), F.col("n_out")
    tc, tv = F.col("top.c"), F.col("top.value")
    whirlpool = (n_in == 5) & (n_out == 5) & (tc == 5) & tv.isin(WHIRLPOOL_POOLS)
    wasabi1 = (tc >= 10) & (n_in >= tc) & (F.abs(tv - F.lit(WASABI1_BASE)) <= WASABI1_PRECISION)
    wasabi2 = ((n_in >= 50) & F.col("top_std").isNotNull()
               & (F.col("standard") * 2 >= n_out) & (F.col("top_std.c") >= 2))
    others = n_out - tc
    joinmarket = ((tc >= 3) & (others >= tc - 1) & (others <= tc) & (n_in >= tc)
                  & ~tv.isin(EQUAL_OUTPUT_EXCLUDED))
    participants = F.floor((n_out + 1) / 2)
    equal_output = ((n_out >= 3) & (participants <= n_in) & (participants <= F.col("distinct_in"))
                    & (tc == participants) & ~tv.isin(EQUAL_OUTPUT_EXCLUDED))

    def ok(c):
        return F.coalesce(c, F.lit(False))

    kind = (F.when(ok(whirlpool), "whirlpool")
            .when(ok(wasabi1) | ok(wasabi2), "wasabi")
            .when(ok(joinmarket), "joinmarket")
            .when(ok(equal_output), "equal-output"))
    return shape.select("txid", kind.alias("kind")).where(F.col("kind").isNotNull())


def link_edges(txs, inputs, coinjoins):
    """Common-input links as star edges (address, smallest input address of its transaction)."""
    linking = txs.where(~F.col("coinbase")).select("txid").join(coinjoins, "txid", "left_anti")
    addrs = (inputs.join(linking, "txid")
             .where(~F.col("address").startswith("script:"))
             .select("txid", "address").distinct())
    mins = addrs.groupBy("txid").agg(F.min("address").alias("m"), F.count(F.lit(1)).alias("n"))
    return (addrs.join(mins.where(F.col("n") >= 2), "txid")
            .where(F.col("address") != F.col("m"))
            .select(F.col("address").alias("src"), F.col("m").alias("dst")).distinct())


def large_star(e):
    both = e.union(e.select(F.col("dst").alias("src"), F.col("src").alias("dst"))).distinct()
    mins = both.groupBy("src").agg(F.min("dst").alias("m"))
    return (both.join(mins, "src").where(F.col("dst") > F.col("src"))
            .select(F.col("dst").alias("src"), F.least(F.col("src"), F.col("m")).alias("dst"))
            .distinct())


def small_star(e):
    d = e.select(F.greatest("src", "dst").alias("u"), F.least("src", "dst").alias("v")).where(
        F.col("u") != F.col("v")).distinct()
    mins = d.groupBy("u").agg(F.min("v").alias("m"))
    star = d.join(mins, "u").select(F.col("v").alias("src"), F.col("m").alias("dst"))
    centre = mins.select(F.col("u").alias("src"), F.col("m").alias("dst"))
    return star.union(centre).where(F.col("src") != F.col("dst")).distinct()


def normal(e):
    return e.select(F.greatest("src", "dst").alias("src"), F.least("src", "dst").alias("dst")).distinct()


def components(edges, checkpoint, max_rounds):
    """Alternating large-star / small-star until the edge set stops changing."""
    e = checkpoint(normal(edges))
    for rounds in range(1, max_rounds + 1):
        nxt = checkpoint(normal(small_star(large_star(e))))
        changed = nxt.exceptAll(e).limit(1).count() + e.exceptAll(nxt).limit(1).count()
        e = nxt
        if changed == 0:
            return e, rounds
    raise SystemExit(f"cluster.py: no convergence after {max_rounds} rounds")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("export_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--master", help="Spark master when run with python3 (spark-submit sets its own)")
    ap.add_argument("--checkpoint-dir", help="reliable checkpoints (HDFS/S3 on a cluster)")
    ap.add_argument("--max-rounds", type=int, default=64)
    ap.add_argument("--shuffle-partitions", type=int, default=None)
    ap.add_argument("--driver-memory", help="e.g. 2g (local mode: the whole job runs in the driver)")
    a = ap.parse_args()
    if os.path.exists(a.out_dir):
        print(f"cluster.py: {a.out_dir}: already exists; not overwriting it", file=sys.stderr)
        return 2
    manifest_path = os.path.join(a.export_dir, "manifest.json")
    try:
        with open(manifest_path, "rb") as f:
            manifest_bytes = f.read()
    except OSError as e:
        print(f"cluster.py: {manifest_path}: {e.strerror}", file=sys.stderr)
        return 2
    started = time.time()
    b = SparkSession.builder.appName("custos-cluster")
    if a.master:
        b = b.master(a.master)
    if a.driver_memory:
        b = b.config("spark.driver.memory", a.driver_memory)
    if a.shuffle_partitions:
        b = b.config("spark.sql.shuffle.partitions", str(a.shuffle_partitions))
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    if a.checkpoint_dir:
        spark.sparkContext.setCheckpointDir(a.checkpoint_dir)
        checkpoint = lambda df: df.checkpoint(eager=True)  # noqa: E731
    else:
        checkpoint = lambda df: df.localCheckpoint(eager=True)  # noqa: E731

    txs = spark.read.parquet(os.path.join(a.export_dir, "transactions")).select(
        "txid", "coinbase", "input_count")
    inputs = spark.read.parquet(os.path.join(a.export_dir, "inputs")).select("txid", "address")
    outputs = spark.read.parquet(os.path.join(a.export_dir, "outputs")).select(
        "txid", "value", "script_type")

    coinjoins = checkpoint(coinjoin_kinds(shapes(txs, inputs, outputs)))
    edges = link_edges(txs, inputs, coinjoins.select("txid"))
    stars, rounds = components(edges, checkpoint, a.max_rounds)
    labels = (stars.select(F.col("src").alias("address"), F.col("dst").alias("cluster_id"))
              .union(stars.select(F.col("dst").alias("address"), F.col("dst").alias("cluster_id")))
              .groupBy("address").agg(F.min("cluster_id").alias("cluster_id")))
    sizes = labels.groupBy("cluster_id").agg(F.count(F.lit(1)).alias("cluster_size"))
    clusters = checkpoint(labels.join(sizes, "cluster_id").select("address", "cluster_id", "cluster_size"))
    clusters.write.mode("errorifexists").parquet(os.path.join(a.out_dir, "clusters"))
    coinjoins.write.mode("errorifexists").parquet(os.path.join(a.out_dir, "coinjoins"))

    job = {
        "format": "custos-spark-clusters/1",
        "job": "scripts/spark/cluster.py",
        "export_dir": os.path.abspath(a.export_dir),
        "export_manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
        "heuristics": ["common-input", "coinjoin-whirlpool", "coinjoin-wasabi",
                       "coinjoin-joinmarket", "coinjoin-equal-output"],
        "algorithm": "large-star/small-star connected components",
        "rounds": rounds,
        "spark_version": spark.version,
        "master": spark.sparkContext.master,
        "default_parallelism": spark.sparkContext.defaultParallelism,
        "coinjoins": coinjoins.count(),
        "clustered_addresses": clusters.count(),
        "clusters": sizes.count(),
        "wall_seconds": round(time.time() - started, 1),
    }
    with open(os.path.join(a.out_dir, "job.json"), "x") as f:
        json.dump(job, f, indent=2)
    print(json.dumps(job))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
