"""Checking a lead's changes to a draft spec: every problem is reported under the field it is in.

Field names follow the JSON shape (``labels[2].hotkey``, ``rules[0].tag``, ``scale``), so the API
returns them as they are and the browser form maps them back to its rows. The rules mirror
those for creating a project, with explicit size limits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.domain.errors import InvalidInput
from app.domain.projects import KEY_RE, TAG_RE
from app.domain.spec_diff import LabelSnapshot, RuleSnapshot, Scale

EDITABLE_FIELDS = ("guidelines", "changelog", "labels", "rules", "scale")
MAX_GUIDELINES_CHARS = 100_000
MAX_CHANGELOG_CHARS = 10_000
MAX_RULE_CHARS = 10_000
MAX_DESCRIPTION_CHARS = 2_000
MAX_NAME_CHARS = 200
MAX_LABELS = 50
MAX_RULES = 200
RESERVED_HOTKEYS = "?hsu "  # the labeling page's own keys (help, skip, unclear) and space
DEFAULT_HOTKEYS = "123456789"


@dataclass
class DraftChanges:
    """Validated changes; ``None`` means "leave as it is". Label orders are 0..n-1."""

    guidelines: str | None = None
    changelog: str | None = None
    labels: list[LabelSnapshot] | None = None
    rules: list[RuleSnapshot] | None = None
    scale: Scale | None = None

    def given(self) -> set[str]:
        """The fields these changes touch."""
        return {name for name in EDITABLE_FIELDS if getattr(self, name) is not None}


def _text(changes: Mapping[str, Any], name: str, limit: int, errors: dict[str, str]) -> str | None:
    value = changes.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        errors[name] = "must be text"
    elif len(value) > limit:
        errors[name] = f"at most {limit} characters"
    else:
        return value
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _label(raw: Any, i: int, errors: dict[str, str]) -> tuple[LabelSnapshot, Any] | None:
    field = f"labels[{i}]"
    if not isinstance(raw, Mapping):
        errors[field] = "each label is an object {key, name, description, hotkey, order}"
        return None
    key, name = raw.get("key"), raw.get("name")
    description, hotkey = raw.get("description") or "", raw.get("hotkey") or None
    if not isinstance(key, str) or not KEY_RE.match(key):
        errors[f"{field}.key"] = "letters, digits, _ . - (at most 64)"
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
        errors[f"{field}.name"] = f"required, at most {MAX_NAME_CHARS} characters"
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_CHARS:
        errors[f"{field}.description"] = f"text of at most {MAX_DESCRIPTION_CHARS} characters"
    if hotkey is not None and (
        not isinstance(hotkey, str) or len(hotkey) != 1 or hotkey in RESERVED_HOTKEYS
    ):
        errors[f"{field}.hotkey"] = "one character, not ? h s u or space"
    order = raw.get("order")
    if order is not None and not _is_int(order):
        errors[f"{field}.order"] = "must be a whole number"
    # Returned even when invalid, so duplicates are reported too; errors stop the save anyway.
    label: LabelSnapshot = {
        "key": str(key),
        "name": str(name).strip(),
        "description": str(description),
        "hotkey": hotkey if isinstance(hotkey, str) else None,
        "order": 0,
    }
    return label, order if _is_int(order) else None


def _labels(raw: Any, errors: dict[str, str]) -> list[LabelSnapshot] | None:
    if not isinstance(raw, list):
        errors["labels"] = "a list of labels"
        return None
    if not 2 <= len(raw) <= MAX_LABELS:
        errors["labels"] = f"between 2 and {MAX_LABELS} labels"
    parsed = [(i, _label(item, i, errors)) for i, item in enumerate(raw)]
    rows = [(i, found[0], found[1]) for i, found in parsed if found is not None]
    keys: dict[str, int] = {}
    hotkeys: dict[str, int] = {}
    orders: dict[int, int] = {}
    with_order = [i for i, _, order in rows if order is not None]
    for i, label, order in rows:
        if label["key"] in keys:
            errors.setdefault(f"labels[{i}].key", f"duplicate key {label['key']!r}")
        keys.setdefault(label["key"], i)
        if label["hotkey"] is not None:
            if label["hotkey"] in hotkeys:
                errors.setdefault(f"labels[{i}].hotkey", f"duplicate hotkey {label['hotkey']!r}")
            hotkeys.setdefault(label["hotkey"], i)
        if with_order and order is None:
            errors.setdefault(f"labels[{i}].order", "give an order for every label or for none")
        elif order is not None:
            if order in orders:
                errors[f"labels[{i}].order"] = f"order {order} is used twice"
            orders.setdefault(order, i)
    if any(k == "labels" or k.startswith("labels[") for k in errors):
        return None
    # A stable sort: without orders the list order is the label order (the scale, if ordinal).
    ordered = sorted(rows, key=lambda row: row[2] if row[2] is not None else row[0])
    free = (key for key in DEFAULT_HOTKEYS if key not in hotkeys)
    labels: list[LabelSnapshot] = []
    for position, (_, label, _) in enumerate(ordered):
        hotkey = label["hotkey"] if label["hotkey"] is not None else next(free, None)
        labels.append({**label, "order": position, "hotkey": hotkey})
    return labels


def _rules(raw: Any, errors: dict[str, str]) -> list[RuleSnapshot] | None:
    if not isinstance(raw, list):
        errors["rules"] = "a list of rules {tag, text}"
        return None
    if len(raw) > MAX_RULES:
        errors["rules"] = f"at most {MAX_RULES} rules"
    rules: list[RuleSnapshot] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            errors[f"rules[{i}]"] = "each rule is an object {tag, text}"
            continue
        tag, text = item.get("tag"), item.get("text")
        if not isinstance(tag, str) or not TAG_RE.match(tag):
            errors[f"rules[{i}].tag"] = "tag names are lower-case letters, digits, _ and -"
        elif tag in seen:
            errors[f"rules[{i}].tag"] = f"a second rule for tag {tag!r}"
        if not isinstance(text, str) or not text.strip():
            errors[f"rules[{i}].text"] = "rule text is empty"
        elif len(text) > MAX_RULE_CHARS:
            errors[f"rules[{i}].text"] = f"at most {MAX_RULE_CHARS} characters"
        if isinstance(tag, str) and isinstance(text, str):
            seen.add(tag)
            rules.append({"tag": tag, "text": text.strip()})
    return rules


def _scale(raw: Any, errors: dict[str, str]) -> Scale | None:
    try:
        low, high, step = (float(raw[name]) for name in ("min", "max", "step"))
    except (KeyError, TypeError, ValueError):
        errors["scale"] = "numeric projects need scale {min, max, step} as numbers"
        return None
    if not all(math.isfinite(v) for v in (low, high, step)) or not (low < high and step > 0):
        errors["scale"] = "need min < max and step > 0"
        return None
    return {"min": low, "max": high, "step": step}


def parse_changes(kind: str, changes: Mapping[str, Any]) -> DraftChanges:
    """Validate changes to a draft of a ``kind`` project; InvalidInput names every bad field."""
    errors: dict[str, str] = {
        name: f"not an editable field of a spec ({', '.join(EDITABLE_FIELDS)})"
        for name in changes
        if name not in EDITABLE_FIELDS
    }
    result = DraftChanges(
        guidelines=_text(changes, "guidelines", MAX_GUIDELINES_CHARS, errors),
        changelog=_text(changes, "changelog", MAX_CHANGELOG_CHARS, errors),
    )
    if changes.get("labels") is not None:
        if kind == "numeric":
            if changes["labels"]:
                errors["labels"] = "numeric projects take a scale, not labels"
        else:
            result.labels = _labels(changes["labels"], errors)
    if changes.get("rules") is not None:
        result.rules = _rules(changes["rules"], errors)
    if changes.get("scale") is not None:
        if kind != "numeric":
            errors["scale"] = "only numeric projects have a scale"
        else:
            result.scale = _scale(changes["scale"], errors)
    if errors:
        raise InvalidInput("the draft could not be saved", field_errors=errors)
    return result
