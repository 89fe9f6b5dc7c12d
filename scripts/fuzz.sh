#!/usr/bin/env bash
# scripts/fuzz.sh — run the fuzz targets of fuzz/ (stable toolchain; no nightly, no libFuzzer).
#
#   scripts/fuzz.sh TARGET SECONDS [SEED]   fuzz one target for SECONDS (artifacts in fuzz/artifacts/TARGET)
#   scripts/fuzz.sh --list                  list the targets
#   scripts/fuzz.sh --replay [TARGET...]    run every corpus file of the targets (default: all) once
#   scripts/fuzz.sh --ci SECONDS            replay every corpus, then fuzz every target SECONDS each
#
# Each target is a mutation loop over its seed corpus fuzz/corpus/TARGET (see fuzz/README.md).
# Exit status: 0 clean, 1 a crash (panic) or hang was found, 2 usage error.
# A run that dies of an abort (a stack overflow cannot be caught) is re-run with the same seed,
# writing each input to a trace file first; the input that killed it is then saved as an artifact.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

usage() { sed -n '2,12p' "$0" >&2; exit 2; }
targets() { ls fuzz/fuzz_targets | sed 's/\.rs$//'; }

# The installation needs only cargo (stable): build the harness binaries, members of the workspace.
# On their own they are built in the `fuzz` profile (the dev profile's overflow checks and debug
# assertions, at opt-level 2: several times the executions per second of a debug build) into
# target/fuzz/. scripts/test.sh has built every target of the workspace already
# (CUSTOS_WORKSPACE_BUILT=1): then the dev-profile binaries in target/debug are taken as they are.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
if [ "${CUSTOS_WORKSPACE_BUILT:-}" = 1 ]; then PROFILE_DIR=debug; else PROFILE_DIR=fuzz; fi
build() {
    if [ "$PROFILE_DIR" = debug ]; then
        local t
        for t in $(targets); do
            [ -x "$(bin "$t")" ] || { echo "fuzz.sh: CUSTOS_WORKSPACE_BUILT=1 but $(bin "$t") is missing" >&2; exit 2; }
        done
        return 0
    fi
    cargo build --locked --profile fuzz -p custos-fuzz --bins ${CUSTOS_FUZZ_OFFLINE:+--offline} >&2
}
bin() { echo "$CARGO_TARGET_DIR/$PROFILE_DIR/$1"; }

check_target() {
    targets | grep -qx "$1" || { echo "fuzz.sh: no target $1 (scripts/fuzz.sh --list)" >&2; exit 2; }
}

run_one() {
    local t=$1 secs=$2 seed=${3:-$(date +%s)}
    check_target "$t"
    local art="fuzz/artifacts/$t"
    mkdir -p "$art"
    set +e
    "$(bin "$t")" --corpus "fuzz/corpus/$t" --seconds "$secs" --seed "$seed" --artifacts "$art"
    local rc=$?
    set -e
    if [ "$rc" -gt 128 ]; then
        echo "fuzz.sh: $t died of signal $((rc - 128)) (seed $seed); re-running with a trace file to catch the input" >&2
        set +e
        "$(bin "$t")" --corpus "fuzz/corpus/$t" --seconds $((secs * 20 + 60)) --seed "$seed" \
            --artifacts "$art" --trace-file "$art/.trace"
        set -e
        local name
        name="$art/abort-$(sha256sum "$art/.trace" | cut -c1-16)"
        mv "$art/.trace" "$name"
        echo "fuzz.sh: $t: input that aborted the process saved to $name" >&2
        return 1
    fi
    return "$rc"
}

replay() {
    local rc=0 t
    for t in "$@"; do
        check_target "$t"
        "$(bin "$t")" --replay "fuzz/corpus/$t" || rc=1
    done
    return "$rc"
}

[ $# -ge 1 ] || usage
case "$1" in
    --list) targets ;;
    --replay)
        shift
        build
        if [ $# -eq 0 ]; then set -- $(targets); fi
        replay "$@"
        ;;
    --ci)
        [ $# -eq 2 ] || usage
        build
        replay $(targets)
        rc=0
        # A fixed seed: CI runs are reproducible.
        for t in $(targets); do run_one "$t" "$2" 1 || rc=1; done
        exit "$rc"
        ;;
    -*) usage ;;
    *)
        [ $# -ge 2 ] || usage
        build
        run_one "$1" "$2" "${3:-}"
        ;;
esac
