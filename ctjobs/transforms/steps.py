"""The transform steps: each a pure ``LazyFrame -> LazyFrame`` function, no I/O.

Conditions and computed fields are SQL expressions, the syntax analysts know, as
Polars reads them (`polars.sql_expr`). Column names with dots or spaces are quoted:
``"eventProps.Amount" > 100``. Provenance columns ride along through every step.

Example:
    >>> lf = filter(lf, "eventName = 'Charged'")
    >>> lf = with_columns(lf, {"amount": 'CAST("eventProps.Amount" AS DOUBLE)'})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import polars as pl

from ctjobs.errors import UsageError
from ctjobs.records.frame import PROVENANCE, SOURCE_FILE, SOURCE_ROW

TYPE_NAMES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "str": pl.String(),
    "int": pl.Int64(),
    "integer": pl.Int64(),
    "float": pl.Float64(),
    "double": pl.Float64(),
    "bool": pl.Boolean(),
    "boolean": pl.Boolean(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us", "UTC"),
}

Expression = str | pl.Expr


def dtype_named(name: str) -> pl.DataType:
    """The Polars type for a job-file type name such as ``int`` or ``date``."""
    try:
        return TYPE_NAMES[name.lower()]
    except KeyError:
        known = ", ".join(sorted(TYPE_NAMES))
        message = f"unknown type {name!r}; use one of: {known}"
        raise UsageError(message) from None


def expression(value: Expression) -> pl.Expr:
    """A Polars expression from SQL text, or the expression itself."""
    if isinstance(value, pl.Expr):
        return value
    try:
        return pl.sql_expr(value)
    except (pl.exceptions.PolarsError, ValueError) as error:
        message = f"cannot read the expression {value!r}: {error}"
        raise UsageError(message) from error


def _require(lf: pl.LazyFrame, columns: Sequence[str], step: str) -> None:
    have = lf.collect_schema().names()
    missing = [c for c in columns if c not in have]
    if missing:
        visible = [c for c in have if c not in PROVENANCE]
        message = (
            f"{step}: no column {', '.join(map(repr, missing))}; "
            f"available: {', '.join(visible)}"
        )
        raise UsageError(message)


def rename(lf: pl.LazyFrame, columns: Mapping[str, str]) -> pl.LazyFrame:
    """Rename columns, old name to new name.

    Example:
        >>> rename(lf, {"eventProps.Amount": "amount", "profile.identity": "id"})
    """
    _require(lf, list(columns), "rename")
    return lf.rename(dict(columns))


def select(lf: pl.LazyFrame, columns: Sequence[str]) -> pl.LazyFrame:
    """Keep only `columns` (and the provenance columns).

    Example:
        >>> select(lf, ["profile.identity", "eventName", "ts"])
    """
    _require(lf, columns, "select")
    return lf.select(*columns, *PROVENANCE)


def drop(lf: pl.LazyFrame, columns: Sequence[str]) -> pl.LazyFrame:
    """Drop `columns`; provenance cannot be dropped.

    Example:
        >>> drop(lf, ["profile.email", "profile.phone"])
    """
    _require(lf, columns, "drop")
    return lf.drop([c for c in columns if c not in PROVENANCE])


def filter(lf: pl.LazyFrame, where: Expression) -> pl.LazyFrame:
    """Keep the rows where `where` is true (null counts as false).

    Example:
        >>> filter(lf, "\\"eventProps.Amount\\" > 100 AND eventName = 'Charged'")
    """
    return lf.filter(expression(where).fill_null(False))


def with_columns(lf: pl.LazyFrame, columns: Mapping[str, Expression]) -> pl.LazyFrame:
    """Add or replace columns computed from SQL expressions, in order.

    Example:
        >>> with_columns(lf, {"amount": 'COALESCE("eventProps.Amount", 0)'})
    """
    for name, value in columns.items():
        lf = lf.with_columns(expression(value).alias(name))
    return lf


def cast(lf: pl.LazyFrame, columns: Mapping[str, str | pl.DataType]) -> pl.LazyFrame:
    """Cast columns to types named as in job files (``int``, ``date``...).

    Values that do not convert become null; the pre-flight check then reports the
    records that lost something they needed.

    Example:
        >>> cast(lf, {"eventProps.Amount": "float", "eventProps.Renewal Date": "date"})
    """
    _require(lf, list(columns), "cast")
    schema = lf.collect_schema()
    exprs = []
    for name, target in columns.items():
        dtype = dtype_named(target) if isinstance(target, str) else target
        source = schema[name]
        column = pl.col(name)
        if source == pl.String and dtype == pl.Boolean:
            text = column.str.strip_chars().str.to_lowercase()
            truthy = text.is_in(["true", "1", "yes", "y"])
            falsy = text.is_in(["false", "0", "no", "n"])
            exprs.append(pl.when(truthy).then(True).when(falsy).then(False).alias(name))
        elif source == pl.String and isinstance(dtype, pl.Date):
            exprs.append(column.str.to_date(strict=False).alias(name))
        elif source == pl.String and isinstance(dtype, pl.Datetime):
            parsed = column.str.to_datetime(time_zone="UTC", strict=False)
            exprs.append(parsed.alias(name))
        else:
            exprs.append(column.cast(dtype, strict=False).alias(name))
    return lf.with_columns(exprs)


def lookup(
    lf: pl.LazyFrame,
    table: pl.LazyFrame | pl.DataFrame,
    *,
    on: str,
    lookup_on: str | None = None,
    columns: Sequence[str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    how: Literal["left", "inner"] = "left",
) -> pl.LazyFrame:
    """Enrich rows from a lookup table joined on a key, with defaults for misses.

    The lookup key must be unique: a key that appears twice would duplicate rows
    (and so records), which is refused.

    Example:
        >>> lookup(lf, tiers, on="profile.identity", lookup_on="identity",
        ...        columns=["tier"], defaults={"tier": "Free"})
    """
    table = table.lazy()
    right = lookup_on or on
    _require(lf, [on], "lookup")
    _require(table, [right], "lookup table")
    keep = (
        list(columns)
        if columns
        else [c for c in table.collect_schema().names() if c != right]
    )
    _require(table, keep, "lookup table")
    picked = table.select(pl.col(right).cast(pl.String).alias("__lookup_key"), *keep)
    duplicates = picked.group_by("__lookup_key").len().filter(pl.col("len") > 1)
    repeated = duplicates.head(3).collect()
    if repeated.height:
        keys = ", ".join(map(repr, repeated["__lookup_key"].to_list()))
        message = f"lookup: key {right!r} is not unique in the lookup table ({keys})"
        raise UsageError(message)
    joined = lf.with_columns(pl.col(on).cast(pl.String).alias("__lookup_key")).join(
        picked, on="__lookup_key", how=how, maintain_order="left"
    )
    if defaults:
        joined = joined.with_columns(
            pl.col(name).fill_null(pl.lit(value)) for name, value in defaults.items()
        )
    return joined.drop("__lookup_key")


def deduplicate(
    lf: pl.LazyFrame,
    subset: Sequence[str] | None = None,
    *,
    keep: Literal["first", "last"] = "first",
) -> pl.LazyFrame:
    """Drop repeated rows, judged on `subset` (all data columns by default).

    Example:
        >>> deduplicate(lf, ["profile.identity", "eventName", "ts"], keep="last")
    """
    if subset:
        _require(lf, subset, "deduplicate")
    columns = (
        list(subset)
        if subset
        else [c for c in lf.collect_schema().names() if c not in PROVENANCE]
    )
    return lf.unique(subset=columns, keep=keep, maintain_order=True)


def aggregate(
    lf: pl.LazyFrame, by: Sequence[str], aggs: Mapping[str, Expression]
) -> pl.LazyFrame:
    """Group rows by `by` and compute one row per group.

    Each group keeps the address of its first source row, so a rejected aggregate
    still points at real input.

    Example:
        >>> aggregate(lf, ["profile.identity"], {"ltv": 'sum("eventProps.Amount")'})
    """
    _require(lf, by, "aggregate")
    first = lf.sort(SOURCE_FILE, SOURCE_ROW)
    computed = [expression(value).alias(name) for name, value in aggs.items()]
    return first.group_by(by, maintain_order=True).agg(
        *computed, pl.col(SOURCE_FILE).first(), pl.col(SOURCE_ROW).first()
    )


def flatten(lf: pl.LazyFrame, column: str, *, separator: str = ".") -> pl.LazyFrame:
    """Spread a struct column (or JSON text holding objects) into dotted columns.

    Example:
        >>> flatten(lf, "eventProps")  # eventProps.Amount, eventProps.Plan, ...
    """
    _require(lf, [column], "flatten")
    dtype = lf.collect_schema()[column]
    if dtype == pl.String:
        # The decoded type must be known up front, so it is read from every value.
        values = lf.select(pl.col(column).drop_nulls()).collect().to_series()
        if values.is_empty():
            return lf.drop(column)
        dtype = values.str.json_decode().dtype
        lf = lf.with_columns(pl.col(column).str.json_decode(dtype))
    if not isinstance(dtype, pl.Struct):
        message = f"flatten: column {column!r} is {dtype}, not a struct or JSON objects"
        raise UsageError(message)
    fields = [
        pl.col(column).struct.field(f.name).alias(f"{column}{separator}{f.name}")
        for f in dtype.fields
    ]
    return lf.with_columns(fields).drop(column)


__all__ = [
    "aggregate",
    "cast",
    "deduplicate",
    "drop",
    "filter",
    "flatten",
    "lookup",
    "rename",
    "select",
    "with_columns",
]
