"""The demo project: what it creates, that it is idempotent and deterministic, and its story.

The story is what the dashboards must reveal, so it is checked with the reference
``krippendorff`` package: fair agreement overall, a sarcasm hotspot where two otherwise reliable
annotators (Ana, Ben) split systematically, and one annotator (Farid) who is noisy everywhere.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.engine import make_engine
from app.db.models import (
    Annotation,
    AnnotationTag,
    Assignment,
    AuditEvent,
    ImportBatch,
    Item,
    ItemTag,
    Membership,
    Project,
    SpecVersion,
    Tag,
    User,
)
from app.domain import credentials
from app.domain.demo import BASE_TIME, DEMO_SLUG, DemoResult, load_demo, plan_demo
from app.domain.errors import Conflict
from tests.factories import make_user

TAGS = {"sarcasm", "negation", "mixed_language", "emoji_only"}
LABELS = ("positive", "negative", "neutral", "mixed")
ANNOTATORS = [
    f"{name}@demo.accord.test" for name in ("ana", "ben", "chloe", "dev", "emma", "farid")
]
ANA, BEN, FARID = ANNOTATORS[0], ANNOTATORS[1], ANNOTATORS[5]


@pytest.fixture
def demo(session: Session) -> DemoResult:
    return load_demo(session)


def _item_tags(session: Session) -> dict[str, set[str]]:
    tags: dict[str, set[str]] = {eid: set() for eid in session.scalars(select(Item.external_id))}
    for eid, name in session.execute(
        select(Item.external_id, Tag.name)
        .join(ItemTag, ItemTag.item_id == Item.id)
        .join(Tag, Tag.id == ItemTag.tag_id)
    ):
        tags[eid].add(name)
    return tags


def _labels(session: Session) -> dict[tuple[str, str], str]:
    """(annotator email, external_id) -> label, for every annotation."""
    rows = session.execute(
        select(User.email, Item.external_id, Annotation.value)
        .select_from(Annotation)
        .join(User, User.id == Annotation.user_id)
        .join(Item, Item.id == Annotation.item_id)
    )
    return {(email, eid): value for email, eid, value in rows}


def _digest(session: Session) -> str:
    """A hash of everything the seed determines: items, tags, annotators, labels, times."""
    tags = _item_tags(session)
    items = session.execute(
        select(Item.external_id, Item.text, Item.text_hash, Item.split, Item.metadata_).order_by(
            Item.external_id
        )
    )
    annotations = session.execute(
        select(
            Item.external_id,
            Assignment.slot,
            User.email,
            Annotation.value,
            Annotation.duration_ms,
            Annotation.unclear,
            Annotation.comment,
            Annotation.created_at,
        )
        .join(Item, Item.id == Annotation.item_id)
        .join(User, User.id == Annotation.user_id)
        .join(Assignment, Assignment.id == Annotation.assignment_id)
        .order_by(Item.external_id, Assignment.slot)
    )
    payload = {
        "items": [[*row[:4], row[4], sorted(tags[row[0]])] for row in items],
        "annotations": [[*row[:7], row[7].isoformat()] for row in annotations],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _alpha(labels: dict[tuple[str, str], str], annotators: list[str], items: list[str]) -> float:
    data = np.full((len(annotators), len(items)), np.nan)
    for row, email in enumerate(annotators):
        for col, eid in enumerate(items):
            value = labels.get((email, eid))
            if value is not None:
                data[row, col] = LABELS.index(value)
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


def test_demo_creates_a_complete_consistent_project(session: Session, demo: DemoResult) -> None:
    assert demo.created and demo.project_slug == DEMO_SLUG
    assert sorted(login.email for login in demo.logins) == sorted(
        [*ANNOTATORS, "lead@demo.accord.test"]
    )
    assert len({login.password for login in demo.logins}) == 7
    users = session.scalars(select(User)).all()
    assert len(users) == 7 and all(user.can_log_in for user in users)
    assert Counter(user.role for user in users) == {"annotator": 6, "lead": 1}
    lead = next(login for login in demo.logins if login.role == "lead")
    login_user = credentials.authenticate(
        session, lead.email, lead.password, client="t", max_failures=3, window=timedelta(minutes=1)
    )
    assert login_user.email == lead.email

    project = session.scalars(select(Project)).one()
    assert (project.slug, project.kind, project.overlap) == (DEMO_SLUG, "single_choice", 3)
    assert session.scalar(select(func.count()).select_from(Membership)) == 7
    spec = session.scalars(select(SpecVersion)).one()
    assert (spec.number, spec.status, spec.is_current, spec.edit_version) == (
        1,
        "published",
        True,
        1,
    )
    assert [(label.key, label.hotkey) for label in spec.labels] == [
        (key, str(i)) for i, key in enumerate(LABELS, start=1)
    ]
    assert "## " in spec.guidelines and "\n- " in spec.guidelines
    tag_names = {tag.id: tag.name for tag in session.scalars(select(Tag))}
    assert {tag_names[rule.tag_id] for rule in spec.rules} == TAGS
    assert all(len(rule.text) > 80 for rule in spec.rules)

    items = session.scalars(select(Item)).all()
    assert 250 <= len(items) <= 350
    assert len({item.external_id for item in items}) == len(items)
    assert all(item.external_id.startswith("rev-") for item in items)
    assert all(item.text_hash == hashlib.sha256(item.text.encode()).hexdigest() for item in items)
    assert all({"product", "source"} <= item.metadata_.keys() for item in items)
    splits = Counter(item.split for item in items)
    assert splits["train"] > 0.7 * len(items) and splits["eval"] > 0 and splits["holdout"] > 0
    tag_counts = Counter(name for tags in _item_tags(session).values() for name in tags)
    assert set(tag_counts) == TAGS
    assert 0.18 * len(items) <= tag_counts["sarcasm"] <= 0.27 * len(items)
    assert session.scalars(select(ItemTag.source).distinct()).all() == ["import"]
    batch = session.scalars(select(ImportBatch)).one()
    assert (batch.source, batch.kind, batch.n_created) == ("demo", "items", len(items))

    per_item = Counter(session.scalars(select(Annotation.item_id)))
    assert max(per_item.values()) == 3
    assert sum(1 for n in per_item.values() if n == 3) >= 0.75 * len(items)
    assert sum(1 for item in items if per_item[item.id] < 3) >= 10  # work left in the queue
    pairs = session.execute(
        select(Annotation, Assignment).join(Assignment, Assignment.id == Annotation.assignment_id)
    ).all()
    assert len(pairs) == session.scalar(select(func.count()).select_from(Annotation))
    for annotation, assignment in pairs:
        assert (assignment.state, assignment.kind) == ("submitted", "label")
        assert annotation.spec_version_id == assignment.spec_version_id == spec.id
        assert (annotation.item_id, annotation.user_id) == (assignment.item_id, assignment.user_id)
        assert annotation.source == "demo" and annotation.value in LABELS
        assert 1 <= assignment.slot <= 3
        assert assignment.finished_at is not None
        assert assignment.leased_at < assignment.finished_at <= assignment.lease_expires_at
        assert assignment.finished_at <= BASE_TIME - timedelta(hours=12)
        assert annotation.duration_ms is not None and 2_000 <= annotation.duration_ms <= 30_000
        assert annotation.unclear == bool(annotation.comment)
    active = session.execute(
        select(Assignment.item_id, Assignment.spec_version_id, func.count())
        .where(Assignment.state.in_(["leased", "submitted"]))
        .group_by(Assignment.item_id, Assignment.spec_version_id)
    ).all()
    assert max(n for _, _, n in active) <= 3
    assert session.scalar(select(func.count()).select_from(AnnotationTag)) > 0


def test_loading_twice_changes_nothing(session: Session, demo: DemoResult) -> None:
    tables = [User, Project, Item, ItemTag, Assignment, Annotation, AuditEvent, Membership]

    def counts() -> list[int]:
        return [session.scalar(select(func.count()).select_from(t)) or 0 for t in tables]

    before = counts()
    again = load_demo(session)
    assert again == DemoResult(created=False, project_slug=DEMO_SLUG, logins=[])
    assert counts() == before
    assert not session.new and not session.dirty


def test_demo_accounts_taken_without_the_project_is_a_conflict(session: Session) -> None:
    make_user(session, email="ben@demo.accord.test")
    with pytest.raises(Conflict, match=r"ben@demo\.accord\.test"):
        load_demo(session)
    assert session.scalar(select(func.count()).select_from(Project)) == 0


def test_same_seed_same_data_in_another_database(
    session: Session, demo: DemoResult, sqlite_template: Path, tmp_path: Path
) -> None:
    path = tmp_path / "second.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    try:
        with Session(engine) as other:
            second = load_demo(other)
            assert second.created
            assert _digest(other) == _digest(session)
            # Only the passwords are random.
            assert {x.password for x in second.logins}.isdisjoint(x.password for x in demo.logins)
    finally:
        engine.dispose()
    first, different = plan_demo(7), plan_demo(8)
    assert [i.review.text for i in first.items] != [i.review.text for i in different.items]
    assert plan_demo(7) == first


def test_the_story_the_dashboards_must_reveal(session: Session, demo: DemoResult) -> None:
    labels, item_tags = _labels(session), _item_tags(session)
    everything = sorted(item_tags)
    sarcasm = [eid for eid in everything if "sarcasm" in item_tags[eid]]
    outside = [eid for eid in everything if "sarcasm" not in item_tags[eid]]
    untagged = [eid for eid in everything if not item_tags[eid]]
    good = [email for email in ANNOTATORS if email != FARID]

    overall = _alpha(labels, ANNOTATORS, everything)
    in_sarcasm = _alpha(labels, ANNOTATORS, sarcasm)
    in_untagged = _alpha(labels, ANNOTATORS, untagged)
    assert 0.5 < overall < 0.85
    assert in_sarcasm < in_untagged - 0.4

    # Ana and Ben are both on most sarcasm items, agree elsewhere and split on sarcasm.
    both = [eid for eid in sarcasm if (ANA, eid) in labels and (BEN, eid) in labels]
    assert len(both) >= 0.75 * len(sarcasm)
    assert _alpha(labels, [ANA, BEN], outside) > 0.8
    assert _alpha(labels, [ANA, BEN], sarcasm) < 0.3
    literal_vs_intended = Counter((labels[ANA, eid], labels[BEN, eid]) for eid in both)
    assert literal_vs_intended.most_common(1)[0][0] == ("positive", "negative")

    # Farid is noisy everywhere; without him the others agree well outside sarcasm.
    assert _alpha(labels, good, outside) > 0.75
    for other in good:
        assert _alpha(labels, [FARID, other], outside) < 0.6
        assert _alpha(labels, [FARID, other], everything) < 0.6
    good_pairs = [_alpha(labels, [a, b], outside) for a in good for b in good if a < b]
    farid_pairs = [_alpha(labels, [FARID, other], outside) for other in good]
    assert max(farid_pairs) < min(good_pairs)
    assert _alpha(labels, ANNOTATORS, outside) < _alpha(labels, good, outside) - 0.05

    # "Unclear" flags cluster where the spec is ambiguous.
    flagged = session.execute(
        select(User.email, Item.external_id)
        .select_from(Annotation)
        .join(User, User.id == Annotation.user_id)
        .join(Item, Item.id == Annotation.item_id)
        .where(Annotation.unclear)
    ).all()
    on_split = sum(1 for email, eid in flagged if email in (ANA, BEN) and eid in set(sarcasm))
    assert on_split > len(flagged) / 2


def test_farid_rushes_and_everyone_works_in_the_past(session: Session, demo: DemoResult) -> None:
    durations: dict[str, list[int]] = defaultdict(list)
    for email, ms in session.execute(
        select(User.email, Annotation.duration_ms)
        .select_from(Annotation)
        .join(User, User.id == Annotation.user_id)
    ):
        durations[email].append(ms)
    medians = {email: float(np.median(values)) for email, values in durations.items()}
    assert medians[FARID] < min(v for k, v in medians.items() if k != FARID)
    days = {at.date() for at in session.scalars(select(Assignment.finished_at)) if at is not None}
    assert len(days) >= 8


def test_demo_gold_is_unanimous_plain_work_and_takes_nothing_away(
    session: Session, demo: DemoResult
) -> None:
    from app.db.models import GoldItem
    from app.domain.demo_gold import N_CHECKS, N_QUALIFICATION

    gold = session.scalars(select(GoldItem)).all()
    purposes = Counter(g.purpose for g in gold)
    assert purposes == {"qualification": N_QUALIFICATION, "check": N_CHECKS}
    assert {g.value for g in gold if g.purpose == "qualification"} == set(LABELS)
    for g in gold:
        labels = set(
            session.scalars(select(Annotation.value).where(Annotation.item_id == g.item_id))
        )
        assert labels == {g.value} and g.explanation
        assert session.scalar(select(func.count()).where(ItemTag.item_id == g.item_id)) == 0
        per_item = session.scalar(select(func.count()).where(Annotation.item_id == g.item_id))
        assert per_item == 3  # already complete: no open work became gold
    project = session.scalars(select(Project)).one()
    assert not project.requires_qualification and project.gold_share == 0
