#!/usr/bin/env bash
# Makes the handed-over case of exercise ex-07-second-examiner (instructor side).
#
#   scripts/train/make-handover.sh WORKDIR [SCENARIO]
#
# Runs the whole custody path with `custos-lab demo --scenario SCENARIO --workdir WORKDIR` (the
# real binaries: inspection, ceremony, sweep, offline signing, broadcast, confirmation), then
# alters one recorded artifact — the sweep summary of the `sweep.build` entry (its total fee is
# changed) — directly in WORKDIR/case/case.sqlite, as someone editing the record afterwards
# would. The ledger rows stay untouched; `custos case verify` then names that entry. CUSTOS_LAB
# (default: custos-lab on PATH, with custos and custos-signer beside it) names the binary.
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 WORKDIR [SCENARIO]" >&2
  exit 2
fi
work=$1 scenario=${2:-ex-07-second-examiner}
"${CUSTOS_LAB:-custos-lab}" demo --scenario "$scenario" --workdir "$work" > "$work.demo.log"
python3 - "$work/case/case.sqlite" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
row = db.execute("SELECT artifacts FROM ledger WHERE kind = 'sweep.build' ORDER BY seq LIMIT 1").fetchone()
if row is None:
    sys.exit("no sweep.build entry in the case")
shas = json.loads(row[0])
for sha in shas:
    kind, data = db.execute("SELECT kind, data FROM artifacts WHERE sha256 = ?", (sha,)).fetchone()
    if kind == "sweep_summary":
        summary = json.loads(data)
        summary["total_fee_sat"] = summary["total_fee_sat"] + 50000
        new = json.dumps(summary, indent=2).encode()
        db.execute("UPDATE artifacts SET data = ?, size = ? WHERE sha256 = ?", (new, len(new), sha))
        db.commit()
        print(f"altered artifact {sha} (sweep summary) of the sweep.build entry")
        break
else:
    sys.exit("the sweep.build entry has no sweep_summary artifact")
PY
