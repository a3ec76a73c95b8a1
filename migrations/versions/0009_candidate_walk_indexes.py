"""Indexes for the candidate walk: open items in serving order within a priority
(project_id, priority, created_at, id), and assignments by (item_id, user_id)

The assignment engine walks a project's open items one priority at a time, oldest first, and
stops at the first few eligible ones. With (project_id, priority) alone, PostgreSQL (which keeps
equal keys in heap order, not id order) read and sorted every open item of the project on every
lease, 165 ms at 100,000 items, and both databases sorted every re-label item (108 ms on SQLite
with 50,000 items sent back). Whether the annotator already had an item was answered by listing
all their items every lease (12.5 ms for someone with 20,000 labels); it is now probed per
walked item, by the item's own labels and assignments.

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
    _open_items_index(
        "ix_items_open_project_id_priority_created_at_id",
        ["project_id", "priority", "created_at", "id"],
    )
    op.create_index("ix_assignments_item_id_user_id", "assignments", ["item_id", "user_id"])


def downgrade() -> None:
    op.drop_index("ix_assignments_item_id_user_id", table_name="assignments")
    op.drop_index("ix_items_open_project_id_priority_created_at_id", table_name="items")
    _open_items_index("ix_items_open_project_id_priority", ["project_id", "priority"])
