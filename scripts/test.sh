#!/usr/bin/env bash
# scripts/test.sh — the one test command. On a fresh machine it first installs what is missing
# (Debian packages for Bitcoin Core's kernel), then runs, in order:
#   cargo fmt --check, cargo clippy -D warnings, cargo test --workspace,
#   scripts/check-airgap.sh (the signer built alone, dev profile) and its negative test,
#   and the fuzz step: every fuzz corpus replayed, then each target fuzzed for a few seconds
#   (CUSTOS_FUZZ_SECONDS, default 4; 13 targets, about a minute and a half with the build).
# Environment: CUSTOS_REQUIRE_LIVE=1 makes a missing live dependency fail tests instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*" >&2; }

scripts/install-deps.sh

export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
export RUST_BACKTRACE=${RUST_BACKTRACE:-1}

log "cargo fmt --check"
cargo fmt --all --check

log "cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "cargo build --workspace --bins (the end-to-end tests run the real binaries)"
cargo build --workspace --bins --locked

log "cargo test --workspace"
cargo test --workspace --locked

log "air gap: scripts/check-airgap.sh"
scripts/check-airgap.sh --profile dev

log "air gap negative test: scripts/test-check-airgap.sh"
scripts/test-check-airgap.sh

log "fuzz: corpus replay and a short bounded run of every target (scripts/fuzz.sh --ci)"
scripts/fuzz.sh --ci "${CUSTOS_FUZZ_SECONDS:-4}"

log "all checks passed"
