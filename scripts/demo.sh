#!/usr/bin/env bash
# scripts/demo.sh — the main job on a fresh machine: installs what is missing, builds the three
# binaries, and runs `custos-lab demo`, the whole custody path on the local lab chain:
# seized material -> inventory -> key ceremony -> sweep -> offline signing -> broadcast -> mined
# -> custody balance checked -> case verified and its HTML report written.
# Usage: scripts/demo.sh [WORKDIR]   (default: ./demo-run, must not exist)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --locked -p custos-cli -p custos-signer -p custos-lab
exec target/debug/custos-lab demo --workdir "${1:-demo-run}"
