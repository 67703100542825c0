"""product master data: brand, net content, zh/ja names and image hashes; a lot's packing-house code (issue 11)

Revision ID: 0010
Revises: 0009

The signed product body (format v2) already has ``names.zh``/``names.ja``, ``brand``, ``net_content``
and ``images``; these columns are the operator's working copy of them. Existing products get none
(``images`` an empty list): their signed versions said the same. A lot's ``packing_house_code`` is
the working copy of ``ocop:packingHouseCode`` in its commissioning event's ``ilmd`` (older lots: none).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE ... ADD COLUMN on both databases (no table copy: lots reference products)
    op.add_column("product", sa.Column("name_zh", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
    op.add_column("product", sa.Column("name_ja", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
    op.add_column("product", sa.Column("brand", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
    op.add_column("product", sa.Column("net_content", sa.JSON(), nullable=True))
    op.add_column("product", sa.Column("images", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    op.add_column("lot", sa.Column("packing_house_code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    # plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35 has it): a batch copy of ``product`` would drop the
    # table that lots reference, which SQLite's foreign keys refuse once there are lots
    op.drop_column("lot", "packing_house_code")
    for column in ("images", "net_content", "brand", "name_ja", "name_zh"):
        op.drop_column("product", column)
