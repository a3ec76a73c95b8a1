"""``/api/v1/projects/{slug}/specs``: list, draft, edit, diff and publish spec versions.

Reads need ``projects:read`` and show drafts to leads and admins only; writes need
``projects:write`` and a lead or admin. Drafts are edited with optimistic locking: send the
``edit_version`` you read; a stale one is a 409 ``stale_version``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, JSONBody
from sqlalchemy.orm import Session

from app.db.models import Project, SpecVersion
from app.domain.errors import NotFound
from app.domain.spec_diff import SpecDiff
from app.domain.spec_input import EDITABLE_FIELDS
from app.domain.specs import (
    create_draft,
    diff_specs,
    get_spec,
    list_specs,
    publish_spec,
    spec_snapshot,
    update_draft,
)
from app.domain.tokens import TokenGrant
from app.web.api.projects import is_lead, project_for, require_lead
from app.web.api.schemas import LabelOut, RuleIn, ScaleIn, job_out
from app.web.auth import token_scope
from app.web.deps import Db, Grant


@dataclass
class LabelEdit:
    """A label of a draft; without ``order`` the list order is the label order."""

    key: str | None = None
    name: str | None = None
    description: str | None = None
    hotkey: str | None = None
    order: int | None = None


@dataclass
class DraftIn:
    """``POST .../specs``: open a draft from the current version (or ``from_number``), with
    optional first changes."""

    from_number: int | None = None
    guidelines: str | None = None
    changelog: str | None = None
    labels: list[LabelEdit] | None = None
    rules: list[RuleIn] | None = None
    scale: ScaleIn | None = None


@dataclass
class DraftEditIn:
    """``PATCH .../specs/{n}``: the fields to replace, and the ``edit_version`` you read."""

    edit_version: int
    guidelines: str | None = None
    changelog: str | None = None
    labels: list[LabelEdit] | None = None
    rules: list[RuleIn] | None = None
    scale: ScaleIn | None = None


@dataclass
class SpecVersionOut:
    """A spec version with its labels and rules."""

    number: int
    status: str
    is_current: bool
    edit_version: int
    based_on_number: int | None
    guidelines: str
    changelog: str
    labels: list[LabelOut]
    rules: list[RuleIn]
    scale: ScaleIn | None
    created_at: datetime
    published_at: datetime | None


@dataclass
class SpecPublishedOut(SpecVersionOut):
    """The published version and the job recording what it changed (``GET /jobs/{id}``)."""

    job: dict[str, Any] = field(default_factory=dict)


@dataclass
class SpecSummaryOut:
    """One row of the versions list."""

    number: int
    status: str
    is_current: bool
    based_on_number: int | None
    changelog: str
    created_at: datetime
    published_at: datetime | None


@dataclass
class SpecListOut:
    """``GET .../specs``: newest first."""

    specs: list[SpecSummaryOut]


def _visible_spec(db: Session, grant: TokenGrant, project: Project, number: int) -> SpecVersion:
    spec = get_spec(db, project, number)
    if spec.status == "draft" and not is_lead(grant):
        raise NotFound(f"project {project.slug!r} has no spec v{number}")
    return spec


def _changes(data: DraftIn | DraftEditIn) -> dict[str, Any]:
    body = asdict(data)
    return {name: body[name] for name in EDITABLE_FIELDS if body.get(name) is not None}


def spec_version_out(db: Session, spec: SpecVersion) -> SpecVersionOut:
    """Serialize a spec version."""
    snapshot = spec_snapshot(db, spec)
    scale = snapshot["scale"]
    return SpecVersionOut(
        number=spec.number,
        status=spec.status,
        is_current=spec.is_current,
        edit_version=spec.edit_version,
        based_on_number=spec.based_on_number,
        guidelines=spec.guidelines,
        changelog=spec.changelog,
        labels=[
            LabelOut(lbl["key"], lbl["name"], lbl["description"], lbl["hotkey"], lbl["order"])
            for lbl in snapshot["labels"]
        ],
        rules=[RuleIn(rule["tag"], rule["text"]) for rule in snapshot["rules"]],
        scale=ScaleIn(scale["min"], scale["max"], scale["step"]) if scale else None,
        created_at=spec.created_at,
        published_at=spec.published_at,
    )


class SpecsApi(Controller):
    """Spec versions through the JSON API."""

    path = "/api/v1/projects/{slug:str}/specs"
    tags = ["specs"]
    security = [{"BearerToken": []}]

    @get("/", opt=token_scope("projects:read"), sync_to_thread=True)
    def list_versions(self, db: Db, grant: Grant, slug: FromPath[str]) -> SpecListOut:
        """The project's spec versions, newest first (drafts for leads only)."""
        project = project_for(db, grant, slug)
        return SpecListOut(
            [
                SpecSummaryOut(
                    s.number,
                    s.status,
                    s.is_current,
                    s.based_on_number,
                    s.changelog,
                    s.created_at,
                    s.published_at,
                )
                for s in list_specs(db, project, include_drafts=is_lead(grant))
            ]
        )

    @post("/", opt=token_scope("projects:write"), sync_to_thread=True, status_code=201)
    def create(
        self, db: Db, grant: Grant, slug: FromPath[str], data: JSONBody[DraftIn | None] = None
    ) -> SpecVersionOut:
        """Open a draft (one per project) copying the current version or ``from_number``."""
        project = project_for(db, grant, slug)
        require_lead(grant, "only leads and admins change specs")
        draft = create_draft(
            db, project, actor=grant.user, from_number=data.from_number if data else None
        )
        changes = _changes(data) if data else {}
        if changes:
            update_draft(
                db,
                project,
                draft.number,
                changes,
                expected_edit_version=draft.edit_version,
                actor=grant.user,
            )
        db.commit()
        return spec_version_out(db, draft)

    @get("/{number:int}", opt=token_scope("projects:read"), sync_to_thread=True)
    def read(
        self, db: Db, grant: Grant, slug: FromPath[str], number: FromPath[int]
    ) -> SpecVersionOut:
        """One spec version with its labels, rules, guidelines and ``edit_version``."""
        project = project_for(db, grant, slug)
        return spec_version_out(db, _visible_spec(db, grant, project, number))

    @patch("/{number:int}", opt=token_scope("projects:write"), sync_to_thread=True)
    def edit(
        self,
        db: Db,
        grant: Grant,
        slug: FromPath[str],
        number: FromPath[int],
        data: JSONBody[DraftEditIn],
    ) -> SpecVersionOut:
        """Replace a draft's guidelines, changelog, labels, rules or scale (409 if stale)."""
        project = project_for(db, grant, slug)
        require_lead(grant, "only leads and admins change specs")
        spec = update_draft(
            db,
            project,
            number,
            _changes(data),
            expected_edit_version=data.edit_version,
            actor=grant.user,
        )
        db.commit()
        return spec_version_out(db, spec)

    @get("/{number:int}/diff/{other:int}", opt=token_scope("projects:read"), sync_to_thread=True)
    def diff(
        self,
        db: Db,
        grant: Grant,
        slug: FromPath[str],
        number: FromPath[int],
        other: FromPath[int],
    ) -> SpecDiff:
        """What changed going from v``number`` to v``other`` (labels, rules, guidelines, scale)."""
        project = project_for(db, grant, slug)
        old = _visible_spec(db, grant, project, number)
        new = _visible_spec(db, grant, project, other)
        return diff_specs(db, old, new)

    @post(
        "/{number:int}/publish",
        opt=token_scope("projects:write"),
        sync_to_thread=True,
        status_code=200,
    )
    def publish(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        grant: Grant,
        slug: FromPath[str],
        number: FromPath[int],
    ) -> SpecPublishedOut:
        """Publish a draft: it becomes the one current version; returns it with its job."""
        project = project_for(db, grant, slug)
        require_lead(grant, "only leads and admins change specs")
        spec, job = publish_spec(db, project, number, actor=grant.user)
        db.commit()
        request.app.state.jobs.relay_now()
        out = spec_version_out(db, spec)
        values = {f.name: getattr(out, f.name) for f in fields(SpecVersionOut)}
        return SpecPublishedOut(**values, job=asdict(job_out(job)))
