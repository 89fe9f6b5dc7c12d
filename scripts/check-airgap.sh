#!/usr/bin/env bash
# check-airgap.sh — fails when networking code can reach the air-gapped signer.
#
# 1. Builds custos-signer exactly as README.md tells users to:
#      cargo build --release --locked -p custos-signer
#    (so feature unification from other workspace members does not hide or add anything).
# 2. Fails if `cargo tree -p custos-signer -e normal` lists any forbidden crate.
# 3. Fails if the built binary's strings name any of them, or it imports socket functions.
#
# Usage: scripts/check-airgap.sh [--skip-build] [--profile release|dev] [--manifest-path PATH]
#   --skip-build     only check the dependency tree (used by the script's own negative test)
#   --profile dev    build `-p custos-signer` in the dev profile instead; its panic locations name every
#                    linked crate, so the strings check is stricter. With CUSTOS_WORKSPACE_BUILT=1
#                    (scripts/test.sh, after building every target of the workspace) the dev binary
#                    in target/debug is scanned as it is: built with the whole workspace's features,
#                    which only add code to the signer's crates, so that scan is at least as strict
#                    as one of a build for the signer alone, and no second build of its tree is needed.
#                    The dependency-tree check (2.) is always resolved for the signer alone.
#   --manifest-path  check another workspace (used by the negative test on a scratch copy)
set -euo pipefail

FORBIDDEN=(electrum-client reqwest hyper hyper-util tokio mio socket2 rustls rustls-pki-types tokio-rustls
           alloy-provider alloy-transport alloy-transport-http alloy-transport-ws alloy-transport-ipc
           alloy-rpc-client alloy-pubsub native-tls openssl ureq curl isahc surf async-std
           tungstenite tokio-tungstenite h2 http-body)

skip_build=0
profile=release
manifest=()
while [ $# -gt 0 ]; do
  case "$1" in
    --skip-build) skip_build=1 ;;
    --manifest-path) manifest=(--manifest-path "$2"); shift ;;
    --profile) profile="$2"; shift
      case "$profile" in release|dev) ;; *) echo "check-airgap: --profile is release or dev" >&2; exit 2 ;; esac ;;
    *) echo "check-airgap: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

fail=0
tree=$(cargo tree "${manifest[@]}" -p custos-signer -e normal --prefix none --format '{p}' --locked 2>/dev/null) || {
  echo "check-airgap: cargo tree failed" >&2; exit 3; }
names=$(printf '%s\n' "$tree" | awk '{print $1}' | sort -u)
for crate in "${FORBIDDEN[@]}"; do
  if printf '%s\n' "$names" | grep -qx -- "$crate"; then
    echo "check-airgap: FAIL: networking crate '$crate' is in custos-signer's dependency tree:" >&2
    cargo tree "${manifest[@]}" -p custos-signer -e normal -i "$crate" --locked >&2 || true
    fail=1
  fi
done
# Any alloy-transport* crate, whatever its name.
if printf '%s\n' "$names" | grep -q '^alloy-transport'; then
  echo "check-airgap: FAIL: an alloy-transport crate is in custos-signer's tree" >&2
  fail=1
fi

if [ "$skip_build" = 0 ]; then
  if [ "$profile" = dev ] && [ "${CUSTOS_WORKSPACE_BUILT:-}" = 1 ] && [ ${#manifest[@]} -eq 0 ]; then
    echo "check-airgap: scanning the workspace build's dev binary (CUSTOS_WORKSPACE_BUILT=1)" >&2
  else
    cargo build "${manifest[@]}" --profile "$profile" --locked -p custos-signer
  fi
  target_dir=$(cargo metadata "${manifest[@]}" --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  outdir=release; [ "$profile" = dev ] && outdir=debug
  bin="$target_dir/$outdir/custos-signer"
  [ -x "$bin" ] || { echo "check-airgap: binary $bin not found" >&2; exit 3; }
  # Symbol names are not evidence (a dev binary keeps them, and a mangled std name such as
  # `6socket21socket_addr` reads as "socket2"): check a copy stripped as the release profile is.
  scan="$bin"
  if [ "$profile" = dev ]; then
    scan=$(mktemp); trap 'rm -f "$scan"' EXIT
    strip --strip-all -o "$scan" "$bin"
  fi
  hits=$(strings -n 6 "$scan" | grep -E -o '(electrum[-_]client|reqwest|hyper[-_:]|tokio[-_:]|mio[-_:]|socket2|rustls|alloy[-_]provider|alloy[-_]transport)' | sort -u || true)
  if [ -n "$hits" ]; then
    echo "check-airgap: FAIL: the $profile binary names networking crates:" >&2
    printf '  %s\n' $hits >&2
    fail=1
  fi
  # The binary must not import socket functions either.
  if command -v nm >/dev/null; then
    socks=$(nm -D --undefined-only "$bin" 2>/dev/null | awk '{print $NF}' | grep -E '^(socket|connect|bind|listen|accept4?|getaddrinfo)(@|$)' || true)
    if [ -n "$socks" ]; then
      echo "check-airgap: FAIL: the $profile binary imports socket functions: $socks" >&2
      fail=1
    fi
  fi
fi

if [ "$fail" = 0 ]; then
  echo "check-airgap: ok: custos-signer links no networking crate ($(printf '%s\n' "$names" | wc -l) crates checked)"
fi
exit "$fail"
