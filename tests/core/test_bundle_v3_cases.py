"""Bundle version 3 test vectors (``data/bundles_v3``), one case per file, run by the pure verifier.

The files come from ``scripts/make_bundle_vectors_v3.py`` (the real builder, fixed keys); the
expected outcome in each is written from ``docs/bundle.md`` "Version 3": ``valid`` verify with every
check ok, ``invalid`` are tampered at the check the file is named after, ``unverifiable`` are valid
bundles under trust roots they do not match.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger.core.bundle import verify_bundle
from ledger.core.bundle_verify_v3 import CHECKS_V3
from ledger.core.trust import trust_from_json
from tests.core.test_bundle_cases import StubChain

DATA = Path(__file__).parent / "data" / "bundles_v3"
CASES = sorted(DATA.glob("*/*.json"))


def run(path: Path) -> tuple[Any, dict[str, Any]]:
    case = json.loads(path.read_text(encoding="utf-8"))
    doc = case["chain"]
    trust = trust_from_json(doc["trust"], "trust") if "trust" in doc else None
    raw = json.dumps(case["bundle"], ensure_ascii=False).encode()  # as a file: through the strict reader
    return verify_bundle(raw, StubChain(doc), trust=trust, require_latest=True), case["expected"]


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_vector(path: Path) -> None:
    report, want = run(path)
    assert report.verdict == want["verdict"] == {"valid": "verified"}.get(path.parent.name, want["verdict"])
    assert report.version == 3
    if want["verdict"] == "verified":
        assert report.failure is None and set(report.checks.values()) == {"ok"}
        assert report.latest is True
        return
    f = report.failure
    assert f is not None and f["check"] == want["check"], f
    assert path.stem.startswith(f["check"].replace("_", "-"))  # the file is named after the check it probes
    status = "unverifiable" if want["verdict"] == "unverifiable" else "failed"
    assert [c for c, v in report.checks.items() if v != "ok" and v != "skipped"] == [f["check"]]
    assert report.checks[f["check"]] == status
    assert report.checks["anchor"] == "skipped"  # stopped at the first failure, before the chain


def test_the_vectors_cover_the_checks_and_kinds() -> None:
    checks = {json.loads(p.read_text())["expected"].get("check") for p in CASES}
    assert {"format", "log_key", "key", "signature", "chain", "inclusion", "heads", "completeness"} <= checks
    assert set(checks) - {None} <= set(CHECKS_V3) | {"latest"}
    kinds = {json.loads(p.read_text())["bundle"]["kind"] for p in DATA.glob("valid/*.json")}
    assert kinds == {"lot", "shipment"}


def test_the_report_says_who_vouches_for_each_fact_and_only_when_verified() -> None:
    report, _ = run(DATA / "valid" / "v3-lot-with-its-unpack.json")
    facts = report.to_json()["facts"]
    assert facts["organizations"]["htx-phu-hoi"]["signed_by"] == "operator"
    product = facts["products"]["08930000045676"]
    assert product["names"]["vi"] == "Thanh long ruột đỏ" and product["owner"] == "htx-phu-hoi"
    assert product["declared"] == {
        "ocop_stars": 4,
        "ocop_year": 2024,
        "certifications": [],
        "declared_by": "htx-phu-hoi",
    }
    [(lot, info)] = facts["lots"].items()
    assert lot == "08930000045676.PH-2026-08" and info["entries"] == 3 and info["signed_by"] == ["htx-phu-hoi"]
    assert info["codes"] == {}
    assert info["product"]["names"]["vi"] == "Thanh long ruột đỏ" and info["product"]["declared"]["ocop_stars"] == 4
    assert facts["attestations"] == []
    tampered, _ = run(DATA / "invalid" / "signature-product-stars-edited.json")
    assert tampered.to_json()["facts"] is None  # an unverified bundle reports no facts
