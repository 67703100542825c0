"""What every command shares: options, output, error handling, and building settings, the ledger
and chain clients (the composition root's one place for that).

Nothing here imports another command module, so the command modules never import each other and
``ledger.cli.app`` alone wires them into the Typer app.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from ledger.core import bounds
from ledger.errors import InputError, LedgerError, NotFound, PermissionDenied

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ledger.chain.check import ChainAnchorCheck, UnanchoredCheck
    from ledger.chain.client import ChainClient
    from ledger.settings import Settings

JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON document")]
Out = Annotated[Path | None, typer.Option("--output", "-o", help="file to write; default stdout")]
Rpc = Annotated[str | None, typer.Option("--rpc", help="EVM JSON-RPC URL to check anchors against")]
Contract = Annotated[str | None, typer.Option(help="ProvenanceAnchor address (default: from settings / server)")]
T = TypeVar("T")


# --- building things (only when a command runs) --------------------------------------------


def load_settings() -> Settings:
    """The settings from ``LEDGER_*`` environment variables and ``.env``."""
    from ledger.settings import Settings

    return Settings()


def open_ledger(settings: Settings | None = None) -> Any:
    """The ledger of ``settings`` (default: from the environment), migrated and ready."""
    from ledger.service import Ledger

    return Ledger.open(settings or load_settings())


def read_conn(fn: Callable[[Connection], T]) -> T:
    """``fn`` run on a read transaction of the configured ledger's database."""
    from ledger.store.db import read_tx

    ledger = open_ledger()
    with read_tx(ledger.engine) as conn:
        return fn(conn)


def chain_reader(rpc: str | None, contract: str | None, settings: Settings | None = None) -> ChainClient | None:
    """A read-only chain client for ``rpc`` (or the configured chain), or None without either."""
    from ledger.chain import client as chain_mod

    if contract and rpc:
        return chain_mod.ChainClient(chain_mod.make_web3(rpc), contract)
    if settings is None or not (rpc or settings.rpc_url):
        return None
    from ledger.chain.devchain import connect

    return connect(settings.model_copy(update={"rpc_url": rpc or settings.rpc_url}), signer=False)


def anchor_check(
    ledger: Any, chain: ChainClient | None = None, settings: Settings | None = None
) -> ChainAnchorCheck | UnanchoredCheck:
    """The anchor check for ``verify`` and the certificate: trusts the chain, and says ``pending``
    for everything when the chain is not configured or cannot be reached (never an exception).

    Without ``chain`` a read-only client is connected from ``settings`` (default: the environment).
    """
    from ledger.chain import check
    from ledger.chain.devchain import connect
    from ledger.errors import AnchorError, ConfigError

    settings = settings or load_settings()
    if chain is None:
        try:
            chain = connect(settings, signer=False, timeout=5.0)
        except ConfigError as exc:
            return check.UnanchoredCheck("not_configured", str(exc))
        except AnchorError as exc:
            return check.UnanchoredCheck("unreachable", str(exc))
    return check.anchor_check_for(ledger, chain, settings.explorer_url)


# --- input and output ----------------------------------------------------------------------


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def run(fn: Callable[[], T]) -> T:
    """Run a command body, turning ledger errors into a message and an exit code."""
    try:
        return fn()
    except InputError as exc:
        details = "".join(f"\n  - {d.get('field', '')}: {d.get('message', '')}" for d in exc.details[:20])
        fail(f"{exc}{details}", 2)
    except NotFound as exc:
        fail(str(exc), 3)
    except PermissionDenied as exc:  # ledger.core.policy refused: the same decision as the API's 403
        fail(f"not allowed: {exc}", 4)
    except LedgerError as exc:
        fail(str(exc), 1)


def emit(data: Any, as_json: bool, text: str | None = None) -> None:
    if as_json or text is None:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        typer.echo(text)


def write_out(data: bytes, out: Path | None) -> None:
    """``data`` to the file ``out``, or to stdout without one."""
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        out.write_bytes(data)
        typer.echo(f"wrote {out} ({len(data)} bytes)", err=True)


def read_json(path: Path) -> Any:
    try:
        raw = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
        return bounds.loads(raw, where=str(path))
    except (OSError, ValueError) as exc:
        fail(f"cannot read JSON from {path}: {exc}")


def given(file: Path | None, **options: Any) -> Any:
    """The JSON in ``file`` if one is named, else the options that were given."""
    if file is not None:
        return read_json(file)
    return {k: v for k, v in options.items() if v is not None}


def parse_model(model: type[T], data: Any, where: str) -> T:
    from pydantic import ValidationError

    from ledger.core.records import input_error

    try:
        return model.model_validate(data)  # type: ignore[attr-defined,no-any-return]
    except ValidationError as exc:
        raise input_error(exc, where) from exc
