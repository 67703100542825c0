"""The console's exporter and operator tools (issue 14): shipments, CSV import, operator views.

``ConsoleTools`` adds to ``Console`` what only exporters and operators need; each method calls the
same ledger function the API's route for it calls (``ledger.store.shipments``,
``ledger.exports.csv_import``), with the same role rule.
"""

from __future__ import annotations

import secrets
from typing import Any

from ledger.errors import PermissionDenied
from ledger.exports import csv_import
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
