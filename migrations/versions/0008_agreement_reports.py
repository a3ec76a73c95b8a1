"""Agreement reports stored for every process to share

A report over millions of labels takes seconds to compute; each web process and worker kept its
own copy in memory, so the first export, snapshot or dashboard in every process paid for it
again. The latest report per project and parameters is now kept with the watermark it was
computed under.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agreement_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("parameters", sa.String(length=200), nullable=False),
        sa.Column("watermark", sa.String(length=64), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("computed_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_agreement_reports_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_reports")),
        sa.UniqueConstraint(
            "project_id", "parameters", name=op.f("uq_agreement_reports_project_id_parameters")
        ),
    )


def downgrade() -> None:
    op.drop_table("agreement_reports")
