"""The one authorization policy, table-driven and pure (no database, web or chain)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from ledger.core import policy
from ledger.core.policy import EventRequest, InputLot
from ledger.errors import PermissionDenied

OWN, OTHER = 1, 2
LOT = "08930000045676.PH-1"


def req(**kw: Any) -> EventRequest:
    base: dict[str, Any] = {
        "actor": OWN,
        "kind": "cooperative",
        "role": None,
        "lot": LOT,
        "owner": OWN,
        "step": "storing",
    }
    return EventRequest(**{**base, **kw})


# (name, request, None if allowed else the reason the refusal carries)
CASES: list[tuple[str, EventRequest, str | None]] = [
    ("own lot, any step, CLI", req(step="ocop:harvesting"), None),
    ("own lot, producer key", req(role="producer", step="packing"), None),
    ("admin key records nothing, even on its own lot", req(role="admin", kind="operator"), "admin"),
    ("commissioning own product", req(step="commissioning", role="producer"), None),
    ("commissioning another's product", req(step="commissioning", owner=OTHER), "product_owner"),
    ("commissioning with an exporter key", req(step="commissioning", role="exporter", kind="exporter"), "role"),
    ("cooperative on a foreign lot", req(owner=OTHER, step="packing"), "foreign_step"),
    ("inspector inspects a foreign lot", req(owner=OTHER, kind="inspector", role="inspector", step="inspecting"), None),
    (
        "inspector ships a foreign lot",
        req(owner=OTHER, kind="inspector", role="inspector", step="shipping"),
        "foreign_step",
    ),
    ("exporter packs a foreign lot", req(owner=OTHER, kind="exporter", role="exporter", step="packing"), None),
    ("exporter org, CLI, packs a foreign lot", req(owner=OTHER, kind="exporter", step="packing"), None),
    (
        "exporter org with a producer key packs a foreign lot",
        req(owner=OTHER, kind="exporter", role="producer", step="packing"),
        "role",
    ),
    ("exporter org with a producer key, own lot", req(kind="exporter", role="producer", step="packing"), None),
    (
        "packer unpacks a foreign lot",
        req(owner=OTHER, kind="exporter", role="exporter", step="unpacking", packed_by=OWN),
        None,
    ),
    ("packer unpacks via the CLI", req(owner=OTHER, kind="exporter", step="unpacking", packed_by=OWN), None),
    (
        "someone else unpacks",
        req(owner=OTHER, kind="exporter", role="exporter", step="unpacking", packed_by=3),
        "not_packer",
    ),
    ("unpack of a lot never packed", req(owner=OTHER, kind="exporter", step="unpacking", packed_by=None), "not_packer"),
    ("owner unpacks its own lot", req(step="unpacking", packed_by=3), None),
    ("transformation of own inputs", req(step="ocop:freezing", inputs=[InputLot("x", OWN)]), None),
    (
        "foreign input released by its owner",
        req(step="ocop:freezing", inputs=[InputLot("x", OTHER, released=True)]),
        None,
    ),
    ("foreign input not released", req(step="ocop:freezing", inputs=[InputLot("x", OTHER)]), "no_consent"),
    (
        "one of two inputs not released",
        req(step="ocop:freezing", inputs=[InputLot("x", OWN), InputLot("y", OTHER)]),
        "no_consent",
    ),
]


@pytest.mark.parametrize("name,request_,reason", CASES, ids=[c[0] for c in CASES])
def test_authorize_event(name: str, request_: EventRequest, reason: str | None) -> None:
    if reason is None:
        assert policy.authorize_event(request_) is None
        return
    with pytest.raises(PermissionDenied) as exc:
        policy.authorize_event(request_)
    denied = exc.value
    assert isinstance(denied, policy.Denied)
    assert denied.reason == reason
    assert denied.actor == request_.actor and denied.step == request_.step
    assert denied.lot == ("y" if name.startswith("one of two") else "x" if reason == "no_consent" else LOT)


def test_messages_say_what_was_expected() -> None:
    with pytest.raises(PermissionDenied, match="wrong signer: a cooperative organization may not record packing on"):
        policy.authorize_event(req(owner=OTHER, step="packing"))
    with pytest.raises(PermissionDenied, match="a producer key may not record packing on another organization's lot"):
        policy.authorize_event(req(owner=OTHER, kind="exporter", role="producer", step="packing"))
    with pytest.raises(PermissionDenied, match="expected organization 3, got 1"):
        policy.authorize_event(req(owner=OTHER, kind="exporter", step="unpacking", packed_by=3))
    with pytest.raises(
        PermissionDenied, match="input lot x belongs to another organization.*expected a shipping event"
    ):
        policy.authorize_event(req(step="ocop:freezing", inputs=[InputLot("x", OTHER)]))


PREFIXES = {1: ["8930000"], 2: ["89300001"], 3: ["8931234"], 4: []}
PRODUCT_CASES = [
    # (actor, gtin, allowed)
    (1, "08930000045676", True),  # under its own prefix
    (2, "08930000145670", True),  # the longer, nested prefix of org 2 wins
    (1, "08930000145670", False),  # inside org 2's nested prefix
    (3, "08930000045676", False),  # inside org 1's prefix
    (1, "08939999000001", False),  # under none of its prefixes
    (4, "08939999000001", True),  # no prefixes declared: free GTINs only
    (4, "08930000045676", False),  # no prefixes declared, but another organization's GTIN
    (5, "08931234000002", False),  # unknown organization, another's prefix
]


@pytest.mark.parametrize("actor,gtin,allowed", PRODUCT_CASES)
def test_authorize_product(actor: int, gtin: str, allowed: bool) -> None:
    if allowed:
        assert policy.authorize_product(actor, gtin, PREFIXES) is None
    else:
        with pytest.raises(PermissionDenied, match=f"GTIN {gtin} lies under") as exc:
            policy.authorize_product(actor, gtin, PREFIXES)
        assert isinstance(exc.value, policy.Denied) and exc.value.reason == "gs1_prefix"


def test_may_sign_is_verifications_rule() -> None:
    assert policy.may_sign({"org_id": 1, "org_kind": "cooperative"}, "ocop:harvesting", "1")
    assert not policy.may_sign({"org_id": 1, "org_kind": "cooperative"}, "packing", "2")
    assert policy.may_sign({"org_id": 1, "org_kind": "exporter"}, "unpacking", "2")


def test_policy_is_pure() -> None:
    code = (
        "import sys, ledger.core.policy; "
        "bad = [m for m in ('sqlalchemy', 'sqlmodel', 'fastapi', 'starlette', 'web3') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
