"""API fuzzing: schemathesis over /openapi.json, every operation, in-process (ASGI).

Zero 5xx, and every response matches its documented schema (status code, content type, body).
CI runs ``LEDGER_FUZZ_EXAMPLES`` (default 20) examples per operation; ``scripts/fuzz_api.py`` runs more.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from ledger.service import Ledger
from ledger.store import migrate
from ledger.store.db import make_engine
from ledger.store.keys import KeyRing
from tests.api.conftest import api_settings, build_world, make_settings
from tests.hardening.lab import MASTER_KEY

pytestmark = [pytest.mark.hardening, pytest.mark.slow]
EXAMPLES = int(os.environ.get("LEDGER_FUZZ_EXAMPLES", "20"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The app over a SQLite ledger holding the API test world (two cooperatives, an inspector, …)."""
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    engine = make_engine(f"sqlite:///{tmp / 'ledger.db'}")
    migrate.upgrade(engine)
    ledger = Ledger(engine, KeyRing(MASTER_KEY))
    app = create_app(make_settings(tmp), ledger=ledger, connect_chain=False, api_settings=api_settings())
    world = build_world(ledger, TestClient(app))
    app.state.fuzz_tokens = {"admin": world.tokens["admin"], "producer": world.tokens["a"]}
    yield app
    engine.dispose()


@pytest.fixture(scope="module")
def api_schema(fuzz_app: Any) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


def fuzz(schema: Any, examples: int, tokens: dict[str, str] | None = None) -> tuple[int, int, dict[str, str]]:
    """Run every operation; return (operations, examples run, failures by operation).

    With ``tokens``, requests carry a valid API key (admin routes the admin's, the rest a
    producer's), so the authenticated routes are fuzzed past the key check into their handlers.

    (schemathesis' own pytest plugin does not run under pytest 9, so each operation gets a
    Hypothesis test built here from ``operation.as_strategy()``.)
    """
    ops, runs, failures = 0, 0, {}
    for result in schema.get_all_operations():
        op = result.ok()
        ops += 1
        count = [0]
        headers = {}
        if tokens:
            token = tokens["admin"] if op.path.startswith("/api/v1/admin") else tokens["producer"]
            headers = {"Authorization": f"Bearer {token}"}

        @hypothesis.settings(
            max_examples=examples,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            derandomize=True,
            database=None,
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        @hypothesis.given(case=op.as_strategy())
        def run(case: Any) -> None:
            count[0] += 1  # noqa: B023  (run() is called right here, in this iteration)
            case.call_and_validate(checks=CHECKS, headers=headers)  # noqa: B023

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # the first failing example of this operation
            failures[op.label] = f"{type(exc).__name__}: {exc}"[:600]
        runs += count[0]
    return ops, runs, failures


def test_every_operation_survives_fuzzing(api_schema: Any, fuzz_app: Any) -> None:
    ledger = fuzz_app.state.services.ledger
    before = ledger.head().size
    ops, runs, failures = fuzz(api_schema, EXAMPLES, fuzz_app.state.fuzz_tokens)
    print(f"\nfuzzing: {ops} operations, {runs} examples, {len(failures)} failing")
    assert ops >= 30
    assert not failures, "\n\n".join(f"{k}: {v}" for k, v in failures.items())
    # the key was used: some generated writes got past authentication and were stored
    print(f"fuzzing stored {ledger.head().size - before} log entries through authenticated writes")
