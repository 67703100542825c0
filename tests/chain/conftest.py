"""Fixtures for the chain tests: the in-process EVM, real anvil processes, ledgers with entries.

anvil comes from ``node_modules/.bin/anvil`` (``npm ci``) or ``LEDGER_ANVIL_BIN``. When it is
missing, the anvil tests skip locally with a message and FAIL when ``CI=true``. The same rule
holds for PostgreSQL at ``LEDGER_TEST_PG_URL``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eth_account import Account
from sqlalchemy.engine import make_url
from web3 import EthereumTesterProvider, Web3

from ledger.chain.client import ANVIL_DEV_KEY, ChainClient, make_web3
from ledger.chain.devchain import Devchain, find_anvil
from ledger.errors import ConfigError
from tests.chain.support import Farm, free_port, open_ledger

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_URL = os.environ.get("LEDGER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _missing(msg: str) -> None:
    if IN_CI:
        pytest.fail(f"{msg} (CI=true: the chain tests must run in CI)", pytrace=False)
    pytest.skip(f"{msg} -- skipping locally; with CI=true this is a failure")


# --- in-process EVM ------------------------------------------------------------------------


@pytest.fixture
def tester_w3() -> Web3:
    return Web3(EthereumTesterProvider())


@pytest.fixture
def tester_account(tester_w3: Web3) -> Any:
    return Account.from_key(tester_w3.provider.ethereum_tester.backend.account_keys[0])  # type: ignore[attr-defined]


@pytest.fixture
def tester_chain(tester_w3: Web3, tester_account: Any) -> ChainClient:
    client, _ = ChainClient.deploy(tester_w3, tester_account)
    return client


# --- anvil ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def anvil_bin() -> Path:
    explicit = os.environ.get("LEDGER_ANVIL_BIN")
    try:
        return find_anvil(Path(explicit) if explicit else None)
    except ConfigError as exc:
        _missing(str(exc))
        raise


@pytest.fixture
def anvil(anvil_bin: Path, tmp_path: Path) -> Iterator[Devchain]:
    """A running anvil on a free port with its state in the test's folder; stopped afterwards."""
    chain = Devchain(anvil_bin, free_port(), tmp_path / "anvil-state.json", tmp_path / "anvil.log")
    chain.start()
    try:
        yield chain
    finally:
        chain.stop()


@pytest.fixture
def anvil_account() -> Any:
    return Account.from_key(ANVIL_DEV_KEY)


@pytest.fixture
def anvil_chain(anvil: Devchain, anvil_account: Any) -> ChainClient:
    client, _ = ChainClient.deploy(make_web3(anvil.url), anvil_account)
    return client


# --- PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A temporary PostgreSQL database (dropped afterwards)."""
    try:
        admin = psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        _missing(f"PostgreSQL is unreachable at {PG_URL} (set LEDGER_TEST_PG_URL): {exc}".strip())
        raise
    name = f"ledger_chain_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def farm(tmp_path: Path) -> Farm:
    return Farm(open_ledger(tmp_path / "data")).setup()
