"""format v2 entries in the log: subjects up to 80 characters and a key registration's proof of possession

Revision ID: 0009
Revises: 0008

The data step (organizations, keys and products of an older ledger written into the log as v2
entries) needs the master key, so it runs at ``Ledger.open`` (``ledger.store.masterdata_log.backfill``), once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("log_entry", schema=None) as batch_op:
        batch_op.alter_column("lot_id", existing_type=sa.String(length=40), type_=sa.String(length=80))
        batch_op.add_column(sa.Column("pop", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("log_entry", schema=None) as batch_op:
        batch_op.drop_column("pop")
        batch_op.alter_column("lot_id", existing_type=sa.String(length=80), type_=sa.String(length=40))
