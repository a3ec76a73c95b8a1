"""Agreement reports from the database: the demo's story, slices, staleness, bad parameters."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import Annotation, Item
from app.domain import agreement_store
from app.domain.adjudication import adjudicate_item
from app.domain.agreement import agreement_report, report_json, slice_json, tag_slices
from app.domain.agreement_views import tag_drilldown
from app.domain.annotation_import import import_annotations
from app.domain.demo import DEMO_SLUG, load_demo
from app.domain.errors import InvalidInput, NotFound
from app.domain.item_parsing import parse_annotation_rows
from app.domain.outbox import run_job
from app.domain.people import get_user_by_email
from app.domain.projects import LabelInput, get_project
from app.domain.specs import publish_spec
from app.jobs.actors import HANDLERS
from tests.domain.test_assignment import add_items
from tests.factories import draft_with, make_project, make_user


def test_the_demo_shows_the_sarcasm_split_and_the_noisy_annotator(session: Session) -> None:
    # Given the demo project
    load_demo(session)
    project = get_project(session, DEMO_SLUG)
    # When a lead asks for agreement by tag and by annotator
    by_tag = report_json(agreement_report(session, project, by="tag", resamples=300))
    by_person = report_json(agreement_report(session, project, by="annotator", resamples=300))
    # Then sarcasm is the weakest tag, confidently under the threshold, with enough data
    tags = {g["key"]: g for g in by_tag["groups"]}
    assert set(tags) == {"sarcasm", "negation", "mixed_language", "emoji_only"}
    sarcasm = tags["sarcasm"]
    assert sarcasm["alpha"] == min(g["alpha"] for g in tags.values())
    assert sarcasm["ci"]["high"] < project.alpha_threshold and not sarcasm["reliable"]
    assert sarcasm["n_pairable"] >= project.min_pairable
    # and the noisy annotator drags alpha down the most (leave-one-out)
    people = {g["key"]: g for g in by_person["groups"]}
    noisiest = min(people.values(), key=lambda g: g["loo_effect"])
    assert noisiest["key"] == "farid"
    assert noisiest["alpha_without"] > by_person["alpha"]
    # Every number comes with its counts, and nothing is NaN
    assert by_tag["level"] == "nominal" and by_tag["spec_version"] == "current"
    assert 0 < by_tag["n_pairable"] <= by_tag["n_annotations"]
    assert all(g["alpha"] == g["alpha"] for g in tags.values())


def _vendor(session: Session, project_slug: str, rows: list[dict[str, object]]) -> None:
    import json

    project = get_project(session, project_slug)
    lead = get_user_by_email(session, "lee@example.test")
    import_annotations(
        session, project, parse_annotation_rows(json.dumps(rows).encode(), "json"), actor=lead
    )


def test_reports_follow_every_committed_annotation(session: Session) -> None:
    make_user(session, email="lee@example.test", role="lead")
    project = make_project(
        session, actor=get_user_by_email(session, "lee@example.test"), slug="shop", overlap=2
    )
    project.min_pairable = 4
    items = add_items(session, project, 3, tags=("sarcasm",))
    eids = [i.external_id for i in items]
    _vendor(
        session,
        "shop",
        [{"external_id": e, "annotator": a, "value": "positive"} for e in eids for a in "ab"],
    )
    first = agreement_report(session, project, by="tag", resamples=50)
    assert first.overall.alpha is None and first.overall.why is not None  # no variation yet
    assert first.overall.n_annotations == 6
    # When a disagreeing label arrives, the next report includes it (the cache is stale)
    _vendor(session, "shop", [{"external_id": eids[0], "annotator": "c", "value": "negative"}])
    second = agreement_report(session, project, by="tag", resamples=50)
    assert second.overall.n_annotations == 7 and second.overall.alpha is not None
    assert second.groups[0].key == "sarcasm" and second.groups[0].n_annotations == 7
    # A retraction (an undo) moves the watermark too
    disagreeing = session.scalars(select(Annotation).order_by(Annotation.id.desc())).first()
    assert disagreeing is not None
    disagreeing.retracted_at = utcnow()
    session.flush()
    assert agreement_report(session, project, by="tag", resamples=50).overall.n_annotations == 6
    # A tag with no rated item is listed, empty, and says why it is not judged
    add_items(session, project, 1, tags=("negation",))
    third = agreement_report(session, project, by="tag", resamples=50)
    negation = next(g for g in third.groups if g.key == "negation")
    assert (negation.alpha, negation.n_pairable, negation.reliable) == (None, 0, False)
    assert negation.why is not None and "pairable" in negation.why
    assert session.scalar(select(Item.id).where(Item.project_id == project.id)) is not None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"by": "colour"}, "by"),
        ({"spec_version": "7"}, "spec_version"),
        ({"spec_version": "latest"}, "spec_version"),
        ({"resamples": -1}, "resamples"),
        ({"confidence": 1.0}, "confidence"),
    ],
)
def test_bad_parameters_are_named(session: Session, kwargs: dict[str, object], field: str) -> None:
    project = make_project(session)
    with pytest.raises(InvalidInput) as refused:
        agreement_report(session, project, **kwargs)  # type: ignore[arg-type]
    assert field in refused.value.field_errors


def test_the_sarcasm_drilldown_shows_two_annotators_each_keeping_to_a_label(
    session: Session,
) -> None:
    load_demo(session)
    project = get_project(session, DEMO_SLUG)
    view = tag_drilldown(session, project, "sarcasm", 1)
    table = {who: (counts, total) for who, counts, total in view.annotator_labels}
    tops = {}
    for who in ("ana", "ben"):
        counts, total = table[who]
        label, n = max(counts.items(), key=lambda kv: kv[1])
        assert n / total >= 0.7, (who, counts)
        tops[who] = label
    assert tops["ana"] != tops["ben"]  # one reads the words, the other the intent
    c = view.coincidences
    assert c is not None and (c.observed == c.observed.T).all()  # coincidences are symmetric
    assert [number for number, _ in view.rules] == [1] and view.rules[0][1]
    assert view.n_disputed >= len(view.disputed) > 0 and view.n_unclear > 0
    with pytest.raises(NotFound):
        tag_drilldown(session, project, "no_such_tag", 1)


def test_annotators_are_scored_against_the_ruling_in_force(session: Session) -> None:
    lead = make_user(session, email="lee@example.test", role="lead")
    project = make_project(session, actor=lead, slug="shop", overlap=2)
    items = add_items(session, project, 2)
    eids = [i.external_id for i in items]
    _vendor(
        session,
        "shop",
        [
            {"external_id": eids[0], "annotator": "a", "value": "positive"},
            {"external_id": eids[0], "annotator": "b", "value": "negative"},
            {"external_id": eids[1], "annotator": "a", "value": "neutral"},
            {"external_id": eids[1], "annotator": "b", "value": "neutral"},
        ],
    )
    before = {g.key: g.extra for g in agreement_report(session, project, by="annotator").groups}
    assert before["a"]["accuracy"] is None and before["a"]["n_adjudicated"] == 0
    # a first ruling says positive, then a revision says negative: the revision is in force
    adjudicate_item(session, project, items[0], value="positive", rationale="r1", actor=lead)
    adjudicate_item(session, project, items[0], value="negative", rationale="r2", actor=lead)
    adjudicate_item(session, project, items[1], value="neutral", rationale="r3", actor=lead)
    after = {g.key: g.extra for g in agreement_report(session, project, by="annotator").groups}
    assert (after["a"]["accuracy"], after["a"]["n_adjudicated"]) == (0.5, 2)
    assert (after["b"]["accuracy"], after["b"]["n_adjudicated"]) == (1.0, 2)


def test_the_tag_drilldown_reads_the_labels_in_force_after_a_campaign(session: Session) -> None:
    load_demo(session)
    project = get_project(session, DEMO_SLUG)
    lead = get_user_by_email(session, "lead@demo.accord.test")
    before = tag_drilldown(session, project, "sarcasm", "current")
    assert before.n_disputed > 0
    draft = draft_with(session, project, lead, rules=[{"tag": "sarcasm", "text": "Intent."}])
    _, job = publish_spec(session, project, draft.number, actor=lead)
    run_job(session, job.id, HANDLERS)
    # Every sarcasm label went stale: nothing is in force on the tag, all of it is history
    after = tag_drilldown(session, project, "sarcasm", "current")
    assert (after.n_disputed, after.annotator_labels) == (0, [])
    history = tag_drilldown(session, project, "sarcasm", "all")
    assert history.n_disputed == before.n_disputed


def test_several_groupings_read_the_ratings_once_and_match_one_at_a_time(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.domain.agreement as agreement

    load_demo(session)
    project = get_project(session, DEMO_SLUG)
    reads = []
    real = agreement.load_ratings
    monkeypatch.setattr(agreement, "load_ratings", lambda *a, **k: reads.append(1) or real(*a, **k))
    together = agreement.agreement_reports(
        session, project, groupings=("tag", "label", "annotator"), resamples=100
    )
    assert len(reads) == 1
    agreement_store.forget_reports()
    for by in ("tag", "label", "annotator"):
        alone = agreement_report(session, project, by=by, resamples=100)
        assert report_json(alone) == report_json(together[by])
    assert len(reads) == 4
    # Cached until an annotation arrives: asking again reads nothing.
    again = agreement.agreement_reports(session, project, groupings=("tag", "label"), resamples=100)
    assert len(reads) == 4
    assert report_json(again["tag"]) == report_json(together["tag"])


def _same_tag_slices_without_reading_every_label(
    session: Session, project_slug: str, monkeypatch: pytest.MonkeyPatch
) -> list[dict[str, object]]:
    import app.domain.agreement as agreement

    project = get_project(session, project_slug)
    report = agreement_report(session, project, by="tag")
    reads = []
    real = agreement.load_ratings
    monkeypatch.setattr(agreement, "load_ratings", lambda *a, **k: reads.append(1) or real(*a, **k))
    agreement_store.forget_reports()
    slices = tag_slices(session, project)
    assert reads == []
    assert slices.measure == report.measure
    assert [slice_json(g) for g in slices.groups] == [slice_json(g) for g in report.groups]
    return [slice_json(g) for g in slices.groups]


def test_tag_slices_match_the_tag_report_from_the_tagged_labels_alone(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_demo(session)
    groups = _same_tag_slices_without_reading_every_label(session, DEMO_SLUG, monkeypatch)
    assert {g["key"] for g in groups} == {"sarcasm", "negation", "mixed_language", "emoji_only"}
    assert all(g["ci"] is not None for g in groups if g["n_pairable"])


def test_tag_slices_of_an_ordinal_scale_with_items_under_two_tags(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user(session, email="lee@example.test", role="lead")
    scale = [LabelInput(key, key.title()) for key in ("low", "mid", "high")]
    project = make_project(
        session,
        actor=get_user_by_email(session, "lee@example.test"),
        slug="scale",
        kind="ordinal",
        labels=scale,
    )
    project.min_pairable = 4
    both = add_items(session, project, 6, tags=("sarcasm", "negation"))
    one = add_items(session, project, 6, tags=("sarcasm",))
    untagged = add_items(session, project, 6)
    values = ["low", "mid", "high"]
    rows = [
        {"external_id": item.external_id, "annotator": who, "value": values[(i + j * (i % 3)) % 3]}
        for i, item in enumerate(both + one + untagged)
        for j, who in enumerate("abc")
    ]
    _vendor(session, "scale", rows)
    groups = _same_tag_slices_without_reading_every_label(session, "scale", monkeypatch)
    counts = {g["key"]: g["n_annotations"] for g in groups}
    assert counts == {"negation": 18, "sarcasm": 36}


def test_a_project_without_tags_has_no_tag_slices(session: Session) -> None:
    project = make_project(session, rules={})
    items = add_items(session, project, 2)
    assert items and tag_slices(session, project).groups == []
    assert agreement_report(session, project, by="tag").groups == []


def test_tag_slices_queue_the_callers_reads_once_whether_computed_or_remembered(
    session: Session,
) -> None:
    load_demo(session)
    project = get_project(session, DEMO_SLUG)
    calls: list[str] = []
    computed = tag_slices(session, project, meanwhile=lambda: calls.append("queued"))
    remembered = tag_slices(session, project, meanwhile=lambda: calls.append("queued"))
    assert calls == ["queued", "queued"]
    assert remembered == computed
