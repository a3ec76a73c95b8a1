"""Appending to the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.db.models import AuditEvent


def record_event(
    session: Session,
    action: str,
    *,
    actor_id: int | None,
    project_id: int | None = None,
    item_id: int | None = None,
    subject_type: str = "",
    subject_id: str | int = "",
    **details: Any,
) -> AuditEvent:
    """Append one audit event (in the caller's transaction)."""
    event = AuditEvent(
        action=action,
        actor_id=actor_id,
        project_id=project_id,
        item_id=item_id,
        subject_type=subject_type,
        subject_id=str(subject_id),
        details=details,
    )
    session.add(event)
    session.flush()
    return event
