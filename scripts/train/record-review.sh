#!/usr/bin/env bash
# Records a second examiner's finding about a handed-over case in the reviewer's own case.
#
#   scripts/train/record-review.sh REVIEW_CASE HANDED_CASE [WHO]
#
# Runs `custos --case HANDED_CASE --json case verify` (read-only: verification records nothing in
# the case it checks), names the event kind of every failing ledger entry (from `case log`), and
# imports the result into REVIEW_CASE as one transcript line (custos-ceremony-transcript-v1,
# step "review_finding"; `custos ceremony import-transcript` records it as the ledger event
# `signer.review_finding` — the case's mechanism for steps done outside it). The transcript is
# written as REVIEW_CASE-finding-N.jsonl beside the review case (never overwritten).
# CUSTOS (default: custos on PATH) names the binary.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 REVIEW_CASE HANDED_CASE [WHO]" >&2
  exit 2
fi
review=$1 handed=$2 who=${3:-examiner}
custos=${CUSTOS:-custos}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
set +e
"$custos" --case "$handed" --json case verify > "$tmp/verify.json"
code=$?
set -e
if [ "$code" -ne 0 ] && [ "$code" -ne 1 ]; then
  echo "cannot verify $handed (exit $code)" >&2
  exit "$code"
fi
"$custos" --case "$handed" --json case log > "$tmp/log.json"
n=1
while [ -e "${review%/}-finding-$n.jsonl" ]; do n=$((n + 1)); done
out="${review%/}-finding-$n.jsonl"
python3 - "$tmp/verify.json" "$tmp/log.json" "$who" "$out" "$handed" <<'PY'
import datetime, json, socket, sys
verify, log, who, out, handed = sys.argv[1:6]
report = json.load(open(verify))
kinds = {e["seq"]: e["kind"] for e in json.load(open(log))}
problems = [dict(p, event_kind=kinds.get(p["seq"], "")) for p in report.get("problems", [])]
entry = {
    "format": "custos-ceremony-transcript-v1",
    "time": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
    "who": who,
    "host": socket.gethostname(),
    "step": "review_finding",
    "fingerprints": [],
    "files": [],
    "details": {"case": handed, "head": report.get("head"), "events": report.get("events"),
                "verified": not problems, "problems": problems},
}
with open(out, "x") as f:
    f.write(json.dumps(entry) + "\n")
PY
"$custos" --case "$review" ceremony import-transcript "$out"
