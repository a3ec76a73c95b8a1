"""items (project_id, priority): the assignment engine's walk, without reading other projects

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 04:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_items_project_id_priority", "items", ["project_id", "priority"])


def downgrade() -> None:
    op.drop_index("ix_items_project_id_priority", table_name="items")
