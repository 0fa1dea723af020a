"""Watching what a job sends: event names and property types, run over run.

The outgoing snapshot holds, for each event name ever sent, the type of each of its
properties, and the type of each profile property. A run reports an event name
never sent before (``new_event``) and a property whose type changed
(``retyped_property``) under the job's ``schema_policy``; those keys fall back to
the policies of ``added`` and ``retyped``. Properties seen for the first time on a
known event are recorded without a note: events carry different properties from
run to run.
"""

from __future__ import annotations

from collections.abc import MutableSequence, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

import polars as pl

from ctjobs.monitor.policy import Change, enforce, policy_for
from ctjobs.monitor.source import ACCEPT_NEXT
from ctjobs.records.encode import RECORD_JSON, encode_records
from ctjobs.records.frame import EVENT, EVENT_DATA, PROFILE_DATA

if TYPE_CHECKING:
    from ctjobs.job.ledger import Ledger
    from ctjobs.job.spec import JobSpec, RecordSpec

SCOPE = "outgoing"
EVENT_NAME = "evtName"


class Shapes(TypedDict):
    """Property types per event name, and profile property types."""

    events: dict[str, dict[str, str]]
    profile: dict[str, str]


def outgoing_shapes(built: Sequence[tuple[RecordSpec, pl.DataFrame]]) -> Shapes:
    """Event name → property → type, and ``profile`` → property → type.

    A property counts for an event name only when some record of that name has a
    value for it: the struct's fields are shared by every event in a frame.
    """
    shapes: Shapes = {"events": {}, "profile": {}}
    for record_spec, frame in built:
        if record_spec.kind == EVENT:
            for name, props in _event_shapes(frame).items():
                shapes["events"].setdefault(name, {}).update(props)
        else:
            shapes["profile"].update(_present_fields(frame, PROFILE_DATA))
    return shapes


def _event_shapes(frame: pl.DataFrame) -> dict[str, dict[str, str]]:
    if frame.height == 0 or EVENT_NAME not in frame.columns:
        return {}
    dtype = frame.schema.get(EVENT_DATA)
    fields = list(dtype.fields) if isinstance(dtype, pl.Struct) else []
    present = frame.group_by(EVENT_NAME).agg(
        pl.col(EVENT_DATA).struct.field(f.name).is_not_null().any().alias(str(i))
        for i, f in enumerate(fields)
    )
    shapes: dict[str, dict[str, str]] = {}
    for row in present.iter_rows(named=True):
        if row[EVENT_NAME] is None:
            continue
        shapes[row[EVENT_NAME]] = {
            f.name: str(f.dtype) for i, f in enumerate(fields) if row[str(i)]
        }
    return shapes


def _present_fields(frame: pl.DataFrame, column: str) -> dict[str, str]:
    dtype = frame.schema.get(column)
    if frame.height == 0 or not isinstance(dtype, pl.Struct):
        return {}
    present = frame.select(
        pl.col(column).struct.field(f.name).is_not_null().any() for f in dtype.fields
    ).row(0)
    return {
        f.name: str(f.dtype)
        for f, seen in zip(dtype.fields, present, strict=True)
        if seen
    }


def watch_outgoing(
    spec: JobSpec,
    ledger: Ledger,
    run_id: str,
    built: Sequence[tuple[RecordSpec, pl.DataFrame]],
    dry_run: bool,
) -> list[dict[str, Any]]:
    """Notes on new event names and retyped properties; raises under ``freeze``.

    Under ``discard``, records of a new event name are taken out of `built`, and a
    retyped property is left out of the records that carry it (`built` must then be
    a list; it is changed in place). The snapshot is saved for runs that send.
    """
    now = outgoing_shapes(built)
    snapshot = ledger.snapshot(SCOPE)
    if snapshot is None or snapshot.get(ACCEPT_NEXT):
        _save(ledger, now, run_id, dry_run)
        return []
    before: Shapes = {
        "events": snapshot.get("events", {}),
        "profile": snapshot.get("profile", {}),
    }
    changes = _changes(spec, before, now)
    enforce(
        changes, spec.name, "run `ctjobs schema accept <job file> --scope outgoing`"
    )
    notes = [c.note() for c in changes]
    discarded = [c for c in changes if c.policy == "discard"]
    if discarded and isinstance(built, MutableSequence):
        _discard(built, discarded)
    _save(ledger, _merged(before, now, changes), run_id, dry_run)
    return notes


def _changes(spec: JobSpec, before: Shapes, now: Shapes) -> list[Change]:
    changes: list[Change] = []
    for name, props in now["events"].items():
        if name not in before["events"]:
            policy = policy_for(spec, "new_event")
            changes.append(Change("new_event", name, None, "event", policy, "event"))
            continue
        changes.extend(_retyped(spec, before["events"][name], props, f"{name}."))
    changes.extend(_retyped(spec, before["profile"], now["profile"], "profile."))
    return changes


def _retyped(
    spec: JobSpec, before: dict[str, str], now: dict[str, str], prefix: str
) -> list[Change]:
    policy = policy_for(spec, "retyped_property")
    owner = prefix.removesuffix(".")
    return [
        Change(
            "retyped_property",
            prefix + prop,
            before[prop],
            kind,
            policy,
            "property",
            (owner, prop),
        )
        for prop, kind in now.items()
        if prop in before and before[prop] != kind
    ]


def _merged(before: Shapes, now: Shapes, changes: list[Change]) -> Shapes:
    """The snapshot after this run: old and new shapes, less what was discarded."""
    skipped = {c.column for c in changes if c.policy == "discard"}
    merged: Shapes = {
        "events": {k: dict(v) for k, v in before["events"].items()},
        "profile": dict(before["profile"]),
    }
    for name, props in now["events"].items():
        if name in skipped:
            continue
        target = merged["events"].setdefault(name, {})
        target.update({p: t for p, t in props.items() if f"{name}.{p}" not in skipped})
    merged["profile"].update(
        {p: t for p, t in now["profile"].items() if f"profile.{p}" not in skipped}
    )
    return merged


def _discard(
    built: MutableSequence[tuple[RecordSpec, pl.DataFrame]], discarded: list[Change]
) -> None:
    """Drop records of discarded event names and null discarded properties."""
    names = [c.column for c in discarded if c.kind == "new_event"]
    props = [c.parts for c in discarded if c.kind == "retyped_property"]
    for index, (record_spec, frame) in enumerate(built):
        if record_spec.kind == EVENT and EVENT_NAME in frame.columns:
            frame = frame.filter(~pl.col(EVENT_NAME).is_in(names))
        mine = [p for p in props if (p[0] == "profile") != (record_spec.kind == EVENT)]
        if mine:
            frame = _blank(frame, record_spec.kind, mine)
        built[index] = (record_spec, frame)


def _blank(
    frame: pl.DataFrame, kind: str, props: list[tuple[str, ...]]
) -> pl.DataFrame:
    """Null the given properties (for their event name only) and re-encode."""
    column = EVENT_DATA if kind == EVENT else PROFILE_DATA
    dtype = frame.schema.get(column)
    fields = (
        {f.name: f.dtype for f in dtype.fields} if isinstance(dtype, pl.Struct) else {}
    )
    updates = []
    for owner, prop in props:
        if prop not in fields:
            continue
        blank = pl.lit(None, dtype=fields[prop])
        if kind == EVENT:
            blank = (
                pl.when(pl.col(EVENT_NAME) == owner)
                .then(blank)
                .otherwise(pl.field(prop))
            )
        updates.append(blank.alias(prop))
    if not updates:
        return frame
    frame = frame.with_columns(pl.col(column).struct.with_fields(updates))
    return encode_records(frame.drop(RECORD_JSON, strict=False)).collect()


def _save(ledger: Ledger, shapes: Shapes, run_id: str, dry_run: bool) -> None:
    if not dry_run:
        ledger.save_snapshot(SCOPE, {**shapes}, run_id)
