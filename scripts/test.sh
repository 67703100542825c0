#!/usr/bin/env bash
# The whole test suite: lint, types and the import contracts (pyproject.toml), the contract (compile, artifact check, solhint,
# Hardhat tests), and pytest on SQLite and PostgreSQL with a real anvil and Chromium.
# PostgreSQL is expected at LEDGER_TEST_PG_URL (default postgresql://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev

export LEDGER_TEST_PG_URL="${LEDGER_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/test}"
if ! .venv/bin/python -c "import psycopg,os; psycopg.connect(os.environ['LEDGER_TEST_PG_URL'], connect_timeout=3).close()" 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "test: starting the local PostgreSQL cluster"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    sleep 2
  fi
fi

step() { printf '\n== %s\n' "$*"; }
step "ruff";        .venv/bin/ruff check . && .venv/bin/ruff format --check .
step "mypy";        .venv/bin/mypy
step "imports";     .venv/bin/lint-imports
step "contract";    bash scripts/build_contract.sh --check
step "solhint";     npx --no-install solhint --disc --noPoster --max-warnings 0 'contracts/**/*.sol'
step "hardhat";     npx --no-install hardhat test
step "pytest";      .venv/bin/pytest -n 2 --dist loadfile "$@"
