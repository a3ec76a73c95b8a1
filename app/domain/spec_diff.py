"""What changed between two spec versions, as JSON-able typed dicts.

Pure functions over :class:`SpecSnapshot` (a spec version as plain data), so the JSON API, the
browser's side-by-side diff and the ``spec_published`` job all read the same answer. Labels are
matched by key and rules by tag: a label whose key changed is one label removed and one added.
"""

from __future__ import annotations

import difflib
from typing import TypedDict


class LabelSnapshot(TypedDict):
    """A label of a spec version."""

    key: str
    name: str
    description: str
    hotkey: str | None
    order: int


class RuleSnapshot(TypedDict):
    """The rule for one edge-case tag."""

    tag: str
    text: str


class Scale(TypedDict):
    """A numeric project's scale."""

    min: float
    max: float
    step: float


class SpecSnapshot(TypedDict):
    """A spec version as plain data: what a diff compares."""

    number: int
    guidelines: str
    changelog: str
    labels: list[LabelSnapshot]
    rules: list[RuleSnapshot]
    scale: Scale | None


class LabelRename(TypedDict):
    """Same key, new name."""

    key: str
    old_name: str
    new_name: str


class FieldChange(TypedDict):
    """One changed field of a label: ``description``, ``hotkey`` or ``order``."""

    field: str
    old: str | int | None
    new: str | int | None


class LabelRedefinition(TypedDict):
    """Same key, and its description, hotkey or order changed."""

    key: str
    name: str
    changes: list[FieldChange]


class LabelsDiff(TypedDict):
    """How the label set changed."""

    added: list[LabelSnapshot]
    removed: list[LabelSnapshot]
    renamed: list[LabelRename]
    redefined: list[LabelRedefinition]


class RuleChange(TypedDict):
    """A tag whose rule text changed."""

    tag: str
    old_text: str
    new_text: str


class RulesDiff(TypedDict):
    """How the rules per edge-case tag changed."""

    added: list[RuleSnapshot]
    removed: list[RuleSnapshot]
    changed: list[RuleChange]


class TextDiff(TypedDict):
    """Whether the guidelines changed, with a unified line diff (``---``/``+++``/``@@`` lines)."""

    changed: bool
    diff: list[str]


class ChangelogDiff(TypedDict):
    """The changelogs of both versions (the newer one says what changed)."""

    changed: bool
    old: str
    new: str


class ScaleDiff(TypedDict):
    """Whether a numeric project's scale changed."""

    changed: bool
    old: Scale | None
    new: Scale | None


class SpecDiff(TypedDict):
    """Everything that changed going from spec ``from_number`` to spec ``to_number``."""

    from_number: int
    to_number: int
    changed: bool
    labels: LabelsDiff
    rules: RulesDiff
    guidelines: TextDiff
    changelog: ChangelogDiff
    scale: ScaleDiff


class DiffSummary(TypedDict):
    """The keys and tags a diff touches: what the ``spec_published`` job records."""

    changed: bool
    labels_added: list[str]
    labels_removed: list[str]
    labels_renamed: list[str]
    labels_redefined: list[str]
    rules_added: list[str]
    rules_removed: list[str]
    rules_changed: list[str]
    guidelines_changed: bool
    scale_changed: bool


def _diff_labels(old: list[LabelSnapshot], new: list[LabelSnapshot]) -> LabelsDiff:
    before = {label["key"]: label for label in old}
    after = {label["key"]: label for label in new}
    renamed: list[LabelRename] = []
    redefined: list[LabelRedefinition] = []
    for label in new:
        previous = before.get(label["key"])
        if previous is None:
            continue
        if previous["name"] != label["name"]:
            renamed.append(
                {"key": label["key"], "old_name": previous["name"], "new_name": label["name"]}
            )
        pairs: tuple[tuple[str, str | int | None, str | int | None], ...] = (
            ("description", previous["description"], label["description"]),
            ("hotkey", previous["hotkey"], label["hotkey"]),
            ("order", previous["order"], label["order"]),
        )
        changes: list[FieldChange] = [
            {"field": name, "old": was, "new": now} for name, was, now in pairs if was != now
        ]
        if changes:
            redefined.append({"key": label["key"], "name": label["name"], "changes": changes})
    return {
        "added": [label for label in new if label["key"] not in before],
        "removed": [label for label in old if label["key"] not in after],
        "renamed": renamed,
        "redefined": redefined,
    }


def _diff_rules(old: list[RuleSnapshot], new: list[RuleSnapshot]) -> RulesDiff:
    before = {rule["tag"]: rule["text"] for rule in old}
    after = {rule["tag"]: rule["text"] for rule in new}
    return {
        "added": [{"tag": tag, "text": after[tag]} for tag in sorted(after) if tag not in before],
        "removed": [
            {"tag": tag, "text": before[tag]} for tag in sorted(before) if tag not in after
        ],
        "changed": [
            {"tag": tag, "old_text": before[tag], "new_text": after[tag]}
            for tag in sorted(after)
            if tag in before and before[tag] != after[tag]
        ],
    }


def guidelines_line_diff(old: str, new: str, *, old_name: str, new_name: str) -> list[str]:
    """A unified diff of two texts, line by line, with three lines of context."""
    return list(
        difflib.unified_diff(
            old.splitlines(), new.splitlines(), fromfile=old_name, tofile=new_name, lineterm=""
        )
    )


def diff_snapshots(old: SpecSnapshot, new: SpecSnapshot) -> SpecDiff:
    """What changed going from ``old`` to ``new``."""
    labels = _diff_labels(old["labels"], new["labels"])
    rules = _diff_rules(old["rules"], new["rules"])
    guidelines_changed = old["guidelines"] != new["guidelines"]
    scale_changed = old["scale"] != new["scale"]
    return {
        "from_number": old["number"],
        "to_number": new["number"],
        "changed": bool(
            any(labels.values()) or any(rules.values()) or guidelines_changed or scale_changed
        ),
        "labels": labels,
        "rules": rules,
        "guidelines": {
            "changed": guidelines_changed,
            "diff": guidelines_line_diff(
                old["guidelines"],
                new["guidelines"],
                old_name=f"v{old['number']}",
                new_name=f"v{new['number']}",
            )
            if guidelines_changed
            else [],
        },
        "changelog": {
            "changed": old["changelog"] != new["changelog"],
            "old": old["changelog"],
            "new": new["changelog"],
        },
        "scale": {"changed": scale_changed, "old": old["scale"], "new": new["scale"]},
    }


def summarize_diff(diff: SpecDiff) -> DiffSummary:
    """The label keys and rule tags a diff touches, for jobs and for re-label campaigns."""
    labels, rules = diff["labels"], diff["rules"]
    return {
        "changed": diff["changed"],
        "labels_added": [label["key"] for label in labels["added"]],
        "labels_removed": [label["key"] for label in labels["removed"]],
        "labels_renamed": [label["key"] for label in labels["renamed"]],
        "labels_redefined": [label["key"] for label in labels["redefined"]],
        "rules_added": [rule["tag"] for rule in rules["added"]],
        "rules_removed": [rule["tag"] for rule in rules["removed"]],
        "rules_changed": [rule["tag"] for rule in rules["changed"]],
        "guidelines_changed": diff["guidelines"]["changed"],
        "scale_changed": diff["scale"]["changed"],
    }
