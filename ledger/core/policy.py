"""The one authorization policy: who may record what on whose lot, and register which GTIN.

Pure: plain values in, ``None`` out or ``PermissionDenied`` raised; no database, web or chain.
The append path (``ledger.store.append``) gathers the facts and asks ``authorize_event`` for every
event any route or command records (HTTP events, batches, EPCIS capture, shipments, CSV import,
the CLI), so the same fault gets the same answer everywhere: 403 over HTTP, an error on the CLI.

Rules for recording an event (``EventRequest``):

- an ``admin`` API key records nothing;
- a lot is created (``commissioning``) only by the organization owning the product, with a
  ``producer`` key or as the organization itself (the CLI);
- on its own lots an organization records any step;
- on another organization's lot it records only the steps its kind may sign there
  (``FOREIGN_STEPS[kind]``, what verification accepts) and, with an API key, only those its
  role may (``FOREIGN_STEPS[role]``): a producer key of an exporter organization packs nothing foreign;
- ``unpacking`` of another organization's lot only by the organization that packed it;
- a transformation consumes another organization's lot only with its owner's consent: the
  owner signed a ``shipping`` event on that lot (it released the lot) before.

Rules for registering a product (``authorize_product``): the GTIN must lie under one of the
organization's GS1 company prefixes when it declares any, and never under another
organization's prefix (the longest matching prefix decides).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ledger.errors import PermissionDenied

# Who may sign which business steps on a lot they do not own, by organization kind (what
# verification accepts) and by API-key role (what the key may ask for).
_EXPORTER_STEPS = frozenset(
    {
        "packing",
        "unpacking",
        "loading",
        "shipping",
        "receiving",
        "unloading",
        "storing",
        "transporting",
        "departing",
        "arriving",
        "accepting",
        "ocop:cooling",
    }
)
FOREIGN_STEPS: Mapping[str, frozenset[str]] = {
    "inspector": frozenset({"inspecting", "sampling"}),
    "exporter": _EXPORTER_STEPS,
    "operator": frozenset(),
}
# Steps on a foreign lot that need more than the kind's and role's permission.
_GUARDED = {"unpacking"}


class Denied(PermissionDenied):
    """``PermissionDenied`` carrying what was refused as fields: actor, lot, step and reason
    (a short name of the rule: ``admin``, ``product_owner``, ``role``, ``foreign_step``,
    ``not_packer``, ``no_consent``, ``gs1_prefix``); ``details`` names the batch item."""

    def __init__(self, message: str, *, actor: int, lot: str | None, step: str | None, reason: str) -> None:
        super().__init__(message)
        self.actor, self.lot, self.step, self.reason = actor, lot, step, reason
        self.field: str | None = "lot" if lot else None
        self.details: list[dict[str, object]] = []


@dataclass(frozen=True)
class InputLot:
    """A lot a transformation consumes: its owner and whether the owner released it."""

    lot: str
    owner: int
    released: bool = False


@dataclass(frozen=True)
class EventRequest:
    """Everything the decision needs about one event to record."""

    actor: int  # organization id
    kind: str  # organization kind
    role: str | None  # API-key role; None when the organization acts itself (CLI, import of its own data)
    lot: str
    owner: int  # the lot's owner (for commissioning: the product's owner)
    step: str
    event_type: str = "ObjectEvent"
    packed_by: int | None = None  # unpacking: the organization that packed the lot into that shipment
    inputs: Sequence[InputLot] = field(default_factory=tuple)


def may_sign(key: Mapping[str, object], biz_step: str, lot_org_id: str) -> bool:
    """Verification's rule: an organization signs anything on its own lots; inspectors and
    exporters some steps on others' lots (a necessary condition; ``authorize_event`` adds more)."""
    if str(key["org_id"]) == str(lot_org_id):
        return True
    return biz_step in FOREIGN_STEPS.get(str(key.get("org_kind")), frozenset())


def authorize_event(req: EventRequest) -> None:
    """None if ``req.actor`` may record this event; ``PermissionDenied`` (``Denied``) if not."""
    if req.role == "admin":
        raise _denied(req, "admin", "admin keys manage organizations and keys; they record no events")
    if req.role == "authority":
        raise _denied(req, "role", "authority keys record attestations (POST /api/v1/attestations), not events")
    if req.step == "commissioning":
        _commissioning(req)
    elif req.owner != req.actor:
        _foreign(req)
    for src in req.inputs:
        if src.owner != req.actor and not src.released:
            raise Denied(
                f"input lot {src.lot} belongs to another organization, which has not released it to you: "
                "expected a shipping event signed by its owner before the transformation",
                actor=req.actor,
                lot=src.lot,
                step=req.step,
                reason="no_consent",
            )


def _denied(req: EventRequest, reason: str, message: str) -> Denied:
    return Denied(message, actor=req.actor, lot=req.lot, step=req.step, reason=reason)


def _commissioning(req: EventRequest) -> None:
    gtin = req.lot.split(".", 1)[0]
    if req.owner != req.actor:
        raise _denied(req, "product_owner", f"wrong signer: product {gtin} belongs to another organization")
    if req.role not in (None, "producer"):
        raise _denied(req, "role", f"lots are created with a producer key: expected producer, got {req.role}")


def _foreign(req: EventRequest) -> None:
    lot = f"another organization's lot {req.lot}"
    if req.step not in FOREIGN_STEPS.get(req.kind, frozenset()):
        raise _denied(
            req, "foreign_step", f"wrong signer: a {req.kind} organization may not record {req.step} on {lot}"
        )
    if req.role is not None and req.step not in FOREIGN_STEPS.get(req.role, frozenset()):
        raise _denied(req, "role", f"{_article(req.role)} {req.role} key may not record {req.step} on {lot}")
    if req.step in _GUARDED and req.packed_by != req.actor:
        raise _denied(
            req,
            "not_packer",
            f"only the organization that packed {req.lot} into this logistic unit may unpack it: "
            f"expected organization {req.packed_by}, got {req.actor}",
        )


# --- products: GS1 company prefixes ---------------------------------------------------------


def gtin_body(gtin: str) -> str:
    """The GTIN-13 body of a GTIN-14 (indicator digit dropped), where a company prefix starts."""
    return gtin[1:] if len(gtin) == 14 else gtin


def prefix_owner(gtin: str, prefixes: Mapping[int, Sequence[str]]) -> int | None:
    """The organization whose company prefix covers ``gtin`` (the longest match), or None."""
    body = gtin_body(gtin)
    best: tuple[int, int] | None = None
    for org, own in prefixes.items():
        for p in own:
            if body.startswith(p) and (best is None or len(p) > best[0]):
                best = (len(p), org)
    return best[1] if best else None


def authorize_product(actor: int, gtin: str, prefixes: Mapping[int, Sequence[str]]) -> None:
    """None if ``actor`` may register ``gtin`` given every organization's GS1 company prefixes."""
    owner = prefix_owner(gtin, prefixes)
    if owner is not None and owner != actor:
        raise Denied(
            f"GTIN {gtin} lies under a GS1 company prefix of organization {owner}: "
            "expected a GTIN under your own prefixes",
            actor=actor,
            lot=None,
            step=None,
            reason="gs1_prefix",
        )
    own = list(prefixes.get(actor, ()))
    if own and owner is None:
        raise Denied(
            f"GTIN {gtin} lies under none of your GS1 company prefixes: expected one of {', '.join(own)}",
            actor=actor,
            lot=None,
            step=None,
            reason="gs1_prefix",
        )


def _article(word: str) -> str:
    """'a' or 'an' before a role name in a message ("an inspector key", "a producer key")."""
    return "an" if word[:1].lower() in "aeiou" else "a"
