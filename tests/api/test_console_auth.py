"""Console sign-in, sessions, CSRF, lockout, invitations and API keys (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import World
from tests.api.console_support import PASSWORD, console_of, csrf_of, sign_in


@pytest.fixture
def people(world: World) -> World:
    console = console_of(world.client)
    console.create_account("org-a", "0912345678", PASSWORD, role="owner", name="Chị Lan")
    console.create_account("org-a", "minh@htx.vn", PASSWORD, role="member")
    console.create_account("org-b", "0987654321", PASSWORD, role="owner")
    return world


def test_pages_need_a_session(people: World) -> None:
    r = people.client.get("/console/keys?x=1", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/console/signin?next=%2Fconsole%2Fkeys%3Fx%3D1"


def test_sign_in_sets_a_hardened_session_cookie(people: World) -> None:
    c = people.client
    page = c.get("/console/signin")
    pre = page.headers["set-cookie"]
    assert "ocop_csrf=" in pre and "HttpOnly" in pre and "SameSite=strict" in pre and "Secure" not in pre
    r = c.post(
        "/console/signin",
        data={"csrf": csrf_of(page.text), "login": "0912 345 678", "password": PASSWORD},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/console"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("ocop_session=")
    for flag in ("HttpOnly", "SameSite=lax", "Path=/console"):
        assert flag in cookie
    assert "Secure" not in cookie  # plain HTTP here; see the HTTPS test
    home = c.get("/console")
    assert home.status_code == 200 and "HTX Thanh long Phú Hội" in home.text
    assert "script-src 'self'" in home.headers["content-security-policy"]


def test_session_cookie_is_secure_over_https(people: World) -> None:
    c = TestClient(people.client.app, base_url="https://testserver")
    page = c.get("/console/signin")
    r = c.post(
        "/console/signin",
        data={"csrf": csrf_of(page.text), "login": "0912345678", "password": PASSWORD},
        follow_redirects=False,
    )
    assert "Secure" in r.headers["set-cookie"]


def test_sign_out_ends_the_session(people: World) -> None:
    c = people.client
    csrf = sign_in(c, "0912345678")
    token = c.cookies["ocop_session"]
    assert c.post("/console/signout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    c.cookies.set("ocop_session", token, path="/console")  # a stolen copy of the cookie is dead too
    assert c.get("/console", follow_redirects=False).status_code == 303


def test_wrong_password_keeps_the_login_and_says_so(people: World) -> None:
    c = people.client
    page = c.get("/console/signin")
    r = c.post("/console/signin", data={"csrf": csrf_of(page.text), "login": "0912345678", "password": "sai"})
    assert r.status_code == 401
    assert 'value="0912345678"' in r.text
    assert "Sai số điện thoại/e-mail hoặc mật khẩu." in r.text
    assert "ocop_session" not in r.headers.get("set-cookie", "")


def test_lockout_after_five_failures(people: World) -> None:
    c = people.client
    csrf = csrf_of(c.get("/console/signin").text)
    codes = [
        c.post("/console/signin", data={"csrf": csrf, "login": "0912345678", "password": "sai"}).status_code
        for _ in range(5)
    ]
    assert codes == [401, 401, 401, 401, 429]
    r = c.post("/console/signin", data={"csrf": csrf, "login": "0912345678", "password": PASSWORD})
    assert r.status_code == 429 and "tạm khoá" in r.text
    console_of(c).reset_password("0912345678", "mat-khau-moi-99")  # an admin resets it: unlocked
    r = c.post(
        "/console/signin",
        data={"csrf": csrf, "login": "0912345678", "password": "mat-khau-moi-99"},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_sign_in_is_rate_limited_per_client(people: World) -> None:
    c = people.client
    csrf = csrf_of(c.get("/console/signin").text)
    c.app.state.console_web.limiter.limit = 3  # type: ignore[attr-defined]
    codes = [
        c.post("/console/signin", data={"csrf": csrf, "login": f"09000000{i:02d}", "password": "x" * 9}).status_code
        for i in range(4)
    ]
    assert codes == [401, 401, 401, 429]


@pytest.mark.parametrize("csrf", [None, "", "forged-token"])
def test_sign_in_without_the_csrf_cookie_value_is_refused(people: World, csrf: str | None) -> None:
    c = people.client
    c.get("/console/signin")
    data = {"login": "0912345678", "password": PASSWORD} | ({"csrf": csrf} if csrf is not None else {})
    r = c.post("/console/signin", data=data, follow_redirects=False)
    assert r.status_code == 403
    assert "Biểu mẫu đã hết hạn" in r.text
    assert "ocop_session" not in r.headers.get("set-cookie", "")


def test_signed_in_forms_need_the_sessions_csrf_token(people: World) -> None:
    c = people.client
    sign_in(c, "0912345678")
    before = people.counts()
    pre_session_token = c.cookies.get("ocop_csrf")
    for forged in ("forged", pre_session_token, ""):
        r = c.post("/console/products/new", data={"csrf": forged, "gtin": "08930000000026", "name_vi": "Cà phê"})
        assert r.status_code == 403
    assert people.counts() == before


def test_next_never_redirects_to_another_site(people: World) -> None:
    c = people.client
    page = c.get("/console/signin")
    data = {"csrf": csrf_of(page.text), "login": "0912345678", "password": PASSWORD, "next": "//evil.example/x"}
    r = c.post("/console/signin", data=data, follow_redirects=False)
    assert r.headers["location"] == "/console"


def test_invite_a_member_by_a_one_time_link(people: World) -> None:
    owner = people.client
    csrf = sign_in(owner, "0912345678")
    r = owner.post("/console/people/invite", data={"csrf": csrf, "role": "member"})
    assert r.status_code == 201
    link = r.text.split('id="invite-link">')[1].split("<")[0].replace("&amp;", "&")
    assert "?token=" in link  # in the query string, which request logs leave out
    path = link.removeprefix("http://testserver")
    guest = TestClient(people.client.app)
    page = guest.get(path)
    assert page.status_code == 200 and "HTX Thanh long Phú Hội" in page.text
    form = {"csrf": csrf_of(page.text), "login": "hoa@htx.vn", "name": "Chị Hoa", "password": "mat-khau-hoa"}
    bad = guest.post(path, data={**form, "password2": "khac-nhau"})
    assert bad.status_code == 422 and 'value="hoa@htx.vn"' in bad.text and "Hai mật khẩu chưa giống nhau." in bad.text
    r = guest.post(path, data={**form, "password2": "mat-khau-hoa"}, follow_redirects=False)
    assert r.status_code == 303
    assert "Chị Hoa" in guest.get("/console").text
    assert TestClient(people.client.app).get(path).status_code == 404  # used once
    assert "hoa@htx.vn" in owner.get("/console/people").text


def test_members_cannot_invite_or_make_keys(people: World) -> None:
    c = people.client
    csrf = sign_in(c, "minh@htx.vn")
    assert c.post("/console/people/invite", data={"csrf": csrf, "role": "owner"}).status_code == 403
    r = c.post("/console/keys", data={"csrf": csrf, "role": "producer", "label": "x"})
    assert r.status_code == 403 and "only an owner" in r.text


def test_owner_creates_and_revokes_an_api_key_that_works_on_the_api(people: World) -> None:
    c = people.client
    csrf = sign_in(c, "0912345678")
    r = c.post("/console/keys", data={"csrf": csrf, "role": "producer", "label": "ERP"})
    assert r.status_code == 201
    token = r.text.split('id="new-key">')[1].split("<")[0]
    me = TestClient(people.client.app).get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["organization"]["slug"] == "org-a"
    key_id = me.json()["key_id"]
    assert c.post(f"/console/keys/{key_id}/revoke", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    again = TestClient(people.client.app).get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 401


def test_a_role_that_does_not_suit_the_organization_is_a_form_error(people: World) -> None:
    c = people.client
    csrf = sign_in(c, "0912345678")
    r = c.post("/console/keys", data={"csrf": csrf, "role": "admin", "label": "x"})
    assert r.status_code == 422 and "Chọn một vai trò." in r.text


def test_english_by_query_then_by_cookie(people: World) -> None:
    c = people.client
    r = c.get("/console/signin?lang=en")
    assert '<html lang="en">' in r.text and "Sign in" in r.text
    assert '<html lang="en">' in c.get("/console/signin").text
    assert '<html lang="vi">' in c.get("/console/signin?lang=vi").text
