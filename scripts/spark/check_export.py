#!/usr/bin/env python3
"""Checks a `custos index export` against a lab's `transactions.jsonl` (custos-lab truth
--transactions FILE, or fixtures/lab/<scenario>/transactions.jsonl), reading the Parquet with
Spark's own reader: every non-coinbase transaction of the dump is exported with the same inputs
(spent outpoint, value, address) and outputs (value, address), and nothing else is.

    python3 scripts/spark/check_export.py EXPORT_DIR transactions.jsonl [--master local[2]]
Exit 0 when they agree, 1 with the first differences otherwise.
"""
import argparse
import json
import os
import sys

from pyspark.sql import SparkSession


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("export_dir")
    ap.add_argument("jsonl")
    ap.add_argument("--master", default="local[2]")
    a = ap.parse_args()
    want_in, want_out, want_txs = set(), set(), set()
    with open(a.jsonl) as f:
        for line in f:
            t = json.loads(line)
            want_txs.add(t["txid"])
            for vin, i in enumerate(t["inputs"]):
                want_in.add((t["txid"], vin, i["prevout"], i["value"], i["address"]))
            for vout, o in enumerate(t["outputs"]):
                want_out.add((t["txid"], vout, o["value"], o["address"]))
    spark = SparkSession.builder.master(a.master).config("spark.sql.shuffle.partitions", "4").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    rd = lambda t: spark.read.parquet(os.path.join(a.export_dir, t))  # noqa: E731
    txs = {r.txid for r in rd("transactions").where("not coinbase").select("txid").collect()}
    # An address the dump leaves empty (a script without one) is `script:<hex>` in the export.
    label = lambda s: "" if s.startswith("script:") else s  # noqa: E731
    got_in = {(r.txid, r.vin, f"{r.prev_txid}:{r.prev_vout}", r.value, label(r.address))
              for r in rd("inputs").collect()}
    got_out = {(r.txid, r.vout, r.value, label(r.address))
               for r in rd("outputs").collect() if r.txid in txs}
    problems = {
        "transactions_missing": sorted(want_txs - txs)[:5],
        "transactions_extra": sorted(txs - want_txs)[:5],
        "inputs_missing": sorted(want_in - got_in)[:5],
        "inputs_extra": sorted(got_in - want_in)[:5],
        "outputs_missing": sorted(want_out - got_out)[:5],
        "outputs_extra": sorted(got_out - want_out)[:5],
    }
    ok = not any(problems.values())
    print(json.dumps({"ok": ok, "transactions": len(txs), "inputs": len(got_in),
                      "non_coinbase_outputs": len(got_out), **problems}))
    spark.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
