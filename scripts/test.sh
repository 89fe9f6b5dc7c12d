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
clippy_driver=$(command -v clippy-driver) || {
    echo "test.sh: clippy-driver not found (rustup component add clippy)" >&2
    exit 3
}
export RUSTC_WORKSPACE_WRAPPER=$clippy_driver
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

# The wrapper must really lint: a scratch crate with one clippy warning has to fail to build.
log "clippy in the build: a scratch crate with a clippy warning must fail"
lint_probe=$(mktemp -d)
trap 'rm -rf "$lint_probe"' EXIT
mkdir -p "$lint_probe/src"
printf '[package]\nname = "lint-probe"\nversion = "0.0.0"\nedition = "2021"\n[workspace]\n' >"$lint_probe/Cargo.toml"
printf 'fn main() {\n    let x = std::env::args().count() > 1;\n    if x == true {\n        std::process::exit(1);\n    }\n}\n' >"$lint_probe/src/main.rs"
if CARGO_TARGET_DIR="$lint_probe/target" cargo build -q --offline --manifest-path "$lint_probe/Cargo.toml" 2>"$lint_probe/err.txt"; then
    echo "test.sh: clippy-driver did not fail a build with a clippy warning: lints are not running" >&2
    exit 1
fi
grep -q "bool_comparison\|equality checks against true" "$lint_probe/err.txt" || {
    echo "test.sh: the lint probe failed for another reason:" >&2; cat "$lint_probe/err.txt" >&2; exit 1; }

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
