"""Exports for training jobs: one row per item (or per annotation) with full provenance.

What a row says: the item (external_id, text, tags, split), the label and how it was decided
(``adjudicated``, ``majority`` with its vote share, ``unanimous``), the spec version of the labels
and, per tag, the version whose rule they followed, the number of annotators and the item's own
agreement (the share of agreeing pairs), whether the item's tags are reliable (the tag's alpha
interval at or above the project's threshold), whether its text duplicates an eval or holdout
item (``leak_risk``), pseudonymous annotator ids (HMAC of the user id under the project's
``export_salt``: stable per project, never an email) and timestamps.

Serialization is in :mod:`app.domain.export_files`.

Guards: ``split`` defaults to ``train`` and eval/holdout items never appear in a train export;
train items whose normalized text equals an eval/holdout item are excluded unless
``include_leak_risk=true``; stale labels (an earlier labeling round) only with
``include_stale=true``; ``min_alpha`` and ``min_item_agreement`` exclude what falls below them
and are not applied unless asked (every row carries its figures either way).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import Text, case, cast, func, select, type_coerce
from sqlalchemy.orm import Session

from app.db.engine import is_sqlite, read_frame
from app.db.models import (
    Adjudication,
    Annotation,
    Item,
    ItemTag,
    Project,
    Snapshot,
    SpecRule,
    SpecVersion,
)
from app.db.models import Tag as TagRow
from app.domain.agreement import (
    VALUE_TYPES,
    SpecSelection,
    agreement_report,
    parse_spec_version,
    selected,
)
from app.domain.errors import InvalidInput
from app.domain.projects import current_spec

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


def _normalized(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def export_rows(session: Session, project: Project, request: ExportRequest) -> pl.DataFrame:
    """The export as a frame (one row per item, or per annotation with ``all_annotations``)."""
    items = _items(session, project)
    tags_of = _item_tags(session, project)
    labels = _labels(session, project, request)
    rulings = _rulings(session, project)
    rule_versions = _rule_versions(session, project)
    tag_alpha, overall_alpha, reliable = _tag_reliability(session, project)
    held_out = {_normalized(i["text"]) for i in items.values() if i["split"] != "train"}
    by_item: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for label in labels:
        by_item[label["item_id"]].append(label)
    rows: list[dict[str, Any]] = []
    for item_id, item in items.items():
        if request.split != "all" and item["split"] != request.split:
            continue
        tags = tags_of.get(item_id, [])
        if request.tags and not set(request.tags) & set(tags):
            continue
        leak = item["split"] == "train" and _normalized(item["text"]) in held_out
        if leak and not request.include_leak_risk:
            continue
        alphas = [tag_alpha.get(t) for t in tags] if tags else [overall_alpha]
        if request.min_alpha is not None and any(
            a is None or a < request.min_alpha for a in alphas
        ):
            continue
        given = by_item.get(item_id, [])
        if not given:
            continue
        ruling = rulings.get(item_id)
        if request.since is not None:
            changed = max([g["created_at"] for g in given] + ([ruling[1]] if ruling else []))
            if changed <= request.since:
                continue
        common = {
            "external_id": item["external_id"],
            "text": item["text"],
            "tags": tags,
            "split": item["split"],
            "rule_versions": [{"tag": t, "spec_version": rule_versions.get(t)} for t in tags],
            "tags_reliable": all(reliable.get(t, False) for t in tags) if tags else None,
            "leak_risk": leak,
        }
        if request.consensus == "all_annotations":
            rows.extend(
                {
                    **common,
                    "label": g["value"],
                    "annotator": pseudonym(project, g["user_id"]),
                    "spec_version": g["number"],
                    "stale": g["stale"],
                    "labeled_at": g["created_at"],
                }
                for g in given
                if request.since is None or g["created_at"] > request.since
            )
            continue
        decided = _decide(given, ruling[0] if ruling else None, request.consensus)
        if decided is None:
            continue
        label, how, share = decided
        agreement = _item_agreement(given)
        if request.min_item_agreement is not None and (
            agreement is None or agreement < request.min_item_agreement
        ):
            continue
        rows.append(
            {
                **common,
                "label": label,
                "decided_by": how,
                "vote_share": share,
                "n_annotators": len(given),
                "item_agreement": agreement,
                "spec_version": max(g["number"] for g in given),
                "stale": any(g["stale"] for g in given),
                "annotators": sorted(pseudonym(project, g["user_id"]) for g in given),
                "first_labeled_at": min(g["created_at"] for g in given),
                "last_labeled_at": max(g["created_at"] for g in given),
            }
        )
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()


def _decide(
    given: list[dict[str, Any]], ruling: Any, policy: str
) -> tuple[Any, str, float | None] | None:
    counts: dict[str, int] = defaultdict(int)
    value_of: dict[str, Any] = {}
    for g in given:
        counts[g["key"]] += 1
        value_of[g["key"]] = g["value"]
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    top, n_top = ranked[0]
    share = n_top / len(given)
    if policy == "adjudicated_then_majority" and ruling is not None:
        return ruling, "adjudicated", None
    if policy == "unanimous":
        return (value_of[top], "unanimous", 1.0) if len(given) >= 2 and share == 1 else None
    if n_top * 2 > len(given):
        how = "unanimous" if share == 1 and len(given) >= 2 else "majority"
        return value_of[top], how, share
    return None  # a tie: no majority to report


def _item_agreement(given: list[dict[str, Any]]) -> float | None:
    n = len(given)
    if n < 2:
        return None
    counts: dict[str, int] = defaultdict(int)
    for g in given:
        counts[g["key"]] += 1
    return sum(c * (c - 1) for c in counts.values()) / (n * (n - 1))


def _items(session: Session, project: Project) -> dict[int, dict[str, Any]]:
    rows = session.execute(
        select(Item.id, Item.external_id, Item.text, Item.split)
        .where(Item.project_id == project.id)
        .order_by(Item.id)
    )
    return {i: {"external_id": e, "text": t, "split": s} for i, e, t, s in rows}


def _item_tags(session: Session, project: Project) -> dict[int, list[str]]:
    tags: dict[int, list[str]] = defaultdict(list)
    rows = session.execute(
        select(ItemTag.item_id, TagRow.name)
        .join(TagRow, TagRow.id == ItemTag.tag_id)
        .where(TagRow.project_id == project.id)
        .order_by(ItemTag.item_id, TagRow.name)
    )
    for item_id, name in rows:
        tags[item_id].append(name)
    return tags


def _iso_utc(session: Session, column: Any) -> Any:
    """A UTC timestamp as ISO 8601 text, written alike by both databases."""
    if is_sqlite(session):
        return func.strftime("%Y-%m-%dT%H:%M:%fZ", column)
    return func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')


def _json_text(session: Session, column: Any) -> Any:
    return type_coerce(column, Text) if is_sqlite(session) else cast(column, Text)


def _labels(session: Session, project: Project, request: ExportRequest) -> list[dict[str, Any]]:
    """The labels the request exports, with their version, round and staleness."""
    stale = Annotation.label_round < Item.label_round
    query = (
        select(
            Annotation.item_id,
            Annotation.user_id,
            _json_text(session, Annotation.value),
            SpecVersion.number,
            case((stale, 1), else_=0),  # an integer: drivers disagree on how to write booleans
            _iso_utc(session, Annotation.created_at),
        )
        .join(Item, Item.id == Annotation.item_id)
        .join(SpecVersion, SpecVersion.id == Annotation.spec_version_id)
        .where(Annotation.project_id == project.id, Annotation.retracted_at.is_(None))
        .order_by(Annotation.item_id, Annotation.id)
    )
    if request.spec_version != "current" or not request.include_stale:
        query = query.where(selected(request.spec_version))
    if not request.include_stale:
        query = query.where(~stale)
    frame = read_frame(
        session,
        query,
        {
            "item_id": pl.Int64,
            "user_id": pl.Int64,
            "key": pl.String,
            "number": pl.Int64,
            "stale": pl.Int64,
            "created_at": pl.String,
        },
    )
    dtype = VALUE_TYPES.get(project.kind, pl.String)
    frame = frame.with_columns(
        value=pl.col("key").str.json_decode(dtype=dtype), stale=pl.col("stale") == 1
    )
    return frame.to_dicts()


def _rulings(session: Session, project: Project) -> dict[int, tuple[Any, str]]:
    """The latest ruling per item (its newest revision under the newest version ruled on),
    with when it was made."""
    rows = session.execute(
        select(
            Adjudication.item_id,
            Adjudication.value,
            _iso_utc(session, Adjudication.created_at),
        )
        .join(SpecVersion, SpecVersion.id == Adjudication.spec_version_id)
        .where(Adjudication.project_id == project.id)
        .order_by(Adjudication.item_id, SpecVersion.number, Adjudication.revision)
    )
    return {item_id: (value, at) for item_id, value, at in rows}


def _rule_versions(session: Session, project: Project) -> dict[str, int]:
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


def _tag_reliability(
    session: Session, project: Project
) -> tuple[dict[str, float | None], float | None, dict[str, bool]]:
    report = agreement_report(session, project, by="tag")
    return (
        {g.key: g.alpha for g in report.groups},
        report.overall.alpha,
        {g.key: g.reliable for g in report.groups},
    )
