"""The attestation form to a subject and a claim (issue 11's ``ledger.core.masterdata`` schemas).

Every claim type's fields are on the page at once (it works without JavaScript); only the chosen
type's fields are read. ``attestation_from_form`` returns ``(values, about, claim, errors)``: what
was typed (shown again when refused), the validated subject and claim or None, and errors by field.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from api.console.forms import Errors, text
from ledger.core.masterdata import CertificationClaim, CodeClaim, OcopRating

ABOUT_TYPES = ("product", "lot", "plot")
CLAIM_TYPES = ("ocop_rating", "certification", "growing_area_code", "packing_house_code")
FIELDS = (
    "about_type", "about_id", "claim_type", "rating_stars", "rating_year", "decision", "expires",
    "scheme", "number", "valid_from", "valid_to", "claim_code",
)  # fmt: skip
# form field -> claim field, per claim type
_CLAIM_FIELDS: dict[str, dict[str, str]] = {
    "ocop_rating": {"rating_stars": "stars", "rating_year": "year", "decision": "decision", "expires": "expires"},
    "certification": {"scheme": "scheme", "number": "number", "valid_from": "valid_from", "valid_to": "valid_to"},
    "growing_area_code": {"claim_code": "code"},
    "packing_house_code": {"claim_code": "code"},
}
_MODELS: dict[str, type[BaseModel]] = {
    "ocop_rating": OcopRating,
    "certification": CertificationClaim,
    "growing_area_code": CodeClaim,
    "packing_house_code": CodeClaim,
}
_INTS = ("rating_stars", "rating_year")


def attestation_from_form(
    form: FormData,
) -> tuple[dict[str, str], dict[str, str] | None, dict[str, Any] | None, Errors]:
    values = {n: text(form, n, 200) for n in FIELDS}
    errors: Errors = {}
    if values["about_type"] not in ABOUT_TYPES:
        errors["about_type"] = f"expected one of {', '.join(ABOUT_TYPES)}, got {values['about_type']!r}"
    if not values["about_id"] or len(values["about_id"]) > 100:
        errors["about_id"] = "expected the id of a product (GTIN), a lot (GTIN.lot) or a plot (1-100 characters)"
    kind = values["claim_type"]
    if kind not in CLAIM_TYPES:
        errors["claim_type"] = f"expected one of {', '.join(CLAIM_TYPES)}, got {kind!r}"
        return values, None, None, errors
    claim: dict[str, Any] = {"type": kind}
    for field, name in _CLAIM_FIELDS[kind].items():
        raw = values[field]
        if not raw:
            continue
        if field in _INTS:
            try:
                claim[name] = int(raw)
            except ValueError:
                errors[field] = f"expected a whole number, got {raw!r}"
                continue
        else:
            claim[name] = raw
    errors |= _check(kind, claim)
    if errors:
        return values, None, None, errors
    return values, {"type": values["about_type"], "id": values["about_id"]}, claim, {}


def _check(kind: str, claim: dict[str, Any]) -> Errors:
    by_name = {name: field for field, name in _CLAIM_FIELDS[kind].items()}
    errors: Errors = {}
    try:
        _MODELS[kind].model_validate(claim)
    except ValidationError as exc:
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else ""
            errors.setdefault(by_name.get(name, "form"), str(err["msg"]))
    for name in ("expires", "valid_from", "valid_to"):
        field = by_name.get(name)
        if field and name in claim and field not in errors:
            try:
                date.fromisoformat(str(claim[name]))
            except ValueError:
                errors[field] = f"expected a date like 2027-12-31, got {claim[name]!r}"
    start, end = claim.get("valid_from"), claim.get("valid_to")
    if not errors and start and end and end < start:
        errors["valid_to"] = f"valid_to {end} is before valid_from {start}"
    return errors
