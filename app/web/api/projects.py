"""``/api/v1/projects``: create, list and read projects; manage members."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody
from litestar.response import Response
from sqlalchemy.orm import Session

from app.db.models import Project
from app.domain.errors import Forbidden, NotFound
from app.domain.people import get_user_by_email
from app.domain.projects import (
    add_member,
    can_reach,
    create_project,
    current_spec,
    get_project,
    list_members,
    project_input_from_json,
    tag_names,
    visible_projects,
)
from app.domain.stats import queue_recount
from app.domain.tokens import TokenGrant
from app.web.api.schemas import (
    JobRef,
    MemberIn,
    MemberList,
    ProjectIn,
    ProjectList,
    ProjectOut,
    job_out,
    member_out,
    project_out,
)
from app.web.auth import token_scope
from app.web.deps import Db, Grant


def is_lead(grant: TokenGrant) -> bool:
    """Whether the token's user is a lead or an admin."""
    return grant.user.role in ("lead", "admin")


def require_lead(grant: TokenGrant, refusal: str) -> None:
    """403 with ``refusal`` unless the token's user is a lead or an admin."""
    if not is_lead(grant):
        raise Forbidden(refusal)


def project_for(db: Session, grant: TokenGrant, slug: str) -> Project:
    """The project if the token may reach it; NotFound otherwise (no existence leak)."""
    project = get_project(db, slug, member=grant.user)
    if not grant.reaches(project.id) or not can_reach(db, grant.user, project):
        raise NotFound(f"no project {slug!r}")
    return project


class ProjectsApi(Controller):
    """Projects through the JSON API."""

    path = "/api/v1/projects"
    tags = ["projects"]
    security = [{"BearerToken": []}]

    @get("/", opt=token_scope("projects:read"), sync_to_thread=True)
    def list_projects(self, db: Db, grant: Grant) -> ProjectList:
        """The projects this token reaches."""
        return ProjectList(
            [project_out(p) for p in visible_projects(db, grant.user) if grant.reaches(p.id)]
        )

    @post("/", opt=token_scope("projects:write"), sync_to_thread=True, status_code=201)
    def create(self, db: Db, grant: Grant, data: JSONBody[ProjectIn]) -> ProjectOut:
        """Create a project with spec v1 published (leads and admins)."""
        require_lead(grant, "only leads and admins create projects")
        body = asdict(data)
        body["rules"] = [r for r in body["rules"]]
        project = create_project(db, project_input_from_json(body), actor=grant.user)
        db.commit()
        return project_out(project, current_spec(db, project), tag_names(db, project))

    @get("/{slug:str}", opt=token_scope("projects:read"), sync_to_thread=True)
    def read(self, db: Db, grant: Grant, slug: FromPath[str]) -> ProjectOut:
        """One project with its current spec."""
        project = project_for(db, grant, slug)
        return project_out(project, current_spec(db, project), tag_names(db, project))

    @get("/{slug:str}/members", opt=token_scope("projects:read"), sync_to_thread=True)
    def members(self, db: Db, grant: Grant, slug: FromPath[str]) -> MemberList:
        """Who works on the project."""
        project = project_for(db, grant, slug)
        show = is_lead(grant)
        return MemberList(
            [member_out(u, m.status, show_email=show) for u, m in list_members(db, project)]
        )

    @post("/{slug:str}/members", opt=token_scope("projects:write"), sync_to_thread=True)
    def add(
        self, db: Db, grant: Grant, slug: FromPath[str], data: JSONBody[MemberIn]
    ) -> Response[Any]:
        """Add a person (by email) to the project; 201 if added, 200 if already a member."""
        project = project_for(db, grant, slug)
        require_lead(grant, "only leads and admins manage members")
        user = get_user_by_email(db, data.email)
        added = add_member(db, project, user, actor_id=grant.user.id)
        db.commit()
        return Response(
            asdict(member_out(user, "active", show_email=True)), status_code=201 if added else 200
        )

    @post(
        "/{slug:str}/recount", opt=token_scope("jobs:write"), sync_to_thread=True, status_code=202
    )
    def recount(
        self, request: Request[Any, Any, Any], db: Db, grant: Grant, slug: FromPath[str]
    ) -> JobRef:
        """Queue a recount of the project's figures (202 + job)."""
        project = project_for(db, grant, slug)
        job = queue_recount(db, project.id, actor_id=grant.user.id)
        db.commit()
        request.app.state.jobs.relay_now()
        return JobRef(job=asdict(job_out(job)))
