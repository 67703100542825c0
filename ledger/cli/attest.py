"""``ocop-ledger attest``: attestations by authority organizations (``ledger.attestations``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from ledger.cli.common import JsonOpt, emit, open_ledger, run
from ledger.errors import InputError

CLAIM_HELP = (
    'the claim as JSON: {"type": "ocop_rating", "stars": 4, "year": 2024, "decision": "…"} | '
    '{"type": "certification", "scheme", "number", "valid_from", "valid_to"} | '
    '{"type": "growing_area_code" | "packing_house_code", "code"}'
)


def _claim(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InputError(f"--claim: expected a JSON object, got {text!r}", field="claim") from exc


def attest_add(
    authority: Annotated[str, typer.Argument(help="slug of an organization of kind authority")],
    about_type: Annotated[str, typer.Option("--about", help="product | lot | plot")],
    about_id: Annotated[str, typer.Option("--id", help="GTIN-14, lot id or plot id")],
    claim: Annotated[str, typer.Option(help=CLAIM_HELP)],
    as_json: JsonOpt = False,
) -> None:
    """Record an attestation by AUTHORITY, signed by its key and appended to the log."""
    from ledger import attestations

    a = run(lambda: attestations.attest(open_ledger(), authority, {"type": about_type, "id": about_id}, _claim(claim)))
    emit(a, as_json, f"{a['subject']} ({a['body']['claim']['type']} about {about_type} {about_id})")


def attest_revoke(subject: str, as_json: JsonOpt = False) -> None:
    """Withdraw an attestation (attestation:<authority>:<n>)."""
    from ledger import attestations

    a = run(lambda: attestations.revoke(open_ledger(), subject))
    emit(a, as_json, f"revoked {a['subject']}")


def attest_list(
    about_type: Annotated[str, typer.Option("--about", help="product | lot | plot")],
    about_id: Annotated[str, typer.Option("--id")],
    as_json: JsonOpt = False,
) -> None:
    """The active attestations about a product, lot or plot that verify from the log."""
    from ledger import attestations

    items = run(lambda: attestations.about(open_ledger(), about_type, about_id))
    text = "\n".join(f"{a['subject']}  {a['claim']['type']}  by {a['authority_name']}" for a in items) or "none"
    emit(items, as_json, text)
