"""The workforce page and API: leads see who needs help and why, download the weekly metrics;
annotators and tokens of other projects see nothing."""

from __future__ import annotations

import io

import polars as pl
from litestar import Litestar
from litestar.testing import TestClient

from app.db.base import utcnow
from app.db.engine import make_session_factory, session_scope
from app.db.models import Notice
from app.domain.people import get_user_by_email
from app.domain.projects import add_member
from app.domain.roster import pause_member
from tests.apps import commit_user, login, make_token, post_form
from tests.domain.test_assignment import add_items, lease, submit
from tests.factories import make_project

LEAD = "lee@example.test"
ANN = "ann@example.test"


def _setup(app: Litestar) -> None:
    commit_user(app, email=LEAD, role="lead")
    commit_user(app, email=ANN, role="annotator", name="Ann Example")
    commit_user(app, email="bo@example.test", role="annotator", name="Bo")
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        lead = get_user_by_email(s, LEAD)
        project = make_project(s, actor=lead, slug="crew", overlap=1)
        make_project(s, actor=lead, slug="other")
        add_items(s, project, 4)
        ann, bo = get_user_by_email(s, ANN), get_user_by_email(s, "bo@example.test")
        for person in (ann, bo):
            add_member(s, project, person, actor_id=lead.id)
        now = utcnow()
        submit(s, lease(s, project, ann, now), ann, now, duration_ms=3000)
        pause_member(
            s, project, bo.id, "gold accuracy 20% (1 of 5) below the 70% bar", actor_id=None
        )
        s.add(
            Notice(
                project_id=project.id,
                kind="gold_accuracy_pause",
                user_id=bo.id,
                message="Paused automatically: gold accuracy 20% (1 of 5) below the 70% bar.",
            )
        )


def test_a_lead_sees_figures_reasons_and_notices(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    _setup(app)
    login(client, LEAD)
    page = client.get("/projects/crew/workforce/")
    assert page.status_code == 200
    text = page.text
    for heading in ("Throughput and backlog", "Right now", "People", "Notices"):
        assert heading in text
    assert "1 of 4 labels done" in text and "Reinstate" in text
    # Bo (paused) needs a look and comes first; Ann's row shows her label.
    assert text.index("Bo") < text.index("Ann Example")
    assert "paused automatically: gold accuracy 20%" in text
    csv = client.get("/projects/crew/workforce/weekly?format=csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "ann" in csv.text.splitlines()[1]
    bad = client.get("/projects/crew/workforce/weekly?format=xlsx&weeks=0")
    assert bad.status_code == 422
    assert "1 notice" in client.get("/").text  # the lead's home points at it
    # Reinstating from the notice resolves it and brings the lead back here.
    with session_scope(make_session_factory(app.state.engine)) as s:
        bo_id = get_user_by_email(s, "bo@example.test").id
    back = post_form(client, f"/projects/crew/workforce/reinstate/{bo_id}", {})
    assert back.status_code == 303 and back.headers["location"] == "/projects/crew/workforce/"
    after = client.get("/projects/crew/workforce/").text
    assert "Notices" not in after and "paused automatically" not in after
    assert "1 notice" not in client.get("/").text


def test_annotators_may_not_see_the_workforce_page(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    _setup(app)
    login(client, ANN)
    assert client.get("/projects/crew/workforce/").status_code == 403
    assert client.get("/projects/crew/workforce/weekly").status_code == 403


def test_the_api_serves_the_report_and_the_weekly_parquet(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    _setup(app)
    headers = make_token(app, LEAD)
    report = client.get("/api/v1/projects/crew/workforce", headers=headers)
    assert report.status_code == 200
    body = report.json()
    assert body["throughput"]["labels_done"] == 1 and body["throughput"]["backlog"] == 3
    people = {p["email"]: p for p in body["people"]}
    assert people[ANN]["labels"] == 1 and people[ANN]["median_seconds"] == 3.0
    assert people["bo@example.test"]["status"] == "paused"
    assert people["bo@example.test"]["paused_by"] == "automatically"
    weekly = client.get(
        "/api/v1/projects/crew/workforce/weekly?format=parquet&weeks=4", headers=headers
    )
    assert weekly.status_code == 200
    frame = pl.read_parquet(io.BytesIO(weekly.content))
    assert frame["handle"].to_list() == ["ann"] and frame["labels"].to_list() == [1]
    # Annotators' tokens and tokens of another project are refused.
    annotator = make_token(app, ANN)
    assert client.get("/api/v1/projects/crew/workforce", headers=annotator).status_code == 403
    scoped = make_token(app, LEAD, project_slugs=["other"])
    assert client.get("/api/v1/projects/crew/workforce", headers=scoped).status_code == 404
    assert client.get("/api/v1/projects/crew/workforce/weekly", headers=scoped).status_code == 404
