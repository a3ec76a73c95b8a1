"""Exports for training jobs: one row per item (or per annotation) with full provenance.

What a row says: the item (external_id, text, tags, split), the label and how it was decided
(``adjudicated``, ``majority`` with its vote share, ``unanimous``), the spec version of the labels
and, per tag, the version whose rule they followed, the number of annotators and the item's own
agreement (the share of agreeing pairs), whether the item's tags are reliable (the tag's alpha
interval at or above the project's threshold), whether its text duplicates an eval or holdout
item (``leak_risk``), pseudonymous annotator ids (HMAC of the user id under the project's
``export_salt``: stable per project, never an email) and timestamps.

Rows are built in :mod:`app.domain.export_rows`, written in :mod:`app.domain.export_files`.

Guards: ``split`` defaults to ``train`` and eval/holdout items never appear in a train export;
train items whose normalized text equals an eval/holdout item are excluded unless
``include_leak_risk=true``; stale labels (an earlier labeling round) only with
``include_stale=true``; ``min_alpha`` and ``min_item_agreement`` exclude what falls below them
and are not applied unless asked (every row carries its figures either way).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import (
    Project,
    Snapshot,
    SpecRule,
    SpecVersion,
)
from app.db.models import Tag as TagRow
from app.domain.agreement import parse_spec_version
from app.domain.errors import InvalidInput
from app.domain.projects import current_spec
from app.domain.ratings import SpecSelection

FORMATS = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
CONSENSUS = ("adjudicated_then_majority", "majority", "unanimous", "all_annotations")
SPLIT_CHOICES = ("train", "eval", "holdout", "all")
PARAMETERS = (
    "format",
    "spec_version",
    "split",
    "consensus",
    "min_alpha",
    "min_item_agreement",
    "tags",
    "include_stale",
    "include_leak_risk",
    "since",
)


@dataclass(frozen=True)
class ExportRequest:
    """Validated export parameters."""

    format: str = "jsonl"
    spec_version: SpecSelection = "current"
    split: str = "train"
    consensus: str = "adjudicated_then_majority"
    min_alpha: float | None = None
    min_item_agreement: float | None = None
    tags: tuple[str, ...] = ()
    include_stale: bool = False
    include_leak_risk: bool = False
    since: str | None = None
    """ISO 8601 UTC (``...T...Z``, milliseconds): only rows whose labels or ruling changed
    after it."""


def parse_export_request(
    session: Session, project: Project, query: Mapping[str, str]
) -> ExportRequest:
    """The request from query parameters; 422 naming every unknown parameter or bad value."""
    errors: dict[str, str] = {}
    for name in sorted(set(query) - set(PARAMETERS)):
        errors[name] = f"unknown parameter; known: {', '.join(PARAMETERS)}"

    def choice(name: str, options: tuple[str, ...] | list[str], default: str) -> str:
        value = query.get(name, default)
        if value not in options:
            errors[name] = f"one of {', '.join(options)}; not {value!r}"
        return value

    def fraction(name: str) -> float | None:
        raw = query.get(name)
        if raw is None or raw == "":
            return None
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not -1.0 <= value <= 1.0:
            errors[name] = f"a number from -1 to 1; not {raw!r}"
            return None
        return value

    def flag(name: str) -> bool:
        raw = query.get(name, "false").lower()
        if raw not in ("true", "false", "1", "0"):
            errors[name] = f"true or false; not {raw!r}"
        return raw in ("true", "1")

    fmt = choice("format", list(FORMATS), "jsonl")
    split = choice("split", SPLIT_CHOICES, "train")
    consensus = choice("consensus", CONSENSUS, "adjudicated_then_majority")
    min_alpha, min_agreement = fraction("min_alpha"), fraction("min_item_agreement")
    include_stale, include_leak = flag("include_stale"), flag("include_leak_risk")
    known = set(session.scalars(select(TagRow.name).where(TagRow.project_id == project.id)).all())
    tags = tuple(t for t in (query.get("tags") or "").split(",") if t.strip())
    unknown_tags = sorted(set(tags) - known)
    if unknown_tags:
        errors["tags"] = f"unknown tag(s) {', '.join(unknown_tags)}"
    since = _since(session, project, query.get("since"), errors)
    try:
        selection = parse_spec_version(session, project, query.get("spec_version"))
    except InvalidInput as exc:
        errors.update(exc.field_errors)
        selection = "current"
    if errors:
        raise InvalidInput("the export request is not valid", field_errors=errors)
    return ExportRequest(
        format=fmt,
        spec_version=selection,
        split=split,
        consensus=consensus,
        min_alpha=min_alpha,
        min_item_agreement=min_agreement,
        tags=tags,
        include_stale=include_stale,
        include_leak_risk=include_leak,
        since=since,
    )


def _since(
    session: Session, project: Project, raw: str | None, errors: dict[str, str]
) -> str | None:
    """``since`` as the export's timestamp text: a timestamp, or ``snapshot:<id>`` (its time)."""
    if not raw:
        return None
    moment: datetime | None = None
    if raw.startswith("snapshot:") and raw[9:].isdigit():
        snapshot = session.get(Snapshot, int(raw[9:]))
        if snapshot is not None and snapshot.project_id == project.id:
            moment = snapshot.finished_at or snapshot.created_at
    else:
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    if moment is None:
        errors["since"] = f"an ISO 8601 time or snapshot:<id> of this project; not {raw!r}"
        return None
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def pseudonym(project: Project, user_id: int) -> str:
    """The annotator's export id: stable per project, not reversible without the database."""
    digest = hmac.new(project.export_salt.encode(), str(user_id).encode(), hashlib.sha256)
    return f"a_{digest.hexdigest()[:16]}"


def rule_versions(session: Session, project: Project) -> dict[str, int]:
    """Per tag: the published version whose rule text is in force (when it was last changed)."""
    current = current_spec(session, project).number
    rows = session.execute(
        select(TagRow.name, SpecVersion.number, SpecRule.text)
        .join(SpecRule, SpecRule.tag_id == TagRow.id)
        .join(SpecVersion, SpecVersion.id == SpecRule.spec_version_id)
        .where(
            TagRow.project_id == project.id,
            SpecVersion.status == "published",
            SpecVersion.number <= current,
        )
        .order_by(TagRow.name, SpecVersion.number)
    )
    since: dict[str, tuple[int, str]] = {}
    for name, number, text in rows:
        last = since.get(name)
        if last is None or last[1] != text:
            since[name] = (number, text)
    return {name: number for name, (number, _) in since.items()}
