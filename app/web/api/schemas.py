"""Shapes of the JSON API's requests and responses (they drive the OpenAPI schema)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.db.models import Job, Project, SpecVersion, User
from app.domain.outbox import job_as_dict


@dataclass
class LabelIn:
    """A label in a project's spec."""

    key: str
    name: str
    description: str | None = None
    hotkey: str | None = None


@dataclass
class RuleIn:
    """The rule for one edge-case tag."""

    tag: str
    text: str


@dataclass
class ScaleIn:
    """The scale of a numeric project."""

    min: float
    max: float
    step: float


@dataclass
class ProjectIn:
    """``POST /projects``: creates the project with spec v1 published."""

    slug: str
    name: str
    kind: str
    overlap: int = 3
    labels: list[LabelIn] = field(default_factory=list)
    rules: list[RuleIn] = field(default_factory=list)
    guidelines: str | None = None
    scale: ScaleIn | None = None
    lease_seconds: int = 900
    auto_submit: bool = False


@dataclass
class MemberIn:
    """``POST /projects/{slug}/members``."""

    email: str


@dataclass
class LabelOut:
    """A label as served."""

    key: str
    name: str
    description: str
    hotkey: str | None
    order: int


@dataclass
class SpecOut:
    """A spec version as served."""

    number: int
    status: str
    is_current: bool
    guidelines: str
    changelog: str
    labels: list[LabelOut]
    rules: list[RuleIn]
    scale: ScaleIn | None
    published_at: datetime | None


@dataclass
class ProjectOut:
    """A project as served."""

    slug: str
    name: str
    kind: str
    overlap: int
    lease_seconds: int
    auto_submit: bool
    created_at: datetime
    spec: SpecOut | None = None


@dataclass
class ProjectList:
    """``GET /projects``."""

    projects: list[ProjectOut]


@dataclass
class MemberOut:
    """A project member (emails are shown to project leads only)."""

    handle: str
    name: str
    email: str | None
    role: str
    status: str


@dataclass
class MemberList:
    """``GET /projects/{slug}/members``."""

    members: list[MemberOut]


@dataclass
class JobOut:
    """A background job's state."""

    id: str
    kind: str
    status: str
    progress: float
    error: str
    result: dict[str, Any] | None


@dataclass
class JobRef:
    """The body of every 202: which job to poll at ``GET /api/v1/jobs/{id}``."""

    job: dict[str, Any]


def project_out(
    project: Project, spec: SpecVersion | None = None, tag_names: dict[int, str] | None = None
) -> ProjectOut:
    """Serialize a project, with its spec when given."""
    return ProjectOut(
        slug=project.slug,
        name=project.name,
        kind=project.kind,
        overlap=project.overlap,
        lease_seconds=project.lease_seconds,
        auto_submit=project.auto_submit,
        created_at=project.created_at,
        spec=spec_out(spec, tag_names or {}) if spec is not None else None,
    )


def spec_out(spec: SpecVersion, tag_names: dict[int, str]) -> SpecOut:
    """Serialize a spec version."""
    scale = None
    if spec.scale_min is not None and spec.scale_max is not None and spec.scale_step:
        scale = ScaleIn(spec.scale_min, spec.scale_max, spec.scale_step)
    return SpecOut(
        number=spec.number,
        status=spec.status,
        is_current=spec.is_current,
        guidelines=spec.guidelines,
        changelog=spec.changelog,
        labels=[
            LabelOut(lbl.key, lbl.name, lbl.description, lbl.hotkey, lbl.position)
            for lbl in spec.labels
        ],
        rules=sorted(
            (RuleIn(tag_names.get(r.tag_id, "?"), r.text) for r in spec.rules), key=lambda r: r.tag
        ),
        scale=scale,
        published_at=spec.published_at,
    )


def member_out(user: User, status: str, *, show_email: bool) -> MemberOut:
    """Serialize a member."""
    return MemberOut(user.handle, user.name, user.email if show_email else None, user.role, status)


def job_out(job: Job) -> JobOut:
    """Serialize a job."""
    data = job_as_dict(job)
    return JobOut(
        data["id"], data["kind"], data["status"], data["progress"], data["error"], data["result"]
    )
