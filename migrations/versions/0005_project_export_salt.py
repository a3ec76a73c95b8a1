"""projects.export_salt (the key of pseudonymous annotator ids in exports) and snapshots

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 07:35:00
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_TIME = app.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("export_salt", sa.String(length=32), nullable=True))
    projects = sa.table("projects", sa.column("id", sa.Integer), sa.column("export_salt"))
    connection = op.get_bind()
    for (project_id,) in connection.execute(sa.select(projects.c.id)).all():
        connection.execute(
            projects.update()
            .where(projects.c.id == project_id)
            .values(export_salt=secrets.token_hex(16))
        )
    with op.batch_alter_table("projects") as batch:
        batch.alter_column("export_salt", existing_type=sa.String(length=32), nullable=False)
    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("parameters", _JSON, nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("n_rows", sa.Integer(), nullable=True),
        sa.Column("n_bytes", sa.Integer(), nullable=True),
        sa.Column("manifest", _JSON, nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("finished_at", _TIME, nullable=True),
        sa.CheckConstraint(
            "format IN ('jsonl', 'csv', 'parquet')", name=op.f("ck_snapshots_format")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'ready', 'failed')", name=op.f("ck_snapshots_status")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_snapshots_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_snapshots_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshots")),
    )


def downgrade() -> None:
    op.drop_table("snapshots")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("export_salt")
