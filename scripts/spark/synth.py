#!/usr/bin/env python3
"""A synthetic chain for the clustering benchmark, written as the tables `custos index export`
writes (only the columns scripts/spark/cluster.py reads, with the same types).

    python3 scripts/spark/synth.py OUT_DIR [--txs 1000000] [--entities 100000] [--master local[2]]

Model (deterministic, xxhash64 of the transaction number): every entity owns 10 addresses;
90 % of the transactions spend 1-3 inputs of one entity (2 outputs); 9 % are Whirlpool-shaped
CoinJoins (5 inputs of 5 different entities, 5 outputs of 1,000,000 sat) that must not merge
anything; 1 % spend from two entities at once (they merge them, making clusters of several
entities and chains the connected-components rounds have to walk). OUT_DIR/manifest.json
records the parameters and the planted counts.
"""

import argparse
import json
import os
import sys

from pyspark.sql import SparkSession, functions as F


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--txs", type=int, default=1_000_000)
    ap.add_argument("--entities", type=int, default=100_000)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="2g")
    a = ap.parse_args()
    if os.path.exists(a.out_dir):
        print(f"synth.py: {a.out_dir}: already exists; not overwriting it", file=sys.stderr)
        return 2
    spark = (SparkSession.builder.appName("custos-synth").master(a.master)
             .config("spark.driver.memory", a.driver_memory)
             .config("spark.sql.shuffle.partitions", "8").getOrCreate())
    spark.sparkContext.setLogLevel("WARN")
    e = a.entities
    h = lambda seed: F.abs(F.xxhash64(F.col("id"), F.lit(seed)))  # noqa: E731
    tx = (spark.range(a.txs)
          .withColumn("r", h(1) % 100)
          .withColumn("kind", F.when(F.col("r") < 90, "own").when(F.col("r") < 99, "coinjoin").otherwise("merge"))
          .withColumn("n_in", F.when(F.col("kind") == "own", h(2) % 3 + 1)
                      .when(F.col("kind") == "coinjoin", F.lit(5)).otherwise(F.lit(2)))
          .withColumn("ent", h(3) % e)
          .withColumn("txid", F.format_string("t%010d", F.col("id"))))
    tx.cache()
    transactions = tx.select("txid", F.lit(False).alias("coinbase"), F.col("n_in").cast("int").alias("input_count"))
    ins = (tx.select("id", "txid", "kind", "ent", F.explode(F.sequence(F.lit(0), F.col("n_in") - 1)).alias("vin"))
           .withColumn("e", F.when(F.col("kind") == "own", F.col("ent"))
                       .otherwise((F.col("ent") + F.col("vin") * F.lit(7919)) % e))
           .withColumn("slot", F.abs(F.xxhash64(F.col("id"), F.col("vin"), F.lit(4))) % 10)
           .select("txid", F.col("vin").cast("int").alias("vin"),
                   F.format_string("s%09d", F.col("e") * 10 + F.col("slot")).alias("address")))
    n_out = F.when(F.col("kind") == "coinjoin", F.lit(5)).otherwise(F.lit(2))
    outs = (tx.select("id", "txid", "kind", F.explode(F.sequence(F.lit(0), n_out - 1)).alias("vout"))
            .withColumn("value", F.when(F.col("kind") == "coinjoin", F.lit(1_000_000))
                        .otherwise(F.abs(F.xxhash64(F.col("id"), F.col("vout"), F.lit(5))) % 100_000_000 + 1000))
            .select("txid", F.col("vout").cast("int").alias("vout"), F.col("value").cast("long").alias("value"),
                    F.lit("p2wpkh").alias("script_type")))
    transactions.write.parquet(os.path.join(a.out_dir, "transactions"))
    ins.write.parquet(os.path.join(a.out_dir, "inputs"))
    outs.write.parquet(os.path.join(a.out_dir, "outputs"))
    counts = {r["kind"]: r["count"] for r in tx.groupBy("kind").count().collect()}
    manifest = {"format": "custos-synthetic/1", "txs": a.txs, "entities": a.entities,
                "addresses": a.entities * 10, "planted": counts,
                "input_rows": spark.read.parquet(os.path.join(a.out_dir, "inputs")).count()}
    with open(os.path.join(a.out_dir, "manifest.json"), "x") as f:
        json.dump(manifest, f, indent=2)
    print(json.dumps(manifest))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
