"""Workforce management: invites, gold items, qualification attempts and notices to leads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, JSONType, utcnow

GOLD_PURPOSES = ("qualification", "check")


class Invite(Base):
    """A single-use, expiring link that brings a person onto a project.

    The link carries a random token; the table keeps its SHA-256 only. Accepting sets the
    person's password (creating the user if needed) and makes them an active member.
    """

    __tablename__ = "invites"
    __table_args__ = (
        CheckConstraint("role IN ('annotator', 'lead')", name="role"),
        Index("ix_invites_project_id_email", "project_id", "email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20), default="annotator")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    accepted_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    revoked_at: Mapped[datetime | None]


class GoldItem(Base):
    """An item with a known answer and an explanation.

    ``qualification`` gold makes up the test a new annotator passes before real work;
    ``check`` gold is mixed into everyday work (a project's ``gold_share`` of leases) to track
    accuracy. Gold items are outside the k-overlap pool: every annotator may meet each one once.
    """

    __tablename__ = "gold_items"
    __table_args__ = (
        UniqueConstraint("item_id"),
        CheckConstraint("purpose IN ('qualification', 'check')", name="purpose"),
        CheckConstraint("source IN ('lead', 'adjudication', 'import')", name="source"),
        Index("ix_gold_items_project_id_purpose", "project_id", "purpose"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(20), default="check")
    value: Mapped[Any] = mapped_column(JSONType)
    explanation: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(20), default="lead")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]


class QualificationAttempt(Base):
    """One try at a project's qualification test, graded when submitted."""

    __tablename__ = "qualification_attempts"
    __table_args__ = (Index("ix_qualification_attempts_project_user", "project_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    n_questions: Mapped[int] = mapped_column(default=0)
    n_correct: Mapped[int] = mapped_column(default=0)
    passed: Mapped[bool | None]


class QualificationAnswer(Base):
    """One answer in a qualification attempt (kept apart from annotations: test answers are
    not labels and never count for agreement or export)."""

    __tablename__ = "qualification_answers"
    __table_args__ = (UniqueConstraint("attempt_id", "gold_item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(
        ForeignKey("qualification_attempts.id", ondelete="CASCADE")
    )
    gold_item_id: Mapped[int] = mapped_column(ForeignKey("gold_items.id", ondelete="CASCADE"))
    value: Mapped[Any | None] = mapped_column(JSONType)
    """None until answered: the questions of an attempt are drawn when it starts."""
    correct: Mapped[bool | None]


class Notice(Base):
    """Something a project's leads should look at (an annotator paused by gold accuracy),
    open until a lead resolves it."""

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_project_id_resolved_at", "project_id", "resolved_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
