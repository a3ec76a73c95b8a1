"""The tagged items' labels kept between readers

Every edge-case tag's slice is measured from the labels in force on tagged items, which a
streamed export must read before its first row: a second on a million items, paid again after
every new label. They are now kept per project with what they were read at, and the next
reader adds the labels made and drops those retracted since.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kept_tagged_labels",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("inputs", sa.String(length=64), nullable=False),
        sa.Column("annotations", sa.Integer(), nullable=False),
        sa.Column("retractions", sa.Integer(), nullable=False),
        sa.Column("last_annotation_id", sa.Integer(), nullable=False),
        sa.Column("ratings", sa.LargeBinary(), nullable=False),
        sa.Column("tags", sa.LargeBinary(), nullable=False),
        sa.Column("kept_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_kept_tagged_labels_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_kept_tagged_labels")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Parquet is compressed already: compressing it again on every write cost a tenth of
        # a second on a million items, for nothing.
        for column in ("ratings", "tags"):
            op.execute(f"ALTER TABLE kept_tagged_labels ALTER COLUMN {column} SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("kept_tagged_labels")
