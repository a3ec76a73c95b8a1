"""Adjudication: a lead's ruling on an item's label under a spec version, with a rationale.

Rulings are never overwritten: a new ruling on the same item and version is the next revision,
and the latest revision is the one in force (for accuracy against gold and for export consensus).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import Adjudication, Item, Project, SpecVersion, User
from app.domain.audit import record_event
from app.domain.errors import Conflict, Forbidden, InvalidInput
from app.domain.projects import current_spec
from app.domain.values import validate_value

MAX_RATIONALE_CHARS = 5_000


def adjudicate_item(
    session: Session,
    project: Project,
    item: Item,
    *,
    value: Any,
    rationale: str,
    actor: User,
) -> Adjudication:
    """Record the lead's ruling on ``item`` under the current spec version (the next revision)."""
    if actor.role not in ("lead", "admin"):
        raise Forbidden("only leads and admins adjudicate")
    if item.project_id != project.id:
        raise InvalidInput("the item is not in this project", field_errors={"item": "elsewhere"})
    spec = current_spec(session, project)
    errors: dict[str, str] = {}
    try:
        canonical = validate_value(project.kind, spec, value)
    except InvalidInput as exc:
        errors.update(exc.field_errors)
    rationale = rationale.strip()
    if not rationale:
        errors["rationale"] = "say why: annotators and later leads read it"
    elif len(rationale) > MAX_RATIONALE_CHARS:
        errors["rationale"] = f"at most {MAX_RATIONALE_CHARS} characters"
    if errors:
        raise InvalidInput("the ruling was not recorded", field_errors=errors)
    revision = 1 + (
        session.scalar(
            select(func.max(Adjudication.revision)).where(
                Adjudication.item_id == item.id, Adjudication.spec_version_id == spec.id
            )
        )
        or 0
    )
    ruling = Adjudication(
        project_id=project.id,
        item_id=item.id,
        spec_version_id=spec.id,
        user_id=actor.id,
        revision=revision,
        value=canonical,
        rationale=rationale,
    )
    try:
        with session.begin_nested():
            session.add(ruling)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "another lead ruled on this item at the same moment; reload to see their ruling",
            code="concurrent_adjudication",
        ) from exc
    record_event(
        session,
        "item.adjudicated",
        actor_id=actor.id,
        project_id=project.id,
        item_id=item.id,
        subject_type="adjudication",
        subject_id=ruling.id,
        revision=revision,
        spec_version=spec.number,
    )
    return ruling


def item_rulings(session: Session, item: Item) -> list[tuple[Adjudication, int, str]]:
    """Every ruling on the item, newest first, with its spec version number and the lead."""
    rows = session.execute(
        select(Adjudication, SpecVersion.number, User.handle)
        .join(SpecVersion, SpecVersion.id == Adjudication.spec_version_id)
        .outerjoin(User, User.id == Adjudication.user_id)
        .where(Adjudication.item_id == item.id)
        .order_by(SpecVersion.number.desc(), Adjudication.revision.desc())
    ).all()
    return [(ruling, number, handle or "(removed)") for ruling, number, handle in rows]
