#!/usr/bin/env bash
# Records a signer's refusal in the case ledger.
#
#   scripts/train/record-refusal.sh CASE_DIR PSBT REFUSAL_JSON [WHO]
#
# custos-signer runs on the air-gapped laptop and has no case: its refusal (`custos-signer --json
# sign ...` prints {"refused": true, "reason": "..."} and exits 1) reaches the case the way the
# signer's ceremony steps do — as a transcript line (custos-ceremony-transcript-v1) imported with
# `custos ceremony import-transcript`, which records it as the ledger event `signer.sign_refused`
# holding the reason and the refused PSBT's sha256. The transcript is written next to the PSBT as
# PSBT-refusal.jsonl (never overwritten). CUSTOS (default: custos on PATH) names the binary.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 CASE_DIR PSBT REFUSAL_JSON [WHO]" >&2
  exit 2
fi
case_dir=$1 psbt=$2 refusal=$3 who=${4:-examiner}
custos=${CUSTOS:-custos}
out="${psbt%.psbt}-refusal.jsonl"
if [ -e "$out" ]; then
  echo "$out already exists (never overwritten)" >&2
  exit 2
fi
python3 - "$psbt" "$refusal" "$who" "$out" <<'PY'
import datetime, hashlib, json, os, socket, sys
psbt, refusal, who, out = sys.argv[1:5]
r = json.load(open(refusal))
if r.get("refused") is not True or not str(r.get("reason", "")).strip():
    sys.exit(f"{refusal}: not a signer refusal (expected {{\"refused\": true, \"reason\": ...}})")
data = open(psbt, "rb").read()
entry = {
    "format": "custos-ceremony-transcript-v1",
    "time": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
    "who": who,
    "host": socket.gethostname(),
    "step": "sign_refused",
    "fingerprints": [],
    "files": [{"name": os.path.basename(psbt), "sha256": hashlib.sha256(data).hexdigest()}],
    "details": {"reason": r["reason"], "psbt_sha256": hashlib.sha256(data).hexdigest()},
}
with open(out, "x") as f:
    f.write(json.dumps(entry) + "\n")
PY
"$custos" --case "$case_dir" ceremony import-transcript "$out"
