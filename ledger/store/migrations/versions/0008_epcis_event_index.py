"""Organization GLN; EPCIS query index (derived from log_entry; filled by a catch-up before EPCIS queries), capture jobs

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.add_column(sa.Column("gln", _STR(length=13), nullable=True))
        batch_op.create_unique_constraint("uq_organization_gln", ["gln"])
    op.create_table(
        "epcis_event_index",
        sa.Column("entry_idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_id", _STR(length=100), nullable=False),
        sa.Column("event_time", _STR(length=32), nullable=False),
        sa.Column("record_time", _STR(length=32), nullable=False),
        sa.Column("disposition", _STR(length=200), nullable=True),
        sa.Column("read_point", _STR(length=300), nullable=True),
        sa.Column("biz_location", _STR(length=300), nullable=True),
        sa.PrimaryKeyConstraint("entry_idx"),
    )
    with op.batch_alter_table("epcis_event_index", schema=None) as batch_op:
        for col in ("event_id", "event_time", "record_time"):
            batch_op.create_index(batch_op.f(f"ix_epcis_event_index_{col}"), [col], unique=False)
    op.create_table(
        "epcis_capture_job",
        sa.Column("capture_id", _STR(length=40), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("created_at", _STR(length=32), nullable=False),
        sa.Column("finished_at", _STR(length=32), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("captured", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organization.id"]),
        sa.PrimaryKeyConstraint("capture_id"),
    )
    with op.batch_alter_table("epcis_capture_job", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_epcis_capture_job_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("epcis_capture_job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_epcis_capture_job_org_id"))
    op.drop_table("epcis_capture_job")
    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.drop_constraint("uq_organization_gln", type_="unique")
        batch_op.drop_column("gln")
    with op.batch_alter_table("epcis_event_index", schema=None) as batch_op:
        for col in ("event_id", "event_time", "record_time"):
            batch_op.drop_index(batch_op.f(f"ix_epcis_event_index_{col}"))
    op.drop_table("epcis_event_index")
