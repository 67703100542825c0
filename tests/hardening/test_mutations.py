"""Tamper mutation suite: random single mutations of a realistic anchored ledger are all detected.

Each mutation (``tests/hardening/mutations.py``) goes to a fresh copy of the SQLite file; after it
the full audit (against the chain's anchored roots) must report a finding, and the affected lot's
verdict (``Ledger.verify_lot`` with the chain anchor check) must be ``tampered`` naming the entry.
CI runs ``LEDGER_MUTATIONS`` (default 1000) mutations; ``scripts/mutation_table.py`` runs more.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.hardening import lab, mutations

pytestmark = [pytest.mark.hardening, pytest.mark.chain, pytest.mark.slow]
COUNT = int(os.environ.get("LEDGER_MUTATIONS", "1000"))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> lab.Built:
    return lab.build(tmp_path_factory.mktemp("lab") / "ledger.db")


def test_the_built_ledger_is_clean_and_realistic(built: lab.Built, tmp_path: Path) -> None:
    assert len(built.lots) >= 200 and built.entries >= 600
    assert len(built.chain.roots) >= 3
    report, verdict = lab.check(lab.copy(built, tmp_path / "c.db"), built, built.lots[5], tmp_path)
    assert report.ok, report.findings[:3]
    assert verdict is not None and verdict.verdict == "verified"


def test_every_mutation_is_detected(built: lab.Built, tmp_path: Path) -> None:
    outcomes = mutations.run_all(built, COUNT, seed=20260801, work=tmp_path)
    print("\n" + mutations.table(outcomes))
    assert len(outcomes) == COUNT
    missed = [o for o in outcomes if not o.detected]
    assert not missed, "\n".join(f"{o.cls} {o.what}: {o.detail}" for o in missed[:20])
    assert len({o.cls for o in outcomes}) >= 30  # every class was drawn
