"""The work gate: qualification, daily quotas and per-project caps stop new leases, never the
lease in hand; the task API and the labeling page say why."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.engine import make_session_factory, session_scope
from app.db.models import Membership, Project
from app.domain.errors import Conflict
from app.domain.people import get_user_by_email
from app.domain.projects import add_member
from tests.apps import commit_user, login, make_token, post_form
from tests.domain.test_assignment import T0, add_items, lease, submit, team
from tests.factories import make_project, make_user


def _membership(session: Session, project_id: int, user_id: int) -> Membership:
    membership = session.scalar(
        select(Membership).where(Membership.project_id == project_id, Membership.user_id == user_id)
    )
    assert membership is not None
    return membership


def ruled_project(session: Session, **rules: Any) -> Project:
    """A project with workforce rules set (they are not part of the creation form)."""
    overlap = rules.pop("overlap", 3)
    actor = rules.pop("actor", None)
    slug = rules.pop("slug", None)
    project = make_project(
        session, overlap=overlap, actor=actor, **({"slug": slug} if slug else {})
    )
    for name, value in rules.items():
        setattr(project, name, value)
    session.flush()
    return project


def _refusal(session: Session, project, user, now=T0) -> Conflict:  # type: ignore[no-untyped-def]
    with pytest.raises(Conflict) as caught:
        lease(session, project, user, now)
    return caught.value


def test_qualification_gates_annotators_but_not_leads(session: Session) -> None:
    project = ruled_project(session, overlap=2, requires_qualification=True)
    add_items(session, project, 2)
    (ann,) = team(session, project, 1)
    lead = make_user(session, role="lead")
    add_member(session, project, lead, actor_id=None)
    assert _refusal(session, project, ann).code == "qualification_required"
    assert lease(session, project, lead).user_id == lead.id
    _membership(session, project.id, ann.id).qualified_at = T0
    session.flush()
    assert lease(session, project, ann).user_id == ann.id


def test_a_daily_quota_counts_todays_labels_and_resets_at_midnight(session: Session) -> None:
    project = ruled_project(session, overlap=1, daily_quota=2)
    add_items(session, project, 6)
    alice, bob = team(session, project, 2)
    for _ in range(2):
        submit(session, lease(session, project, alice), alice)
    refusal = _refusal(session, project, alice)
    assert refusal.code == "daily_quota_reached"
    assert refusal.details["quota"] == 2 and refusal.details["done"] == 2
    # Someone else's quota is their own; a membership's own quota overrides the project's.
    _membership(session, project.id, bob.id).daily_quota = 3
    session.flush()
    for _ in range(3):
        submit(session, lease(session, project, bob), bob)
    assert _refusal(session, project, bob).details["quota"] == 3
    tomorrow = T0.replace(hour=0, minute=0) + timedelta(days=1, minutes=1)
    assert lease(session, project, alice, tomorrow).user_id == alice.id


def test_the_lease_in_hand_is_kept_when_the_quota_is_reached(session: Session) -> None:
    project = make_project(session, overlap=1)
    add_items(session, project, 3)
    (ann,) = team(session, project, 1)
    held = lease(session, project, ann)
    project.daily_quota = 1
    # Asking again while holding a live lease hands back that lease, quota or not.
    assert lease(session, project, ann).id == held.id
    submit(session, held, ann)
    assert _refusal(session, project, ann).code == "daily_quota_reached"


def test_caps_by_count_and_by_share_of_the_project(session: Session) -> None:
    project = ruled_project(session, overlap=1, max_items_per_annotator=3)
    add_items(session, project, 10)
    alice, bob = team(session, project, 2)
    for _ in range(3):
        submit(session, lease(session, project, alice), alice)
    refusal = _refusal(session, project, alice)
    assert refusal.code == "work_cap_reached" and refusal.details["cap"] == 3
    # 20% of 10 items is 2: the smaller cap wins.
    project.max_share = 0.2
    session.flush()
    for _ in range(2):
        submit(session, lease(session, project, bob), bob)
    assert _refusal(session, project, bob).details["cap"] == 2


def test_the_task_api_and_the_labeling_page_say_why(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    commit_user(app, email="ann@example.test", role="annotator")
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        lead = make_user(s, role="lead")
        project = ruled_project(s, actor=lead, slug="gated", requires_qualification=True)
        add_items(s, project, 2)
        add_member(s, project, get_user_by_email(s, "ann@example.test"), actor_id=lead.id)
    answer = client.post(
        "/api/v1/projects/gated/tasks/next", headers=make_token(app, "ann@example.test")
    )
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "qualification_required"
    login(client, "ann@example.test")
    page = client.get("/projects/gated/work/")
    assert "Qualify first" in page.text and "/projects/gated/qualification" in page.text
    assert "Ready when you are" not in page.text
    pressed = post_form(client, "/projects/gated/work/next", {}, htmx=True)
    assert pressed.status_code == 200 and "Qualify first" in pressed.text
