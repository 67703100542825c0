"""The facade's standards doors: EPCIS 2.0 REST bindings (queries on a derived index, capture jobs),
the GS1 Digital Link resolver's product and party pages, and shipment moves with reference documents."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any

from ledger.errors import ConflictError, NoSuchResource
from ledger.exports import epcis, epcis_index, epcis_query
from ledger.service.base import LedgerBase
from ledger.store import epcis_jobs, resolver_data, shipments
from ledger.store.append import MAX_BATCH
from ledger.store.db import read_tx, write_tx

EPCIS_EVENT_TYPES = epcis_query.EVENT_TYPES  # the API reaches the exports only through the facade
EPCIS_CONTEXT = epcis.CONTEXT
CAPTURE_LIMIT = MAX_BATCH  # events per capture or batch, at most


class Standards(LedgerBase):
    def epcis_query(self, params: Mapping[str, list[str]]) -> tuple[dict[str, Any], str | None]:
        """The query document answering EPCIS query ``params``, and the next page's token (None: last page)."""
        query = epcis_query.parse_query(params)
        self._epcis_index()
        with read_tx(self.engine) as conn:
            found, after = epcis_index.search(conn, query)
        return self.epcis_document(found), (None if after is None else query.page_token(after))

    def epcis_event(self, event_id: str) -> dict[str, Any]:
        """The EPCIS 2.0 event with this CBV 2.0 Event Hash ID."""
        self._epcis_index()
        with read_tx(self.engine) as conn:
            found = epcis_index.find(conn, event_id)
        if found is None:
            raise NoSuchResource(f"no event with eventID {event_id!r}: expected the Event Hash ID of a logged event")
        return found

    def epcis_document(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """An EPCIS 2.0 query document (SimpleEventQuery results) holding ``events``."""
        doc = epcis.document(events, self.clock())
        doc["type"] = "EPCISQueryDocument"
        doc["epcisBody"] = {"queryResults": {"queryName": "SimpleEventQuery", "resultsBody": {"eventList": events}}}
        return doc

    def epcis_values(self, kind: str, offset: int, limit: int) -> list[str]:
        """A page of the read points, business locations or EPCs the log names."""
        self._epcis_index()
        with read_tx(self.engine) as conn:
            return epcis_index.distinct_values(conn, kind, offset, limit)

    def _epcis_index(self) -> None:
        """Index the log entries appended since the last query (never on the append path)."""
        with read_tx(self.engine) as conn:
            if not epcis_index.behind(conn):
                return
        try:
            with write_tx(self.engine) as conn:
                epcis_index.catch_up(conn)
        except ConflictError:  # another reader indexed the same entries meanwhile
            pass

    def epcis_save_job(self, org: str | int, created: str, captured: int, errors: list[dict[str, Any]]) -> str:
        finished = self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with write_tx(self.engine) as conn:
            return epcis_jobs.save(conn, self._org_id(conn, org), created, finished, captured, errors)

    def epcis_job(self, org: str | int, capture_id: str) -> dict[str, Any]:
        with read_tx(self.engine) as conn:
            return epcis_jobs.load(conn, capture_id, self._org_id(conn, org))

    def product_page(self, gtin: str) -> dict[str, Any]:
        """What the resolver shows for ``/01/{gtin}``."""
        with read_tx(self.engine) as conn:
            return resolver_data.product(conn, gtin)

    def party_page(self, gln: str) -> dict[str, Any]:
        """What the resolver shows for ``/414/{gln}``."""
        with read_tx(self.engine) as conn:
            return resolver_data.party(conn, gln)

    def move_shipment(
        self,
        org: str | int,
        sscc: str,
        step: str,
        *,
        event_time: str,
        location: Mapping[str, Any] | None = None,
        party: str | None = None,
        documents: Sequence[Any] = (),
        role: str | None = None,
    ) -> list[dict[str, Any]]:
        """Shipping or receiving of a whole shipment; ``documents`` (``TYPE:NUMBER`` or ``{type, number}``)
        become each event's ``bizTransactionList``; ``ledger.core.policy`` decides with ``role``."""
        refs = shipments.reference_documents(documents)
        return shipments.move(
            self,
            org,
            sscc,
            step,
            event_time=event_time,
            location=location,
            party=party,
            biz_transactions=refs,
            role=role,
        )
