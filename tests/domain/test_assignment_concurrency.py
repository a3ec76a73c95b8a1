"""Many annotators claiming work at once, on a SQLite file and on PostgreSQL.

Sixty threads, each an annotator with its own sessions, lease -> submit (or skip, or release)
until nothing is left (in three rounds, see ``_run``), over 240 items with k=3. Every committed
step is recorded; the checks run afterwards, offline, on that history and on the database: no
item above k, nobody twice on an item, every item done exactly k times, and no error at all (no
"database is locked", no retry budget exhausted).
"""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import make_engine, make_session_factory, session_scope, sqlite_write_lock
from app.db.models import Annotation, Assignment, Project, User
from app.domain.annotations import submit_assignment
from app.domain.assignment import lease_next_assignment, release_assignment, skip_assignment
from tests.domain.test_assignment import add_items, team
from tests.factories import make_project

N_ANNOTATORS = 60
N_ITEMS = 240
K = 3
ROUNDS = 3
T = TypeVar("T")


@dataclass(frozen=True)
class Step:
    """One committed step of one annotator."""

    action: str
    user_id: int
    assignment_id: int | None = None
    item_id: int | None = None
    slot: int | None = None


class History:
    """What the annotators did, recorded after each commit, plus any error they met."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.steps: list[Step] = []
        self.errors: list[str] = []

    def add(self, step: Step) -> None:
        with self._lock:
            self.steps.append(step)

    def fail(self, who: int, exc: BaseException) -> None:
        with self._lock:
            self.errors.append(f"annotator {who}: {type(exc).__name__}: {exc}")


def _transaction(factory: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    with session_scope(factory, immediate=True) as session:
        return work(session)


def _claim(session: Session, project_id: int, user_id: int) -> Step | None:
    project, user = session.get(Project, project_id), session.get(User, user_id)
    assert project is not None and user is not None
    assignment = lease_next_assignment(session, project, user)
    if assignment is None:
        return None
    return Step("lease", user_id, assignment.id, assignment.item_id, assignment.slot)


def _finish(session: Session, user_id: int, task_id: int, action: str, value: str) -> None:
    user = session.get(User, user_id)
    assert user is not None
    if action == "skip":
        skip_assignment(session, task_id, user, reason="not sure")
    elif action == "release":
        release_assignment(session, task_id, user)
    else:
        submit_assignment(session, task_id, user, value=value)


def _annotator(
    factory: sessionmaker[Session],
    project_id: int,
    user_id: int,
    history: History,
    start: threading.Barrier,
) -> None:
    rng = random.Random(user_id)
    start.wait()
    try:
        while True:
            leased = _transaction(factory, partial(_claim, project_id=project_id, user_id=user_id))
            if leased is None:
                history.add(Step("nothing_left", user_id))
                return
            history.add(leased)
            assert leased.assignment_id is not None
            roll = rng.random()
            action = "skip" if roll < 0.08 else "release" if roll < 0.12 else "submit"
            finish = partial(
                _finish,
                user_id=user_id,
                task_id=leased.assignment_id,
                action=action,
                value=rng.choice(["positive", "negative"]),
            )
            _transaction(factory, finish)
            history.add(Step(action, user_id, leased.assignment_id, leased.item_id, leased.slot))
    except Exception as exc:  # noqa: BLE001 (every error is a finding; the test asserts none)
        history.fail(user_id, exc)


def _run(engine: Engine) -> tuple[History, list[int], int]:
    factory = make_session_factory(engine)
    with session_scope(factory, immediate=True) as session:
        project = make_project(session, overlap=K, lease_seconds=3600)
        items = add_items(session, project, N_ITEMS)
        people = team(session, project, N_ANNOTATORS)
        project_id, item_ids = project.id, [i.id for i in items]
        user_ids = [p.id for p in people]
    history = History()
    # "Nothing left" is an answer about this moment: a slot that another annotator's skip frees
    # in the same instant is not visible to a claimer until that skip commits. Annotators come
    # back, so a second and third round start once everyone has stopped (almost always idle).
    for _ in range(ROUNDS):
        start = threading.Barrier(N_ANNOTATORS)
        threads = [
            threading.Thread(target=_annotator, args=(factory, project_id, uid, history, start))
            for uid in user_ids
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        assert not any(t.is_alive() for t in threads), "an annotator thread never finished"
    return history, item_ids, project_id


def _check(engine: Engine, history: History, item_ids: list[int], project_id: int) -> None:
    # No annotator met an error: no "database is locked", no 5xx-worthy exception.
    assert history.errors == []
    steps = history.steps
    assert sum(1 for s in steps if s.action == "nothing_left") == N_ANNOTATORS * ROUNDS

    # Offline, from the recorded history
    leases = [s for s in steps if s.action == "lease"]
    assert all(s.slot is not None and 1 <= s.slot <= K for s in leases)
    submitted = [s for s in steps if s.action == "submit"]
    per_item = Counter(s.item_id for s in submitted)
    assert set(per_item) == set(item_ids), "some item was never completed"
    assert set(per_item.values()) == {K}, "an item was completed more or fewer than k times"
    pairs = Counter((s.item_id, s.user_id) for s in submitted)
    assert max(pairs.values()) == 1, "someone labeled an item twice"
    skipped = {(s.item_id, s.user_id) for s in steps if s.action == "skip"}
    assert not skipped & set(pairs), "someone got back an item they skipped"
    slots: dict[int | None, set[int | None]] = defaultdict(set)
    for s in submitted:
        slots[s.item_id].add(s.slot)
    assert all(v == set(range(1, K + 1)) for v in slots.values())

    # And the database agrees with the history
    with Session(engine) as session:
        active = Counter(
            session.scalars(
                select(Assignment.item_id).where(
                    Assignment.project_id == project_id,
                    Assignment.state.in_(("leased", "submitted")),
                )
            )
        )
        assert set(active.values()) == {K}
        stored = session.execute(
            select(Annotation.item_id, Annotation.user_id).where(
                Annotation.project_id == project_id
            )
        ).all()
        assert Counter((i, u) for i, u in stored) == pairs
        assert (
            session.scalar(
                select(Assignment.id).where(
                    Assignment.project_id == project_id, Assignment.state == "leased"
                )
            )
            is None
        )


def test_sixty_annotators_at_once_never_break_the_invariants(engine: Engine) -> None:
    # One pooled connection per annotator, as the web app keeps one per request thread: with
    # fewer, a claimer could wait for the pool past its timeout on a slow machine (seen once).
    url = engine.url.render_as_string(hide_password=False)
    claimers = make_engine(url, pool_size=N_ANNOTATORS, max_overflow=0)
    try:
        # Given 240 items with k=3 and sixty annotators starting at the same moment
        # When each leases and submits (sometimes skips or releases) until nothing is left
        history, item_ids, project_id = _run(claimers)
        # Then the history and the database satisfy every invariant, with no error on the way
        _check(claimers, history, item_ids, project_id)
        # and on SQLite every writer gave the process's write lock back
        lock = sqlite_write_lock(claimers)
        assert lock is None or not lock.locked()
    finally:
        claimers.dispose()
