"""items.is_full and an index of open items by (project_id, priority) for the assignment engine

The engine walks a project's items that still have free slots, in priority then id order,
without reading other projects' items or stepping over full ones.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 04:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(
            sa.Column("is_full", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_index(
        "ix_items_open_project_id_priority",
        "items",
        ["project_id", "priority"],
        sqlite_where=sa.text("is_full = 0"),
        postgresql_where=sa.text("NOT is_full"),
    )
    # Items are marked full as they fill up from now on; existing ones stay "maybe open", which
    # is always safe: the engine still counts their slots.


def downgrade() -> None:
    op.drop_index("ix_items_open_project_id_priority", table_name="items")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("is_full")
