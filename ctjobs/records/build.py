"""Rows to CleverTap records: events and profiles as a record frame.

The mapping says which column is the identity, which is the time, which the event
name, and which columns become properties under which CleverTap names. Everything
is a Polars expression, so building a million records is one vectorised pass.

Example:
    >>> events = ct.build_events(lf, identity="profile.identity", ts="ts",
    ...     event_name="eventName", include=["eventProps.*"])
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from ctjobs.errors import UsageError
from ctjobs.records.frame import (
    DATE_PREFIX,
    EVENT,
    EVENT_DATA,
    IDENTITY_FIELDS,
    IDENTITY_ISSUE,
    PROFILE_DATA,
    PROVENANCE,
    RECORD_KEY,
    SOURCE_FILE,
    SOURCE_ROW,
    TS_SOURCE,
    TS_UNIT,
)
from ctjobs.records.values import binary_text, identity_text
from ctjobs.timestamps import (
    PACKED_MAX,
    PACKED_MIN,
    UTC,
    epoch_unit,
    to_epoch_seconds,
)

EMPTY_FIELD = "__empty__"
IdentityField = Literal["identity", "objectId", "FBID", "GPID"]


@dataclass
class RecordMapping:
    """How one row becomes one CleverTap record (the job file's ``[[records]]``)."""

    kind: Literal["event", "profile"]
    identity: str
    identity_field: IdentityField = "identity"
    ts: str | None = None
    event_name: str | None = None
    event_name_value: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)
    timezone: str = UTC
    name: str = ""


def _strip_pattern(column: str, pattern: str) -> str:
    """The property name for `column` matched by an include glob like ``eventProps.*``."""
    if "*" not in pattern:
        return column
    prefix = pattern.split("*", 1)[0]
    return column[len(prefix) :] if column.startswith(prefix) else column


def property_columns(schema: pl.Schema, mapping: RecordMapping) -> dict[str, str]:
    """CleverTap property name → source column, from explicit names and globs."""
    chosen: dict[str, str] = {}
    used = {mapping.identity, mapping.ts, mapping.event_name, *PROVENANCE}
    for column in schema.names():
        if column in used or any(
            fnmatch.fnmatchcase(column, p) for p in mapping.exclude
        ):
            continue
        for pattern in mapping.include:
            if fnmatch.fnmatchcase(column, pattern):
                chosen[_strip_pattern(column, pattern)] = column
                break
    missing = [c for c in mapping.properties.values() if c not in schema]
    if missing:
        message = (
            f"records {mapping.name or mapping.kind}: no column "
            f"{', '.join(map(repr, missing))} to map; available: "
            f"{', '.join(c for c in schema.names() if c not in PROVENANCE)}"
        )
        raise UsageError(message)
    chosen.update(mapping.properties)
    return chosen


def property_value(
    column: str, dtype: pl.DataType, *, as_date: bool, timezone: str
) -> pl.Expr:
    """One property in CleverTap's form: dates as ``$D_<epoch>``, the rest as is."""
    expr = pl.col(column)
    if as_date or isinstance(dtype, pl.Date | pl.Datetime):
        seconds = to_epoch_seconds(expr, dtype, timezone)
        return pl.concat_str(pl.lit(DATE_PREFIX), seconds.cast(pl.String))
    if isinstance(dtype, pl.Decimal):
        return expr.cast(pl.Float64)
    if dtype == pl.String:
        # An empty string is "no value" in CleverTap's exports; never send it.
        return pl.when(expr != "").then(expr)
    return expr


def _properties_struct(schema: pl.Schema, mapping: RecordMapping) -> pl.Expr:
    columns = property_columns(schema, mapping)
    dates = set(mapping.dates)
    fields = [
        property_value(
            source, schema[source], as_date=name in dates, timezone=mapping.timezone
        ).alias(name)
        for name, source in columns.items()
    ]
    if not fields:
        fields = [pl.lit(None, dtype=pl.Null).alias(EMPTY_FIELD)]
    return pl.struct(fields)


def build_records(lf: pl.LazyFrame, mapping: RecordMapping) -> pl.LazyFrame:
    """The record frame for `mapping` over `lf` (see `ctjobs.records.frame`)."""
    schema = lf.collect_schema()
    if mapping.identity not in schema:
        message = (
            f"records {mapping.name or mapping.kind}: identity column "
            f"{mapping.identity!r} not found; available: "
            f"{', '.join(c for c in schema.names() if c not in PROVENANCE)}"
        )
        raise UsageError(message)
    if mapping.identity_field not in IDENTITY_FIELDS:
        message = f"identity_field must be one of {', '.join(IDENTITY_FIELDS)}"
        raise UsageError(message)
    ts = _ts(schema, mapping)
    identity, issue = identity_text(pl.col(mapping.identity), schema[mapping.identity])
    columns: list[pl.Expr] = [
        pl.lit(mapping.kind).alias("type"),
        identity.alias(mapping.identity_field),
        ts.alias("ts"),
    ]
    if issue is not None:
        columns.append(issue.alias(IDENTITY_ISSUE))
    if mapping.ts is not None:
        dtype = schema[mapping.ts]
        given = _ts_source(pl.col(mapping.ts), dtype, ts)
        if mapping.ts == "ts" and TS_SOURCE in schema:
            # The reader kept the text of a ts it could not read.
            given = pl.coalesce(given, pl.col(TS_SOURCE).cast(pl.String))
        columns.append(given.alias(TS_SOURCE))
        columns.append(epoch_unit(pl.col(mapping.ts), dtype).alias(TS_UNIT))
    if mapping.kind == EVENT:
        columns.append(_event_name(schema, mapping))
        columns.append(_properties_struct(schema, mapping).alias(EVENT_DATA))
    else:
        columns.append(_properties_struct(schema, mapping).alias(PROFILE_DATA))
    tag = pl.lit(f"#{mapping.kind}{'#' + mapping.name if mapping.name else ''}")
    key = pl.concat_str(
        pl.col(SOURCE_FILE), pl.lit("#"), pl.col(SOURCE_ROW).cast(pl.String), tag
    )
    return lf.select(*columns, *PROVENANCE, key.alias(RECORD_KEY))


def _ts(schema: pl.Schema, mapping: RecordMapping) -> pl.Expr:
    if mapping.ts is None:
        return pl.lit(None, dtype=pl.Int64).alias("ts")
    if mapping.ts not in schema:
        available = ", ".join(c for c in schema.names() if not c.startswith("_"))
        message = (
            f"records {mapping.name or mapping.kind}: ts column {mapping.ts!r} not "
            f"found; available: {available}"
        )
        raise UsageError(message)
    dtype = schema[mapping.ts]
    return to_epoch_seconds(pl.col(mapping.ts), dtype, mapping.timezone).alias("ts")


def _ts_source(raw: pl.Expr, dtype: pl.DataType, seconds: pl.Expr) -> pl.Expr:
    """The source's ts as text wherever it was not plain epoch seconds.

    Text and floats are kept as given (so "notatime" and NaN are reported as
    such); integers only where they were packed digits or milli-/microseconds;
    datetimes only where they did not read (a local time skipped by a DST change).
    """
    if dtype == pl.String:
        return pl.when(raw.str.strip_chars() != "").then(raw)
    if dtype.is_float():
        return raw.cast(pl.String)
    if dtype.is_integer():
        number = raw.cast(pl.Int64)
        packed = number.is_between(PACKED_MIN, PACKED_MAX)
        scaled = epoch_unit(raw, dtype).is_not_null()
        return pl.when(packed | scaled).then(number.cast(pl.String))
    return pl.when(raw.is_not_null() & seconds.is_null()).then(raw.cast(pl.String))


def _event_name(schema: pl.Schema, mapping: RecordMapping) -> pl.Expr:
    if mapping.event_name_value is not None:
        return pl.lit(mapping.event_name_value).alias("evtName")
    if mapping.event_name is None or mapping.event_name not in schema:
        message = (
            f"records {mapping.name or mapping.kind}: an event needs event_name "
            "(a column) or event_name_value (a fixed name)"
        )
        raise UsageError(message)
    name = pl.col(mapping.event_name)
    if schema[mapping.event_name] == pl.Binary:
        return binary_text(name).alias("evtName")
    return name.cast(pl.String).alias("evtName")


def build_events(
    lf: pl.LazyFrame | pl.DataFrame,
    *,
    identity: str,
    ts: str | None = "ts",
    event_name: str | None = "eventName",
    event_name_value: str | None = None,
    properties: Mapping[str, str] | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    dates: Sequence[str] = (),
    identity_field: IdentityField = "identity",
    timezone: str = UTC,
) -> pl.LazyFrame:
    """Event records from rows: one record per row.

    Example:
        >>> ct.build_events(lf, identity="profile.identity",
        ...     properties={"Amount": "eventProps.Amount"})
    """
    mapping = RecordMapping(
        kind="event",
        identity=identity,
        identity_field=identity_field,
        ts=ts,
        event_name=event_name,
        event_name_value=event_name_value,
        properties=dict(properties or {}),
        include=list(include),
        exclude=list(exclude),
        dates=list(dates),
        timezone=timezone,
    )
    return build_records(lf.lazy(), mapping)


def build_profiles(
    lf: pl.LazyFrame | pl.DataFrame,
    *,
    identity: str,
    ts: str | None = None,
    properties: Mapping[str, str] | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    dates: Sequence[str] = (),
    identity_field: IdentityField = "identity",
    timezone: str = UTC,
) -> pl.LazyFrame:
    """Profile records from rows: one ``profileData`` update per row.

    Example:
        >>> ct.build_profiles(df, identity="identity",
        ...     properties={"Lifetime Value": "ltv"}, dates=["Last Purchase"])
    """
    mapping = RecordMapping(
        kind="profile",
        identity=identity,
        identity_field=identity_field,
        ts=ts,
        properties=dict(properties or {}),
        include=list(include),
        exclude=list(exclude),
        dates=list(dates),
        timezone=timezone,
    )
    return build_records(lf.lazy(), mapping)
