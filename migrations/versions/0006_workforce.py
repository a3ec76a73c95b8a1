"""Workforce: invites, gold items, qualification attempts, notices; project and membership rules

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 08:58:25.627890
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


PROJECT_CHECKS = {
    "qualification_pass_range": "qualification_pass > 0 AND qualification_pass <= 1",
    "qualification_size_positive": "qualification_size >= 1",
    "qualification_cooldown": "qualification_cooldown_minutes >= 0",
    "gold_share_range": "gold_share >= 0 AND gold_share <= 1",
    "gold_accuracy_bar_range": "gold_accuracy_bar >= 0 AND gold_accuracy_bar <= 1",
    "gold_min_checks_positive": "gold_min_checks >= 1",
    "daily_quota_positive": "daily_quota IS NULL OR daily_quota >= 1",
    "max_items_positive": "max_items_per_annotator IS NULL OR max_items_per_annotator >= 1",
    "max_share_range": "max_share IS NULL OR (max_share > 0 AND max_share <= 1)",
}


def upgrade() -> None:
    op.create_table(
        "invites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", app.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("accepted_user_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", app.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('annotator', 'lead')", name=op.f("ck_invites_role")),
        sa.ForeignKeyConstraint(
            ["accepted_user_id"],
            ["users.id"],
            name=op.f("fk_invites_accepted_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_invites_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_invites_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invites")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invites_token_hash")),
    )
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.create_index("ix_invites_project_id_email", ["project_id", "email"], unique=False)

    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", app.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_notices_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"],
            ["users.id"],
            name=op.f("fk_notices_resolved_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notices_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notices_project_id_resolved_at", ["project_id", "resolved_at"], unique=False
        )

    op.create_table(
        "qualification_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("started_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", app.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("n_questions", sa.Integer(), nullable=False),
        sa.Column("n_correct", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_qualification_attempts_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_qualification_attempts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qualification_attempts")),
    )
    with op.batch_alter_table("qualification_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_qualification_attempts_project_user", ["project_id", "user_id"], unique=False
        )

    op.create_table(
        "gold_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("value", _JSON, nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", app.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "purpose IN ('qualification', 'check')", name=op.f("ck_gold_items_purpose")
        ),
        sa.CheckConstraint(
            "source IN ('lead', 'adjudication', 'import')", name=op.f("ck_gold_items_source")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_gold_items_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_gold_items_item_id_items"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_gold_items_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gold_items")),
        sa.UniqueConstraint("item_id", name=op.f("uq_gold_items_item_id")),
    )
    with op.batch_alter_table("gold_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_gold_items_project_id_purpose", ["project_id", "purpose"], unique=False
        )

    op.create_table(
        "qualification_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("gold_item_id", sa.Integer(), nullable=False),
        sa.Column("value", _JSON, nullable=True),
        sa.Column("correct", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["qualification_attempts.id"],
            name=op.f("fk_qualification_answers_attempt_id_qualification_attempts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["gold_item_id"],
            ["gold_items.id"],
            name=op.f("fk_qualification_answers_gold_item_id_gold_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qualification_answers")),
        sa.UniqueConstraint(
            "attempt_id",
            "gold_item_id",
            name=op.f("uq_qualification_answers_attempt_id_gold_item_id"),
        ),
    )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.add_column(sa.Column("daily_quota", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("paused_at", app.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("paused_reason", sa.Text(), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("paused_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("reinstated_at", app.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("qualified_at", app.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_memberships_paused_by_id_users"),
            "users",
            ["paused_by_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_check_constraint(
            "daily_quota_positive", "daily_quota IS NULL OR daily_quota >= 1"
        )

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "requires_qualification", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
        batch_op.add_column(
            sa.Column("qualification_pass", sa.Float(), server_default="0.8", nullable=False)
        )
        batch_op.add_column(
            sa.Column("qualification_size", sa.Integer(), server_default="10", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "qualification_cooldown_minutes", sa.Integer(), server_default="60", nullable=False
            )
        )
        batch_op.add_column(sa.Column("gold_share", sa.Float(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("gold_accuracy_bar", sa.Float(), server_default="0.7", nullable=False)
        )
        batch_op.add_column(
            sa.Column("gold_min_checks", sa.Integer(), server_default="5", nullable=False)
        )
        batch_op.add_column(sa.Column("daily_quota", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_items_per_annotator", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_share", sa.Float(), nullable=True))
        for name, condition in PROJECT_CHECKS.items():
            batch_op.create_check_constraint(name, condition)


def downgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        for name in PROJECT_CHECKS:
            batch_op.drop_constraint(batch_op.f(f"ck_projects_{name}"), type_="check")
        batch_op.drop_column("max_share")
        batch_op.drop_column("max_items_per_annotator")
        batch_op.drop_column("daily_quota")
        batch_op.drop_column("gold_min_checks")
        batch_op.drop_column("gold_accuracy_bar")
        batch_op.drop_column("gold_share")
        batch_op.drop_column("qualification_cooldown_minutes")
        batch_op.drop_column("qualification_size")
        batch_op.drop_column("qualification_pass")
        batch_op.drop_column("requires_qualification")

    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_memberships_daily_quota_positive"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_memberships_paused_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_column("qualified_at")
        batch_op.drop_column("reinstated_at")
        batch_op.drop_column("paused_by_id")
        batch_op.drop_column("paused_reason")
        batch_op.drop_column("paused_at")
        batch_op.drop_column("daily_quota")

    op.drop_table("qualification_answers")
    with op.batch_alter_table("gold_items", schema=None) as batch_op:
        batch_op.drop_index("ix_gold_items_project_id_purpose")

    op.drop_table("gold_items")
    with op.batch_alter_table("qualification_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_qualification_attempts_project_user")

    op.drop_table("qualification_attempts")
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index("ix_notices_project_id_resolved_at")

    op.drop_table("notices")
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.drop_index("ix_invites_project_id_email")

    op.drop_table("invites")
