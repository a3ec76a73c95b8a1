"""labeling rounds, re-label campaigns and hotspots

Items, assignments and annotations get a labeling round: k assignments per item per round, and
a re-label campaign moves only the items a spec change affects into a new round (before, every
published version reopened every item). Existing rows take their spec version's number as their
round and items the current version's number, which keeps what was counted before unchanged.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 06:06:23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIVE = sa.text("state IN ('leased', 'submitted')")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_TIME = app.db.base.UTCDateTime(timezone=True)


def _round_column() -> sa.Column[int]:
    return sa.Column("label_round", sa.Integer(), server_default="1", nullable=False)


def _active_indexes(key: str) -> None:
    for name, last in (
        ("uq_assignments_active_slot", "slot"),
        ("uq_assignments_active_annotator", "user_id"),
    ):
        op.drop_index(
            name, table_name="assignments", sqlite_where=_ACTIVE, postgresql_where=_ACTIVE
        )
        op.create_index(
            name,
            "assignments",
            ["item_id", key, last],
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        )


def upgrade() -> None:
    for table in ("items", "assignments", "annotations"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(_round_column())
    # Constant statements (no input): each row takes its spec version's number as its round.
    op.execute(
        "UPDATE assignments SET label_round = (SELECT number FROM spec_versions"
        " WHERE spec_versions.id = assignments.spec_version_id)"
    )
    op.execute(
        "UPDATE annotations SET label_round = (SELECT number FROM spec_versions"
        " WHERE spec_versions.id = annotations.spec_version_id)"
    )
    op.execute(
        "UPDATE items SET label_round = COALESCE((SELECT number FROM spec_versions"
        " WHERE spec_versions.project_id = items.project_id AND spec_versions.is_current), 1)"
    )
    _active_indexes("label_round")

    op.create_table(
        "relabel_campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("spec_version_id", sa.Integer(), nullable=False),
        sa.Column("previous_spec_version_id", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("n_items", sa.Integer(), nullable=False),
        sa.Column("overlap", sa.Integer(), nullable=False),
        sa.Column("impact", _JSON, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.CheckConstraint("n_items >= 0", name=op.f("ck_relabel_campaigns_n_items_nonnegative")),
        sa.ForeignKeyConstraint(
            ["previous_spec_version_id"],
            ["spec_versions.id"],
            name=op.f("fk_relabel_campaigns_previous_spec_version_id_spec_versions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_relabel_campaigns_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["spec_version_id"],
            ["spec_versions.id"],
            name=op.f("fk_relabel_campaigns_spec_version_id_spec_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relabel_campaigns")),
        sa.UniqueConstraint("spec_version_id", name=op.f("uq_relabel_campaigns_spec_version_id")),
    )
    op.create_table(
        "relabel_items",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("stale_round", sa.Integer(), nullable=False),
        sa.Column("reasons", _JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["relabel_campaigns.id"],
            name=op.f("fk_relabel_items_campaign_id_relabel_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
            name=op.f("fk_relabel_items_item_id_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "item_id", name=op.f("pk_relabel_items")),
    )
    op.create_index("ix_relabel_items_item_id", "relabel_items", ["item_id"])

    op.create_table(
        "hotspots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("labels", _JSON, nullable=False),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("alpha", sa.Float(), nullable=True),
        sa.Column("ci_low", sa.Float(), nullable=True),
        sa.Column("ci_high", sa.Float(), nullable=True),
        sa.Column("n_items", sa.Integer(), nullable=False),
        sa.Column("n_pairable", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("evidence", _JSON, nullable=False),
        sa.Column("spec_version_id", sa.Integer(), nullable=True),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("addressed_by_number", sa.Integer(), nullable=True),
        sa.Column("status_changed_at", _TIME, nullable=True),
        sa.Column("status_changed_by_id", sa.Integer(), nullable=True),
        sa.Column("first_seen_at", _TIME, nullable=False),
        sa.Column("last_seen_at", _TIME, nullable=False),
        sa.Column("last_scan_job_id", sa.String(length=36), nullable=True),
        sa.CheckConstraint("scope IN ('tag', 'annotator')", name=op.f("ck_hotspots_scope")),
        sa.CheckConstraint(
            "status IN ('open', 'acknowledged', 'addressed', 'dismissed')",
            name=op.f("ck_hotspots_status"),
        ),
        sa.CheckConstraint(
            "verdict IN ('spec_ambiguity', 'annotator_noise', 'hard_items')",
            name=op.f("ck_hotspots_verdict"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_hotspots_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["spec_version_id"],
            ["spec_versions.id"],
            name=op.f("fk_hotspots_spec_version_id_spec_versions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["status_changed_by_id"],
            ["users.id"],
            name=op.f("fk_hotspots_status_changed_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_hotspots_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_hotspots_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hotspots")),
        sa.UniqueConstraint("project_id", "key", name=op.f("uq_hotspots_project_id_key")),
    )


def downgrade() -> None:
    op.drop_table("hotspots")
    op.drop_index("ix_relabel_items_item_id", table_name="relabel_items")
    op.drop_table("relabel_items")
    op.drop_table("relabel_campaigns")
    _active_indexes("spec_version_id")
    for table in ("annotations", "assignments", "items"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("label_round")
