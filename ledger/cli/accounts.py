"""``ocop-ledger account``: console accounts for operators (create, list, invite, reset a password).

A password is read from standard input with ``--password-stdin`` (never from the command line,
where other users could see it in the process list); without it a random one is generated and
printed once.
"""

from __future__ import annotations

import secrets
import sys
from typing import Annotated, Any

import typer

from ledger.cli.common import JsonOpt, emit, open_ledger, run

StdinOpt = Annotated[bool, typer.Option("--password-stdin", help="read the password from standard input")]


def _console() -> Any:
    from ledger.service.console import Console
    from ledger.settings import Settings

    return Console.open(open_ledger(), Settings())


def _password(from_stdin: bool) -> tuple[str, bool]:
    """(password, generated?)"""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    return secrets.token_urlsafe(12), True


def account_create(
    org: str,
    login: Annotated[str, typer.Argument(help="phone number or e-mail address")],
    role: Annotated[str, typer.Option(help="owner | member")] = "owner",
    name: Annotated[str | None, typer.Option(help="the person's name")] = None,
    password_stdin: StdinOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a console account in ORG (id or slug)."""
    password, generated = _password(password_stdin)
    person = run(lambda: _console().create_account(org, login, password, role, name))
    shown = f"\npassword (shown only once): {password}" if generated else ""
    emit({**person, **({"password": password} if generated else {})}, as_json, f"account {person['login']}{shown}")


def account_list(org: Annotated[str | None, typer.Argument()] = None, as_json: JsonOpt = False) -> None:
    """List console accounts (of ORG, or all)."""

    def body() -> list[dict[str, Any]]:
        console = _console()
        org_id = int(console.ledger.get_org(org)["id"]) if org else None
        return list(console.people(org_id))

    people = run(body)
    lines = [
        f"{p['login']:<28} {p['role']:<7} {p['org_slug']}" + (" LOCKED" if p["locked_until"] else "") for p in people
    ]
    emit(people, as_json, "\n".join(lines) or "no accounts")


def account_reset_password(
    login: Annotated[str, typer.Argument(help="phone number or e-mail address")],
    password_stdin: StdinOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Set a new password: the account is unlocked and signed out everywhere."""
    password, generated = _password(password_stdin)
    person = run(lambda: _console().reset_password(login, password))
    shown = f"\nnew password (shown only once): {password}" if generated else ""
    emit(
        {**person, **({"password": password} if generated else {})},
        as_json,
        f"password reset for {person['login']}{shown}",
    )


def account_invite(
    org: str,
    role: Annotated[str, typer.Option(help="owner | member")] = "member",
    base_url: Annotated[str | None, typer.Option(help="the server's public URL; default LEDGER_PUBLIC_URL")] = None,
    as_json: JsonOpt = False,
) -> None:
    """A one-time link (valid 7 days) that lets a new person join ORG."""
    from ledger.settings import Settings

    token = run(lambda: _console().invite_for(org, role))
    link = f"{(base_url or Settings().public_url).rstrip('/')}/console/invite?token={token}"
    emit({"org": org, "role": role, "link": link}, as_json, link)
