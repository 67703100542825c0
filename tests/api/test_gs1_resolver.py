"""GS1-Conformant Resolver checks, made as a conformance checker makes them: status codes, headers,
RFC 9264 linkset shape, link types, language negotiation and its fallback."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

import pytest

from ledger.core import gs1
from ledger.core.records import OrganizationCreate
from tests.api.conftest import GTIN_A, World

PUBLIC_URL = "http://ocop.test"
LOT_PATH = f"/01/{GTIN_A}/10/PH%2F2026-07"
VOC = "https://gs1.org/voc/"
LOT_TYPES = {"pip", "traceability", "epcis", "verificationService", "certificationInfo", "defaultLink"}
GLN = "893000000123" + str(gs1.check_digit("893000000123"))


@pytest.fixture
def world(world: World) -> World:  # the settings' public URL is the resolver root
    world.client.app.state.services.settings.public_url = PUBLIC_URL  # type: ignore[attr-defined]
    return world


def _links(header: str) -> list[dict[str, str]]:
    """RFC 8288 Link header → [{"href", "rel", params…}] (a small parser, enough for these values)."""
    out = []
    for m in re.finditer(r"<([^>]*)>((?:\s*;\s*[\w*]+=(?:\"[^\"]*\"|[^,;]*))*)", header):
        item = {"href": m[1]}
        for k, v in re.findall(r";\s*([\w*]+)=(\"[^\"]*\"|[^,;]*)", m[2]):
            item[k] = v.strip('"')
        out.append(item)
    return out


def check_linkset(body: dict[str, Any], anchor: str) -> dict[str, list[dict[str, Any]]]:
    """RFC 9264 §4.2: {"linkset": [context objects]}; a context has an anchor and relation-type members,
    each an array of target objects with an href; hreflang is an array; relation types are URIs."""
    assert set(body) == {"linkset"} and isinstance(body["linkset"], list) and len(body["linkset"]) == 1
    ctx = body["linkset"][0]
    assert ctx["anchor"] == anchor
    rels = {k: v for k, v in ctx.items() if k != "anchor"}
    for rel, targets in rels.items():
        assert rel.startswith(VOC), rel
        assert isinstance(targets, list) and targets
        for t in targets:
            assert isinstance(t["href"], str) and t["href"]
            assert (
                isinstance(t.get("hreflang", []), list) and isinstance(t["type"], str) and isinstance(t["title"], str)
            )
    return rels


def test_resolver_description(world: World) -> None:
    res = world.client.get("/.well-known/gs1resolver")
    assert res.status_code == 200 and res.headers["content-type"].startswith("application/json")
    body = res.json()
    assert body["resolverRoot"] == PUBLIC_URL and {"01", "414"} <= set(body["supportedPrimaryKeys"])
    assert body["supportedLinkType"] == [{"namespace": VOC, "prefix": "gs1:"}]
    assert body["linkTypeDefaultCanBeLinkset"] is True and res.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("how", ["accept", "query", "all"])
def test_lot_linkset(world: World, how: str) -> None:
    if how == "accept":
        res = world.client.get(LOT_PATH, headers={"Accept": "application/linkset+json"})
    else:
        res = world.client.get(LOT_PATH + ("?linkType=linkset" if how == "query" else "?linkType=all"))
    assert res.status_code == 200 and res.headers["content-type"].startswith("application/linkset+json")
    rels = check_linkset(res.json(), PUBLIC_URL + LOT_PATH)
    assert {r.removeprefix(VOC) for r in rels} == LOT_TYPES
    assert sorted(t["hreflang"][0] for t in rels[VOC + "pip"]) == ["en", "vi"]
    assert rels[VOC + "defaultLink"][0]["href"] == PUBLIC_URL + LOT_PATH + "?lang=vi"


@pytest.mark.parametrize(
    ("link_type", "target"),
    [
        ("gs1:verificationService", f"/api/v1/lots/{GTIN_A}.PH-8/verify"),
        (VOC + "traceability", f"/api/v1/lots/{GTIN_A}.PH-8/epcis"),
        ("gs1:certificationInfo", f"/api/v1/lots/{GTIN_A}.PH-8/certificate.pdf"),
    ],
)
def test_link_type_redirects_to_a_link_that_answers(world: World, link_type: str, target: str) -> None:
    # a lot code without '/': the exporter routes' {lot_id} does not take an encoded slash (reported)
    world.ledger.create_lot("org-a", {"gtin": GTIN_A, "code": "PH-8", "event_time": "2026-07-01T06:30:00+07:00"})
    res = world.client.get(f"/01/{GTIN_A}/10/PH-8?linkType={link_type}", follow_redirects=False)
    assert res.status_code == 307 and res.headers["location"] == PUBLIC_URL + target
    assert world.client.get(target).status_code == 200


def test_epcis_link_finds_the_lots_events(world: World) -> None:
    res = world.client.get(f"{LOT_PATH}?linkType=gs1:epcis", follow_redirects=False)
    target = res.headers["location"].removeprefix(PUBLIC_URL)
    events = world.client.get(target).json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert [e["bizStep"] for e in events] == ["commissioning"]


@pytest.mark.parametrize(
    ("accept_language", "lang"),
    [(None, "vi"), ("en-US,en;q=0.9", "en"), ("fr-FR", "en"), ("de;q=1, vi;q=0.5", "vi"), ("vi-VN", "vi")],
)
def test_language_negotiation_and_fallback(world: World, accept_language: str | None, lang: str) -> None:
    headers = {"Accept-Language": accept_language} if accept_language else {}
    for link_type in ("gs1:pip", "gs1:defaultLink"):
        res = world.client.get(f"{LOT_PATH}?linkType={link_type}", headers=headers, follow_redirects=False)
        assert res.status_code == 307 and res.headers["location"] == f"{PUBLIC_URL}{LOT_PATH}?lang={lang}"
    page = world.client.get(LOT_PATH, headers=headers)
    assert page.status_code == 200 and f'lang="{lang}"' in page.text


def test_unknown_link_type_is_404_json(world: World) -> None:
    res = world.client.get(f"{LOT_PATH}?linkType=gs1:recipeInfo")
    assert res.status_code == 404 and res.headers["content-type"].startswith("application/json")
    err = res.json()["error"]
    assert err["code"] == "not_found" and "gs1:recipeInfo" in err["message"] and "gs1:pip" in err["message"]


def test_link_headers_on_the_page_and_json_keep_the_ledger_links(world: World) -> None:
    for accept in ("text/html", "application/json"):
        res = world.client.get(LOT_PATH, headers={"Accept": accept})
        assert res.status_code == 200
        links = _links(res.headers["link"])
        rels = {x["rel"] for x in links}
        assert {VOC + t for t in LOT_TYPES} | {"linkset"} <= rels
        assert next(x for x in links if x["rel"] == "linkset")["href"] == f"{PUBLIC_URL}{LOT_PATH}?linkType=linkset"
        pip = [x for x in links if x["rel"] == VOC + "pip"]
        assert sorted(x["hreflang"] for x in pip) == ["en", "vi"]
        assert unquote(pip[0]["title*"].removeprefix("UTF-8''")) in (
            "Trang thông tin sản phẩm",
            "Product information page",
        )
        if accept == "application/json":
            assert {"verify", "bundle"} <= rels and res.json()["lot_id"] == f"{GTIN_A}.PH/2026-07"


def test_lot_errors(world: World) -> None:
    bad = world.client.get(f"/01/{GTIN_A[:-1]}0/10/X?linkType=linkset")
    assert bad.status_code == 400 and "check digit" in bad.json()["error"]["message"]
    missing = world.client.get(f"/01/{GTIN_A}/10/NOPE", headers={"Accept": "application/linkset+json"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_product_level_link(world: World) -> None:
    page = world.client.get(f"/01/{GTIN_A}", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "Phu Hoi red dragon fruit" in page.text and 'lang="en"' in page.text
    assert f'href="/01/{GTIN_A}/10/PH%2F2026-07?lang=en"' in page.text
    data = world.client.get(f"/01/{GTIN_A}", headers={"Accept": "application/json"}).json()
    assert data["gtin"] == GTIN_A and [x["code"] for x in data["lots"]] == ["PH/2026-07"]
    rels = check_linkset(world.client.get(f"/01/{GTIN_A}?linkType=linkset").json(), f"{PUBLIC_URL}/01/{GTIN_A}")
    assert set(rels) == {VOC + "pip", VOC + "defaultLink"}
    assert world.client.get(f"/01/{GTIN_A}?linkType=gs1:pip", follow_redirects=False).status_code == 307
    assert world.client.get(f"/01/{gs1.make_gtin('893', 999)}").status_code == 404
    assert world.client.get("/01/08930000045677").status_code == 400
    assert world.client.get("/01/123").status_code == 400


def test_party_page_by_gln(world: World) -> None:
    world.ledger.create_org(OrganizationCreate(name="HTX Cà phê Thuận An", slug="htx-thuan-an", gln=GLN))
    page = world.client.get(f"/414/{GLN}")
    assert page.status_code == 200 and "HTX Cà phê Thuận An" in page.text and 'lang="vi"' in page.text
    data = world.client.get(f"/414/{GLN}", headers={"Accept": "application/json"}).json()
    assert data["gln"] == GLN and data["products"] == []
    rels = check_linkset(world.client.get(f"/414/{GLN}", headers={"Accept": "application/linkset+json"}).json(),
                         f"{PUBLIC_URL}/414/{GLN}")  # fmt: skip
    assert VOC + "pip" in rels
    other = "893000000124" + str(gs1.check_digit("893000000124"))
    assert world.client.get(f"/414/{other}").status_code == 404
    assert world.client.get("/414/8930000001230").status_code in (400, 404)
    assert world.client.get("/414/12345").status_code == 400


def test_gln_is_checked_when_an_organization_is_created(world: World) -> None:
    from ledger.errors import InputError

    with pytest.raises((InputError, ValueError), match="GLN"):
        OrganizationCreate(name="HTX sai mã", gln="8930000001231" if GLN[-1] != "1" else "8930000001232")


@pytest.mark.parametrize("path", [LOT_PATH, f"/01/{GTIN_A}", f"/414/{GLN}"])
def test_head_and_options_as_a_conformant_resolver_answers_them(world: World, path: str) -> None:
    world.ledger.create_org(OrganizationCreate(name="HTX Cà phê Thuận An", slug="htx-thuan-an", gln=GLN))
    get = world.client.get(path)
    head = world.client.head(path)
    assert head.status_code == get.status_code == 200 and head.content == b""
    assert head.headers["link"] == get.headers["link"]
    preflight = {"Origin": "https://checker.example", "Access-Control-Request-Method": "GET"}
    options = world.client.options(path, headers=preflight)
    assert options.status_code == 204 and options.headers["access-control-allow-origin"] == "*"
    assert set(options.headers["allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    assert world.client.head(f"{path}?linkType=gs1:nope").status_code == 404
