"""The two steps every lease takes, whoever serves it (the assignment engine's k-overlap pool
or a gold check): lock the item and read its labeling round, then add the assignment row."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.engine import is_sqlite
from app.db.models import Assignment, Item, Project, SpecVersion, User
from app.domain.plain_rows import insert_object


def lock_item(
    session: Session, item_id: int, *, wait: bool = True, read_round: int | None = None
) -> int | None:
    """Lock the item row against other claimers and read its labeling round (None: another
    claimer holds it, or it is gone). Read under the lock: a re-label campaign may just have
    moved it on.

    On SQLite the transaction already holds the write lock (or, in a read transaction, sees
    one snapshot), so a round ``read_round`` read earlier in the same transaction (by the
    candidate query) is still the item's round and is returned without a statement.
    """
    if is_sqlite(session):
        if read_round is not None:
            return read_round
        return session.scalar(select(Item.label_round).where(Item.id == item_id))
    # NO KEY UPDATE: inserts that merely reference the item (annotations) are not blocked.
    return session.scalar(
        select(Item.label_round)
        .where(Item.id == item_id)
        .with_for_update(key_share=True, skip_locked=not wait)
    )


def add_lease(
    session: Session,
    project: Project,
    spec: SpecVersion,
    user: User,
    item_id: int,
    *,
    label_round: int,
    slot: int,
    kind: str,
    priority: int,
    now: datetime,
) -> Assignment:
    """Insert the user's leased assignment (a unique-index violation raises here)."""
    return insert_object(
        session,
        Assignment,
        project_id=project.id,
        item_id=item_id,
        user_id=user.id,
        spec_version_id=spec.id,
        label_round=label_round,
        kind=kind,
        state="leased",
        slot=slot,
        priority=priority,
        leased_at=now,
        lease_expires_at=now + timedelta(seconds=project.lease_seconds),
    )
