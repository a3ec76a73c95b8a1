"""Gold items: project items with a known answer and an explanation, kept by leads.

``qualification`` gold makes up the qualification test (:mod:`app.domain.qualification`);
``check`` gold is mixed into everyday work (:mod:`app.domain.gold_checks`) and graded
(:mod:`app.domain.gold_grading`). Gold answers are values in the task kind's shape, validated
against the current spec. Leads add gold one by one, import rows through the API
(all-or-nothing, errors name the row), or promote an adjudicated item (the ruling in force is
the answer, its rationale the explanation). Retiring a gold item returns it to normal work.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import Adjudication, GoldItem, Item, ItemTag, Project, SpecVersion, Tag, User
from app.db.models.workforce import GOLD_PURPOSES
from app.domain.audit import record_event
from app.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.domain.gold_grading import check_answers
from app.domain.projects import current_spec
from app.domain.values import validate_value

MAX_EXPLANATION_CHARS = 5_000
MAX_GOLD_ROWS = 5_000


@dataclass(frozen=True)
class GoldInput:
    """One gold row as given: the item's external id, the answer, why, and what it is for."""

    external_id: str
    value: Any
    explanation: str = ""
    purpose: str = "check"


@dataclass(frozen=True)
class GoldImportResult:
    """What an import did: gold rows created (or revived from retirement) and left unchanged."""

    created: int
    unchanged: int


@dataclass(frozen=True)
class AccuracyRow:
    """Gold accuracy of one annotator (optionally within one tag)."""

    user_id: int
    name: str
    tag: str | None
    n: int
    correct: int

    @property
    def accuracy(self) -> float:
        """The share of correct answers (0 when there are none)."""
        return self.correct / self.n if self.n else 0.0


def _require_lead(actor: User) -> None:
    if actor.role not in ("lead", "admin"):
        raise Forbidden("only leads and admins manage gold items")


def _check_row(
    session: Session,
    project: Project,
    spec: SpecVersion,
    row: GoldInput,
    prefix: str,
) -> tuple[Item | None, Any, dict[str, str]]:
    """The row's item and canonical value, and what is wrong with the row (field -> error)."""
    errors: dict[str, str] = {}
    item = None
    if not isinstance(row.external_id, str) or not row.external_id.strip():
        errors[f"{prefix}external_id"] = "required"
    else:
        item = session.scalar(
            select(Item).where(
                Item.project_id == project.id, Item.external_id == row.external_id.strip()
            )
        )
        if item is None:
            errors[f"{prefix}external_id"] = f"no item {row.external_id!r} in this project"
    canonical = None
    try:
        canonical = validate_value(project.kind, spec, row.value, field=f"{prefix}value")
    except InvalidInput as exc:
        errors.update(exc.field_errors)
    if row.purpose not in GOLD_PURPOSES:
        errors[f"{prefix}purpose"] = f"one of {', '.join(GOLD_PURPOSES)}"
    if not isinstance(row.explanation, str) or len(row.explanation) > MAX_EXPLANATION_CHARS:
        errors[f"{prefix}explanation"] = f"at most {MAX_EXPLANATION_CHARS} characters"
    return item, canonical, errors


def _store(
    session: Session,
    project: Project,
    item: Item,
    value: Any,
    row: GoldInput,
    source: str,
    actor: User,
    now: datetime,
) -> GoldItem:
    """Create the gold row, or revive a retired one of the same item with the new answer."""
    gold = session.scalar(select(GoldItem).where(GoldItem.item_id == item.id))
    if gold is None:
        gold = GoldItem(project_id=project.id, item_id=item.id)
        session.add(gold)
    gold.value = value
    gold.explanation = row.explanation.strip()
    gold.purpose = row.purpose
    gold.source = source
    gold.created_by_id = actor.id
    gold.created_at = now
    gold.retired_at = None
    session.flush()
    record_event(
        session,
        "gold.added",
        actor_id=actor.id,
        project_id=project.id,
        item_id=item.id,
        subject_type="gold_item",
        subject_id=gold.id,
        purpose=gold.purpose,
        source=source,
    )
    return gold


def import_gold(
    session: Session,
    project: Project,
    rows: list[GoldInput],
    *,
    actor: User,
    source: str = "import",
    now: datetime | None = None,
) -> GoldImportResult:
    """Make the rows' items gold, all or nothing: any bad row (unknown item, value outside the
    spec, a repeated item, an item already gold with another answer) raises InvalidInput naming
    it (``rows[i].field``) and writes nothing. A row identical to live gold changes nothing."""
    _require_lead(actor)
    now = now or utcnow()
    if not rows:
        raise InvalidInput("no gold rows", field_errors={"rows": "send at least one row"})
    if len(rows) > MAX_GOLD_ROWS:
        raise InvalidInput(
            f"at most {MAX_GOLD_ROWS} gold rows at once", field_errors={"rows": "too many"}
        )
    spec = current_spec(session, project)
    errors: dict[str, str] = {}
    ready: list[tuple[Item, Any, GoldInput]] = []
    seen: dict[int, int] = {}
    unchanged = 0
    for i, row in enumerate(rows):
        prefix = f"rows[{i}]."
        item, value, row_errors = _check_row(session, project, spec, row, prefix)
        if item is not None and item.id in seen:
            row_errors[f"{prefix}external_id"] = f"repeats row {seen[item.id]}"
        if item is None or row_errors:
            errors.update(row_errors)
            continue
        seen[item.id] = i
        live = live_gold(session, item)
        if live is None:
            ready.append((item, value, row))
        elif (live.value, live.purpose, live.explanation) == (
            value,
            row.purpose,
            row.explanation.strip(),
        ):
            unchanged += 1
        else:
            errors[f"{prefix}external_id"] = (
                f"{item.external_id!r} is already gold with another answer; retire it first"
            )
    if errors:
        first = next(iter(errors))
        raise InvalidInput(f"no gold was saved: {first}: {errors[first]}", field_errors=errors)
    for item, value, row in ready:
        _store(session, project, item, value, row, source, actor, now)
    return GoldImportResult(len(ready), unchanged)


def add_gold(
    session: Session,
    project: Project,
    external_id: str,
    value: Any,
    explanation: str = "",
    purpose: str = "check",
    *,
    actor: User,
    now: datetime | None = None,
) -> GoldItem:
    """Make one item gold (the lead's form); Conflict if it already is."""
    _require_lead(actor)
    spec = current_spec(session, project)
    row = GoldInput(external_id, value, explanation, purpose)
    item, canonical, errors = _check_row(session, project, spec, row, "")
    if item is None or errors:
        raise InvalidInput("the gold item was not saved", field_errors=errors)
    _refuse_live_gold(session, item)
    return _store(session, project, item, canonical, row, "lead", actor, now or utcnow())


def live_gold(session: Session, item: Item) -> GoldItem | None:
    """The item's gold answer in force (None: the item is not gold, or its gold was retired)."""
    return session.scalar(
        select(GoldItem).where(GoldItem.item_id == item.id, GoldItem.retired_at.is_(None))
    )


def _refuse_live_gold(session: Session, item: Item) -> None:
    if live_gold(session, item) is not None:
        raise Conflict(
            f"item {item.external_id!r} is already gold; retire it first to change its answer",
            code="already_gold",
            details={"fields": {"external_id": "already gold"}},
        )


def retire_gold(
    session: Session,
    project: Project,
    external_id: str,
    *,
    actor: User,
    now: datetime | None = None,
) -> GoldItem:
    """Retire the item's live gold: it stops being served, graded and asked, and goes back to
    normal work. NotFound if the item is not gold."""
    _require_lead(actor)
    gold = session.scalar(
        select(GoldItem)
        .join(Item, Item.id == GoldItem.item_id)
        .where(
            GoldItem.project_id == project.id,
            Item.external_id == external_id,
            GoldItem.retired_at.is_(None),
        )
    )
    if gold is None:
        raise NotFound(f"item {external_id!r} is not gold in this project")
    gold.retired_at = now or utcnow()
    session.flush()
    record_event(
        session,
        "gold.retired",
        actor_id=actor.id,
        project_id=project.id,
        item_id=gold.item_id,
        subject_type="gold_item",
        subject_id=gold.id,
    )
    return gold


def list_gold(
    session: Session, project: Project, *, include_retired: bool = False
) -> list[tuple[GoldItem, Item]]:
    """The project's gold items with their items, oldest first."""
    query = (
        select(GoldItem, Item)
        .join(Item, Item.id == GoldItem.item_id)
        .where(GoldItem.project_id == project.id)
        .order_by(GoldItem.created_at, GoldItem.id)
    )
    if not include_retired:
        query = query.where(GoldItem.retired_at.is_(None))
    return [(gold, item) for gold, item in session.execute(query)]


def latest_ruling(session: Session, item: Item) -> Adjudication | None:
    """The ruling in force on the item: the latest revision under the latest spec version."""
    return session.scalar(
        select(Adjudication)
        .join(SpecVersion, SpecVersion.id == Adjudication.spec_version_id)
        .where(Adjudication.item_id == item.id)
        .order_by(SpecVersion.number.desc(), Adjudication.revision.desc())
        .limit(1)
    )


def promote_adjudicated(
    session: Session,
    project: Project,
    item: Item,
    *,
    purpose: str = "check",
    explanation: str = "",
    actor: User,
    now: datetime | None = None,
) -> GoldItem:
    """Make an adjudicated item gold with the ruling in force as its answer (the rationale is
    the explanation unless one is given). Conflict ``no_ruling`` without a ruling."""
    _require_lead(actor)
    if item.project_id != project.id:
        raise NotFound(f"no item {item.external_id!r} in this project")
    ruling = latest_ruling(session, item)
    if ruling is None:
        raise Conflict(
            f"item {item.external_id!r} has no ruling yet; adjudicate it first",
            code="no_ruling",
        )
    row = GoldInput(
        item.external_id, ruling.value, explanation.strip() or ruling.rationale, purpose
    )
    _, canonical, errors = _check_row(session, project, current_spec(session, project), row, "")
    if errors:
        raise InvalidInput("the item was not promoted to gold", field_errors=errors)
    _refuse_live_gold(session, item)
    return _store(session, project, item, canonical, row, "adjudication", actor, now or utcnow())


def gold_accuracy(
    session: Session, project: Project
) -> tuple[list[AccuracyRow], list[AccuracyRow]]:
    """Gold-check accuracy per annotator, and per annotator x tag (answers since each person's
    last reinstatement), both sorted by name (then tag)."""
    answers = check_answers(session, project)
    if not answers:
        return [], []
    users = {a.user_id for a in answers}
    names = {
        user.id: user.display_name
        for user in session.scalars(select(User).where(User.id.in_(sorted(users))))
    }
    item_tags: dict[int, list[str]] = defaultdict(list)
    for item_id, name in session.execute(
        select(ItemTag.item_id, Tag.name)
        .join(Tag, Tag.id == ItemTag.tag_id)
        .where(ItemTag.item_id.in_(sorted({a.item_id for a in answers})))
    ):
        item_tags[item_id].append(name)
    overall: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    by_tag: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    for answer in answers:
        for counts in [overall[answer.user_id]] + [
            by_tag[(answer.user_id, tag)] for tag in item_tags[answer.item_id]
        ]:
            counts[0] += 1
            counts[1] += int(answer.correct)
    people = [AccuracyRow(uid, names[uid], None, n, c) for uid, (n, c) in overall.items()]
    tags = [AccuracyRow(uid, names[uid], tag, n, c) for (uid, tag), (n, c) in by_tag.items()]
    return (
        sorted(people, key=lambda r: (r.name, r.user_id)),
        sorted(tags, key=lambda r: (r.name, r.user_id, r.tag or "")),
    )
