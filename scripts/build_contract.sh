#!/usr/bin/env bash
# Compiles contracts/ProvenanceAnchor.sol with Hardhat (offline, npm solc) and writes ledger/abi/ProvenanceAnchor.json
# ({"abi": [...], "bytecode": "0x..."}), which the Python side loads at run time.
#
#   bash scripts/build_contract.sh           compile and (re)write ledger/abi/ProvenanceAnchor.json
#   bash scripts/build_contract.sh --check   compile and fail if the committed file differs from what the sources give
#
# Needs `npm ci` first.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=write
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

if [ ! -x node_modules/.bin/hardhat ]; then
  echo "error: node_modules/.bin/hardhat not found: run 'npm ci' first" >&2
  exit 1
fi

# --force: never trust a stale cache, so the check always reflects the sources and the pinned compiler.
node_modules/.bin/hardhat compile --force --quiet

if [ "$mode" = check ]; then
  node scripts/check_artifact.js --check
else
  node scripts/check_artifact.js
fi
