#!/usr/bin/env bash
# Installs what a fresh machine lacks to build and test custos:
#   Debian: cmake, libboost-dev (Bitcoin Core's kernel via the bitcoinkernel crate), binutils (strings/nm
#   for the air-gap check), python3, chromium (headless browser test of the trace HTML view), openssl
#   (self-signed certificates for the TLS pinning tests), nodejs/npm;
#   npm, into the repo-local tools/eth/node_modules (versions pinned in tools/eth/package.json and
#   its lock): anvil and cast (the Ethereum lab node and an independent checker), solc-js, OpenZeppelin
#   contracts and the Safe v1.4.1 artifacts (scripts/build-contracts.sh).
# Idempotent: does nothing when everything is present.
set -euo pipefail

need=()
command -v cmake >/dev/null || need+=(cmake)
[ -e /usr/include/boost/version.hpp ] || need+=(libboost-dev)
command -v strings >/dev/null || need+=(binutils)
command -v python3 >/dev/null || need+=(python3)
command -v g++ >/dev/null || need+=(g++)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/bin/chromium ] || command -v chromium >/dev/null || need+=(chromium)
command -v npm >/dev/null || need+=(npm)

if [ "${#need[@]}" -gt 0 ]; then
  echo "install-deps: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Ethereum lab tools (anvil, cast, solc-js, contract sources): npm packages only, never a download
# from elsewhere. `npm ci` installs exactly the committed lock.
eth_tools="$(dirname "$0")/../tools/eth"
if [ ! -x "$eth_tools/node_modules/.bin/anvil" ] || [ ! -x "$eth_tools/node_modules/.bin/cast" ]; then
  echo "install-deps: installing the Ethereum lab tools into tools/eth/node_modules" >&2
  (cd "$eth_tools" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# Independent checkers the tests run (PyPI): embit (custody-spend PSBTs), shamir-mnemonic (SLIP-39).
if ! python3 -c "import embit, shamir_mnemonic" 2>/dev/null; then
  echo "install-deps: pip install embit shamir-mnemonic" >&2
  python3 -m pip install --quiet --disable-pip-version-check embit==0.8.0 shamir-mnemonic==0.3.0 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages embit==0.8.0 shamir-mnemonic==0.3.0
fi

# Chain-wide clustering (scripts/spark/cluster.py): PySpark in local mode on Debian's Java 17.
if ! command -v java >/dev/null; then
  echo "install-deps: installing openjdk-17-jre-headless" >&2
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi
if ! python3 -c "import pyspark" 2>/dev/null; then
  echo "install-deps: pip install pyspark==4.3.0" >&2
  python3 -m pip install --quiet --disable-pip-version-check pyspark==4.3.0 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages pyspark==4.3.0
fi

if ! command -v cargo >/dev/null; then
  echo "install-deps: cargo not found; install Rust (rustup) >= 1.94.1 first" >&2
  exit 3
fi

