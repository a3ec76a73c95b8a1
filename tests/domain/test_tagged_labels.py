"""The tagged items' labels kept between readers: brought up to date they equal a whole read."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine, func, insert, select, update

from app.db import bulk_read
from app.db.base import utcnow
from app.db.bulk_read import bulk_reads
from app.db.engine import make_session_factory, session_scope
from app.db.models import Annotation, Item, ItemTag, KeptTaggedLabels, Tag
from app.domain import tagged_labels
from app.domain.demo import DEMO_SLUG, load_demo
from app.domain.projects import get_project, tag_names
from app.domain.tagged_labels import tagged_ratings
from tests.factories import calls_of

Frames = tuple[pl.DataFrame, pl.DataFrame]


@pytest.fixture
def demo(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The demo, committed, large enough (by lowered thresholds) to read in bulk and keep."""
    with session_scope(make_session_factory(engine, immediate=True), immediate=True) as s:
        load_demo(s)
    monkeypatch.setattr(bulk_read, "BULK_READ_MIN_ROWS", 0)
    monkeypatch.setattr(tagged_labels, "STORE_MIN_ANNOTATIONS", 0)
    return engine


@pytest.fixture
def whole_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per whole read of the tagged labels."""
    return calls_of(monkeypatch, tagged_labels, "read_tagged_labels")


def read(engine: Engine, *, bulk: bool = True) -> Frames:
    """The tagged ratings and tags as a reader in a bulk read (or a plain one) gets them."""
    with session_scope(make_session_factory(engine)) as s:
        project = get_project(s, DEMO_SLUG)
        with bulk_reads(s, rows=1) if bulk else nullcontext():
            ratings, tags = tagged_ratings(s, project, tag_names(s, project))
    return ratings.sort("item", "annotator"), tags.sort("item", "tag")


def same(a: Frames, b: Frames) -> bool:
    return a[0].equals(b[0]) and a[1].equals(b[1])


def write(engine: Engine, statement: Any) -> None:
    with session_scope(make_session_factory(engine, immediate=True), immediate=True) as s:
        s.execute(statement)


def tagged_labels_of(engine: Engine) -> list[Any]:
    """Live labels on tagged items, oldest first."""
    with session_scope(make_session_factory(engine)) as s:
        return list(
            s.execute(
                select(Annotation)
                .where(
                    Annotation.retracted_at.is_(None),
                    Annotation.item_id.in_(select(ItemTag.item_id)),
                )
                .order_by(Annotation.id)
            ).scalars()
        )


def retraction(label: Annotation) -> Any:
    return update(Annotation).where(Annotation.id == label.id).values(retracted_at=utcnow())


def relabeled(label: Annotation, **changes: Any) -> Any:
    """An insert of a label like ``label`` with ``changes``."""
    fields = {
        name: getattr(label, name)
        for name in ("project_id", "item_id", "user_id", "spec_version_id", "label_round", "value")
    }
    return insert(Annotation).values(**(fields | {"source": "api"} | changes))


def test_labels_added_and_retracted_since_are_read_alone(
    demo: Engine, whole_reads: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = read(demo)
    assert whole_reads == [1] and first[0].height > 0
    assert same(read(demo), first)
    assert whole_reads == [1]  # the kept set, nothing new to read
    kept_before = kept_point(demo)
    labels = tagged_labels_of(demo)
    corrected, dropped, stale = labels[0], labels[1], labels[2]
    # A correction: the old label retracted, a new one added; another label retracted; a label
    # made under an earlier round of its item (it is not in force).
    write(demo, retraction(corrected))
    write(demo, relabeled(corrected, value="corrected-value"))
    write(demo, retraction(dropped))
    write(demo, relabeled(stale, label_round=stale.label_round - 1, user_id=dropped.user_id))
    brought_up = read(demo)
    assert whole_reads == [1]
    assert same(brought_up, read(demo, bulk=False))  # what a whole read gives
    assert brought_up[0].height == first[0].height - 1
    assert "corrected-value" in brought_up[0]["value"].cast(pl.String).to_list()
    # Two new labels are not worth rewriting the kept set; past REKEEP_AFTER they are.
    assert kept_point(demo) == kept_before
    monkeypatch.setattr(tagged_labels, "REKEEP_AFTER", 0)
    assert same(read(demo), brought_up) and kept_point(demo) > kept_before
    assert same(read(demo), brought_up) and whole_reads == [1, 1]  # one was the plain read


def kept_point(engine: Engine) -> int:
    """The highest annotation id the kept set was read at."""
    with session_scope(make_session_factory(engine)) as s:
        return s.scalars(select(KeptTaggedLabels.last_annotation_id)).one()


def test_an_item_tagged_anew_has_the_labels_read_whole(
    demo: Engine, whole_reads: list[int]
) -> None:
    read(demo)
    with session_scope(make_session_factory(demo, immediate=True), immediate=True) as s:
        project = get_project(s, DEMO_SLUG)
        tag = Tag(project_id=project.id, name="brand_new")
        s.add(tag)
        s.flush()
        untagged = s.scalar(
            select(func.max(Item.id)).where(
                Item.project_id == project.id, Item.id.not_in(select(ItemTag.item_id))
            )
        )
        s.add(ItemTag(item_id=untagged, tag_id=tag.id, source="import", added_at=utcnow()))
    again = read(demo)
    assert whole_reads == [1, 1]
    assert same(again, read(demo, bulk=False))
    assert "brand_new" in again[1]["tag"].to_list()


def test_a_label_committed_late_under_a_lower_id_is_not_missed(
    demo: Engine, whole_reads: list[int]
) -> None:
    read(demo)
    label = tagged_labels_of(demo)[0]
    write(demo, relabeled(label, user_id=tagged_labels_of(demo)[1].user_id, value="late"))
    # As if the kept read had seen a higher id than this label's while it was not committed.
    with session_scope(make_session_factory(demo)) as s:
        newest = s.scalar(select(func.max(Annotation.id)))
    write(demo, update(KeptTaggedLabels).values(last_annotation_id=newest))
    found = read(demo)
    assert whole_reads == [1, 1]  # the counts did not add up: read whole
    assert "late" in found[0]["value"].cast(pl.String).to_list()


def test_nothing_is_kept_outside_a_bulk_read(demo: Engine, whole_reads: list[int]) -> None:
    read(demo, bulk=False)
    read(demo, bulk=False)
    assert whole_reads == [1, 1]
    with session_scope(make_session_factory(demo)) as s:
        assert s.scalar(select(func.count()).select_from(KeptTaggedLabels)) == 0


def test_the_catching_up_read_ahead_gives_the_same_labels(
    demo: Engine, whole_reads: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    read(demo)
    write(demo, retraction(tagged_labels_of(demo)[0]))
    with session_scope(make_session_factory(demo)) as s:
        project = get_project(s, DEMO_SLUG)
        with bulk_reads(s, rows=1):
            tagged_labels.prefetch_catching_up(s, project)
            reader = bulk_read.open_reader(s)
            assert reader is not None
            started = calls_of(monkeypatch, reader, "_start")
            ratings, tags = tagged_ratings(s, project, tag_names(s, project))
    assert whole_reads == [1]
    assert started == []  # every read was asked ahead
    assert same(
        (ratings.sort("item", "annotator"), tags.sort("item", "tag")), read(demo, bulk=False)
    )


def test_a_transaction_goes_on_with_the_point_its_bulk_read_saw(demo: Engine) -> None:
    label = tagged_labels_of(demo)[0]
    with session_scope(make_session_factory(demo)) as s:
        project = get_project(s, DEMO_SLUG)
        tag_ids = list(tag_names(s, project))
        with bulk_reads(s, rows=1):
            seen = tagged_labels.labels_point(s, project, tag_ids)
        # Another transaction commits a label: this one's report (a snapshot's manifest after
        # its rows) still describes what its bulk read saw.
        write(demo, relabeled(label, value="meanwhile"))
        assert tagged_labels.labels_point(s, project, tag_ids) == seen
    with session_scope(make_session_factory(demo)) as s:
        project = get_project(s, DEMO_SLUG)
        later = tagged_labels.labels_point(s, project, tag_ids)
    assert later.annotations == seen.annotations + 1
