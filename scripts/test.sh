#!/usr/bin/env bash
# scripts/test.sh — the one test command. On a fresh machine it first installs what is missing
# (Debian packages for Bitcoin Core's kernel), then runs, in order:
#   cargo fmt --check, cargo build of every target with clippy's lints (-D warnings) in the same
#   pass, cargo test --workspace,
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

# Clippy's lints in the build itself: clippy-driver compiles the workspace's own crates (lints and
# code in one pass) while the dependencies are compiled once, by rustc, for both. A separate
# `cargo clippy` would check every dependency a second time (about a third of a cold run).
# CLIPPY_ARGS is how cargo-clippy passes `-- -D warnings` to the driver.
export RUSTC_WORKSPACE_WRAPPER=${RUSTC_WORKSPACE_WRAPPER:-$(command -v clippy-driver)}
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

log "cargo build --workspace --all-targets, with clippy's lints (-D warnings)"
cargo build --workspace --all-targets --locked

# Every binary is built, with the features of the whole workspace: tests take them as they are
# (testkit::workspace_bin), and so does the fuzz step, instead of a per-package `cargo build -p`
# that would resolve features anew and rebuild the dependency tree.
export CUSTOS_WORKSPACE_BUILT=1

log "cargo test --workspace"
cargo test --workspace --locked

log "air gap: scripts/check-airgap.sh"
scripts/check-airgap.sh --profile dev

log "air gap negative test: scripts/test-check-airgap.sh"
scripts/test-check-airgap.sh

log "fuzz: corpus replay and a short bounded run of every target (scripts/fuzz.sh --ci)"
scripts/fuzz.sh --ci "${CUSTOS_FUZZ_SECONDS:-4}"

log "all checks passed"
