"""The console's exporter, authority and operator tools (issue 14): shipments, CSV import,
attestations (issue 11), who vouches for a lot's facts, operator views.

``ConsoleTools`` adds to ``Console`` what only exporters and operators need; each method calls the
same ledger function the API's route for it calls (``ledger.store.shipments``,
``ledger.exports.csv_import``), with the same role rule.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from ledger.errors import InputError, NotFound, PermissionDenied
from ledger.exports import csv_import
from ledger.service import console_vouch
from ledger.service.console import Account, Console
from ledger.store import apikeys, shipments
from ledger.store.db import read_tx


class ConsoleTools(Console):
    """Shipments, CSV import and operator views: the same ledger functions the API's routes call."""

    WRITERS = ("exporter", "producer", "admin")  # as the API's shipment and import routes

    def _writer(self, who: Account) -> tuple[int, str]:
        """(organization, role) of a person who may write; ``ledger.core.policy`` decides on each event."""
        role = self.principal(who).role
        if role not in self.WRITERS:
            raise PermissionDenied(f"this needs the role {' or '.join(self.WRITERS)}, got {role}")
        return who.org_id, role

    def shipment(self, sscc: str) -> dict[str, Any]:
        with read_tx(self.ledger.engine) as conn:
            return shipments.get_shipment(conn, sscc)

    def pack(self, who: Account, sscc: str, lots: list[str], event_time: str, description: str | None) -> list[Any]:
        org, role = self._writer(who)
        return shipments.pack(self.ledger, org, sscc, lots, event_time=event_time, description=description, role=role)

    def move(
        self, who: Account, sscc: str, step: str, event_time: str, party: str | None, ref: str | None
    ) -> list[Any]:
        org, role = self._writer(who)
        txs = [{"type": "po", "bizTransaction": ref}] if ref else []
        return shipments.move(
            self.ledger, org, sscc, step, event_time=event_time, party=party, biz_transactions=txs, role=role
        )

    def unpack(self, who: Account, sscc: str, event_time: str) -> list[Any]:
        org, role = self._writer(who)
        return shipments.unpack(self.ledger, org, sscc, None, event_time=event_time, role=role)

    def import_csv(self, who: Account, text: str) -> list[dict[str, Any]]:
        org, role = self._writer(who)
        return csv_import.import_csv(self.ledger, org, text, role=role)

    # --- operator ---------------------------------------------------------------------------

    def require_operator(self, who: Account) -> None:
        if who.org_kind != "operator":
            raise PermissionDenied(f"only the operator's people may see this; {who.org_name} is a {who.org_kind}")

    def organizations(self, who: Account) -> list[dict[str, Any]]:
        self.require_operator(who)
        return self.ledger.list_orgs()

    def all_people(self, who: Account) -> list[dict[str, Any]]:
        self.require_operator(who)
        return self.people(None)

    def all_api_keys(self, who: Account) -> list[dict[str, Any]]:
        self.require_operator(who)
        with read_tx(self.ledger.engine) as conn:
            return apikeys.list_keys(conn, None)

    def reset_password_for(self, who: Account, login: str) -> tuple[dict[str, Any], str]:
        """The operator sets a new random password for any account (shown once); it is unlocked and signed out."""
        self.require_operator(who)
        password = secrets.token_urlsafe(12)
        return self.reset_password(login, password), password

    def authorities(self, who: Account) -> list[dict[str, Any]]:
        """The authority organizations with how many attestations each wrote (and how many are active)."""
        self.require_operator(who)
        with read_tx(self.ledger.engine) as conn:
            counts = console_vouch.attestation_counts(conn)
        orgs = [o for o in self.ledger.list_orgs() if o["kind"] == "authority"]
        return [o | counts.get(str(o["slug"]), {"total": 0, "active": 0}) for o in orgs]

    # --- authorities: attestations through ledger/service/attestations.py -------------------

    ABOUT = ("product", "lot", "plot")

    def require_authority(self, who: Account) -> None:
        if who.org_kind != "authority":
            raise PermissionDenied(f"only an authority organization attests; {who.org_name} is a {who.org_kind}")

    def attest_as(self, who: Account, about: Mapping[str, str], claim: Mapping[str, Any]) -> dict[str, Any]:
        """A new attestation by ``who``'s authority about an existing product or lot (or a plot by its code)."""
        self.require_authority(who)
        kind, ident = about.get("type", ""), about.get("id", "")
        try:
            if kind == "product":
                self.ledger.get_product(ident)
            elif kind == "lot":
                self.ledger.get_lot(ident)
        except NotFound:
            raise InputError(f"no {kind} {ident!r} in the ledger", field="about_id") from None
        return self.ledger.attest(who.org_slug, {"type": kind, "id": ident}, claim)

    def my_attestations(self, who: Account) -> list[dict[str, Any]]:
        self.require_authority(who)
        with read_tx(self.ledger.engine) as conn:
            return console_vouch.attestations_by(conn, who.org_slug)

    def revoke_own(self, who: Account, subject: str) -> dict[str, Any]:
        """Withdraw one of ``who``'s authority's attestations; another's is not found (no hint it exists)."""
        self.require_authority(who)
        if not subject.startswith(f"attestation:{who.org_slug}:"):
            raise NotFound(f"no attestation {subject[:120]!r} by {who.org_name}")
        return self.ledger.revoke_attestation(subject)

    # --- who vouches for what, for producers and exporters ---------------------------------

    def rating_vouched(self, lot_id: str, product: Mapping[str, Any]) -> dict[str, Any]:
        """The lot's OCOP rating and who vouches for it (an authority's name, or None when only declared)."""
        return self.ledger.stars_vouched(lot_id, product)

    def product_attestations(self, gtin: str) -> list[dict[str, Any]]:
        return self.ledger.attestations_about("product", gtin)

    def product_versions(self, gtin: str) -> list[dict[str, Any]]:
        """The product's master data versions from the log, newest first."""
        with read_tx(self.ledger.engine) as conn:
            return console_vouch.product_versions(conn, gtin)
