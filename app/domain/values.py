"""What a valid value is for each task kind, checked against a spec version."""

from __future__ import annotations

import math
from typing import Any

from app.db.models import SpecVersion
from app.domain.errors import InvalidInput


def validate_value(kind: str, spec: SpecVersion, value: Any, *, field: str = "value") -> Any:
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
