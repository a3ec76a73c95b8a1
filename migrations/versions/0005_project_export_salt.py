"""projects.export_salt: the key of each project's pseudonymous annotator ids in exports

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 07:35:00
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


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


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("export_salt")
