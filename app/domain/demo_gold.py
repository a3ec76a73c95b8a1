"""The demo project's gold items: a qualification test and a few ongoing checks.

Chosen from plain (untagged) demo reviews that have all k labels, all equal to the review's true
sentiment, so making them gold changes no figure and takes no open work away.
Qualification stays off and the gold share at zero: a lead switches them on from *People*.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from app.db.models import GoldItem, Item, Project, User

if TYPE_CHECKING:
    from app.domain.demo import DemoPlan

N_QUALIFICATION = 8
N_CHECKS = 4
EXPLANATIONS = {
    "positive": "The reviewer is pleased overall and says so plainly: nothing is ironic or "
    "negated, so the words mean what they say.",
    "negative": "The reviewer is unhappy overall and says so plainly: a complaint with no "
    "irony or negation to untangle.",
    "neutral": "The review reports facts (delivery, specifications, a question) without "
    "taking a side on the product.",
    "mixed": "Real praise for one aspect and real criticism of another, and neither clearly "
    "outweighs the other.",
}


def add_demo_gold(
    session: Session, plan: DemoPlan, project: Project, items: list[Item], lead: User
) -> int:
    """Make some unanimous plain items gold (qualification first, then checks, alternating
    labels); returns how many."""
    values: dict[int, list[str]] = defaultdict(list)
    for annotation in plan.annotations:
        values[annotation.item_index].append(annotation.value)
    by_label: dict[str, list[int]] = defaultdict(list)
    for index, planned in enumerate(plan.items):
        review = planned.review
        given = values[index]
        complete = len(given) == project.overlap and set(given) == {review.truth}
        if review.tag is None and planned.split == "train" and complete:
            by_label[review.truth].append(index)
    chosen: list[int] = []
    while len(chosen) < N_QUALIFICATION + N_CHECKS and any(by_label.values()):
        for label in sorted(by_label):
            if by_label[label] and len(chosen) < N_QUALIFICATION + N_CHECKS:
                chosen.append(by_label[label].pop(0))
    session.add_all(
        GoldItem(
            project_id=project.id,
            item_id=items[index].id,
            purpose="qualification" if n < N_QUALIFICATION else "check",
            value=plan.items[index].review.truth,
            explanation=EXPLANATIONS.get(plan.items[index].review.truth, ""),
            source="lead",
            created_by_id=lead.id,
        )
        for n, index in enumerate(chosen)
    )
    session.flush()
    return len(chosen)
