"""What publishing a spec version would do: the changes that matter and the items they affect.

A change *affects* an item whose labels in force (its current round) may now be wrong:

- a rule added, removed or reworded for an edge-case tag the item carries;
- a label it was given that is removed, renamed, or redefined (a new description, or a new place
  on an ordinal scale); a new hotkey changes nothing about meaning and affects nothing;
- for numeric projects, a new scale, which affects every labeled item.

Guideline edits are shown but send no item back by themselves (they have no tag to aim at):
annotators read them when they acknowledge the new version. Items with no label in force from
an earlier version are not affected: they are simply labeled under the new one.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Annotation, Item, ItemTag, Project, SpecVersion, Tag
from app.domain.spec_diff import SpecDiff, summarize_diff

MAX_EXAMPLES = 20
RECENT_DURATIONS = 5000
"""How many recent labels the median time per item is taken from (the current pace)."""


@dataclass(frozen=True)
class SpecImpact:
    """The preview of a publish, and what the re-label campaign records."""

    from_number: int | None
    to_number: int
    rules_changed: list[str]
    labels_changed: list[str]
    guidelines_changed: bool
    scale_changed: bool
    overlap: int
    affected: dict[int, list[str]] = field(repr=False)
    """Item id -> reasons (``rule:<tag>``, ``label:<key>``, ``scale``)."""
    median_seconds: float | None
    examples: list[tuple[str, list[str]]]
    """(external_id, reasons) of the first affected items."""

    @property
    def n_items(self) -> int:
        """How many items go back for re-labeling."""
        return len(self.affected)

    @property
    def n_assignments(self) -> int:
        """Re-label assignments the campaign opens: k per affected item."""
        return self.n_items * self.overlap

    @property
    def estimate_hours(self) -> float | None:
        """Annotator-hours at the project's median time per item (None without timings)."""
        if self.median_seconds is None:
            return None
        return self.n_assignments * self.median_seconds / 3600

    def by_reason(self) -> dict[str, int]:
        """How many items each reason affects (an item may have several)."""
        counts: dict[str, int] = defaultdict(int)
        for reasons in self.affected.values():
            for reason in reasons:
                counts[reason] += 1
        return dict(sorted(counts.items()))

    def as_dict(self) -> dict[str, Any]:
        """The impact as the API serves it (and the campaign stores it)."""
        hours = self.estimate_hours
        return {
            "from_version": self.from_number,
            "to_version": self.to_number,
            "rules_changed": self.rules_changed,
            "labels_changed": self.labels_changed,
            "guidelines_changed": self.guidelines_changed,
            "scale_changed": self.scale_changed,
            "n_items": self.n_items,
            "n_assignments": self.n_assignments,
            "overlap": self.overlap,
            "items_by_reason": self.by_reason(),
            "median_seconds_per_item": self.median_seconds,
            "estimate_annotator_hours": round(hours, 2) if hours is not None else None,
            "examples": [{"external_id": e, "reasons": r} for e, r in self.examples],
        }


def changed_meaning(diff: SpecDiff) -> tuple[list[str], list[str]]:
    """(tags whose rule changed, label keys whose meaning changed) in a diff."""
    summary = summarize_diff(diff)
    tags = sorted({*summary["rules_added"], *summary["rules_removed"], *summary["rules_changed"]})
    meaning = {"description", "order"}
    redefined = {
        label["key"]
        for label in diff["labels"]["redefined"]
        if any(change["field"] in meaning for change in label["changes"])
    }
    keys = sorted({*summary["labels_removed"], *summary["labels_renamed"], *redefined})
    return tags, keys


def spec_impact(
    session: Session, project: Project, old: SpecVersion | None, new: SpecVersion, diff: SpecDiff
) -> SpecImpact:
    """What going from ``old`` (None: nothing published yet) to ``new`` affects."""
    tags, keys = changed_meaning(diff) if old is not None else ([], [])
    scale_changed = old is not None and diff["scale"]["changed"]
    affected: dict[int, list[str]] = defaultdict(list)
    # Labels in force that were made under an earlier version (labels made under the new one
    # between publishing and the campaign already follow it).
    # (No project condition here: the item decides it, and SQLite would otherwise walk the
    # project's annotations for every item instead of the item's own.)
    in_force = (
        Annotation.retracted_at.is_(None),
        Annotation.label_round == Item.label_round,
        Annotation.spec_version_id != new.id,
    )
    if tags:
        rows = session.execute(
            select(Item.id, Tag.name)
            .join(ItemTag, ItemTag.item_id == Item.id)
            .join(Tag, Tag.id == ItemTag.tag_id)
            .where(
                Item.project_id == project.id,
                Tag.name.in_(tags),
                select(Annotation.id).where(Annotation.item_id == Item.id, *in_force).exists(),
            )
            .order_by(Item.id, Tag.name)
        )
        for item_id, tag in rows:
            affected[item_id].append(f"rule:{tag}")
    if keys or scale_changed:
        wanted = set(keys)
        values = session.execute(
            select(Annotation.item_id, Annotation.value)
            .join(Item, Item.id == Annotation.item_id)
            .where(Item.project_id == project.id, *in_force)
            .order_by(Annotation.item_id)
        )
        for item_id, value in values:
            reasons = affected[item_id]
            if scale_changed:
                if "scale" not in reasons:
                    reasons.append("scale")
                continue
            given = value if isinstance(value, list) else [value]
            for key in sorted(wanted.intersection(str(v) for v in given)):
                if f"label:{key}" not in reasons:
                    reasons.append(f"label:{key}")
            if not reasons:
                del affected[item_id]
    examples: list[tuple[str, list[str]]] = []
    if affected:
        first = sorted(affected)[:MAX_EXAMPLES]
        names = dict(
            session.execute(select(Item.id, Item.external_id).where(Item.id.in_(first))).all()
        )
        examples = [(names[i], affected[i]) for i in first]
    return SpecImpact(
        from_number=old.number if old is not None else None,
        to_number=new.number,
        rules_changed=tags,
        labels_changed=keys,
        guidelines_changed=old is not None and diff["guidelines"]["changed"],
        scale_changed=scale_changed,
        overlap=project.overlap,
        affected=dict(affected),
        median_seconds=median_seconds_per_item(session, project),
        examples=examples,
    )


def median_seconds_per_item(session: Session, project: Project) -> float | None:
    """The median time an annotator spent per item over the project's recent labels."""
    durations = session.scalars(
        select(Annotation.duration_ms)
        .where(
            Annotation.project_id == project.id,
            Annotation.retracted_at.is_(None),
            Annotation.duration_ms.is_not(None),
        )
        .order_by(Annotation.id.desc())
        .limit(RECENT_DURATIONS)
    ).all()
    known = [d for d in durations if d is not None]
    return statistics.median(known) / 1000 if known else None
