"""The demo project: a lead, six annotators, ~300 product reviews and ~800 annotations.

Everything except the passwords is derived from ``seed``, so the same seed always yields the same
items, annotators' labels and timestamps. The data tells one story the dashboards must reveal:
annotators agree well in general, except on ``sarcasm``, where two otherwise reliable annotators
split systematically (Ana labels the literal words, Ben the intent: a spec ambiguity), and Farid,
who is noisy everywhere (an annotator problem, not a spec problem).
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db.models import (
    Annotation,
    AnnotationTag,
    Assignment,
    ImportBatch,
    Item,
    ItemTag,
    Membership,
    Project,
    SpecVersion,
    Tag,
    User,
)
from app.domain import demo_texts as texts
from app.domain.audit import record_event
from app.domain.demo_gold import add_demo_gold
from app.domain.errors import Conflict
from app.domain.people import create_user
from app.domain.projects import LabelInput, ProjectInput, add_member, create_project

DEMO_SLUG = "demo-sentiment"
N_ITEMS = 300
OVERLAP = 3
LEASE_SECONDS = 900
# Fixed, so timestamps are reproducible: the lead set up the project on 20 October 2026 and the
# annotators worked 22-31 October, 09:00-17:00 UTC.
BASE_TIME = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
SET_UP_AT = BASE_TIME - timedelta(days=12)
IMPORTED_AT = BASE_TIME - timedelta(days=11)
WORK_DAYS = 10
# How many items of each edge-case kind (the rest are ordinary reviews).
TAG_COUNTS = {"sarcasm": 63, "negation": 45, "mixed_language": 30, "emoji_only": 24}
# How much harder each kind is for a careful annotator (subtracted from their accuracy).
DIFFICULTY = {"negation": 0.04, "mixed_language": 0.03, "emoji_only": 0.03}
# The plausible mistake from each true label.
NEIGHBOURS = {
    "positive": ("mixed", "neutral"),
    "negative": ("mixed", "neutral"),
    "neutral": ("positive", "negative"),
    "mixed": ("positive", "negative"),
}
# How much longer than usual each kind of item takes.
SLOWDOWN = {"sarcasm": 1.5, "mixed_language": 1.4, "negation": 1.2, "emoji_only": 0.5}


@dataclass(frozen=True)
class DemoPerson:
    """A demo account and, for annotators, how they label."""

    key: str
    name: str
    role: str
    accuracy: float = 0.0  # how often they give the true label on ordinary items
    sarcasm: tuple[float, float] = (0.15, 0.75)  # P(literal label), P(intended label); else mixed
    noise: float = 0.0  # share of labels that are uniformly random
    seconds: float = 8.0  # median time per item
    weight: float = 1.0  # how much work they pick up

    @property
    def email(self) -> str:
        """The demo login address."""
        return f"{self.key}@demo.accord.test"


LEAD = DemoPerson("lead", "Priya Raman", "lead")
ANNOTATORS = (
    DemoPerson("ana", "Ana Souza", "annotator", 0.97, (0.9, 0.05), seconds=9, weight=1.5),
    DemoPerson("ben", "Ben Okafor", "annotator", 0.97, (0.05, 0.9), seconds=10, weight=1.5),
    DemoPerson("chloe", "Chloé Martin", "annotator", 0.94, seconds=8),
    DemoPerson("dev", "Dev Patel", "annotator", 0.93, seconds=11),
    DemoPerson("emma", "Emma Lindqvist", "annotator", 0.94, seconds=7),
    DemoPerson("farid", "Farid Haddad", "annotator", 0.90, noise=0.45, seconds=3.5),
)


@dataclass(frozen=True)
class DemoLogin:
    """A demo account's credentials, shown once by the CLI."""

    email: str
    role: str
    name: str
    password: str


@dataclass
class DemoResult:
    """What ``load_demo`` did: nothing (``created`` False) or the project and its logins."""

    created: bool
    project_slug: str
    logins: list[DemoLogin] = field(default_factory=list)
    n_items: int = 0
    n_annotations: int = 0


@dataclass(frozen=True)
class PlannedItem:
    """An item to create, with its hidden ground truth."""

    external_id: str
    review: texts.ReviewText
    split: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class PlannedAnnotation:
    """A submitted assignment and its annotation."""

    item_index: int
    annotator: str  # DemoPerson.key
    slot: int
    value: str
    leased_at: datetime
    finished_at: datetime
    unclear: bool
    comment: str
    marked_tags: tuple[str, ...]

    @property
    def duration_ms(self) -> int:
        """Time spent on the item."""
        return int((self.finished_at - self.leased_at).total_seconds() * 1000)


@dataclass(frozen=True)
class DemoPlan:
    """Everything the demo writes except users' passwords."""

    items: list[PlannedItem]
    annotations: list[PlannedAnnotation]


def _plan_item(rng: random.Random, index: int, tag: str | None) -> PlannedItem:
    review = texts.make_review(rng, tag)
    r = rng.random()
    split = "train" if r < 0.8 else "eval" if r < 0.9 else "holdout"
    metadata: dict[str, Any] = {
        "product": review.product,
        "source": rng.choice(texts.SOURCES),
        "language": review.language,
    }
    if rng.random() < 0.75:
        metadata["stars"] = rng.choice(texts.STARS[review.truth])
    return PlannedItem(f"rev-{index + 1:04d}", review, split, metadata)


def _choose_annotators(rng: random.Random, tag: str | None, n: int) -> list[DemoPerson]:
    ana, ben, *others = ANNOTATORS
    if tag == "sarcasm" and n >= 2 and rng.random() < 0.9:
        return [ana, ben, *rng.sample(others, n - 2)]
    pool, chosen = list(ANNOTATORS), []
    for _ in range(n):
        person = rng.choices(pool, weights=[p.weight for p in pool])[0]
        pool.remove(person)
        chosen.append(person)
    return chosen


def _choose_label(rng: random.Random, person: DemoPerson, review: texts.ReviewText) -> str:
    if rng.random() < person.noise:
        return rng.choice(texts.LABEL_KEYS)
    if review.tag == "sarcasm":
        p_literal, p_intended = person.sarcasm
        r = rng.random()
        if r < p_literal:
            return review.literal
        return review.truth if r < p_literal + p_intended else "mixed"
    if rng.random() < person.accuracy - DIFFICULTY.get(review.tag or "", 0.0):
        return review.truth
    if review.literal != review.truth and rng.random() < 0.6:
        return review.literal
    return rng.choice(NEIGHBOURS[review.truth])


def _unclear_comment(rng: random.Random, person: DemoPerson, tag: str | None) -> str:
    split_reader = person.key in ("ana", "ben") and tag == "sarcasm"
    chance = 0.25 if split_reader else 0.06 if tag == "sarcasm" else 0.03 if tag else 0.01
    if rng.random() >= chance:
        return ""
    comments = texts.UNCLEAR_COMMENTS.get((person.key, tag)) or texts.UNCLEAR_COMMENTS[("*", tag)]
    return rng.choice(comments)


def _plan_annotations(
    rng: random.Random, index: int, review: texts.ReviewText
) -> list[PlannedAnnotation]:
    n = OVERLAP if rng.random() < 0.85 else rng.randrange(OVERLAP)
    people = _choose_annotators(rng, review.tag, n)
    day_start = BASE_TIME - timedelta(days=WORK_DAYS)
    finished = sorted(
        day_start + timedelta(days=rng.randrange(WORK_DAYS), seconds=rng.randrange(8 * 3600))
        for _ in people
    )
    rng.shuffle(people)
    planned = []
    for slot, (person, done) in enumerate(zip(people, finished, strict=True), start=1):
        value = _choose_label(rng, person, review)
        comment = _unclear_comment(rng, person, review.tag)
        seconds = person.seconds * SLOWDOWN.get(review.tag or "", 1) * math.exp(rng.gauss(0, 0.35))
        seconds = min(30.0, max(2.0, seconds + (6 if comment else 0)))
        marked = (review.tag,) if review.tag and rng.random() < 0.3 else ()
        planned.append(
            PlannedAnnotation(
                item_index=index,
                annotator=person.key,
                slot=slot,
                value=value,
                leased_at=done - timedelta(milliseconds=round(seconds * 1000)),
                finished_at=done,
                unclear=bool(comment),
                comment=comment,
                marked_tags=marked,
            )
        )
    return planned


def plan_demo(seed: int = 7) -> DemoPlan:
    """Generate the demo's items and annotations from ``seed`` without touching a database."""
    rng = random.Random(f"accord-demo:{seed}")
    kinds: list[str | None] = [tag for tag, n in TAG_COUNTS.items() for _ in range(n)]
    kinds += [None] * (N_ITEMS - len(kinds))
    rng.shuffle(kinds)
    items: list[PlannedItem] = []
    seen: set[str] = set()
    for index, tag in enumerate(kinds):
        item = _plan_item(rng, index, tag)
        for _ in range(5):  # prefer distinct texts (emoji-only reviews may still repeat)
            if item.review.text not in seen:
                break
            item = _plan_item(rng, index, tag)
        seen.add(item.review.text)
        items.append(item)
    annotations = [
        annotation
        for index, item in enumerate(items)
        for annotation in _plan_annotations(rng, index, item.review)
    ]
    return DemoPlan(items, annotations)


def _project_input() -> ProjectInput:
    return ProjectInput(
        slug=DEMO_SLUG,
        name=texts.PROJECT_NAME,
        kind="single_choice",
        overlap=OVERLAP,
        labels=[
            LabelInput(key, name, description, hotkey=str(i))
            for i, (key, name, description) in enumerate(texts.LABELS, start=1)
        ],
        rules=dict(texts.RULES),
        guidelines=texts.GUIDELINES,
        lease_seconds=LEASE_SECONDS,
        description=texts.PROJECT_DESCRIPTION,
    )


def load_demo(session: Session, *, seed: int = 7) -> DemoResult:
    """Create the demo project in the caller's transaction (flush only); no-op if it exists."""
    if session.scalar(select(Project.id).where(Project.slug == DEMO_SLUG)) is not None:
        return DemoResult(created=False, project_slug=DEMO_SLUG)
    people = (LEAD, *ANNOTATORS)
    taken = session.scalars(select(User.email).where(User.email.in_([p.email for p in people])))
    if taken_emails := sorted(e for e in taken if e):
        raise Conflict(
            f"cannot load the demo: {', '.join(taken_emails)} already exist(s) without the "
            f"{DEMO_SLUG!r} project",
            details={"emails": taken_emails},
        )
    plan = plan_demo(seed)
    users: dict[str, User] = {}
    logins: list[DemoLogin] = []
    for person in people:
        user, password = create_user(
            session, email=person.email, role=person.role, name=person.name, generate_password=True
        )
        assert password is not None
        user.created_at = SET_UP_AT
        users[person.key] = user
        logins.append(DemoLogin(person.email, person.role, person.name, password))
    lead = users[LEAD.key]
    project, spec, tags = _create_project(session, lead, [users[a.key] for a in ANNOTATORS])
    items = _create_items(session, plan, project, tags, lead)
    n_annotations = _create_work(session, plan, spec, items, users, tags)
    add_demo_gold(session, plan, project, items, lead)
    record_event(
        session,
        "demo.loaded",
        actor_id=lead.id,
        project_id=project.id,
        seed=seed,
        subject_type="project",
        subject_id=project.id,
        items=len(items),
        annotations=n_annotations,
    )
    return DemoResult(True, DEMO_SLUG, logins, n_items=len(items), n_annotations=n_annotations)


def _create_project(
    session: Session, lead: User, annotators: list[User]
) -> tuple[Project, SpecVersion, dict[str, Tag]]:
    project = create_project(session, _project_input(), actor=lead)
    project.created_at = SET_UP_AT
    for annotator in annotators:
        add_member(session, project, annotator, actor_id=lead.id)
    for membership in session.scalars(
        select(Membership).where(Membership.project_id == project.id)
    ):
        membership.added_at = SET_UP_AT
    # Backdate spec v1 with a plain UPDATE: it is published, so its edit version must not move.
    session.execute(
        update(SpecVersion)
        .where(SpecVersion.project_id == project.id)
        .values(created_at=SET_UP_AT, published_at=SET_UP_AT + timedelta(hours=2))
        .execution_options(synchronize_session=False)
    )
    spec = session.scalars(select(SpecVersion).where(SpecVersion.project_id == project.id)).one()
    session.refresh(spec)
    tags = {t.name: t for t in session.scalars(select(Tag).where(Tag.project_id == project.id))}
    for name, tag in tags.items():
        tag.description = texts.TAG_DESCRIPTIONS.get(name, "")
        tag.created_at = SET_UP_AT
    return project, spec, tags


def _create_items(
    session: Session, plan: DemoPlan, project: Project, tags: dict[str, Tag], lead: User
) -> list[Item]:
    batch = ImportBatch(
        project_id=project.id,
        kind="items",
        source="demo",
        filename="demo-reviews.jsonl",
        n_created=len(plan.items),
        created_at=IMPORTED_AT,
        created_by_id=lead.id,
    )
    session.add(batch)
    session.flush()
    items = [
        Item(
            project_id=project.id,
            external_id=planned.external_id,
            text=planned.review.text,
            text_hash=hashlib.sha256(planned.review.text.encode()).hexdigest(),
            split=planned.split,
            metadata_=planned.metadata,
            import_batch_id=batch.id,
            created_at=IMPORTED_AT,
        )
        for planned in plan.items
    ]
    session.add_all(items)
    session.flush()
    session.add_all(
        ItemTag(item_id=item.id, tag_id=tags[p.review.tag].id, added_at=IMPORTED_AT)
        for item, p in zip(items, plan.items, strict=True)
        if p.review.tag
    )
    return items


def _create_work(
    session: Session,
    plan: DemoPlan,
    spec: SpecVersion,
    items: list[Item],
    users: dict[str, User],
    tags: dict[str, Tag],
) -> int:
    assignments = [
        Assignment(
            project_id=spec.project_id,
            item_id=items[a.item_index].id,
            user_id=users[a.annotator].id,
            spec_version_id=spec.id,
            kind="label",
            state="submitted",
            slot=a.slot,
            leased_at=a.leased_at,
            lease_expires_at=a.leased_at + timedelta(seconds=LEASE_SECONDS),
            finished_at=a.finished_at,
        )
        for a in plan.annotations
    ]
    session.add_all(assignments)
    session.flush()
    annotations = [
        Annotation(
            project_id=spec.project_id,
            item_id=assignment.item_id,
            user_id=assignment.user_id,
            spec_version_id=spec.id,
            assignment_id=assignment.id,
            value=a.value,
            duration_ms=a.duration_ms,
            unclear=a.unclear,
            comment=a.comment,
            source="demo",
            created_at=a.finished_at,
        )
        for a, assignment in zip(plan.annotations, assignments, strict=True)
    ]
    session.add_all(annotations)
    session.flush()
    session.add_all(
        AnnotationTag(annotation_id=annotation.id, tag_id=tags[name].id)
        for a, annotation in zip(plan.annotations, annotations, strict=True)
        for name in a.marked_tags
    )
    session.flush()
    return len(annotations)
