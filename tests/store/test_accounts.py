"""Console accounts in the database: argon2 hashes, lockout, sessions, invitations (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from ledger.core.records import OrganizationCreate
from ledger.errors import ConflictError, InputError, NotFound, PermissionDenied
from ledger.service import Ledger
from ledger.service.console import AccountLocked, Console, SignInRefused
from ledger.store.account_models import ConsoleSession, Person
from ledger.store.accounts import MAX_FAILURES, normalize_login
from ledger.store.db import read_tx
from tests.helpers import Clock

FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


@pytest.fixture
def console(ledger: Ledger, tmp_path: Path) -> Console:
    ledger.create_org(OrganizationCreate(name="HTX Thanh long Phú Hội", slug="htx-a", kind="cooperative"))
    ledger.create_org(OrganizationCreate(name="HTX Cà phê", slug="htx-b", kind="cooperative"))
    c = Console.open(ledger, tmp_path)
    c.hasher = FAST
    c.create_account("htx-a", "0912 345 678", "mat-khau-dai", role="owner", name="Chị Lan")
    return c


@pytest.mark.parametrize(
    ("raw", "login"),
    [("0912 345 678", "+84912345678"), ("+84 912-345-678", "+84912345678"), ("Lan@HTX.vn ", "lan@htx.vn")],
)
def test_logins_are_normalized(raw: str, login: str) -> None:
    assert normalize_login(raw) == login


@pytest.mark.parametrize("raw", ["", "12", "lan@", "not a phone", "a@b"])
def test_bad_logins_are_refused(raw: str) -> None:
    with pytest.raises(InputError, match="expected an e-mail address"):
        normalize_login(raw)


def test_password_is_stored_as_an_argon2_hash(console: Console) -> None:
    with read_tx(console.ledger.engine) as conn:
        stored = conn.execute(select(Person.__table__.c.password_hash)).scalar_one()  # type: ignore[attr-defined]
    assert stored.startswith("$argon2id$")
    assert "mat-khau-dai" not in stored


def test_sign_in_opens_a_session_stored_as_a_hash(console: Console) -> None:
    s = console.sign_in("0912345678", "mat-khau-dai")
    assert s.account.login == "+84912345678" and s.account.role == "owner" and s.account.org_slug == "htx-a"
    assert console.account(s.token) == s.account
    with read_tx(console.ledger.engine) as conn:
        hashes = list(conn.execute(select(ConsoleSession.__table__.c.token_hash)).scalars())  # type: ignore[attr-defined]
    assert len(hashes) == 1 and s.token not in hashes[0]
    console.sign_out(s.token)
    assert console.account(s.token) is None


def test_sessions_expire(console: Console, clock: Clock) -> None:
    s = console.sign_in("0912345678", "mat-khau-dai")
    clock.advance(days=15)
    assert console.account(s.token) is None


def test_wrong_password_and_unknown_login_give_the_same_answer(console: Console) -> None:
    with pytest.raises(SignInRefused, match="wrong login or password"):
        console.sign_in("0912345678", "sai-mat-khau")
    with pytest.raises(SignInRefused, match="wrong login or password"):
        console.sign_in("0999999999", "mat-khau-dai")


def test_lockout_after_repeated_failures_even_for_the_right_password(console: Console, clock: Clock) -> None:
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(SignInRefused):
            console.sign_in("0912345678", "sai-mat-khau")
    with pytest.raises(AccountLocked, match="locked after 5 wrong passwords"):
        console.sign_in("0912345678", "sai-mat-khau")
    with pytest.raises(AccountLocked):
        console.sign_in("0912345678", "mat-khau-dai")
    clock.advance(minutes=16)
    assert console.sign_in("0912345678", "mat-khau-dai").account.login == "+84912345678"


def test_reset_password_unlocks_and_ends_sessions(console: Console) -> None:
    s = console.sign_in("0912345678", "mat-khau-dai")
    for _ in range(MAX_FAILURES):
        with pytest.raises((SignInRefused, AccountLocked)):
            console.sign_in("0912345678", "sai")
    console.reset_password("0912345678", "mat-khau-moi-123")
    assert console.account(s.token) is None
    assert console.sign_in("0912345678", "mat-khau-moi-123").account.name == "Chị Lan"
    with pytest.raises(NotFound, match="no account with login"):
        console.reset_password("lan@nowhere.vn", "mat-khau-moi-123")


def test_duplicate_logins_and_short_passwords_are_refused(console: Console) -> None:
    with pytest.raises(ConflictError, match="exists already"):
        console.create_account("htx-b", "+84912345678", "mat-khau-khac")
    with pytest.raises(InputError, match="password must have 8"):
        console.create_account("htx-b", "b@htx.vn", "ngan")
    with pytest.raises(InputError, match="role must be one of owner, member"):
        console.create_account("htx-b", "b@htx.vn", "mat-khau-dai", role="admin")


def test_invitation_is_used_once(console: Console) -> None:
    owner = console.sign_in("0912345678", "mat-khau-dai").account
    token = console.invite(owner, "member")
    assert console.invite_info(token)["org_name"] == "HTX Thanh long Phú Hội"
    joined = console.accept_invite(token, "minh@htx.vn", "mat-khau-minh", "Anh Minh")
    assert (joined.account.org_slug, joined.account.role) == ("htx-a", "member")
    with pytest.raises(NotFound, match="unknown, used already or expired"):
        console.accept_invite(token, "khac@htx.vn", "mat-khau-khac", None)
    with pytest.raises(PermissionDenied, match="only an owner"):
        console.invite(joined.account, "member")


def test_invitation_expires(console: Console, clock: Clock) -> None:
    owner = console.sign_in("0912345678", "mat-khau-dai").account
    token = console.invite(owner, "owner")
    clock.advance(days=8)
    with pytest.raises(NotFound, match="expired"):
        console.invite_info(token)
