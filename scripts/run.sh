#!/usr/bin/env bash
# Run OCOP Ledger on its local defaults: SQLite in ./.ledger, a local anvil chain with the
# contract deployed, the API and the anchor worker; prints the URLs to open. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/ocop-ledger up "$@"
