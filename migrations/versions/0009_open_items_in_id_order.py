"""The index of open items carries the item id as its last key

The assignment engine walks a project's open plain items in id order and stops at the first
few eligible ones. SQLite's index entries end with the rowid, so (project_id, priority) was
already in that order there; PostgreSQL orders equal keys by their place in the heap, so it
read every open item of the project and sorted them on every lease (165 ms at 100,000 items).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _open_items_index(name: str, columns: list[str]) -> None:
    op.create_index(
        name,
        "items",
        columns,
        sqlite_where=sa.text("is_full = 0"),
        postgresql_where=sa.text("NOT is_full"),
    )


def upgrade() -> None:
    op.drop_index("ix_items_open_project_id_priority", table_name="items")
    _open_items_index("ix_items_open_project_id_priority_id", ["project_id", "priority", "id"])


def downgrade() -> None:
    op.drop_index("ix_items_open_project_id_priority_id", table_name="items")
    _open_items_index("ix_items_open_project_id_priority", ["project_id", "priority"])
