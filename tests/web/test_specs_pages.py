"""Spec versions in the browser: leads draft, edit (HTMX or plain forms), diff and publish;
annotators read published versions only."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from app.db.engine import make_session_factory, session_scope
from app.db.models import SpecVersion
from app.domain.people import get_user_by_email
from app.domain.projects import add_member, get_project
from app.domain.specs import get_spec, spec_snapshot
from tests.apps import commit_user, login, post_form
from tests.factories import make_project

SLUG = "sentiment"
SPECS = f"/projects/{SLUG}/specs"
OLD_RULE = "Label the intended meaning, not the literal words."


def given_a_project(app: Litestar, *, members: tuple[str, ...] = ()) -> None:
    """A lead (lee@) with project ``sentiment`` (spec v1 published), plus annotator members."""
    commit_user(app, email="lee@example.test", role="lead")
    for email in members:
        commit_user(app, email=email)
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        lead = get_user_by_email(s, "lee@example.test")
        project = make_project(s, actor=lead, slug=SLUG, name="Sentiment")
        for email in members:
            add_member(s, project, get_user_by_email(s, email), actor_id=lead.id)


def saved_draft(app: Litestar, number: int = 2) -> SpecVersion:
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        spec = get_spec(s, get_project(s, SLUG), number)
        spec_snapshot(s, spec)  # load labels and rules before the session closes
        s.expunge_all()
        return spec


def draft_form(edit_version: int, **overrides: Any) -> dict[str, Any]:
    """The edit form as the browser posts it for the factory project's spec."""
    form: dict[str, Any] = {
        "edit_version": str(edit_version),
        "changelog": "",
        "guidelines": "Label the sentiment the author expresses.",
        "labels_rows": "4",
        "rules_rows": "2",
        "action": "save",
    }
    labels = [
        ("positive", "Positive", "1"),
        ("negative", "Negative", "2"),
        ("neutral", "Neutral", "3"),
    ]
    for i, (key, name, hotkey) in enumerate(labels):
        form.update(
            {
                f"labels-{i}-order": str(i + 1),
                f"labels-{i}-key": key,
                f"labels-{i}-name": name,
                f"labels-{i}-description": "",
                f"labels-{i}-hotkey": hotkey,
            }
        )
    form["labels-3-order"] = "4"  # a blank row: ignored
    form.update(
        {"rules-0-tag": "sarcasm", "rules-0-text": OLD_RULE, "rules-1-tag": "", "rules-1-text": ""}
    )
    form.update(overrides)
    return form


def open_draft_as_lead(app: Litestar, client: TestClient[Litestar]) -> int:
    login(client, "lee@example.test")
    created = post_form(client, f"{SPECS}/")
    assert created.status_code == 303
    assert created.headers["location"] == f"{SPECS}/2/edit"
    return saved_draft(app).edit_version


def test_a_lead_edits_a_draft_with_inline_validation(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    given_a_project(app)
    version = open_draft_as_lead(app, client)
    page = client.get(f"{SPECS}/2/edit")
    assert page.status_code == 200
    assert "Edit draft v2" in page.text and OLD_RULE in page.text

    # When the lead gives two labels the same key and leaves a rule empty
    bad = post_form(
        client,
        f"{SPECS}/2/edit",
        draft_form(version, **{"labels-1-key": "positive", "rules-1-tag": "negation"}),
        htmx=True,
    )
    # Then the form fragment comes back with 422 and the fields marked
    assert bad.status_code == 422
    assert 'id="spec-form"' in bad.text and "<html" not in bad.text
    assert "duplicate key &#39;positive&#39;" in bad.text
    assert 'id="f-labels-1-key-error"' in bad.text and 'id="f-rules-1-text-error"' in bad.text
    assert "rule text is empty" in bad.text
    assert saved_draft(app).edit_version == version

    # When the lead fixes it: a new rule, a renamed label, a removed label
    good = post_form(
        client,
        f"{SPECS}/2/edit",
        draft_form(
            version,
            changelog="Negation gets a rule.",
            **{
                "labels-0-name": "Clearly positive",
                "labels-2-remove": "1",
                "rules-1-tag": "negation",
                "rules-1-text": "A negated positive is negative.",
            },
        ),
        htmx=True,
    )
    # Then it is saved, and the fragment says so and carries the new edit version
    assert good.status_code == 200, good.text
    assert good.headers["HX-Trigger"] == "spec-saved"
    assert "Draft v2 saved." in good.text
    saved = saved_draft(app)
    assert f'name="edit_version" value="{saved.edit_version}"' in good.text
    assert [label.key for label in saved.labels] == ["positive", "negative"]
    assert saved.labels[0].name == "Clearly positive"
    assert saved.changelog == "Negation gets a rule."


def test_rows_are_added_without_javascript_and_nothing_is_saved(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    given_a_project(app)
    version = open_draft_as_lead(app, client)
    response = post_form(client, f"{SPECS}/2/edit", draft_form(version, action="add_rule"))
    assert response.status_code == 200
    assert "<html" in response.text and 'name="rules_rows" value="3"' in response.text
    assert 'name="rules-2-tag"' in response.text
    assert saved_draft(app).edit_version == version
    plain = post_form(client, f"{SPECS}/2/edit", draft_form(version, guidelines="Plain post."))
    assert plain.status_code == 303 and plain.headers["location"] == f"{SPECS}/2/edit?saved=1"
    assert "Draft v2 saved." in client.get(plain.headers["location"]).text


def test_a_stale_edit_says_someone_else_saved_and_keeps_the_typed_text(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    given_a_project(app)
    version = open_draft_as_lead(app, client)
    first = post_form(client, f"{SPECS}/2/edit", draft_form(version, guidelines="First save."))
    assert first.status_code == 303

    for htmx, status in ((False, 409), (True, 422)):
        stale = post_form(
            client, f"{SPECS}/2/edit", draft_form(version, guidelines="My rewrite."), htmx=htmx
        )
        assert stale.status_code == status
        assert "Someone else saved this draft since you opened it." in stale.text
        assert "My rewrite." in stale.text  # nothing typed is lost
        assert f'name="edit_version" value="{version + 1}"' in stale.text
    assert saved_draft(app).guidelines == "First save."


def test_the_diff_page_shows_a_changed_rule_side_by_side(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    given_a_project(app)
    version = open_draft_as_lead(app, client)
    post_form(
        client,
        f"{SPECS}/2/edit",
        draft_form(
            version,
            guidelines="Label the sentiment the author expresses.\nIgnore emoji.",
            **{"rules-0-text": "Label the literal words.", "labels-1-name": "Negative (any)"},
        ),
    )
    page = client.get(f"{SPECS}/1/diff/2")
    assert page.status_code == 200
    assert "What changed from" in page.text
    assert f"<del>{OLD_RULE}</del>" in page.text
    assert "<ins>Label the literal words.</ins>" in page.text
    assert "Renamed" in page.text and "<ins>Negative (any)</ins>" in page.text
    assert "added</span><ins>Ignore emoji.</ins>" in page.text


def test_a_lead_publishes_after_a_confirmation_page(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    given_a_project(app)
    open_draft_as_lead(app, client)
    confirm = client.get(f"{SPECS}/2/publish")
    assert confirm.status_code == 200
    assert "Publish v2 now" in confirm.text and "no changelog" in confirm.text
    assert saved_draft(app).status == "draft"  # looking at the confirmation changes nothing

    published = post_form(client, f"{SPECS}/2/publish")
    assert published.status_code == 303
    assert published.headers["location"] == f"{SPECS}/2?published=1"
    page = client.get(published.headers["location"])
    assert "v2 is now the current spec version" in page.text
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        current = s.scalars(select(SpecVersion.number).where(SpecVersion.is_current)).all()
        assert current == [2]
    assert client.get(f"{SPECS}/2/edit").status_code == 409
    assert "Continue editing" not in client.get(f"{SPECS}/").text


def test_annotators_read_published_versions_only(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    given_a_project(app, members=("ann@example.test",))
    version = open_draft_as_lead(app, client)
    post_form(
        client,
        f"{SPECS}/2/edit",
        draft_form(version, guidelines="# Heading\n<script>alert(1)</script>"),
    )
    post_form(client, "/logout")
    login(client, "ann@example.test")

    assert client.get(f"{SPECS}/2/edit").status_code == 403
    assert post_form(client, f"{SPECS}/2/edit", draft_form(version)).status_code == 403
    assert post_form(client, f"{SPECS}/2/publish").status_code == 403
    assert post_form(client, f"{SPECS}/").status_code == 403
    assert client.get(f"{SPECS}/2").status_code == 404  # drafts are for leads
    listing = client.get(f"{SPECS}/")
    assert listing.status_code == 200 and "v1" in listing.text and "v2" not in listing.text
    assert "New draft" not in listing.text
    v1 = client.get(f"{SPECS}/1")
    assert v1.status_code == 200 and OLD_RULE in v1.text and "Edit draft" not in v1.text


def test_guidelines_are_rendered_as_sanitized_markdown(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    given_a_project(app)
    version = open_draft_as_lead(app, client)
    post_form(
        client,
        f"{SPECS}/2/edit",
        draft_form(
            version, guidelines="# Be kind\n<script>alert(1)</script>\n[x](javascript:alert(1))"
        ),
    )
    page = client.get(f"{SPECS}/2")
    assert "<h1>Be kind</h1>" in page.text
    assert "<script>alert" not in page.text and "&lt;script&gt;alert(1)" in page.text
    assert 'href="javascript:' not in page.text
    assert '<div class="prose" hx-disable>' in page.text
