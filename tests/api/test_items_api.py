"""The items API: imports in three formats, all-or-nothing, limits, the list, annotation imports."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from app.settings import Settings
from app.web.app import create_app
from tests.apps import commit_user, make_token

PROJECT: dict[str, Any] = {
    "slug": "reviews",
    "name": "Reviews",
    "kind": "single_choice",
    "overlap": 2,
    "labels": [{"key": "pos", "name": "Positive"}, {"key": "neg", "name": "Negative"}],
    "rules": [{"tag": "sarcasm", "text": "Label what the author means."}],
}
URL = "/api/v1/projects/reviews/items"
JSONL = {"Content-Type": "application/x-ndjson"}
CSV = {"Content-Type": "text/csv"}


def jsonl(*rows: dict[str, Any]) -> bytes:
    return "\n".join(json.dumps(r) for r in rows).encode()


@pytest.fixture
def lead(app: Litestar, client: TestClient[Litestar]) -> dict[str, str]:
    commit_user(app, email="lee@example.test", role="lead")
    headers = make_token(app, "lee@example.test")
    assert client.post("/api/v1/projects/", json=PROJECT, headers=headers).status_code == 201
    return headers


def listed(client: TestClient[Litestar], headers: dict[str, str], query: str = "") -> Any:
    response = client.get(f"{URL}{query}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_import_a_json_array_then_resend_it(
    client: TestClient[Litestar], lead: dict[str, str]
) -> None:
    rows = [
        {"external_id": "r1", "text": "Love it", "tags": ["sarcasm"], "split": "eval"},
        {"external_id": "r2", "text": "Hate it", "metadata": {"stars": 1}},
    ]
    first = client.post(URL, json=rows, headers=lead)
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["created"], body["unchanged"]) == (2, 0) and isinstance(body["batch_id"], int)
    again = client.post(URL, json=rows, headers=lead)
    assert again.status_code == 200
    assert again.json() == {"created": 0, "unchanged": 2, "batch_id": None}
    items = listed(client, lead)["items"]
    assert [(i["external_id"], i["tags"], i["split"], i["metadata"]) for i in items] == [
        ("r1", ["sarcasm"], "eval", {}),
        ("r2", [], "train", {"stars": 1}),
    ]


def test_jsonl_and_csv_bodies(client: TestClient[Litestar], lead: dict[str, str]) -> None:
    response = client.post(
        URL, content=jsonl({"external_id": "j1", "text": "one"}), headers={**lead, **JSONL}
    )
    assert response.status_code == 201, response.text
    csv_body = b'external_id,text,tags\nc1,"Hello, there",sarcasm|\n'
    response = client.post(URL, content=csv_body, headers={**lead, **CSV})
    assert response.status_code == 201, response.text
    assert listed(client, lead)["total"] == 2


def test_unsupported_content_type_is_415_with_the_error_shape(
    client: TestClient[Litestar], lead: dict[str, str]
) -> None:
    response = client.post(
        URL, content=b"external_id\tx", headers={**lead, "Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    error = response.json()["error"]
    assert error["code"] == "unsupported_media_type" and "text/csv" in error["message"]


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        (b"external_id,text\nr1,ok\nr2,caf\xe9\n", CSV, "line 3: the file is not valid UTF-8"),
        (jsonl({"external_id": "r1", "text": "ok"})[:-3], JSONL, "line 1 is truncated"),
        (b'external_id,text\nr1,ok\nr2,"open\nr3,x\n', CSV, "line 3: a quoted field is never"),
        (b"external_id,text\nr1,ok\nr1,again\n", CSV, "line 3: external_id 'r1' is also used"),
        (b"external_id,text\nr1,ok\nr2,\n", CSV, "line 3: text is missing"),
    ],
)
def test_bad_files_are_422_naming_the_line_and_write_nothing(
    client: TestClient[Litestar],
    lead: dict[str, str],
    body: bytes,
    headers: dict[str, str],
    message: str,
) -> None:
    response = client.post(URL, content=body, headers={**lead, **headers})
    assert response.status_code == 422
    assert message in response.json()["error"]["message"]
    assert listed(client, lead)["total"] == 0


def test_changed_text_is_409_naming_the_row(
    client: TestClient[Litestar], lead: dict[str, str]
) -> None:
    client.post(URL, json=[{"external_id": "r1", "text": "one"}], headers=lead)
    response = client.post(
        URL,
        json=[{"external_id": "r0", "text": "new"}, {"external_id": "r1", "text": "changed"}],
        headers=lead,
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "item_changed"
    assert "row 2: item 'r1' already exists with a different text" in error["message"]
    assert [i["external_id"] for i in listed(client, lead)["items"]] == ["r1"]


def test_unknown_tags_are_422_unless_create_tags(
    client: TestClient[Litestar], lead: dict[str, str]
) -> None:
    rows = [{"external_id": "r1", "text": "one", "tags": ["negation"]}]
    refused = client.post(URL, json=rows, headers=lead)
    assert refused.status_code == 422
    assert refused.json()["error"]["details"]["fields"] == {
        "row 1.tags": "'negation' is not a tag of this project "
        "(create it first, or import with create_tags=true)"
    }
    accepted = client.post(f"{URL}?create_tags=true", json=rows, headers=lead)
    assert accepted.status_code == 201
    assert listed(client, lead, "?tag=negation")["total"] == 1


@pytest.fixture
def small_app(settings: Settings) -> Litestar:
    return create_app(dataclasses.replace(settings, max_body_bytes=2_000))


@pytest.fixture
def small_client(small_app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app=small_app, base_url="http://testserver.local") as test_client:
        yield test_client


def test_the_body_size_limit_at_the_limit_and_one_past_it(
    small_app: Litestar, small_client: TestClient[Litestar]
) -> None:
    commit_user(small_app, email="lee@example.test", role="lead")
    headers = make_token(small_app, "lee@example.test")
    small_client.post("/api/v1/projects/", json=PROJECT, headers=headers)
    limit = small_app.state.settings.max_body_bytes
    row = b'{"external_id": "r1", "text": "'
    exact = row + b"x" * (limit - len(row) - 2) + b'"}'
    assert len(exact) == limit
    response = small_client.post(URL, content=exact, headers={**headers, **JSONL})
    assert response.status_code == 201, response.text
    one_more = b'{"external_id": "r2", "text": "' + b"x" * (limit - len(row) - 1) + b'"}'
    assert len(one_more) == limit + 1
    response = small_client.post(URL, content=one_more, headers={**headers, **JSONL})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_who_may_import_and_list(
    app: Litestar, client: TestClient[Litestar], lead: dict[str, str]
) -> None:
    commit_user(app, email="ann@example.test")
    client.post(
        "/api/v1/projects/reviews/members", json={"email": "ann@example.test"}, headers=lead
    )
    annotator = make_token(app, "ann@example.test")
    rows = [{"external_id": "r1", "text": "one"}]
    assert client.post(URL, json=rows, headers=annotator).status_code == 403
    assert client.get(URL, headers=annotator).status_code == 403
    read_only = make_token(app, "lee@example.test", scopes=["projects:read"])
    response = client.post(URL, json=rows, headers=read_only)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"
    client.post("/api/v1/projects/", json=dict(PROJECT, slug="other"), headers=lead)
    elsewhere = make_token(app, "lee@example.test", project_slugs=["other"])
    assert client.post(URL, json=rows, headers=elsewhere).status_code == 404
    assert client.get(URL, headers=elsewhere).status_code == 404


def test_list_filters_search_statuses_and_pages(
    client: TestClient[Litestar], lead: dict[str, str]
) -> None:
    client.post(
        URL,
        json=[
            {"external_id": "a", "text": "Fine phone", "tags": ["sarcasm"]},
            {"external_id": "b", "text": "Bad phone", "split": "holdout"},
            {"external_id": "c", "text": "Okay case"},
        ],
        headers=lead,
    )
    labels = jsonl(
        {"external_id": "a", "annotator": "v1", "value": "pos"},
        {"external_id": "a", "annotator": "v2", "value": "pos"},
        {"external_id": "b", "annotator": "v1", "value": "pos"},
        {"external_id": "b", "annotator": "v2", "value": "neg"},
    )
    response = client.post(
        "/api/v1/projects/reviews/annotations/import", content=labels, headers={**lead, **JSONL}
    )
    assert response.status_code == 201, response.text
    everything = listed(client, lead)
    assert everything["counts"] == {"all": 3, "needs_labels": 1, "complete": 1, "disputed": 1}
    assert [(i["external_id"], i["statuses"], i["n_annotations"]) for i in everything["items"]] == [
        ("a", ["complete"], 2),
        ("b", ["disputed"], 2),
        ("c", ["needs_labels"], 0),
    ]
    assert [i["external_id"] for i in listed(client, lead, "?q=PHONE&split=holdout")["items"]] == [
        "b"
    ]
    assert [i["external_id"] for i in listed(client, lead, "?status=complete")["items"]] == ["a"]
    paged = listed(client, lead, "?limit=2&page=2")
    assert [i["external_id"] for i in paged["items"]] == ["c"] and paged["pages"] == 2
    bad = client.get(f"{URL}?status=finished", headers=lead)
    assert bad.status_code == 422 and "status" in bad.json()["error"]["details"]["fields"]


def test_annotation_import_errors_name_the_row(
    client: TestClient[Litestar], lead: dict[str, str]
) -> None:
    client.post(URL, json=[{"external_id": "a", "text": "x"}], headers=lead)
    url = "/api/v1/projects/reviews/annotations/import"
    csv_body = b"external_id,annotator,value\na,vendor@example.test,pos\na,other,maybe\n"
    response = client.post(url, content=csv_body, headers={**lead, **CSV})
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith(
        "the annotations were not imported: line 3: value unknown label 'maybe'"
    )
    ok = client.post(url, content=csv_body.replace(b"maybe", b"neg"), headers={**lead, **CSV})
    assert ok.status_code == 201
    assert ok.json()["annotators_created"] == ["vendor", "other"]
    again = client.post(url, content=csv_body.replace(b"maybe", b"neg"), headers={**lead, **CSV})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "duplicate_annotation"
    assert client.post(url, json=[], headers=lead).status_code == 422
    assert (
        client.post(url, content=b"x", headers={**lead, "Content-Type": "text/xml"}).status_code
        == 415
    )


def test_the_openapi_schema_lists_the_new_routes(client: TestClient[Litestar]) -> None:
    paths = client.get("/api/v1/schema/openapi.json").json()["paths"]
    assert "/api/v1/projects/{slug}/items" in paths
    assert set(paths["/api/v1/projects/{slug}/items"]) >= {"get", "post"}
    assert "/api/v1/projects/{slug}/annotations/import" in paths
