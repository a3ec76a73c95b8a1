"""Projects: creating one with its first published spec, finding them, and who may reach them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import Select, and_, bindparam, inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.db.base import utcnow
from app.db.engine import execute_core
from app.db.models import Membership, Project, SpecLabel, SpecRule, SpecVersion, Tag, User
from app.db.models.projects import TASK_KINDS
from app.db.per_transaction import per_transaction
from app.domain.audit import record_event
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.plain_rows import all_columns, joined_object, object_for_row

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")
KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
TAG_RE = re.compile(r"^[a-z0-9_][a-z0-9_-]{0,63}$")


@dataclass
class LabelInput:
    """A label as given by a lead."""

    key: str
    name: str
    description: str = ""
    hotkey: str | None = None


@dataclass
class ProjectInput:
    """Everything needed to create a project and publish its spec v1."""

    slug: str
    name: str
    kind: str
    overlap: int = 3
    labels: list[LabelInput] = field(default_factory=list)
    rules: dict[str, str] = field(default_factory=dict)
    guidelines: str = ""
    scale: dict[str, float] | None = None
    lease_seconds: int = 900
    description: str = ""
    auto_submit: bool = False


def _validate(data: ProjectInput) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not SLUG_RE.match(data.slug):
        errors["slug"] = "3-64 characters: lower-case letters, digits and dashes"
    if not data.name.strip() or len(data.name) > 200:
        errors["name"] = "required, at most 200 characters"
    if data.kind not in TASK_KINDS:
        errors["kind"] = f"must be one of {', '.join(TASK_KINDS)}"
    if not 1 <= data.overlap <= 50:
        errors["overlap"] = "must be between 1 and 50"
    if not 30 <= data.lease_seconds <= 86_400:
        errors["lease_seconds"] = "must be between 30 and 86400"
    if data.auto_submit and data.kind != "single_choice":
        errors["auto_submit"] = "only single_choice projects can submit on a label's key"
    if data.kind == "numeric":
        scale = data.scale or {}
        try:
            low, high, step = float(scale["min"]), float(scale["max"]), float(scale["step"])
        except (KeyError, TypeError, ValueError):
            errors["scale"] = "numeric projects need scale {min, max, step} as numbers"
        else:
            if not (low < high and step > 0):
                errors["scale"] = "need min < max and step > 0"
        if data.labels:
            errors["labels"] = "numeric projects take a scale, not labels"
    elif data.kind in TASK_KINDS:
        if len(data.labels) < 2:
            errors["labels"] = "at least two labels"
        keys, hotkeys = set(), set()
        for i, label in enumerate(data.labels):
            if not KEY_RE.match(label.key):
                errors[f"labels[{i}].key"] = "letters, digits, _ . - (at most 64)"
            elif label.key in keys:
                errors[f"labels[{i}].key"] = f"duplicate key {label.key!r}"
            keys.add(label.key)
            if not label.name.strip() or len(label.name) > 200:
                errors[f"labels[{i}].name"] = "required, at most 200 characters"
            if label.hotkey is not None:
                if len(label.hotkey) != 1 or label.hotkey in "?hsu ":
                    errors[f"labels[{i}].hotkey"] = "one character, not ? h s u or space"
                elif label.hotkey in hotkeys:
                    errors[f"labels[{i}].hotkey"] = f"duplicate hotkey {label.hotkey!r}"
                hotkeys.add(label.hotkey)
    for tag in data.rules:
        if not TAG_RE.match(tag):
            errors[f"rules.{tag}"] = "tag names are lower-case letters, digits, _ and -"
        elif not data.rules[tag].strip():
            errors[f"rules.{tag}"] = "rule text is empty"
    return errors


def create_project(session: Session, data: ProjectInput, *, actor: User) -> Project:
    """Create a project with spec v1 published and its creator as a member."""
    errors = _validate(data)
    if errors:
        raise InvalidInput("the project could not be created", field_errors=errors)
    if session.scalar(select(Project.id).where(Project.slug == data.slug)) is not None:
        raise Conflict(
            f"a project with slug {data.slug!r} already exists",
            details={"fields": {"slug": "taken"}},
        )
    project = Project(
        slug=data.slug,
        name=data.name.strip(),
        kind=data.kind,
        overlap=data.overlap,
        lease_seconds=data.lease_seconds,
        auto_submit=data.auto_submit,
        description=data.description,
        created_by_id=actor.id,
    )
    session.add(project)
    session.flush()
    now = utcnow()
    spec = SpecVersion(
        project_id=project.id,
        number=1,
        status="published",
        is_current=True,
        guidelines=data.guidelines,
        changelog="First version.",
        created_by_id=actor.id,
        published_at=now,
        published_by_id=actor.id,
    )
    if data.kind == "numeric" and data.scale:
        spec.scale_min = float(data.scale["min"])
        spec.scale_max = float(data.scale["max"])
        spec.scale_step = float(data.scale["step"])
    hotkeys = iter("123456789")
    spec.labels = [
        SpecLabel(
            key=label.key,
            name=label.name.strip(),
            description=label.description,
            hotkey=label.hotkey or next(hotkeys, None),
            position=i,
        )
        for i, label in enumerate(data.labels)
    ]
    for tag_name, text in sorted(data.rules.items()):
        tag = Tag(project_id=project.id, name=tag_name)
        session.add(tag)
        session.flush()
        spec.rules.append(SpecRule(tag_id=tag.id, text=text.strip()))
    session.add(spec)
    session.add(Membership(project_id=project.id, user_id=actor.id, added_by_id=actor.id))
    session.flush()
    record_event(
        session,
        "project.created",
        actor_id=actor.id,
        project_id=project.id,
        subject_type="project",
        subject_id=project.id,
        slug=project.slug,
    )
    return project


def get_project(session: Session, slug: str, *, member: User | None = None) -> Project:
    """The project with this slug, or NotFound.

    With ``member``, that person's membership is read in the same statement and remembered
    as :func:`membership_of` would (a request that looks up a project then checks who may
    reach it saves a round trip).
    """
    project = _project_with_membership(session, "slug", slug, member)
    if project is None:
        raise NotFound(f"no project {slug!r}")
    return project


def project_of_member(session: Session, project_id: int, member: User) -> Project:
    """The project with this id (it must exist), read with ``member``'s membership as
    :func:`get_project` does."""
    if (member.id, project_id) in session.info.get(REACH, {}):
        project = session.get(Project, project_id)  # read already in this transaction
    else:
        project = _project_with_membership(session, "id", project_id, member)
    if project is None:
        raise NotFound(f"no project with id {project_id}")
    return project


_PROJECT_COLUMNS = all_columns(Project)
_MEMBERSHIP_COLUMNS = all_columns(Membership)
_SPEC_COLUMNS = all_columns(SpecVersion)


@cache
def _project_alone(column: str) -> Select[*tuple[Any, ...]]:
    """The project whose ``column`` equals the ``key`` parameter (built once)."""
    return select(*_PROJECT_COLUMNS).where(getattr(Project, column) == bindparam("key"))


@cache
def _project_and_membership(column: str) -> Select[*tuple[Any, ...]]:
    """:func:`_project_alone` with the membership of the ``member_id`` parameter's user
    (built once: the labeling loop reads it on every request)."""
    return (
        select(*_PROJECT_COLUMNS, *_MEMBERSHIP_COLUMNS)
        .outerjoin(
            Membership,
            and_(Membership.project_id == Project.id, Membership.user_id == bindparam("member_id")),
        )
        .where(getattr(Project, column) == bindparam("key"))
    )


def _project_with_membership(
    session: Session, column: str, key: str | int, member: User | None
) -> Project | None:
    if member is None:
        row = execute_core(session, _project_alone(column), {"key": key}).first()
        return None if row is None else object_for_row(session, Project, row)
    row = execute_core(
        session, _project_and_membership(column), {"key": key, "member_id": member.id}
    ).first()
    if row is None:
        return None
    width = len(_PROJECT_COLUMNS)
    project = object_for_row(session, Project, row[:width])
    membership = joined_object(session, Membership, row[width:])
    # An entry already remembered is the session's own (maybe changed) object: keep it.
    session.info.setdefault(REACH, {}).setdefault((member.id, project.id), membership)
    return project


_CURRENT_SPEC = (
    select(*_SPEC_COLUMNS, *all_columns(SpecLabel))
    .outerjoin(SpecLabel, SpecLabel.spec_version_id == SpecVersion.id)
    .where(SpecVersion.project_id == bindparam("project_id"), SpecVersion.is_current)
)
"""The current version with its labels, in one statement (a row per label)."""
CURRENT_SPECS = per_transaction("accord_current_specs")
"""``session.info`` key: the current spec per project id, remembered for one transaction."""
REACH = per_transaction("accord_reach")
"""``session.info`` key: memberships by (user, project), remembered for one transaction."""


def current_spec(session: Session, project: Project) -> SpecVersion:
    """The project's current published spec version.

    Remembered until the transaction ends, which also keeps the object, its labels and rules
    in the identity map instead of loading them again for every use;
    :func:`app.domain.specs.publish_spec` forgets it.
    """
    remembered: dict[int, SpecVersion] = session.info.setdefault(CURRENT_SPECS, {})
    spec = remembered.get(project.id)
    if spec is not None:
        return spec
    rows = execute_core(session, _CURRENT_SPEC, {"project_id": project.id}).all()
    if not rows:
        raise NotFound(f"project {project.slug!r} has no published spec")
    width = len(_SPEC_COLUMNS)
    spec = object_for_row(session, SpecVersion, rows[0][:width])
    found = (joined_object(session, SpecLabel, row[width:]) for row in rows)
    labels = [label for label in found if label is not None]
    if "labels" in inspect(spec).unloaded:  # as a joined load: a loaded collection is kept
        set_committed_value(spec, "labels", sorted(labels, key=lambda label: label.position))
    remembered[project.id] = spec
    return spec


def visible_projects(session: Session, user: User) -> list[Project]:
    """Projects the user may see: all for admins, else those they are an active member of."""
    query = select(Project).where(Project.archived_at.is_(None)).order_by(Project.name)
    if user.role != "admin":
        query = query.join(Membership, Membership.project_id == Project.id).where(
            Membership.user_id == user.id, Membership.status == "active"
        )
    return list(session.scalars(query))


def membership_of(session: Session, user_id: int, project_id: int) -> Membership | None:
    """The person's membership of the project (None: not a member).

    Remembered until the transaction ends, like the current spec: a request checks it at the
    door, the assignment engine again for its work gate. The object is the session's own, so a
    pause in the same transaction shows at once; adding or removing a membership forgets it
    (:func:`forget_membership`).
    """
    remembered: dict[tuple[int, int], Membership | None] = session.info.setdefault(REACH, {})
    key = (user_id, project_id)
    if key not in remembered:
        remembered[key] = session.scalar(
            select(Membership).where(
                Membership.project_id == project_id, Membership.user_id == user_id
            )
        )
    return remembered[key]


def forget_membership(session: Session, user_id: int, project_id: int) -> None:
    """Drop the remembered membership after it was created or deleted."""
    session.info.get(REACH, {}).pop((user_id, project_id), None)


def can_reach(session: Session, user: User, project: Project) -> bool:
    """True if the user may see the project (admin, or an active member)."""
    if user.role == "admin":
        return True
    membership = membership_of(session, user.id, project.id)
    return membership is not None and membership.status == "active"


def add_member(session: Session, project: Project, user: User, *, actor_id: int | None) -> bool:
    """Make the user an active member; returns False if they already were."""
    membership = membership_of(session, user.id, project.id)
    if membership is not None and membership.status == "active":
        return False
    if membership is None:
        session.add(Membership(project_id=project.id, user_id=user.id, added_by_id=actor_id))
    else:
        membership.status = "active"
    session.flush()
    forget_membership(session, user.id, project.id)
    record_event(
        session,
        "project.member_added",
        actor_id=actor_id,
        project_id=project.id,
        subject_type="user",
        subject_id=user.id,
    )
    return True


def list_members(session: Session, project: Project) -> list[tuple[User, Membership]]:
    """Members of the project with their membership rows, by name."""
    rows = session.execute(
        select(User, Membership)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.project_id == project.id)
        .order_by(User.role, User.email)
    )
    return [(user, membership) for user, membership in rows]


def project_input_from_json(body: dict[str, Any]) -> ProjectInput:
    """Build a ProjectInput from PRODUCT.md's ``POST /projects`` body, naming bad fields."""
    errors: dict[str, str] = {}
    labels: list[LabelInput] = []
    for i, raw in enumerate(body.get("labels") or []):
        if not isinstance(raw, dict) or not isinstance(raw.get("key"), str):
            errors[f"labels[{i}]"] = "each label is an object with at least key and name"
            continue
        labels.append(
            LabelInput(
                key=raw["key"],
                name=str(raw.get("name") or raw["key"]),
                description=str(raw.get("description") or ""),
                hotkey=(str(raw["hotkey"]) if raw.get("hotkey") is not None else None),
            )
        )
    rules: dict[str, str] = {}
    for i, raw in enumerate(body.get("rules") or []):
        if not isinstance(raw, dict) or not isinstance(raw.get("tag"), str):
            errors[f"rules[{i}]"] = "each rule is an object {tag, text}"
            continue
        if raw["tag"] in rules:
            errors[f"rules[{i}].tag"] = f"a second rule for tag {raw['tag']!r}"
        rules[raw["tag"]] = str(raw.get("text") or "")
    for name in ("slug", "name", "kind"):
        if not isinstance(body.get(name), str):
            errors[name] = "required string"
    overlap = body.get("overlap", 3)
    if not isinstance(overlap, int) or isinstance(overlap, bool):
        errors["overlap"] = "must be a whole number"
    if errors:
        raise InvalidInput("the project could not be created", field_errors=errors)
    return ProjectInput(
        slug=body["slug"],
        name=body["name"],
        kind=body["kind"],
        overlap=overlap,
        labels=labels,
        rules=rules,
        guidelines=str(body.get("guidelines") or ""),
        scale=body.get("scale"),
        lease_seconds=int(body.get("lease_seconds", 900)),
        auto_submit=bool(body.get("auto_submit", False)),
    )


def tag_names(session: Session, project: Project) -> dict[int, str]:
    """The project's tags by id."""
    rows = session.execute(select(Tag.id, Tag.name).where(Tag.project_id == project.id))
    return {tag_id: name for tag_id, name in rows}
