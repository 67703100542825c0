"""Authorization matrix, generated from the app's route table.

Every route that takes an API key (every write and every admin route) × every role (producer,
inspector, exporter, admin, authority) × own / other organization's resource × key state (valid, missing,
wrong, revoked). Missing, wrong and revoked keys give 401; a valid key gives 403 where its role
or organization may not act, and otherwise a 2xx or an input error (never 401/403/5xx). A write
route without a key requirement, or a keyed route without a rule here, fails the test.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from ledger.core import gs1
from ledger.core.records import OrganizationCreate
from ledger.errors import NotFound
from ledger.service import Ledger
from ledger.store import apikeys
from ledger.store.db import write_tx
from tests.api.conftest import GTIN_A, GTIN_B, LOT_A, LOT_A_PATH, World, event
from tests.hardening.routes import route_table

pytestmark = pytest.mark.hardening

ROLES = ("a", "inspector", "exporter", "admin", "authority")  # org a is a producer (cooperative)
ROLE_NAME = {
    "a": "producer",
    "inspector": "inspector",
    "exporter": "exporter",
    "admin": "admin",
    "authority": "authority",
}
TARGETS = ("own", "other")
KEYS = ("valid", "missing", "wrong", "revoked")
STEP = {
    "a": "ocop:harvesting",
    "inspector": "inspecting",
    "exporter": "shipping",
    "admin": "storing",
    "authority": "inspecting",
}
LOT_B_CODE = "CB-2026-01"
SSCC = "089300000000000017"[:17]
SSCC = SSCC + str(gs1.check_digit(SSCC))
_n = itertools.count(100)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16

Build = Callable[[World, str, str], tuple[str, dict[str, Any]]]
Allow = Callable[[str, str], bool]


def _lot(target: str) -> str:
    return LOT_A if target == "own" else f"{GTIN_B}.{LOT_B_CODE}"


def _lot_path(target: str) -> str:
    return LOT_A_PATH if target == "own" else f"{GTIN_B}.{LOT_B_CODE}"


def _org(target: str) -> str:
    return "org-a" if target == "own" else "org-b"


def _gtin() -> str:
    return gs1.make_gtin("893", 50_000 + next(_n))


def _b_products(w: World, role: str, target: str) -> tuple[str, dict[str, Any]]:
    return "/api/v1/products", {"json": {"gtin": _gtin(), "name_vi": "Trà Shan tuyết"}}


def _b_lots(w: World, role: str, target: str) -> tuple[str, dict[str, Any]]:
    g = GTIN_A if target == "own" else GTIN_B
    return "/api/v1/lots", {"json": {"gtin": g, "code": f"M-{next(_n)}", "event_time": "2026-07-01T06:30:00+07:00"}}


def _b_event(w: World, role: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/lots/{_lot_path(target)}/events", {"json": event(STEP[role])}


def _b_batch(w: World, role: str, target: str) -> tuple[str, dict[str, Any]]:
    return "/api/v1/events:batch", {"json": {"events": [{"lot": _lot(target), "event": event(STEP[role])}]}}


def _b_epcis(w: World, role: str, target: str) -> tuple[str, dict[str, Any]]:
    g, code = _lot(target).split(".", 1)
    uri = f"https://id.gs1.org/01/{g}/10/{code.replace('/', '%2F')}"
    ev = {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        # the project's own steps stay prefixed (BizStep-harvesting is no CBV step: it would be refused as
        # invalid input before authorization is asked)
        "bizStep": STEP[role] if STEP[role].startswith("ocop:") else f"https://ref.gs1.org/cbv/BizStep-{STEP[role]}",
        "eventTime": "2026-07-02T07:30:00+07:00",
        "eventTimeZoneOffset": "+07:00",
        "quantityList": [{"epcClass": uri, "quantity": 1, "uom": "KGM"}],
    }
    doc = {
        "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-07-03T08:00:00+07:00",
        "epcisBody": {"eventList": [ev]},
    }
    return "/api/v1/epcis/capture", {"json": doc}


def _b_pack(kind: str) -> Build:
    def build(w: World, role: str, target: str) -> tuple[str, dict[str, Any]]:
        return f"/api/v1/shipments/{SSCC}/{kind}", {
            "json": {"lots": [_lot(target)], "event_time": "2026-07-08T10:00:00+07:00"}
        }

    return build


def _b_move(w: World, role: str, target: str) -> tuple[str, dict[str, Any]]:
    body = {
        "step": "shipping",
        "event_time": "2026-07-08T11:00:00+07:00",
        "documents": [{"type": "bol", "number": "B1"}],
    }
    return f"/api/v1/shipments/{SSCC}/move", {"json": body}


def _b_import(w: World, role: str, target: str) -> tuple[str, dict[str, Any]]:
    csv = "lot,event_time,biz_step\n" + f"{_lot(target)},2026-07-02T06:30:00+07:00,storing\n"
    return "/api/v1/import", {"content": csv.encode(), "headers": {"content-type": "text/csv"}}


def _b_plain(path: str) -> Build:
    return lambda w, role, target: (path, {})


def _b_admin_org(w: World, role: str, target: str) -> tuple[str, dict[str, Any]]:
    n = next(_n)
    return "/api/v1/admin/organizations", {"json": {"name": f"HTX mới {n}", "slug": f"htx-moi-{n}", "role": "producer"}}


def _b_admin_key(w: World, role: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/admin/organizations/{_org(target)}/api-keys", {"json": {"role": "producer"}}


def _b_revoke(w: World, role: str, target: str) -> tuple[str, dict[str, Any]]:
    with write_tx(w.ledger.engine) as conn:
        key = apikeys.create(conn, int(w.orgs["b"]["id"]), "producer")
    return f"/api/v1/admin/api-keys/{key['key_id']}/revoke", {}


def _b_product_update(w: World, role: str, target: str) -> tuple[str, dict[str, Any]]:
    g = GTIN_A if target == "own" else GTIN_B
    return f"/api/v1/products/{g}", {"json": {"gtin": g, "name_vi": f"Thanh long {next(_n)}"}}


def _authority(w: World, slug: str = "so-nn-lam-dong") -> str:
    """An authority organization (issue 11) with a server-held key: only one may attest."""
    try:
        w.ledger.get_org(slug)
    except NotFound:  # the world's ledger leaves master data out of the log: this one writes it (format v2)
        logged = Ledger(w.ledger.engine, w.ledger.keyring, w.ledger.clock, log_masterdata=True)
        logged.create_org(OrganizationCreate(name=f"Cơ quan {slug}", slug=slug, kind="authority"))
    return slug


def _b_attest_own(w: World, role: str, target: str) -> tuple[str, dict[str, Any]]:
    about = {"type": "product", "id": GTIN_A if target == "own" else GTIN_B}
    return "/api/v1/attestations", {
        "json": {"about": about, "claim": {"type": "ocop_rating", "stars": 4, "year": 2026}}
    }


def _b_attest_own_revoke(w: World, role: str, target: str) -> tuple[str, dict[str, Any]]:
    """``own``: an attestation of the calling authority's organization; ``other``: another authority's."""
    issuer = _authority(w) if target == "own" else _authority(w, "bvtv-lam-dong")
    a = w.ledger.attest(issuer, {"type": "lot", "id": _lot(target)}, {"type": "growing_area_code", "code": "VN-LD-1"})
    return f"/api/v1/attestations/{a['subject']}/revoke", {}


def _b_attest(w: World, role: str, target: str) -> tuple[str, dict[str, Any]]:
    about = {"type": "product", "id": GTIN_A if target == "own" else GTIN_B}
    claim = {"type": "ocop_rating", "stars": 4, "year": 2026}
    return f"/api/v1/admin/organizations/{_authority(w)}/attestations", {"json": {"about": about, "claim": claim}}


def _b_attest_revoke(w: World, role: str, target: str) -> tuple[str, dict[str, Any]]:
    a = w.ledger.attest(
        _authority(w), {"type": "lot", "id": _lot(target)}, {"type": "growing_area_code", "code": "VN-LD-1"}
    )
    return f"/api/v1/admin/attestations/{a['subject']}/revoke", {}


def producer_own(role: str, target: str) -> bool:
    return role == "a" and target == "own"


def event_rule(role: str, target: str) -> bool:
    return producer_own(role, target) or role in ("inspector", "exporter")


def exporter_rule(role: str, target: str) -> bool:
    """Packing and storing (CSV import): the owner with a producer key, or an exporter on any lot
    (one policy, ledger.core.policy, decides as for /events: an admin key records nothing)."""
    return producer_own(role, target) or role == "exporter"


# (method, path) -> (request builder, who is allowed)
RULES: dict[tuple[str, str], tuple[Build, Allow]] = {
    ("GET", "/api/v1/me"): (_b_plain("/api/v1/me"), lambda r, t: True),
    ("POST", "/api/v1/products"): (_b_products, lambda r, t: r == "a"),
    ("PUT", "/api/v1/products/{gtin}"): (_b_product_update, producer_own),
    ("POST", "/api/v1/admin/organizations/{org}/attestations"): (_b_attest, lambda r, t: r == "admin"),
    ("POST", "/api/v1/admin/attestations/{subject}/revoke"): (_b_attest_revoke, lambda r, t: r == "admin"),
    ("POST", "/api/v1/products/images"): (
        lambda w, r, t: ("/api/v1/products/images", {"content": PNG, "headers": {"content-type": "image/png"}}),
        lambda r, t: r == "a",
    ),
    ("POST", "/api/v1/attestations"): (_b_attest_own, lambda r, t: r == "authority"),
    ("POST", "/api/v1/attestations/{subject}/revoke"): (
        _b_attest_own_revoke,
        lambda r, t: (r, t) == ("authority", "own"),
    ),
    ("POST", "/api/v1/lots"): (_b_lots, producer_own),
    ("POST", "/api/v1/lots/{lot_id:path}/events"): (_b_event, event_rule),
    ("POST", "/api/v1/events:batch"): (_b_batch, event_rule),
    ("POST", "/api/v1/epcis/capture"): (_b_epcis, event_rule),
    ("POST", "/epcis/capture"): (lambda w, r, t: ("/epcis/capture", _b_epcis(w, r, t)[1]), event_rule),
    ("GET", "/epcis/capture/{capture_id}"): (_b_plain("/epcis/capture/cap-unknown"), lambda r, t: True),
    ("POST", "/api/v1/shipments/{sscc}/pack"): (_b_pack("pack"), exporter_rule),
    # the matrix packs before it unpacks: the exporter packed both lots, so it may unpack org b's lot and
    # the producer may not; lots already unpacked give an input error (allowed)
    ("POST", "/api/v1/shipments/{sscc}/unpack"): (
        _b_pack("unpack"),
        lambda r, t: r not in ("inspector", "authority") and (r, t) != ("a", "other"),
    ),
    ("POST", "/api/v1/import"): (_b_import, exporter_rule),
    ("POST", "/api/v1/shipments/{sscc}/move"): (_b_move, lambda r, t: r in ("a", "exporter")),
    ("GET", "/api/v1/admin/organizations"): (_b_plain("/api/v1/admin/organizations"), lambda r, t: r == "admin"),
    ("POST", "/api/v1/admin/organizations"): (_b_admin_org, lambda r, t: r == "admin"),
    ("GET", "/api/v1/admin/organizations/{org}"): (
        lambda w, r, t: (f"/api/v1/admin/organizations/{_org(t)}", {}),
        lambda r, t: r == "admin",
    ),
    ("POST", "/api/v1/admin/organizations/{org}/api-keys"): (_b_admin_key, lambda r, t: r == "admin"),
    ("PUT", "/api/v1/admin/organizations/{org}/gs1-prefixes"): (
        lambda w, r, t: (f"/api/v1/admin/organizations/{_org(t)}/gs1-prefixes", {"json": {"gs1_prefixes": []}}),
        lambda r, t: r == "admin",
    ),
    ("GET", "/api/v1/admin/organizations/{org}/api-keys"): (
        lambda w, r, t: (f"/api/v1/admin/organizations/{_org(t)}/api-keys", {}),
        lambda r, t: r == "admin",
    ),
    ("POST", "/api/v1/admin/api-keys/{key_id}/revoke"): (_b_revoke, lambda r, t: r == "admin"),
    ("GET", "/api/v1/admin/anchoring"): (_b_plain("/api/v1/admin/anchoring"), lambda r, t: r == "admin"),
}


@pytest.fixture
def matrix_world(world: World) -> tuple[World, dict[str, str]]:
    """The API test world, a lot of org b, an authority with its API key, and a revoked key for every role."""
    world.ledger.create_lot("org-b", {"gtin": GTIN_B, "code": LOT_B_CODE, "event_time": "2026-07-01T06:30:00+07:00"})
    world.orgs["authority"] = world.ledger.get_org(_authority(world))
    revoked = {}
    with write_tx(world.ledger.engine) as conn:
        world.tokens["authority"] = str(apikeys.create(conn, int(world.orgs["authority"]["id"]), "authority")["token"])
        for who in ROLES:
            key = apikeys.create(conn, int(world.orgs[who]["id"]), ROLE_NAME[who])
            apikeys.revoke(conn, str(key["key_id"]))
            revoked[who] = str(key["token"])
    return world, revoked


def test_every_keyed_route_has_a_rule_and_every_write_needs_a_key(world: World) -> None:
    table = route_table(world.client.app)  # type: ignore[arg-type]
    # Console writes (issue 14) authenticate with a session cookie and a CSRF token instead of an API key;
    # tests/api/test_console_tools.py walks every console route without a session and with a forged token.
    writes_without_key = [
        (r.method, r.path)
        for r in table
        if r.method != "GET" and not r.needs_key and not r.path.startswith("/console/")
    ]
    assert not writes_without_key, f"write routes that take no API key: {writes_without_key}"
    keyed = {(r.method, r.path) for r in table if r.needs_key}
    admin = {(r.method, r.path) for r in table if r.path.startswith("/api/v1/admin")}
    assert admin <= keyed, f"admin routes without a key: {admin - keyed}"
    missing = keyed - set(RULES)
    assert not missing, f"routes with no authorization rule (add them to RULES): {sorted(missing)}"


def test_authorization_matrix(matrix_world: tuple[World, dict[str, str]]) -> None:
    w, revoked = matrix_world
    keyed = [r for r in route_table(w.client.app) if r.needs_key]  # type: ignore[arg-type]
    cases, bad = 0, []
    for r, role, target, key in itertools.product(keyed, ROLES, TARGETS, KEYS):
        build, allow = RULES[(r.method, r.path)]
        url, kw = build(w, role, target)
        headers = dict(kw.pop("headers", {}))
        if key == "valid":
            headers |= w.auth(role)
        elif key == "wrong":
            headers["Authorization"] = "Bearer ocop_ak_000000000000_" + "x" * 32
        elif key == "revoked":
            headers["Authorization"] = f"Bearer {revoked[role]}"
        res = w.client.request(r.method, url, headers=headers, **kw)
        cases += 1
        got = res.status_code
        if key != "valid":
            ok = got == 401 and res.json()["error"]["code"] == "unauthorized"
            want = "401"
        elif allow(role, target):
            ok = got < 500 and got not in (401, 403)
            want = "allowed (2xx or input error)"
        else:
            ok = got == 403 and res.json()["error"]["code"] == "forbidden"
            want = "403"
        if not ok:
            bad.append(
                f"{r.method} {r.path} role={ROLE_NAME[role]} {target} key={key}: "
                f"want {want}, got {got} {res.text[:150]}"
            )
    print(f"\nauthorization matrix: {cases} cases over {len(keyed)} keyed routes")
    assert cases == len(keyed) * len(ROLES) * len(TARGETS) * len(KEYS)
    assert not bad, "\n".join(bad[:30])
