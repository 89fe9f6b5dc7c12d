#!/usr/bin/env bash
# Negative test of check-airgap.sh: on a scratch copy of the workspace, add a networking crate to
# custos-signer and show that the check fails; the unmodified copy must pass the tree check.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Copy sources only (no target/), keep Cargo.lock.
tar -C "$root" --exclude=./target --exclude=./node_modules --exclude=./.git -cf - . | tar -C "$scratch" -xf -
export CARGO_TARGET_DIR="$scratch/target"

echo "negative test 1: unmodified tree passes"
"$root/scripts/check-airgap.sh" --skip-build --manifest-path "$scratch/Cargo.toml"

echo "negative test 2: electrum-client in custos-signer must fail the check"
sed -i 's/^\[dependencies\]$/[dependencies]\nelectrum-client.workspace = true/' "$scratch/crates/signer/Cargo.toml"
# --locked would refuse the changed manifest; refresh the scratch lockfile offline first.
cargo update --offline --manifest-path "$scratch/Cargo.toml" -p custos-signer >/dev/null 2>&1 || \
  cargo generate-lockfile --offline --manifest-path "$scratch/Cargo.toml" >/dev/null 2>&1 || true
if "$root/scripts/check-airgap.sh" --skip-build --manifest-path "$scratch/Cargo.toml" 2>"$scratch/err.txt"; then
  echo "FAIL: check-airgap.sh passed although electrum-client is in the signer's tree" >&2
  exit 1
fi
grep -q "electrum-client" "$scratch/err.txt" || { echo "FAIL: the failure does not name electrum-client" >&2; cat "$scratch/err.txt" >&2; exit 1; }
echo "ok: check-airgap.sh fails when a networking crate enters custos-signer ($(grep -c FAIL "$scratch/err.txt") findings)"
