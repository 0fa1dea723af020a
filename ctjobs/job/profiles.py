"""Change-only profile syncs: send a profile only where it differs from what was sent.

The ledger keeps, per person, the properties last acknowledged and a signature
of the mapping that produced them. A profile is sent when a property is new or
has another value, or when the mapping changed (then in full, once). A property
that became empty is a change only under ``emptied = "delete"``, which sends it
as ``{"$delete": true}``; under ``"keep"`` (the default) CleverTap keeps its
value and the ledger remembers it as still held there.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from ctjobs.job.spec import RecordSpec
from ctjobs.records.encode import RECORD_JSON
from ctjobs.records.frame import PROFILE_DATA

Emptied = Literal["keep", "delete"]
DELETE = {"$delete": True}
# Sums computed in another order differ in their last bits; that is no change.
_FLOAT_TOLERANCE = 1e-9


def mapping_signature(record_spec: RecordSpec) -> str:
    """A digest of everything in a mapping that decides its properties' values."""
    shape = record_spec.model_dump(
        mode="json", exclude={"name", "change_only", "emptied"}
    )
    text = json.dumps(shape, sort_keys=True, ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class Held:
    """What CleverTap holds for one person, as far as this job knows."""

    signature: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class Changes:
    """The profiles to send (rewritten where properties are deleted), and the rest."""

    send: pl.DataFrame
    unchanged: int
    deleted: int


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=_FLOAT_TOLERANCE, abs_tol=_FLOAT_TOLERANCE)
    return bool(a == b)


def _properties(record_json: str) -> dict[str, Any]:
    data = json.loads(record_json).get(PROFILE_DATA, {})
    return data if isinstance(data, dict) else {}


def changes(
    candidates: pl.DataFrame,
    owners: pl.Series,
    held: dict[str, Held],
    *,
    signature: str,
    emptied: Emptied,
) -> Changes:
    """The candidates that change what CleverTap holds, given what it `held`.

    `owners` names each candidate's person. A person the ledger knows nothing
    about is always sent.
    """
    keep: list[bool] = []
    texts: list[str] = []
    unchanged = deleted = 0
    for owner, text in zip(owners.to_list(), candidates[RECORD_JSON], strict=True):
        before = held.get(owner)
        if before is None or before.signature != signature:
            keep.append(True)
            texts.append(text)
            continue
        now = _properties(text)
        changed = any(
            k not in before.properties or not _same(before.properties[k], v)
            for k, v in now.items()
        )
        gone = [k for k in before.properties if k not in now]
        if emptied == "delete" and gone:
            record = json.loads(text)
            record.setdefault(PROFILE_DATA, {}).update(dict.fromkeys(gone, DELETE))
            text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
            deleted += len(gone)
            changed = True
        keep.append(changed)
        texts.append(text)
        unchanged += not changed
    rewritten = candidates.with_columns(pl.Series(RECORD_JSON, texts, pl.String))
    return Changes(rewritten.filter(pl.Series(keep)), unchanged, deleted)


def after_sending(
    sent: pl.DataFrame,
    owners: pl.Series,
    held: dict[str, Held],
    *,
    signature: str,
    emptied: Emptied,
) -> list[tuple[str, str, str]]:
    """(person, signature, properties as JSON) that CleverTap holds after `sent`."""
    rows = []
    for owner, text in zip(owners.to_list(), sent[RECORD_JSON], strict=True):
        now = {k: v for k, v in _properties(text).items() if v != DELETE}
        before = held.get(owner)
        if emptied == "keep" and before is not None:
            now = {**before.properties, **now}
        rows.append((owner, signature, json.dumps(now, ensure_ascii=False)))
    return rows
