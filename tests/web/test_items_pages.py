"""Items pages for leads: upload through the form, the filtered list, one item's page."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select

from app.db.engine import make_session_factory, session_scope
from app.db.models import AuditEvent, Item
from app.domain.annotation_import import import_annotations
from app.domain.item_parsing import parse_annotation_rows
from app.domain.items import get_item
from app.domain.people import get_user_by_email
from app.domain.projects import add_member, get_project
from tests.apps import commit_user, login, post_form
from tests.factories import make_project

IMPORT = "/projects/shop/items/import"
CSV = (
    b"external_id,text,tags,split,metadata\n"
    b'r1,"<script>alert(1)</script>\n  indented",sarcasm,eval,"{""stars"": 1}"\n'
    b"r2,Plain review,,,\n"
)


def items_in(app: Litestar) -> int:
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        return int(s.scalar(select(func.count()).select_from(Item)) or 0)


@pytest.fixture
def lead_client(app: Litestar, client: TestClient[Litestar]) -> TestClient[Litestar]:
    """A logged-in lead with a project ``shop`` (rule for tag sarcasm, overlap 3)."""
    commit_user(app, email="lee@example.test", role="lead")
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        make_project(s, actor=get_user_by_email(s, "lee@example.test"), slug="shop", name="Shop")
    login(client, "lee@example.test")
    return client


def upload(client: TestClient[Litestar], content: bytes, name: str = "items.csv", **kw: Any) -> Any:
    data = {"create_tags": "on"} if kw.pop("create_tags", False) else {}
    return post_form(client, IMPORT, data, files={"file": (name, content, "text/csv")}, **kw)


def test_plain_form_upload_redirects_to_a_result_summary(
    app: Litestar, lead_client: TestClient[Litestar]
) -> None:
    # Given the upload page
    page = lead_client.get(IMPORT)
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    assert "data-upload-progress" in page.text
    # When a CSV is uploaded without JavaScript
    response = upload(lead_client, CSV)
    # Then the browser is sent to the summary (post/redirect/get) and the items exist
    assert response.status_code == 303
    summary = lead_client.get(response.headers["location"])
    assert "Imported 2 new items" in summary.text
    assert items_in(app) == 2


def test_htmx_upload_returns_the_summary_fragment_and_resending_changes_nothing(
    app: Litestar, lead_client: TestClient[Litestar]
) -> None:
    first = upload(lead_client, CSV, htmx=True)
    assert first.status_code == 201
    assert first.headers["HX-Trigger"] == "items-imported"
    assert "<html" not in first.text and 'id="import-form"' in first.text
    assert "Imported 2 new items" in first.text
    again = upload(lead_client, CSV, htmx=True)
    assert again.status_code == 200
    assert "Nothing new" in again.text and "all 2 rows were already imported" in again.text
    assert items_in(app) == 2


def test_a_bad_file_reshows_the_form_naming_the_line(
    app: Litestar, lead_client: TestClient[Litestar]
) -> None:
    bad = b'external_id,text\nr1,fine\nr2,"never closed\nr3,x\n'
    response = upload(lead_client, bad, name="bad.csv", htmx=True)
    assert response.status_code == 422
    assert 'id="import-form"' in response.text and "<html" not in response.text
    assert "Nothing was imported from bad.csv" in response.text
    assert "line 3: a quoted field is never closed" in response.text
    assert items_in(app) == 0
    # Without JavaScript the whole page comes back with the same error
    plain = upload(lead_client, bad, name="bad.csv")
    assert plain.status_code == 422 and "<html" in plain.text and "line 3" in plain.text


def test_unknown_tags_need_the_checkbox(app: Litestar, lead_client: TestClient[Litestar]) -> None:
    body = b"external_id,text,tags\nr1,x,brand_new\n"
    refused = upload(lead_client, body, htmx=True)
    assert refused.status_code == 422 and "&#39;brand_new&#39; is not a tag" in refused.text
    accepted = upload(lead_client, body, htmx=True, create_tags=True)
    assert accepted.status_code == 201
    assert items_in(app) == 1


def test_json_lines_files_are_recognised_by_name_or_content(
    app: Litestar, lead_client: TestClient[Litestar]
) -> None:
    body = b'{"external_id": "j1", "text": "one"}\n{"external_id": "j2", "text": "two"}\n'
    assert upload(lead_client, body, name="items.jsonl", htmx=True).status_code == 201
    assert (
        upload(
            lead_client, b'[{"external_id": "j3", "text": "x"}]', name="export", htmx=True
        ).status_code
        == 201
    )
    assert items_in(app) == 3


def test_uploading_without_a_file_or_without_csrf_is_refused(
    app: Litestar, lead_client: TestClient[Litestar]
) -> None:
    response = post_form(lead_client, IMPORT, {}, htmx=True, files={"file": ("", b"", "text/csv")})
    assert response.status_code == 422 and "choose a file" in response.text
    forged = lead_client.post(IMPORT, files={"file": ("a.csv", CSV, "text/csv")})
    assert forged.status_code == 403
    assert items_in(app) == 0


def seed_labels(app: Litestar) -> None:
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        project = get_project(s, "shop")
        lead = get_user_by_email(s, "lee@example.test")
        rows = [
            {
                "external_id": "r1",
                "annotator": "vendor-a",
                "value": "positive",
                "comment": "<b>hm</b>",
                "unclear": True,
                "duration_ms": 2500,
            },
            {"external_id": "r1", "annotator": "vendor-b", "value": "negative"},
        ]
        import_annotations(
            s, project, parse_annotation_rows(json.dumps(rows).encode(), "json"), actor=lead
        )
        s.add(
            AuditEvent(
                action="assignment.leased",
                actor_id=lead.id,
                project_id=project.id,
                item_id=get_item(s, project, "r1").id,
                details={"slot": 2},
            )
        )


def test_the_list_filters_with_and_without_htmx(
    app: Litestar, lead_client: TestClient[Litestar]
) -> None:
    upload(lead_client, CSV)
    seed_labels(app)
    page = lead_client.get("/projects/shop/items/")
    assert page.status_code == 200 and 'role="search"' in page.text
    assert 'hx-push-url="true"' in page.text and 'id="item-results"' in page.text
    assert "&lt;script&gt;" in page.text and "<script>alert" not in page.text
    # plain GET with filters renders the whole page, narrowed
    eval_only = lead_client.get("/projects/shop/items/?split=eval")
    assert ">r1</a>" in eval_only.text and ">r2</a>" not in eval_only.text
    # the same filter through htmx returns only the results region
    fragment = lead_client.get(
        "/projects/shop/items/?q=plain&tag=&split=&status=", headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert fragment.headers["Vary"] == "HX-Request"
    assert ">r2</a>" in fragment.text and ">r1</a>" not in fragment.text
    disputed = lead_client.get("/projects/shop/items/?status=disputed")
    assert ">r1</a>" in disputed.text and ">r2</a>" not in disputed.text
    assert 'aria-current="page">disputed <span class="badge">1</span>' in disputed.text


def test_the_list_pages_by_fifty(app: Litestar, lead_client: TestClient[Litestar]) -> None:
    body = b"external_id,text\n" + b"".join(b"p%03d,t\n" % i for i in range(51))
    upload(lead_client, body)
    first = lead_client.get("/projects/shop/items/")
    assert (
        "Page 1 of 2" in first.text and ">p049</a>" in first.text and ">p050</a>" not in first.text
    )
    second = lead_client.get("/projects/shop/items/?page=2")
    assert ">p050</a>" in second.text and 'rel="prev"' in second.text


def test_the_item_page_shows_text_tags_metadata_annotations_and_history(
    app: Litestar, lead_client: TestClient[Litestar]
) -> None:
    upload(lead_client, CSV)
    seed_labels(app)
    page = lead_client.get("/projects/shop/items/r1")
    assert page.status_code == 200
    text = page.text
    assert (
        '<div class="item-text" hx-disable>&lt;script&gt;alert(1)&lt;/script&gt;\n  indented</div>'
        in text
    )
    assert "sarcasm" in text and "from import" in text
    assert "&#34;stars&#34;: 1" in text or "&quot;stars&quot;: 1" in text or '"stars": 1' in text
    assert "vendor-a" in text and "vendor-b" in text and "<code>positive</code>" in text
    assert "&lt;b&gt;hm&lt;/b&gt;" in text and "unclear" in text and "2.5 s" in text
    assert "assignment.leased" in text and "slot: 2" in text
    assert lead_client.get("/projects/shop/items/nope").status_code == 404


def test_annotators_get_403_and_strangers_404(app: Litestar, client: TestClient[Litestar]) -> None:
    commit_user(app, email="lee@example.test", role="lead")
    commit_user(app, email="ann@example.test")
    commit_user(app, email="other@example.test", role="lead")
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        project = make_project(s, actor=get_user_by_email(s, "lee@example.test"), slug="shop")
        add_member(s, project, get_user_by_email(s, "ann@example.test"), actor_id=None)
    login(client, "ann@example.test")
    for path in ("/projects/shop/items/", IMPORT, "/projects/shop/items/r1"):
        assert client.get(path).status_code == 403, path
    assert upload(client, CSV).status_code == 403
    assert "/items/" not in client.get("/projects/shop").text
    login(client, "other@example.test")
    assert client.get("/projects/shop/items/").status_code == 404
    assert items_in(app) == 0
