"""Whether a person may take new work on a project now: qualification, quotas and caps.

Checked by the assignment engine before it leases a new item (a live lease is always handed
back, so nobody loses the item in front of them). Each refusal is a Conflict with its own code,
which the task API answers as 409 and the labeling page explains:

- ``qualification_required``: the project requires its qualification test and this annotator
  has not passed it (leads and admins are exempt);
- ``daily_quota_reached``: the person's labels today (UTC) reached their daily quota (the
  membership's own, else the project's default);
- ``work_cap_reached``: the person reached the project's cap: ``max_items_per_annotator``
  labels, or ``max_share`` of the project's items;
- ``member_paused``: a lead (or Accord, on gold accuracy) paused them here; the engine raises it
  in place of "not a member" so the labeling page can say why when a pause lands mid-session.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.base import utc_midnight
from app.db.models import Annotation, Item, Project, User
from app.domain.errors import Conflict
from app.domain.projects import membership_of

GATE_CODES = frozenset(
    {"qualification_required", "daily_quota_reached", "work_cap_reached", "member_paused"}
)


def _labels(session: Session, project: Project, user: User, since: datetime | None) -> int:
    query = select(func.count()).where(
        Annotation.project_id == project.id,
        Annotation.user_id == user.id,
        Annotation.retracted_at.is_(None),
        Annotation.source.in_(("browser", "api")),
    )
    if since is not None:
        query = query.where(Annotation.created_at >= since)
    return int(session.scalar(query) or 0)


def item_cap(session: Session, project: Project) -> int | None:
    """How many labels one person may give in the project in all (None: no cap)."""
    caps = []
    if project.max_items_per_annotator is not None:
        caps.append(project.max_items_per_annotator)
    if project.max_share is not None:
        n_items = session.scalar(select(func.count()).where(Item.project_id == project.id)) or 0
        caps.append(math.ceil(project.max_share * n_items))
    return min(caps) if caps else None


def paused_refusal(session: Session, project: Project, user: User) -> Conflict | None:
    """``member_paused`` with the lead's reason if the person is paused on the project (say,
    by Accord just now, grading the gold check they submitted), else None."""
    membership = membership_of(session, user.id, project.id)
    if membership is None or membership.status != "paused":
        return None
    return Conflict(
        f"you are paused on this project: {membership.paused_reason or 'no reason given'}; "
        "ask your lead",
        code="member_paused",
        details={"reason": membership.paused_reason},
    )


def work_block(session: Session, project: Project, user: User, now: datetime) -> Conflict | None:
    """Why ``user`` may not take a new item now, or None if they may."""
    membership = membership_of(session, user.id, project.id)
    if (
        project.requires_qualification
        and user.role == "annotator"
        and (membership is None or membership.qualified_at is None)
    ):
        return Conflict(
            "this project asks you to pass its qualification test before labeling",
            code="qualification_required",
            details={"qualification": f"/projects/{project.slug}/qualification"},
        )
    quota = membership.daily_quota if membership is not None else None
    quota = quota if quota is not None else project.daily_quota
    if quota is not None:
        today = utc_midnight(now)
        done = _labels(session, project, user, today)
        if done >= quota:
            return Conflict(
                f"you reached today's quota of {quota} labels on this project; "
                "thank you, see you tomorrow",
                code="daily_quota_reached",
                details={
                    "quota": quota,
                    "done": done,
                    "resets_at": (today + timedelta(days=1)).isoformat(),
                },
            )
    cap = item_cap(session, project)
    if cap is not None:
        done = _labels(session, project, user, None)
        if done >= cap:
            return Conflict(
                f"you reached this project's limit of {cap} labels per person; "
                "the rest goes to others",
                code="work_cap_reached",
                details={"cap": cap, "done": done},
            )
    return None
