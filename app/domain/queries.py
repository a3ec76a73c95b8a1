"""Read models for pages: what the home page and project pages show."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import Annotation, Membership, Project, ProjectStats, User
from app.domain.projects import visible_projects


@dataclass(frozen=True)
class ProjectCard:
    """One project on the home page, with the counts that matter to the viewer."""

    project: Project
    stats: ProjectStats | None
    my_annotations: int
    n_members: int


def home_cards(session: Session, user: User) -> list[ProjectCard]:
    """The projects the user sees on the home page with their counts."""
    projects = visible_projects(session, user)
    ids = [p.id for p in projects]
    if not ids:
        return []
    stats = {
        s.project_id: s
        for s in session.scalars(select(ProjectStats).where(ProjectStats.project_id.in_(ids)))
    }
    mine: dict[int, int] = dict(
        session.execute(
            select(Annotation.project_id, func.count())
            .where(
                Annotation.user_id == user.id,
                Annotation.retracted_at.is_(None),
                Annotation.project_id.in_(ids),
            )
            .group_by(Annotation.project_id)
        ).all()
    )
    members: dict[int, int] = dict(
        session.execute(
            select(Membership.project_id, func.count())
            .where(Membership.project_id.in_(ids), Membership.status == "active")
            .group_by(Membership.project_id)
        ).all()
    )
    return [
        ProjectCard(p, stats.get(p.id), int(mine.get(p.id, 0)), int(members.get(p.id, 0)))
        for p in projects
    ]


def project_stats(session: Session, project: Project) -> ProjectStats | None:
    """The last counts the recount job wrote for the project, if any."""
    return session.get(ProjectStats, project.id)
