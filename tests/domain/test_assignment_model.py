"""The assignment engine against a simple model (hypothesis stateful testing).

Hypothesis drives random sequences of lease, submit, skip, release and the clock moving on, for
three annotators over four items with k=2, on a real SQLite file. The model knows nothing about
serving order; it knows which items each annotator may get, which task each one holds, and
what every assignment's state must be. After every step the database must agree with it, and
the invariants must hold: never more than k active assignments on an item, nobody twice on an
item, an annotator never gets back what they skipped or labeled, and work is handed out while
there is any (and only then).
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.engine import make_engine
from app.db.models import Assignment, Project, User
from app.domain.annotations import submit_assignment
from app.domain.assignment import lease_next_assignment, release_assignment, skip_assignment
from app.domain.errors import Conflict
from tests.domain.test_assignment import T0, add_items, team
from tests.factories import make_project

K = 2
N_ITEMS = 4
N_ANNOTATORS = 3
LEASE_SECONDS = 60
ACTIVE = ("leased", "submitted")


@dataclass
class ModelAssignment:
    """What the model expects of one assignment."""

    user: int
    item: int
    state: str
    expires_at_s: int


class AssignmentMachine(RuleBasedStateMachine):
    """Random sequences of annotator actions, checked against the model after every step."""

    template: Path

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="accord-model-"))
        shutil.copy(self.template, self.dir / "accord.db")
        self.engine = make_engine(f"sqlite:///{self.dir / 'accord.db'}")
        self.session = Session(self.engine, expire_on_commit=False)
        project = make_project(self.session, overlap=K, lease_seconds=LEASE_SECONDS)
        self.project_id = project.id
        self.items = [i.id for i in add_items(self.session, project, N_ITEMS)]
        self.users = [u.id for u in team(self.session, project, N_ANNOTATORS)]
        self.session.commit()
        self.clock_s = 0
        self.model: dict[int, ModelAssignment] = {}

    def teardown(self) -> None:
        self.session.close()
        self.engine.dispose()
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- the model -------------------------------------------------------------------------

    def _now(self) -> datetime:
        return T0 + timedelta(seconds=self.clock_s)

    def _expire(self) -> None:
        for a in self.model.values():
            if a.state == "leased" and a.expires_at_s <= self.clock_s:
                a.state = "expired"

    def _live_lease(self, user: int) -> int | None:
        self._expire()
        live = [aid for aid, a in self.model.items() if a.user == user and a.state == "leased"]
        assert len(live) <= 1
        return live[0] if live else None

    def _eligible(self, user: int) -> set[int]:
        self._expire()
        active = Counter(a.item for a in self.model.values() if a.state in ACTIVE)
        barred = {
            a.item
            for a in self.model.values()
            if a.user == user and a.state in ("leased", "submitted", "skipped")
        }
        return {i for i in self.items if active[i] < K and i not in barred}

    def _user(self, index: int) -> User:
        user = self.session.get(User, self.users[index])
        assert user is not None
        return user

    # --- rules -----------------------------------------------------------------------------

    @rule(who=st.integers(0, N_ANNOTATORS - 1))
    def lease(self, who: int) -> None:
        user_id = self.users[who]
        held = self._live_lease(user_id)
        eligible = self._eligible(user_id)
        project = self.session.get(Project, self.project_id)
        assert project is not None
        got = lease_next_assignment(self.session, project, self._user(who), now=self._now())
        self.session.commit()
        if held is not None:
            assert got is not None and got.id == held, "a live lease must be handed back"
            return
        if not eligible:
            assert got is None, "work was handed out although none was eligible"
            return
        assert got is not None, "nothing was handed out although work was eligible"
        assert got.item_id in eligible and got.id not in self.model
        assert 1 <= got.slot <= K
        self.model[got.id] = ModelAssignment(
            user_id, got.item_id, "leased", self.clock_s + LEASE_SECONDS
        )

    @rule(
        who=st.integers(0, N_ANNOTATORS - 1), action=st.sampled_from(["submit", "skip", "release"])
    )
    def finish(self, who: int, action: str) -> None:
        user_id = self.users[who]
        mine = sorted(aid for aid, a in self.model.items() if a.user == user_id)
        if not mine:
            return
        live = self._live_lease(user_id)
        task = live if live is not None else mine[-1]  # a used or expired task must be refused
        user = self._user(who)
        now = self._now()
        try:
            if action == "submit":
                submit_assignment(self.session, task, user, value="positive", now=now)
            elif action == "skip":
                skip_assignment(self.session, task, user, now=now)
            else:
                release_assignment(self.session, task, user, now=now)
        except Conflict as exc:
            self.session.rollback()
            assert live is None, f"a live lease was refused: {exc}"
            assert exc.code == "lease_expired"
            return
        self.session.commit()
        assert live is not None, "a task that is not a live lease was accepted"
        new_state = {"submit": "submitted", "skip": "skipped", "release": "cancelled"}[action]
        self.model[task].state = new_state

    @rule(seconds=st.sampled_from([5, LEASE_SECONDS + 1]))
    def time_passes(self, seconds: int) -> None:
        self.clock_s += seconds

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def database_agrees_with_the_model(self) -> None:
        self._expire()
        rows = self.session.execute(
            select(
                Assignment.id,
                Assignment.user_id,
                Assignment.item_id,
                Assignment.state,
                Assignment.lease_expires_at,
            )
        ).all()
        now = self._now()
        effective = {
            aid: "expired" if state == "leased" and expires <= now else state
            for aid, _, _, state, expires in rows
        }
        assert effective == {aid: a.state for aid, a in self.model.items()}
        active = [(item, user) for aid, user, item, _, _ in rows if effective[aid] in ACTIVE]
        assert max(Counter(item for item, _ in active).values(), default=0) <= K
        assert max(Counter(active).values(), default=0) <= 1


def test_the_engine_behaves_like_the_model(sqlite_template: Path) -> None:
    AssignmentMachine.template = sqlite_template
    run_state_machine_as_test(
        AssignmentMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
