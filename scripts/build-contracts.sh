#!/usr/bin/env bash
# Rebuilds contracts/build/contracts.json (the lab's Ethereum contracts: our Solidity sources in
# contracts/src compiled with solc-js, and the Safe v1.4.1 artifacts from npm). The built file is
# committed so tests need no compile step; run this after changing a source and commit the result.
# Needs the npm tools: scripts/install-deps.sh installs them into tools/eth/node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d tools/eth/node_modules/solc ] || { echo "build-contracts: run scripts/install-deps.sh first" >&2; exit 3; }
node contracts/build.js
