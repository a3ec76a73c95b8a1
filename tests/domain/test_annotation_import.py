"""Importing labels made elsewhere: attributed, validated against the spec, all-or-nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import (
    Annotation,
    AnnotationTag,
    AuditEvent,
    ImportBatch,
    Job,
    Membership,
    Project,
    SpecVersion,
    User,
)
from app.domain.annotation_import import import_annotations
from app.domain.errors import Conflict, InvalidInput
from app.domain.item_parsing import parse_annotation_rows, parse_item_rows
from app.domain.item_queries import item_detail
from app.domain.items import import_items
from app.domain.projects import LabelInput
from tests.factories import make_project, make_user


def annotations(*rows: dict[str, Any]) -> list[Any]:
    return parse_annotation_rows(json.dumps(list(rows)).encode(), "json")


def count(session: Session, model: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def snapshot(session: Session) -> tuple[int, ...]:
    return tuple(count(session, m) for m in (Annotation, AnnotationTag, User, ImportBatch, Job))


@pytest.fixture
def lead(session: Session) -> User:
    return make_user(session, role="lead")


def with_items(session: Session, project: Project, lead: User, *ids: str) -> Project:
    rows = parse_item_rows(
        json.dumps([{"external_id": i, "text": f"text of {i}"} for i in ids]).encode(), "json"
    )
    import_items(session, project, rows, actor=lead)
    return project


@pytest.fixture
def project(session: Session, lead: User) -> Project:
    return with_items(session, make_project(session, actor=lead), lead, "a", "b", "c")


def test_vendor_labels_are_attributed_and_unknown_annotators_created_without_login(
    session: Session, project: Project, lead: User
) -> None:
    # Given a known annotator and a vendor nobody has heard of
    known = make_user(session, email="ann@example.test")
    # When their labels are imported
    result = import_annotations(
        session,
        project,
        annotations(
            {
                "external_id": "a",
                "annotator": "ANN@example.test",
                "value": "positive",
                "tags": ["sarcasm"],
                "unclear": True,
                "comment": "irony?",
                "duration_ms": 1200,
            },
            {
                "external_id": "a",
                "annotator": "vendor-7",
                "value": "negative",
                "created_at": "2026-03-01T10:00:00",
            },
            {"external_id": "b", "annotator": "vendor-7", "value": "neutral"},
        ),
        actor=lead,
    )
    # Then the annotations exist, stamped with the current spec and marked as imported
    assert result.created == 3 and result.annotators_created == ["vendor-7"]
    vendor = session.scalars(select(User).where(User.handle == "vendor-7")).one()
    assert vendor.role == "annotator" and vendor.password_hash is None and not vendor.can_log_in
    stored = session.scalars(select(Annotation).order_by(Annotation.id)).all()
    assert [a.user_id for a in stored] == [known.id, vendor.id, vendor.id]
    assert {a.source for a in stored} == {"import"}
    assert {a.import_batch_id for a in stored} == {result.batch_id}
    assert stored[1].created_at == datetime(2026, 3, 1, 10, tzinfo=UTC)
    current = session.scalars(select(SpecVersion).where(SpecVersion.is_current)).one()
    assert {a.spec_version_id for a in stored} == {current.id}
    detail = item_detail(session, project, "a")
    # oldest first: the vendor's label says it was made in March
    assert [a.annotator for a in detail.annotations] == ["vendor-7", known.display_name]
    first = detail.annotations[1]
    assert (first.tags, first.unclear, first.comment, first.duration_ms) == (
        ["sarcasm"],
        True,
        "irony?",
        1200,
    )
    # Vendors are attributed, not made members of the project
    assert session.scalar(select(Membership).where(Membership.user_id == vendor.id)) is None
    batch = session.get(ImportBatch, result.batch_id)
    assert batch is not None and (batch.kind, batch.n_created) == ("annotations", 3)
    assert session.scalars(
        select(AuditEvent).where(AuditEvent.action == "annotations.imported")
    ).one().details["annotators_created"] == ["vendor-7"]
    assert session.scalars(select(Job).where(Job.kind == "recount_project")).one()


def test_the_same_handle_twice_resolves_to_the_same_person(
    session: Session, project: Project, lead: User
) -> None:
    import_annotations(
        session,
        project,
        annotations({"external_id": "a", "annotator": "Vendor-7", "value": "positive"}),
        actor=lead,
    )
    result = import_annotations(
        session,
        project,
        annotations({"external_id": "b", "annotator": "vendor-7", "value": "positive"}),
        actor=lead,
    )
    assert result.annotators_created == []
    assert (
        session.scalar(select(func.count()).select_from(User).where(User.handle.like("vendor-7%")))
        == 1
    )


def test_a_bad_label_is_a_422_naming_the_row_and_nothing_is_written(
    session: Session, project: Project, lead: User
) -> None:
    before = snapshot(session)
    with pytest.raises(InvalidInput) as caught:
        import_annotations(
            session,
            project,
            annotations(
                {"external_id": "a", "annotator": "new-vendor", "value": "positive"},
                {"external_id": "b", "annotator": "new-vendor", "value": "postive"},
                {"external_id": "c", "annotator": "new-vendor", "value": "neutral"},
            ),
            actor=lead,
        )
    assert caught.value.message.startswith(
        "the annotations were not imported: row 2: value unknown label 'postive'"
    )
    assert "positive, negative, neutral" in caught.value.field_errors["row 2.value"]
    # not even the unknown annotator of the good rows was created
    assert snapshot(session) == before


def test_unknown_items_tags_and_spec_versions_are_named(
    session: Session, project: Project, lead: User
) -> None:
    session.add(SpecVersion(project_id=project.id, number=2, status="draft"))
    session.flush()
    with pytest.raises(InvalidInput) as caught:
        import_annotations(
            session,
            project,
            annotations(
                {"external_id": "zzz", "annotator": "v", "value": "positive"},
                {"external_id": "a", "annotator": "v", "value": "positive", "tags": ["nope"]},
                {"external_id": "b", "annotator": "v", "value": "positive", "spec_version": 2},
                {"external_id": "c", "annotator": "v", "value": "positive", "spec_version": 1},
            ),
            actor=lead,
        )
    assert caught.value.field_errors == {
        "row 1.external_id": "no item 'zzz' in this project",
        "row 2.tags": "'nope' is not a tag of this project",
        "row 3.spec_version": "v2 is not a published spec version of this project (published: v1)",
    }


def test_labelling_an_item_twice_under_one_version_is_a_conflict(
    session: Session, project: Project, lead: User
) -> None:
    import_annotations(
        session,
        project,
        annotations({"external_id": "a", "annotator": "v", "value": "positive"}),
        actor=lead,
    )
    before = snapshot(session)
    with pytest.raises(Conflict) as caught:
        import_annotations(
            session,
            project,
            annotations(
                {"external_id": "b", "annotator": "v", "value": "positive"},
                {"external_id": "a", "annotator": "V", "value": "negative"},
            ),
            actor=lead,
        )
    assert caught.value.status_code == 409
    assert caught.value.message.startswith(
        "the annotations were not imported: row 2: v has already labelled item 'a' under spec v1"
    )
    assert snapshot(session) == before


def test_duplicates_within_one_request_name_both_rows(
    session: Session, project: Project, lead: User
) -> None:
    with pytest.raises(Conflict) as caught:
        import_annotations(
            session,
            project,
            annotations(
                {"external_id": "a", "annotator": "new@example.test", "value": "positive"},
                {"external_id": "a", "annotator": "New@Example.test", "value": "negative"},
            ),
            actor=lead,
        )
    assert "row 2: new@example.test also labels (as on row 1) item 'a'" in caught.value.message
    assert count(session, Annotation) == 0


def test_csv_values_follow_the_task_kind(session: Session, lead: User) -> None:
    multi = with_items(
        session,
        make_project(
            session,
            actor=lead,
            kind="multi_choice",
            labels=[
                LabelInput("food", "Food"),
                LabelInput("service", "Service"),
                LabelInput("price", "Price"),
            ],
        ),
        lead,
        "m1",
    )
    numeric = with_items(
        session,
        make_project(
            session, actor=lead, kind="numeric", labels=[], scale={"min": 1, "max": 5, "step": 0.5}
        ),
        lead,
        "n1",
        "n2",
    )
    body = b"external_id,annotator,value\nm1,v,price;food\n"
    import_annotations(session, multi, parse_annotation_rows(body, "csv"), actor=lead)
    assert item_detail(session, multi, "m1").annotations[0].value == ["food", "price"]
    body = b"external_id,annotator,value\nn1,v,4.5\n"
    import_annotations(session, numeric, parse_annotation_rows(body, "csv"), actor=lead)
    assert item_detail(session, numeric, "n1").annotations[0].value == 4.5
    with pytest.raises(InvalidInput) as caught:
        import_annotations(
            session,
            numeric,
            parse_annotation_rows(b"external_id,annotator,value\nn2,v,4.2\n", "csv"),
            actor=lead,
        )
    assert "line 2.value" in caught.value.field_errors
