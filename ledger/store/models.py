"""Database tables (SQLModel). The schema is managed by Alembic (``ledger/migrations``).

What is signed and hashed lives in ``log_entry``: the statement's fields as columns plus the
event's canonical JSON, the signature and the leaf hash. Everything else (organizations,
products, lots) is master data; a lot's origin and plot are also written into its first entry
(the commissioning event's ``ilmd``) so that verification can detect edits to the lot row.

``tree_node`` holds the hash of every complete subtree of level ≥ 1 (level 0 is
``log_entry.leaf_hash``), so roots and proofs cost O(log n) reads. ``log_head`` is a single row:
the current size and root, and the row every writer locks to take the next log indexes.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, LargeBinary, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel


class Organization(SQLModel, table=True):
    __tablename__ = "organization"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(index=True, unique=True, max_length=64)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=20)  # cooperative | company | inspector | exporter | authority | operator
    province: str | None = Field(default=None, max_length=100)
    # GS1 company prefixes the organization holds: its products' GTINs lie under them (ledger.core.policy)
    gs1_prefixes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    created_at: datetime
    gln: str | None = Field(default=None, max_length=13, unique=True)  # GS1 party GLN, served at /414/{gln}


class SigningKey(SQLModel, table=True):
    __tablename__ = "signing_key"

    id: int | None = Field(default=None, primary_key=True)
    key_id: str = Field(index=True, unique=True, max_length=80)
    org_id: int = Field(foreign_key="organization.id", index=True)
    public_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sealed_private_key: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    status: str = Field(default="active", max_length=10)  # active | retired | revoked
    created_at: datetime
    retired_at: datetime | None = None
    revoked_at: datetime | None = None
    revocation_reason: str | None = Field(default=None, max_length=500)


class Product(SQLModel, table=True):
    __tablename__ = "product"

    id: int | None = Field(default=None, primary_key=True)
    gtin: str = Field(index=True, unique=True, min_length=14, max_length=14)
    org_id: int = Field(foreign_key="organization.id", index=True)
    name_vi: str = Field(max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    category: str | None = Field(default=None, max_length=100)
    ocop_stars: int | None = None
    ocop_year: int | None = None
    certifications: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime
    # migration 0010: the rest of the signed product body (names zh/ja, brand, net content, images)
    name_zh: str | None = Field(default=None, max_length=200)
    name_ja: str | None = Field(default=None, max_length=200)
    brand: str | None = Field(default=None, max_length=200)
    net_content: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))  # {"value", "unit"}
    images: list[dict[str, Any]] = Field(  # [{"sha256", "media_type"}], the photo store's files
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default=text("'[]'"))
    )


class Lot(SQLModel, table=True):
    __tablename__ = "lot"
    __table_args__ = (UniqueConstraint("product_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    lot_id: str = Field(index=True, unique=True, max_length=40)
    product_id: int = Field(foreign_key="product.id", index=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    code: str = Field(max_length=20)
    origin_province: str | None = Field(default=None, max_length=100)
    origin_commune: str | None = Field(default=None, max_length=100)
    growing_area_code: str | None = Field(default=None, max_length=64)
    packing_house_code: str | None = Field(default=None, max_length=64)  # migration 0010
    plot: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    plot_area_ha: float | None = None
    harvest_start: date | None = None
    harvest_end: date | None = None
    quantity: float | None = None
    unit: str | None = Field(default=None, max_length=3)
    created_at: datetime
    # the lot's chain head, kept in step with log_entry in the append transaction
    last_seq: int = Field(default=-1)
    head_hash: str | None = Field(default=None, max_length=64)


class LogEntry(SQLModel, table=True):
    __tablename__ = "log_entry"
    __table_args__ = (UniqueConstraint("lot_id", "seq"),)

    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    # the lot id, or for a format v2 entry its subject (``key:ed25519:<64 hex>`` is 76 characters)
    lot_id: str = Field(index=True, max_length=80)
    seq: int
    prev: str | None = Field(default=None, max_length=64)
    event: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON of the event
    event_type: str = Field(max_length=24)
    biz_step: str = Field(max_length=40, index=True)
    event_time: str = Field(max_length=40)
    signer: str = Field(max_length=80, index=True)
    sig: str = Field(max_length=100)
    leaf_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    recorded_at: datetime
    pop: str | None = Field(default=None, max_length=100)  # v2 key registration: the key's proof of possession


class TreeNode(SQLModel, table=True):
    __tablename__ = "tree_node"

    level: int = Field(primary_key=True)
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class LogHead(SQLModel, table=True):
    __tablename__ = "log_head"

    id: int = Field(default=1, primary_key=True)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    root: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    updated_at: datetime


class LotLink(SQLModel, table=True):
    """Lineage: ``output_lot`` was made from ``input_lot`` by the entry at ``entry_idx``."""

    __tablename__ = "lot_link"

    input_lot: str = Field(primary_key=True, max_length=40)
    output_lot: str = Field(primary_key=True, max_length=40, index=True)
    entry_idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))


class Meta(SQLModel, table=True):
    __tablename__ = "ledger_meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=500)


class ApiKey(SQLModel, table=True):
    """An API key of an organization: only the SHA-256 of the token is stored (see ``ledger.store.apikeys``)."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    key_id: str = Field(index=True, unique=True, max_length=24)  # public handle, e.g. ak_3f9c2a1b7d4e
    token_hash: str = Field(index=True, unique=True, min_length=64, max_length=64)  # hex SHA-256 of the token
    org_id: int = Field(foreign_key="organization.id", index=True)
    role: str = Field(max_length=12)  # producer | inspector | exporter | admin
    label: str | None = Field(default=None, max_length=100)
    created_at: datetime
    revoked_at: datetime | None = None


class Anchor(SQLModel, table=True):
    """One anchor of the log's head on chain, from intent to confirmation (``ledger/anchoring.py``).

    The intent (size, root, nonce and the signed transaction, hence its hash) is stored before the
    transaction is sent, so a crash at any point leaves a row the worker can reconcile with the chain.
    status: intent (stored, maybe sent) | sent | confirmed | failed | superseded (a larger anchor
    got there first and covers it).
    """

    __tablename__ = "anchor"
    __table_args__ = (UniqueConstraint("chain_id", "contract", "tree_size"),)

    id: int | None = Field(default=None, primary_key=True)
    chain_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    contract: str = Field(max_length=42)
    tree_size: int = Field(sa_column=Column(BigInteger, nullable=False))
    root: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status: str = Field(max_length=12, index=True)
    tx_hash: str | None = Field(default=None, max_length=66, index=True)
    raw_tx: str | None = Field(default=None, sa_column=Column(Text))
    nonce: int | None = Field(default=None, sa_column=Column(BigInteger))
    sender: str | None = Field(default=None, max_length=42)
    block_number: int | None = Field(default=None, sa_column=Column(BigInteger))
    block_time: datetime | None = None
    gas_used: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime
    updated_at: datetime
    error: str | None = Field(default=None, max_length=1000)


class Shipment(SQLModel, table=True):
    """A logistic unit (pallet, container) by its SSCC (``ledger/shipments.py``).

    Master data only: which lots are in it is derived from the signed AggregationEvents
    (``parentID`` = the SSCC's Digital Link), never from this row.
    """

    __tablename__ = "shipment"

    sscc: str = Field(primary_key=True, min_length=18, max_length=18)
    org_id: int = Field(foreign_key="organization.id", index=True)
    description: str | None = Field(default=None, max_length=200)
    destination: str | None = Field(default=None, max_length=200)
    created_at: datetime


class IdempotencyRecord(SQLModel, table=True):
    """The first answer to a write sent with an ``Idempotency-Key`` (``ledger/store/idempotency.py``).

    Written in the same transaction as the write it guards, so a write is stored if and only if
    its record is: a retry after a crash finds the record and gets the first answer back.
    """

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("org_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    key: str = Field(max_length=255)
    fingerprint: str = Field(max_length=64)  # hex SHA-256 of method, path, query and body
    status_code: int
    content_type: str | None = Field(default=None, max_length=100)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime
    expires_at: datetime = Field(index=True)


class EpcisEventIndex(SQLModel, table=True):
    """What the EPCIS 2.0 query interface filters on, one row per log entry (``ledger/exports/epcis_index.py``).

    Derived, never signed: filled from ``log_entry`` by a catch-up before each EPCIS query, so the
    append path is untouched; dropping the table loses nothing. Times are UTC, in one fixed ISO
    format, so they compare as text on both databases.
    """

    __tablename__ = "epcis_event_index"

    entry_idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    event_id: str = Field(max_length=100, index=True)  # CBV 2.0 Event Hash ID
    event_time: str = Field(max_length=32, index=True)
    record_time: str = Field(max_length=32, index=True)
    disposition: str | None = Field(default=None, max_length=200)
    read_point: str | None = Field(default=None, max_length=300)
    biz_location: str | None = Field(default=None, max_length=300)


class EpcisCaptureJob(SQLModel, table=True):
    """An EPCIS 2.0 capture job (``POST /epcis/capture``): all or nothing, finished when answered."""

    __tablename__ = "epcis_capture_job"

    capture_id: str = Field(primary_key=True, max_length=40)
    org_id: int = Field(foreign_key="organization.id", index=True)
    created_at: str = Field(max_length=32)
    finished_at: str = Field(max_length=32)
    success: bool
    captured: int = 0
    errors: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


from ledger.store import account_models  # noqa: E402, F401  (the console's tables, issue 14)
