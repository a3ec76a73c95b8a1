"""Gold items: kept out of normal work, served as blind checks, graded, and pausing people
whose accuracy falls below the bar; adding, importing, retiring and promoting gold."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Assignment, AuditEvent, GoldItem, Item, Membership, Notice, Project, User
from app.domain.adjudication import adjudicate_item
from app.domain.assignment import lease_next_assignment
from app.domain.errors import Conflict, Forbidden, InvalidInput
from app.domain.gold import (
    GoldImportResult,
    GoldInput,
    add_gold,
    gold_accuracy,
    import_gold,
    list_gold,
    promote_adjudicated,
    retire_gold,
)
from app.domain.gold_grading import check_answers
from app.domain.labeling import count_open_items, undo_submission
from app.domain.projects import REACH, can_reach
from app.domain.values import value_matches
from tests.domain.test_assignment import T0, add_items, lease, submit, team
from tests.factories import make_project, make_user


def project_with_gold(
    session: Session, *, n_gold: int = 2, n_plain: int = 1, purpose: str = "check", **rules: object
) -> tuple[Project, User, list[Item], list[Item]]:
    """A project (k=1) with ``n_gold`` gold items (answer ``positive``) and ``n_plain`` others."""
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead, overlap=1)
    for name, value in rules.items():
        setattr(project, name, value)
    gold = add_items(session, project, n_gold, tags=("sarcasm",))
    plain = add_items(session, project, n_plain)
    for item in gold:
        add_gold(
            session,
            project,
            item.external_id,
            "positive",
            "Sarcasm: praise means blame.",
            purpose,
            actor=lead,
        )
    session.flush()
    return project, lead, gold, plain


def membership(session: Session, project: Project, user: User) -> Membership:
    found = session.scalar(
        select(Membership).where(Membership.project_id == project.id, Membership.user_id == user.id)
    )
    assert found is not None
    return found


def test_gold_items_are_never_served_as_normal_work(session: Session) -> None:
    # Given a project with gold items and gold checks switched off
    project, _, _gold, plain = project_with_gold(session, n_gold=2, n_plain=2, gold_share=0.0)
    (ann,) = team(session, project, 1)
    # When an annotator works through everything
    served = []
    while (a := lease_next_assignment(session, project, ann, now=T0)) is not None:
        served.append(a.item_id)
        submit(session, a, ann)
    # Then only the plain items came up
    assert served == [item.id for item in plain]


def test_the_queue_left_does_not_count_gold_items(session: Session) -> None:
    # Blind by design: "items left" would otherwise hint that unserved items are gold.
    project, _, _gold, plain = project_with_gold(session, n_gold=3, n_plain=2)
    (ann,) = team(session, project, 1)
    assert count_open_items(session, project, ann) == len(plain)


def test_a_retired_gold_item_goes_back_to_normal_work(session: Session) -> None:
    project, lead, gold, _plain = project_with_gold(session, n_gold=1, n_plain=0)
    (ann,) = team(session, project, 1)
    assert lease_next_assignment(session, project, ann, now=T0) is None
    retire_gold(session, project, gold[0].external_id, actor=lead)
    assert list_gold(session, project) == []
    assert lease(session, project, ann).item_id == gold[0].id


def test_with_gold_share_one_every_annotator_meets_each_check_once_beyond_k(
    session: Session,
) -> None:
    # Given k=1, two check items, one qualification item and one plain item
    project, lead, gold, plain = project_with_gold(session, n_gold=2, n_plain=1, gold_share=1.0)
    (quiz,) = add_items(session, project, 1)
    add_gold(session, project, quiz.external_id, "neutral", "", "qualification", actor=lead)
    people = team(session, project, 3)
    # When each annotator asks for work until nothing is left
    got: dict[int, list[Assignment]] = {}
    for person in people:
        got[person.id] = []
        while (a := lease_next_assignment(session, project, person, now=T0)) is not None:
            got[person.id].append(a)
            submit(session, a, person, value="negative")
    # Then each met both checks (as kind gold) and only the first got the plain item
    gold_ids = {item.id for item in gold}
    for n, person in enumerate(people):
        checks = [a for a in got[person.id] if a.kind == "gold"]
        assert {a.item_id for a in checks} == gold_ids
        assert [a.item_id for a in got[person.id] if a.kind == "label"] == (
            [plain[0].id] if n == 0 else []
        )
        assert quiz.id not in {a.item_id for a in got[person.id]}
    # and the three of them hold slots 1..3 of each check item (more than k)
    for item in gold:
        slots = session.scalars(
            select(Assignment.slot).where(Assignment.item_id == item.id).order_by(Assignment.slot)
        ).all()
        assert slots == [1, 2, 3]


def test_gold_accuracy_below_the_bar_pauses_after_enough_checks_not_before(
    session: Session,
) -> None:
    # Given checks on, a bar of 70% judged after 3 checks
    project, _, _gold, plain = project_with_gold(
        session, n_gold=4, n_plain=2, gold_share=1.0, gold_min_checks=3, gold_accuracy_bar=0.7
    )
    ann, _other = team(session, project, 2)
    # When they answer one check right and one wrong: two checks, not judged yet
    for value in ("positive", "negative"):
        submit(session, lease(session, project, ann), ann, value=value)
    assert membership(session, project, ann).status == "active"
    assert session.scalars(select(Notice)).all() == []
    # When they hold a third check and a plain item (say, from another tab)
    check = lease(session, project, ann)
    stray = Assignment(
        project_id=project.id,
        item_id=plain[0].id,
        user_id=ann.id,
        spec_version_id=check.spec_version_id,
        kind="label",
        state="leased",
        slot=1,
        leased_at=T0,
        lease_expires_at=T0 + timedelta(hours=1),
    )
    session.add(stray)
    session.flush()
    # and the third check is wrong too (1 of 3 = 33%)
    assert check.kind == "gold"
    submit(session, check, ann, value="neutral")
    # Then they are paused by Accord, their lease is given back, the leads get a notice
    m = membership(session, project, ann)
    assert (m.status, m.paused_by_id, m.paused_at) == ("paused", None, T0)
    assert m.paused_reason == "gold accuracy 33% (1 of 3) below the 70% bar"
    session.refresh(stray)
    assert stray.state == "cancelled" and stray.finished_at == T0
    (notice,) = session.scalars(select(Notice)).all()
    assert notice.kind == "gold_accuracy_pause" and notice.user_id == ann.id
    assert "33% (1 of 3)" in notice.message
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "project.member_paused"))
    assert not can_reach(session, ann, project)
    with pytest.raises(Conflict) as refused:
        lease_next_assignment(session, project, ann, now=T0)
    assert refused.value.code == "member_paused" and "33% (1 of 3)" in refused.value.message


def test_reinstatement_restarts_the_accuracy_window(session: Session) -> None:
    project, _, _gold, _ = project_with_gold(
        session, n_gold=4, n_plain=0, gold_share=1.0, gold_min_checks=2, gold_accuracy_bar=0.7
    )
    (ann,) = team(session, project, 1)
    for _ in range(2):
        submit(session, lease(session, project, ann), ann, value="negative")
    m = membership(session, project, ann)
    assert m.status == "paused"
    # When a lead reinstates them
    later = T0 + timedelta(hours=1)
    m.status, m.paused_at, m.reinstated_at = "active", None, later
    session.flush()
    session.info.get(REACH, {}).clear()
    # Then one wrong answer after it is not judged yet (the earlier two no longer count)
    submit(session, lease(session, project, ann, later), ann, later, value="negative")
    assert membership(session, project, ann).status == "active"
    assert len(check_answers(session, project, user_id=ann.id)) == 1
    # and a second right one leaves them at 50%: below the bar again, paused again
    submit(session, lease(session, project, ann, later), ann, later, value="positive")
    m = membership(session, project, ann)
    assert m.status == "paused" and m.paused_reason.startswith("gold accuracy 50% (1 of 2)")


def test_an_undone_gold_answer_stays_gold_and_only_the_final_answer_counts(
    session: Session,
) -> None:
    project, _, gold, _ = project_with_gold(session, n_gold=1, n_plain=1, gold_share=1.0)
    (ann,) = team(session, project, 1)
    check = lease(session, project, ann)
    wrong = submit(session, check, ann, value="negative")
    again = undo_submission(session, wrong.id, ann, now=T0 + timedelta(seconds=5))
    assert (again.kind, again.item_id, again.slot) == ("gold", check.item_id, check.slot)
    submit(session, again, ann, T0 + timedelta(seconds=6), value="positive")
    answers = check_answers(session, project, user_id=ann.id)
    assert [(a.item_id, a.correct) for a in answers] == [(gold[0].id, True)]


def test_accuracy_per_annotator_and_per_tag(session: Session) -> None:
    project, _, _gold, _ = project_with_gold(session, n_gold=2, n_plain=0, gold_share=1.0)
    ann, bob = team(session, project, 2)
    for person, values in ((ann, ["positive", "positive"]), (bob, ["positive", "negative"])):
        for value in values:
            submit(session, lease(session, project, person), person, value=value)
    people, tags = gold_accuracy(session, project)
    by_user = {row.user_id: (row.n, row.correct, row.accuracy) for row in people}
    assert by_user == {ann.id: (2, 2, 1.0), bob.id: (2, 1, 0.5)}
    assert {(r.user_id, r.tag, r.n, r.correct) for r in tags} == {
        (ann.id, "sarcasm", 2, 2),
        (bob.id, "sarcasm", 2, 1),
    }


def test_adding_gold_checks_the_value_the_item_and_duplicates(session: Session) -> None:
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead)
    first, second = add_items(session, project, 2)
    with pytest.raises(InvalidInput) as bad:
        add_gold(session, project, first.external_id, "sunny", actor=lead)
    assert "value" in bad.value.field_errors
    with pytest.raises(InvalidInput) as missing:
        add_gold(session, project, "nope", "positive", actor=lead)
    assert "nope" in missing.value.field_errors["external_id"]
    gold = add_gold(session, project, first.external_id, "positive", " why ", actor=lead)
    assert (gold.source, gold.purpose, gold.explanation) == ("lead", "check", "why")
    with pytest.raises(Conflict):
        add_gold(session, project, first.external_id, "negative", actor=lead)
    with pytest.raises(Forbidden):
        add_gold(session, project, second.external_id, "positive", actor=make_user(session))


def test_importing_gold_is_all_or_nothing_and_names_the_row(session: Session) -> None:
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead)
    a, b, c = add_items(session, project, 3)
    rows = [
        GoldInput(a.external_id, "positive", "clear"),
        GoldInput(b.external_id, "maybe"),
        GoldInput(a.external_id, "negative", purpose="qualification"),
        GoldInput(c.external_id, "neutral", purpose="exam"),
    ]
    with pytest.raises(InvalidInput) as refused:
        import_gold(session, project, rows, actor=lead)
    assert set(refused.value.field_errors) == {
        "rows[1].value",
        "rows[2].external_id",
        "rows[3].purpose",
    }
    assert list_gold(session, project) == []
    good = [GoldInput(a.external_id, "positive", "clear"), GoldInput(b.external_id, "negative")]
    assert import_gold(session, project, good, actor=lead) == GoldImportResult(2, 0)
    assert import_gold(session, project, good, actor=lead) == GoldImportResult(0, 2)
    assert {g.source for g, _ in list_gold(session, project)} == {"import"}


def test_promoting_an_item_needs_a_ruling_and_takes_its_value_and_rationale(
    session: Session,
) -> None:
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead)
    (item,) = add_items(session, project, 1)
    with pytest.raises(Conflict) as no_ruling:
        promote_adjudicated(session, project, item, actor=lead)
    assert no_ruling.value.code == "no_ruling"
    adjudicate_item(session, project, item, value="neutral", rationale="Mixed.", actor=lead)
    adjudicate_item(session, project, item, value="negative", rationale="Irony.", actor=lead)
    gold = promote_adjudicated(session, project, item, purpose="qualification", actor=lead)
    assert (gold.value, gold.explanation, gold.source, gold.purpose) == (
        "negative",
        "Irony.",
        "adjudication",
        "qualification",
    )
    assert session.scalar(select(GoldItem.id).where(GoldItem.item_id == item.id)) == gold.id


def test_value_matches_per_task_kind() -> None:
    assert value_matches("single_choice", "a", "a")
    assert not value_matches("ordinal", "a", "b")
    assert value_matches("multi_choice", ["a", "b"], ["b", "a"])
    assert not value_matches("multi_choice", ["a", "b"], ["a"])
    assert value_matches("numeric", 3.0, 3.2, 0.5)
    assert not value_matches("numeric", 3.0, 3.5, 0.5)
    assert value_matches("numeric", 3.0, 3, None) and not value_matches("numeric", 3.0, 3.1)
    assert not value_matches("single_choice", "a", None)
