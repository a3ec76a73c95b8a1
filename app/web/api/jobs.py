"""``/api/v1/jobs/{id}``: poll a background job."""

from __future__ import annotations

from litestar import Controller, get
from litestar.params import FromPath

from app.db.models import Project
from app.domain.errors import NotFound
from app.domain.outbox import get_job
from app.domain.projects import can_reach
from app.web.api.schemas import JobOut, job_out
from app.web.auth import token_scope
from app.web.deps import Db, Grant


class JobsApi(Controller):
    """Job status through the JSON API."""

    path = "/api/v1/jobs"
    tags = ["jobs"]
    security = [{"BearerToken": []}]

    @get("/{job_id:str}", opt=token_scope("jobs:read"), sync_to_thread=True)
    def read(self, db: Db, grant: Grant, job_id: FromPath[str]) -> JobOut:
        """``{id, kind, status, progress, error, result}``; jobs of unreachable projects are 404."""
        job = get_job(db, job_id)
        if job.project_id is not None:
            project = db.get(Project, job.project_id)
            if (
                project is None
                or not grant.reaches(project.id)
                or not can_reach(db, grant.user, project)
            ):
                raise NotFound(f"no job {job_id!r}")
        elif grant.user.role != "admin" and job.created_by_id != grant.user.id:
            raise NotFound(f"no job {job_id!r}")
        return job_out(job)
