"""Importing items (all-or-nothing, idempotent, never silently changed) and the items list."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import AuditEvent, ImportBatch, Item, ItemTag, Job, Project, Tag, User
from app.domain.annotation_import import import_annotations
from app.domain.errors import Conflict, InvalidInput
from app.domain.item_parsing import parse_annotation_rows, parse_item_rows
from app.domain.item_queries import ItemFilters, item_detail, list_items
from app.domain.items import LOOKUP_CHUNK, ImportResult, import_items
from tests.factories import make_project, make_user


def rows_of(*rows: dict[str, Any]) -> list[Any]:
    return parse_item_rows(json.dumps(list(rows)).encode(), "json")


def count(session: Session, model: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def snapshot(session: Session) -> tuple[int, ...]:
    return tuple(count(session, m) for m in (Item, ItemTag, Tag, ImportBatch, AuditEvent, Job))


@pytest.fixture
def lead(session: Session) -> User:
    return make_user(session, role="lead")


@pytest.fixture
def project(session: Session, lead: User) -> Project:
    return make_project(session, actor=lead)


def test_import_creates_items_with_tags_split_metadata_and_a_batch(
    session: Session, project: Project, lead: User
) -> None:
    result = import_items(
        session,
        project,
        rows_of(
            {
                "external_id": "r1",
                "text": "Great phone",
                "tags": ["sarcasm"],
                "split": "eval",
                "metadata": {"stars": 5},
            },
            {"external_id": "r2", "text": "Broke in a day"},
        ),
        actor=lead,
        filename="reviews.json",
    )
    assert result.created == 2 and result.unchanged == 0 and result.batch_id is not None
    items = {i.external_id: i for i in session.scalars(select(Item))}
    assert items["r1"].split == "eval" and items["r1"].metadata_ == {"stars": 5}
    assert items["r2"].split == "train" and items["r2"].metadata_ == {}
    assert items["r1"].text_hash == hashlib.sha256(b"Great phone").hexdigest()
    detail = item_detail(session, project, "r1")
    assert detail.tags == [("sarcasm", "import")]
    batch = session.get(ImportBatch, result.batch_id)
    assert batch is not None
    assert (batch.kind, batch.n_created, batch.n_unchanged, batch.filename) == (
        "items",
        2,
        0,
        "reviews.json",
    )
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "items.imported")).one()
    assert event.details["created"] == 2 and event.actor_id == lead.id
    job = session.scalars(select(Job).where(Job.kind == "recount_project")).one()
    assert job.payload == {"project_id": project.id}


def test_resending_the_same_rows_changes_nothing(
    session: Session, project: Project, lead: User
) -> None:
    rows = rows_of(
        {"external_id": "r1", "text": "one", "tags": ["sarcasm"], "metadata": {"a": [1, 2]}},
        {"external_id": "r2", "text": "two", "split": "holdout"},
    )
    import_items(session, project, rows, actor=lead)
    before = snapshot(session)
    again = import_items(session, project, rows, actor=lead)
    assert again == ImportResult(created=0, unchanged=2, batch_id=None)
    assert snapshot(session) == before


def test_a_partly_new_file_creates_only_the_new_rows(
    session: Session, project: Project, lead: User
) -> None:
    import_items(session, project, rows_of({"external_id": "r1", "text": "one"}), actor=lead)
    result = import_items(
        session,
        project,
        rows_of({"external_id": "r1", "text": "one"}, {"external_id": "r2", "text": "two"}),
        actor=lead,
    )
    assert (result.created, result.unchanged) == (1, 1)
    assert count(session, Item) == 2


def test_changed_text_under_an_existing_id_is_a_conflict_and_writes_nothing(
    session: Session, project: Project, lead: User
) -> None:
    # Given an imported item
    import_items(session, project, rows_of({"external_id": "r1", "text": "one"}), actor=lead)
    before = snapshot(session)
    # When a file with a new row *before* a changed one comes in
    with pytest.raises(Conflict) as caught:
        import_items(
            session,
            project,
            rows_of({"external_id": "new", "text": "fresh"}, {"external_id": "r1", "text": "ONE"}),
            actor=lead,
        )
    # Then the error names the row and id, and not even the new row was written
    assert caught.value.message.startswith(
        "the items were not imported: row 2: item 'r1' already exists with a different text"
    )
    assert caught.value.details["conflicts"][0]["external_id"] == "r1"
    assert snapshot(session) == before


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"split": "eval"}, "split (train → eval)"),
        ({"metadata": {"x": 1}}, "metadata"),
        ({"tags": ["sarcasm"]}, "tags"),
    ],
)
def test_other_changes_under_an_existing_id_are_conflicts_too(
    session: Session, project: Project, lead: User, change: dict[str, Any], named: str
) -> None:
    import_items(session, project, rows_of({"external_id": "r1", "text": "one"}), actor=lead)
    with pytest.raises(Conflict) as caught:
        import_items(
            session, project, rows_of({"external_id": "r1", "text": "one", **change}), actor=lead
        )
    assert f"different {named}" in caught.value.message


def test_unknown_tags_are_refused_unless_the_request_creates_them(
    session: Session, project: Project, lead: User
) -> None:
    rows = rows_of(
        {"external_id": "r1", "text": "one", "tags": ["sarcasm"]},
        {"external_id": "r2", "text": "two", "tags": ["negation", "sarcasm"]},
        {"external_id": "r3", "text": "three", "tags": ["negation"]},
    )
    before = snapshot(session)
    with pytest.raises(InvalidInput) as caught:
        import_items(session, project, rows, actor=lead)
    assert caught.value.message.startswith(
        "the items were not imported: row 2: tags 'negation' is not a tag of this project"
    )
    assert set(caught.value.field_errors) == {"row 2.tags", "row 3.tags"}
    assert snapshot(session) == before
    result = import_items(session, project, rows, actor=lead, create_tags=True)
    assert result.created == 3
    assert sorted(session.scalars(select(Tag.name).where(Tag.project_id == project.id))) == [
        "negation",
        "sarcasm",
    ]
    assert [name for name, _ in item_detail(session, project, "r2").tags] == [
        "negation",
        "sarcasm",
    ]


def test_duplicate_ids_given_directly_are_refused(
    session: Session, project: Project, lead: User
) -> None:
    rows = rows_of({"external_id": "a", "text": "one"}) + rows_of({"external_id": "a", "text": "x"})
    with pytest.raises(InvalidInput) as caught:
        import_items(session, project, rows, actor=lead)
    assert "also used by row 1" in caught.value.message
    assert count(session, Item) == 0


def test_the_same_external_id_may_live_in_two_projects(
    session: Session, project: Project, lead: User
) -> None:
    other = make_project(session, actor=lead)
    import_items(session, project, rows_of({"external_id": "r1", "text": "one"}), actor=lead)
    result = import_items(session, other, rows_of({"external_id": "r1", "text": "ONE"}), actor=lead)
    assert result.created == 1


def test_large_imports_cross_lookup_chunks_and_stay_idempotent(
    session: Session, project: Project, lead: User
) -> None:
    n = LOOKUP_CHUNK * 2 + 7
    body = "\n".join(
        json.dumps({"external_id": f"it-{i}", "text": f"text {i}", "tags": ["sarcasm"] * (i % 2)})
        for i in range(n)
    ).encode()
    rows = parse_item_rows(body, "jsonl")
    assert import_items(session, project, rows, actor=lead).created == n
    assert count(session, ItemTag) == n // 2
    assert import_items(session, project, rows, actor=lead).unchanged == n


# ---- the items list -------------------------------------------------------------------------


def label(session: Session, project: Project, lead: User, *rows: tuple[str, str, str]) -> None:
    body = "\n".join(
        json.dumps({"external_id": e, "annotator": a, "value": v}) for e, a, v in rows
    ).encode()
    import_annotations(session, project, parse_annotation_rows(body, "jsonl"), actor=lead)


@pytest.fixture
def labelled(session: Session, project: Project, lead: User) -> Project:
    """Overlap 3; i1 unlabelled, i2 complete, i3 two disagreeing, i4 three disagreeing."""
    import_items(
        session,
        project,
        rows_of(
            {"external_id": "i1", "text": "Nothing yet", "split": "eval"},
            {"external_id": "i2", "text": "All agree 100%", "tags": ["sarcasm"]},
            {"external_id": "i3", "text": "Two disagree"},
            {"external_id": "i4", "text": "Three disagree", "tags": ["sarcasm"]},
        ),
        actor=lead,
    )
    label(
        session,
        project,
        lead,
        ("i2", "ann", "positive"),
        ("i2", "bob", "positive"),
        ("i2", "cat", "positive"),
        ("i3", "ann", "positive"),
        ("i3", "bob", "negative"),
        ("i4", "ann", "positive"),
        ("i4", "bob", "negative"),
        ("i4", "cat", "negative"),
    )
    return project


def ids(page: Any) -> list[str]:
    return [s.item.external_id for s in page.items]


def test_statuses_follow_overlap_and_agreement(session: Session, labelled: Project) -> None:
    page = list_items(session, labelled, ItemFilters())
    assert page.counts == {"all": 4, "needs_labels": 2, "complete": 1, "disputed": 2}
    assert {s.item.external_id: s.statuses for s in page.items} == {
        "i1": ["needs_labels"],
        "i2": ["complete"],
        "i3": ["needs_labels", "disputed"],
        "i4": ["disputed"],
    }
    assert [s.n_annotations for s in page.items] == [0, 3, 2, 3]
    assert ids(list_items(session, labelled, ItemFilters(status="needs_labels"))) == ["i1", "i3"]
    assert ids(list_items(session, labelled, ItemFilters(status="complete"))) == ["i2"]
    assert ids(list_items(session, labelled, ItemFilters(status="disputed"))) == ["i3", "i4"]


def test_filters_combine_and_counts_follow_them(session: Session, labelled: Project) -> None:
    tagged = list_items(session, labelled, ItemFilters(tag="sarcasm"))
    assert ids(tagged) == ["i2", "i4"]
    assert tagged.counts == {"all": 2, "needs_labels": 0, "complete": 1, "disputed": 1}
    assert ids(list_items(session, labelled, ItemFilters(split="eval"))) == ["i1"]
    assert ids(list_items(session, labelled, ItemFilters(tag="sarcasm", status="disputed"))) == [
        "i4"
    ]
    assert ids(list_items(session, labelled, ItemFilters(tag="nope"))) == []


def test_search_is_case_insensitive_and_takes_wildcards_literally(
    session: Session, labelled: Project
) -> None:
    assert ids(list_items(session, labelled, ItemFilters(q="DISAGREE"))) == ["i3", "i4"]
    assert ids(list_items(session, labelled, ItemFilters(q="100%"))) == ["i2"]
    assert ids(list_items(session, labelled, ItemFilters(q="%"))) == ["i2"]
    assert ids(list_items(session, labelled, ItemFilters(q="i4"))) == ["i4"]  # ids match too


def test_pages_hold_per_page_items(session: Session, project: Project, lead: User) -> None:
    import_items(
        session,
        project,
        rows_of(*({"external_id": f"p{i:03d}", "text": "t"} for i in range(120))),
        actor=lead,
    )
    first = list_items(session, project, ItemFilters(), page=1)
    last = list_items(session, project, ItemFilters(), page=3)
    assert (len(first.items), first.total, first.pages) == (50, 120, 3)
    assert ids(last)[0] == "p100" and len(last.items) == 20
    assert list_items(session, project, ItemFilters(), page=9).items == []


def test_unknown_filter_values_are_refused(session: Session, project: Project) -> None:
    with pytest.raises(InvalidInput) as caught:
        list_items(session, project, ItemFilters(split="test", status="done"))
    assert set(caught.value.field_errors) == {"split", "status"}


def test_item_detail_shows_annotations_and_the_items_audit_log(
    session: Session, labelled: Project, lead: User
) -> None:
    session.add(
        AuditEvent(
            action="assignment.leased",
            actor_id=lead.id,
            project_id=labelled.id,
            item_id=item_detail(session, labelled, "i3").item.id,
            details={"slot": 1},
        )
    )
    session.flush()
    detail = item_detail(session, labelled, "i3")
    assert [(a.annotator, a.value, a.spec_number, a.source) for a in detail.annotations] == [
        ("ann", "positive", 1, "import"),
        ("bob", "negative", 1, "import"),
    ]
    assert [(e.actor, e.action) for e in detail.audit] == [(lead.display_name, "assignment.leased")]
    assert detail.batch is not None and detail.batch.kind == "items"
