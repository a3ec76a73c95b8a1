"""A project's workforce rules: qualification, gold checks, quotas and caps.

What each rule means (label, help text, allowed range) lives in :data:`WORKFORCE_RULES`, which
both the people page and the API serve; the ranges match the CheckConstraints on ``projects``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.db.models import Project
from app.domain.audit import record_event
from app.domain.errors import InvalidInput

MAX_DAILY_QUOTA = 100_000


@dataclass(frozen=True)
class RuleField:
    """One workforce rule column of a project: its label, help text and allowed range."""

    name: str
    label: str
    help: str
    kind: str
    """``bool``, ``int`` or ``fraction`` (a number between 0 and 1)."""
    low: float = 0
    high: float = 1
    low_open: bool = False
    """True when ``low`` itself is not allowed (``> low`` rather than ``>= low``)."""
    nullable: bool = False

    def describe(self) -> str:
        """The allowed values in words, for error messages."""
        if self.kind == "bool":
            return "true or false"
        what = "a whole number" if self.kind == "int" else "a number"
        low, high = _number(self.low), _number(self.high)
        if self.low_open:
            text = f"{what} above {low} and at most {high}"
        else:
            text = f"{what} from {low} to {high}"
        return text + (", or empty for none" if self.nullable else "")


def _number(value: float) -> str:
    """A bound as people write it: 10,000,000 rather than 1e+07, 0.5 rather than 0.50."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


WORKFORCE_RULES = (
    RuleField(
        "requires_qualification",
        "Require qualification",
        "New annotators must pass the qualification test (gold items with known answers) "
        "before they get real work. Leads and admins are exempt.",
        "bool",
    ),
    RuleField(
        "qualification_pass",
        "Pass mark",
        "Share of a test's questions answered correctly to pass, e.g. 0.8 for 80%.",
        "fraction",
        low_open=True,
    ),
    RuleField(
        "qualification_size",
        "Questions per test",
        "How many qualification gold items one attempt draws.",
        "int",
        1,
        200,
    ),
    RuleField(
        "qualification_cooldown_minutes",
        "Retry after (minutes)",
        "How long someone who failed the test waits before trying again.",
        "int",
        0,
        43_200,
    ),
    RuleField(
        "gold_share",
        "Gold share",
        "Fraction of leased items that are hidden gold checks, e.g. 0.05; 0 turns checks off.",
        "fraction",
    ),
    RuleField(
        "gold_accuracy_bar",
        "Gold accuracy bar",
        "Someone whose accuracy on gold checks falls below this is paused automatically and "
        "the leads get a notice.",
        "fraction",
    ),
    RuleField(
        "gold_min_checks",
        "Checks before judging",
        "How many gold checks a person answers before their accuracy is judged.",
        "int",
        1,
        1000,
    ),
    RuleField(
        "daily_quota",
        "Daily quota",
        "Labels per person per day (UTC); empty for no limit. A member's own quota overrides it.",
        "int",
        1,
        MAX_DAILY_QUOTA,
        nullable=True,
    ),
    RuleField(
        "max_items_per_annotator",
        "Most items per annotator",
        "Labels one person may make in this project in all; empty for no cap.",
        "int",
        1,
        10_000_000,
        nullable=True,
    ),
    RuleField(
        "max_share",
        "Largest share per annotator",
        "At most this fraction of the project's items labeled by any one person, e.g. 0.25; "
        "empty for no cap.",
        "fraction",
        low_open=True,
        nullable=True,
    ),
)
RULES_BY_NAME = {rule.name: rule for rule in WORKFORCE_RULES}
TRUE_WORDS = {"true", "on", "yes", "1"}
FALSE_WORDS = {"false", "off", "no", "0", ""}


def workforce_rules(project: Project) -> dict[str, Any]:
    """The project's workforce rules by name."""
    return {rule.name: getattr(project, rule.name) for rule in WORKFORCE_RULES}


def _coerce(rule: RuleField, value: Any) -> Any:
    """The value as the column stores it; raises ValueError when it is not acceptable."""
    if rule.kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
            return value.strip().lower() in TRUE_WORDS
        raise ValueError
    if value is None or (isinstance(value, str) and not value.strip()):
        if rule.nullable:
            return None
        raise ValueError
    if isinstance(value, bool):
        raise ValueError
    number = float(value.strip()) if isinstance(value, str) else value
    if not isinstance(number, int | float) or number != number:  # NaN is never equal to itself
        raise ValueError
    if rule.kind == "int":
        if number != int(number):
            raise ValueError
        number = int(number)
    too_low = number <= rule.low if rule.low_open else number < rule.low
    if too_low or number > rule.high:
        raise ValueError
    return float(number) if rule.kind == "fraction" else number


def set_workforce_rules(
    session: Session, project: Project, *, actor_id: int | None, **fields: Any
) -> Project:
    """Change some of the project's workforce rules; InvalidInput names every bad field and
    nothing changes unless all are valid."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, raw in fields.items():
        rule = RULES_BY_NAME.get(name)
        if rule is None:
            errors[name] = "not a workforce rule"
            continue
        try:
            values[name] = _coerce(rule, raw)
        except (ValueError, TypeError, OverflowError):
            errors[name] = rule.describe()
    if errors:
        raise InvalidInput("the workforce rules were not saved", field_errors=errors)
    changed = {
        name: {"old": getattr(project, name), "new": value}
        for name, value in values.items()
        if getattr(project, name) != value
    }
    if changed:
        for name, change in changed.items():
            setattr(project, name, change["new"])
        session.flush()
        record_event(
            session,
            "project.workforce_rules_set",
            actor_id=actor_id,
            project_id=project.id,
            subject_type="project",
            subject_id=project.id,
            changes=changed,
        )
    return project
