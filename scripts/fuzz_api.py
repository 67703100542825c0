"""A longer API fuzzing run: schemathesis over /openapi.json, every operation, in-process.

    .venv/bin/python scripts/fuzz_api.py [--examples 200] [--json]

The same checks as ``tests/hardening/test_fuzz.py`` (no 5xx; status code, content type and body
match the documented schema), with more examples per operation. Exit 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import schemathesis  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from api.app import create_app  # noqa: E402
from ledger.service import Ledger  # noqa: E402
from ledger.store import migrate
from ledger.store.db import make_engine  # noqa: E402
from ledger.store.keys import KeyRing  # noqa: E402
from tests.api.conftest import api_settings, build_world, make_settings  # noqa: E402
from tests.hardening.lab import MASTER_KEY  # noqa: E402
from tests.hardening.test_fuzz import fuzz  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=200, help="examples per operation")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'ledger.db'}")
        migrate.upgrade(engine)
        ledger = Ledger(engine, KeyRing(MASTER_KEY))
        app = create_app(make_settings(Path(tmp)), ledger=ledger, connect_chain=False, api_settings=api_settings())
        world = build_world(ledger, TestClient(app))
        tokens = {"admin": world.tokens["admin"], "producer": world.tokens["a"]}
        t0 = time.perf_counter()
        ops, runs, failures = fuzz(schemathesis.openapi.from_asgi("/openapi.json", app), args.examples, tokens)
        took = time.perf_counter() - t0
        engine.dispose()
    if args.json:
        print(json.dumps({"operations": ops, "examples": runs, "failing": len(failures), "seconds": round(took)}))
    else:
        print(f"fuzzing: {ops} operations, {runs} examples in {took:.0f} s, {len(failures)} failing")
    for label, msg in failures.items():
        print(f"FAIL {label}: {msg}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
