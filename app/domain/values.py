"""What a valid value is for each task kind, checked against a spec version."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from app.db.engine import execute_core
from app.db.models import SpecLabel, SpecVersion
from app.db.per_transaction import per_transaction
from app.domain.errors import InvalidInput, NotFound


class _Keyed(Protocol):
    @property
    def key(self) -> str: ...


class LabelsAndScale(Protocol):
    """What checking a value needs of a spec version: a :class:`SpecVersion`, or the
    :class:`SpecLabelKeys` the labeling loop reads."""

    @property
    def number(self) -> int: ...

    @property
    def labels(self) -> Sequence[_Keyed]: ...

    @property
    def scale_min(self) -> float | None: ...

    @property
    def scale_max(self) -> float | None: ...

    @property
    def scale_step(self) -> float | None: ...


@dataclass(frozen=True)
class LabelKey:
    """A label of :class:`SpecLabelKeys`: only its key."""

    key: str


@dataclass(frozen=True)
class SpecLabelKeys:
    """A spec version's number, label keys (in order) and numeric scale: all a submission is
    checked against, read without loading the version and its labels as ORM objects (which
    cost the labeling loop more than any other read of a submission)."""

    number: int
    labels: tuple[LabelKey, ...]
    scale_min: float | None
    scale_max: float | None
    scale_step: float | None


_VERSIONS = cast(Table, SpecVersion.__table__)
_LABELS = cast(Table, SpecLabel.__table__)
_SPEC_LABEL_KEYS = (
    select(
        _VERSIONS.c.number,
        _VERSIONS.c.scale_min,
        _VERSIONS.c.scale_max,
        _VERSIONS.c.scale_step,
        _LABELS.c.key,
    )
    .outerjoin(_LABELS, _LABELS.c.spec_version_id == _VERSIONS.c.id)
    .where(_VERSIONS.c.id == bindparam("spec_version_id"))
    .order_by(_LABELS.c.position)
)
SPEC_LABEL_KEYS = per_transaction("accord_spec_label_keys")
"""``session.info`` key: :class:`SpecLabelKeys` by version id, kept for one transaction."""


def spec_label_keys(session: Session, spec_version_id: int) -> SpecLabelKeys:
    """The version's :class:`SpecLabelKeys` (remembered until the transaction ends), or NotFound."""
    remembered: dict[int, SpecLabelKeys] = session.info.setdefault(SPEC_LABEL_KEYS, {})
    found = remembered.get(spec_version_id)
    if found is None:
        rows = execute_core(session, _SPEC_LABEL_KEYS, {"spec_version_id": spec_version_id}).all()
        if not rows:
            raise NotFound(f"no spec version with id {spec_version_id}")
        number, low, high, step, _ = rows[0]
        keys = tuple(LabelKey(key) for *_, key in rows if key is not None)
        found = remembered[spec_version_id] = SpecLabelKeys(number, keys, low, high, step)
    return found


def validate_value(kind: str, spec: LabelsAndScale, value: Any, *, field: str = "value") -> Any:
    """Return the value in canonical form, or raise InvalidInput naming ``field``.

    ``single_choice`` and ``ordinal`` take one label key; ``multi_choice`` a list of distinct
    label keys (stored sorted by the spec's label order); ``numeric`` a finite number on the
    spec's scale and step.
    """
    keys = [label.key for label in spec.labels]
    if kind in ("single_choice", "ordinal"):
        if not isinstance(value, str) or value not in keys:
            raise InvalidInput(
                f"{field} must be one of the labels of spec v{spec.number}: {', '.join(keys)}",
                field_errors={field: f"unknown label {value!r}"},
            )
        return value
    if kind == "multi_choice":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidInput(
                f"{field} must be a list of label keys",
                field_errors={field: "expected a list of label keys"},
            )
        unknown = [v for v in value if v not in keys]
        if unknown:
            raise InvalidInput(
                f"{field} has labels not in spec v{spec.number}: {', '.join(unknown)}",
                field_errors={field: f"unknown label(s) {', '.join(map(repr, unknown))}"},
            )
        if len(set(value)) != len(value):
            raise InvalidInput(f"{field} repeats a label", field_errors={field: "duplicate label"})
        return sorted(value, key=keys.index)
    if kind == "numeric":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise InvalidInput(f"{field} must be a number", field_errors={field: "not a number"})
        low, high, step = spec.scale_min, spec.scale_max, spec.scale_step
        if low is not None and high is not None and not low <= value <= high:
            raise InvalidInput(
                f"{field} must be between {low:g} and {high:g}",
                field_errors={field: f"outside {low:g}..{high:g}"},
            )
        if low is not None and step:
            steps = (value - low) / step
            if abs(steps - round(steps)) > 1e-9:
                raise InvalidInput(
                    f"{field} must be a multiple of {step:g} from {low:g}",
                    field_errors={field: f"not on the {step:g} step"},
                )
        return float(value)
    raise InvalidInput(f"unknown task kind {kind!r}")


def value_matches(kind: str, gold: Any, given: Any, step: float | None = None) -> bool:
    """Whether ``given`` is the known (gold) answer: the same label (single choice, ordinal),
    the same set of labels (multi choice), or a number within half a scale ``step`` (exactly
    equal when the scale has no step)."""
    if given is None:
        return False
    if kind == "multi_choice":
        return isinstance(gold, list) and isinstance(given, list) and set(gold) == set(given)
    if kind == "numeric":
        numbers = (gold, given)
        if any(isinstance(v, bool) or not isinstance(v, int | float) for v in numbers):
            return False
        if step:
            return abs(float(gold) - float(given)) < step / 2
        return float(gold) == float(given)
    return bool(gold == given)
