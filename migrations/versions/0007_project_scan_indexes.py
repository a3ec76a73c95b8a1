"""Indexes for reads that scanned a whole project: retracted annotations, items by split

Agreement reports are cached under a watermark that must move with every retraction; reading
the latest retraction of a project from a small partial index costs a lookup, not a scan of
the project's annotations. Exports compare train items with the project's eval and holdout
texts; an index by (project, split) finds those few items without reading every item.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 11:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_annotations_retracted_project_id",
        "annotations",
        ["project_id", "retracted_at"],
        sqlite_where=sa.text("retracted_at IS NOT NULL"),
        postgresql_where=sa.text("retracted_at IS NOT NULL"),
    )
    op.create_index("ix_items_project_id_split", "items", ["project_id", "split"])


def downgrade() -> None:
    op.drop_index("ix_items_project_id_split", table_name="items")
    op.drop_index("ix_annotations_retracted_project_id", table_name="annotations")
