"""The facade: the one door through which the API and the command line reach the store, the chain
and the exports.

``Ledger`` is built from an engine and a ``KeyRing`` handed in (nothing builds its own); the
composition roots (``ledger.cli``) construct it with ``Ledger.open(settings)``. Its methods come by
area, one module each:

- ``base``        engine, key ring, clock, ``open``, organization lookups
- ``masterdata``  organizations, signing keys, GS1 prefixes, products, lots; idempotent writes
- ``records``     the append path (``ledger.core.policy`` decides there), the log head, lot verification
- ``reads``       lot JSON, log pages, checkpoint, consistency proofs, anchors, cheap per-request reads
- ``bundles``     proof bundles of lots and shipments
- ``exports``     lineage, shipments, FSMA 204, EUDR, EPCIS, certificates, CSV import, QR codes
- ``admin``       API keys and authentication
- ``verdicts``    the anchor check against a chain reader handed in
- ``standards``   EPCIS 2.0 REST queries and capture jobs, resolver pages, shipment moves with documents
- ``attestations`` what authority organizations vouch for (issue 11)
- ``storage``     which storage failures the API reports as 503 / 507
"""

from __future__ import annotations

from ledger.core.policy import may_sign
from ledger.service.admin import ROLES, Principal
from ledger.service.attestations import Attestations
from ledger.service.base import slugify
from ledger.service.reads import ChainIds, anchor_json, entry_json
from ledger.service.records import Records
from ledger.service.standards import CAPTURE_LIMIT, EPCIS_CONTEXT, EPCIS_EVENT_TYPES, Standards
from ledger.service.storage import StorageError, storage_fault
from ledger.service.verdicts import Verdicts, chain_ids, connect_chain
from ledger.store.db import make_engine
from ledger.store.idempotency import Answer, Claim, fingerprint, parse_key
from ledger.store.shipments import sscc_uri

__all__ = [
    "CAPTURE_LIMIT",
    "EPCIS_CONTEXT",
    "EPCIS_EVENT_TYPES",
    "ROLES",
    "Answer",
    "ChainIds",
    "Claim",
    "Ledger",
    "Principal",
    "StorageError",
    "anchor_json",
    "chain_ids",
    "connect_chain",
    "entry_json",
    "fingerprint",
    "make_engine",
    "may_sign",
    "parse_key",
    "slugify",
    "sscc_uri",
    "storage_fault",
]


class Ledger(Verdicts, Records, Standards, Attestations):
    """Master data, the append path, reads, bundles, exports, API keys and verdicts, over one store."""
