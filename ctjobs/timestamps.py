"""Turning whatever a source calls a time into one instant, as Polars expressions.

CleverTap's exports pack local project time as ``yyyyMMddHHmmss`` digits, warehouses
hand over naive or zone-aware datetimes, and hand-made files carry ISO text, epoch
seconds or epoch milliseconds. Every form goes through `to_utc`, so the same instant
gives the same ``ts`` whichever file or order it came from.

Naive values are read in the declared source timezone, never in the machine's.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

UTC = "UTC"

# Packed yyyyMMddHHmmss values from year 1900 to 2999: no epoch in seconds or
# milliseconds of a plausible date falls in this band, so the forms cannot be confused.
PACKED_MIN = 19_000_101_000_000
PACKED_MAX = 29_991_231_235_959
# Epoch seconds stay below 1e11 until the year 5138; anything larger that is not
# packed is taken as milliseconds, and above 1e14 as microseconds.
MILLIS_FROM = 100_000_000_000
MICROS_FROM = 100_000_000_000_000

MillisPolicy = Literal["convert", "reject"]

_AWARE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z")
_NAIVE_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
)
_UTC_US = pl.Datetime("us", UTC)


def localize(expr: pl.Expr, timezone: str) -> pl.Expr:
    """Read a naive datetime expression as wall-clock time in `timezone`, as UTC."""
    return (
        expr.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone(UTC)
        .cast(_UTC_US)
    )


def packed_to_utc(expr: pl.Expr, timezone: str) -> pl.Expr:
    """Parse CleverTap's packed ``yyyyMMddHHmmss`` (number or text) in `timezone`."""
    text = expr.cast(pl.String).str.strip_chars()
    naive = text.str.strptime(pl.Datetime("us"), "%Y%m%d%H%M%S", strict=False)
    return localize(naive, timezone)


def _epoch_to_utc(number: pl.Expr, timezone: str) -> pl.Expr:
    """Epoch seconds, milliseconds or microseconds, or packed digits, to UTC."""
    magnitude = number.abs()
    is_packed = (number >= PACKED_MIN) & (number <= PACKED_MAX)
    micros = (
        pl.when(magnitude >= MICROS_FROM)
        .then(number)
        .when(magnitude >= MILLIS_FROM)
        .then(number * 1_000)
        .otherwise(number * 1_000_000)
    )
    from_epoch = pl.from_epoch(micros, time_unit="us").dt.replace_time_zone(UTC)
    return (
        pl.when(is_packed)
        .then(packed_to_utc(number, timezone))
        .otherwise(from_epoch)
        .cast(_UTC_US)
    )


def _text_to_utc(text: pl.Expr, timezone: str) -> pl.Expr:
    """ISO-like text, aware or naive, or digits, to UTC."""
    text = text.str.strip_chars()
    aware = [text.str.strptime(_UTC_US, f, strict=False) for f in _AWARE_FORMATS]
    naive = [
        localize(text.str.strptime(pl.Datetime("us"), f, strict=False), timezone)
        for f in _NAIVE_FORMATS
    ]
    digits = pl.when(text.str.contains(r"^-?\d{1,16}(\.0+)?$")).then(
        text.str.replace(r"\.0+$", "").cast(pl.Int64, strict=False)
    )
    return pl.coalesce(*aware, *naive, _epoch_to_utc(digits, timezone))


def to_utc(expr: pl.Expr, dtype: pl.DataType, timezone: str = UTC) -> pl.Expr:
    """An expression giving a UTC datetime for `expr`, whose source type is `dtype`.

    Example:
        >>> lf.with_columns(to_utc(pl.col("ts"), pl.Int64(), "Asia/Kolkata"))
    """
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return localize(expr, timezone)
        return expr.dt.convert_time_zone(UTC).cast(_UTC_US)
    if isinstance(dtype, pl.Date):
        # A calendar date is a whole day, not an instant in the source timezone:
        # CleverTap's own `$D_` dates for days sit at midnight UTC.
        return expr.cast(pl.Datetime("us")).dt.replace_time_zone(UTC)
    if dtype.is_integer():
        return _epoch_to_utc(expr.cast(pl.Int64), timezone)
    if dtype.is_float():
        # NaN, infinities and floats beyond Int64 read as "no time" (null), never
        # as an error: the pre-flight sets that one record aside with its text.
        whole = pl.when(expr.is_finite()).then(
            expr.round(0).cast(pl.Int64, strict=False)
        )
        return _epoch_to_utc(whole, timezone)
    if dtype == pl.String:
        return _text_to_utc(expr, timezone)
    if dtype == pl.Null:
        return pl.lit(None, dtype=_UTC_US)
    message = f"cannot read a time from a column of type {dtype}"
    raise TypeError(message)


def to_epoch_seconds(expr: pl.Expr, dtype: pl.DataType, timezone: str = UTC) -> pl.Expr:
    """Epoch seconds (Int64) for `expr` of source type `dtype`; null where unreadable."""
    return to_utc(expr, dtype, timezone).dt.epoch("s")


def epoch_unit(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """``"ms"`` or ``"us"`` where `to_utc` reads a number as epoch milli- or
    microseconds (packed digits excluded), null elsewhere.

    The record builder keeps this beside ``ts`` so the pre-flight's ``millis``
    setting applies to values the builder has already turned into seconds.
    """
    number: pl.Expr
    if dtype == pl.String:
        text = expr.str.strip_chars()
        number = pl.when(text.str.contains(r"^-?\d{1,16}(\.0+)?$")).then(
            text.str.replace(r"\.0+$", "").cast(pl.Int64, strict=False)
        )
    elif dtype.is_integer():
        number = expr.cast(pl.Int64)
    elif dtype.is_float():
        number = pl.when(expr.is_finite()).then(
            expr.round(0).cast(pl.Int64, strict=False)
        )
    else:
        return pl.lit(None, dtype=pl.String)
    magnitude = number.abs()
    packed = (number >= PACKED_MIN) & (number <= PACKED_MAX)
    return (
        pl.when(packed)
        .then(pl.lit(None, dtype=pl.String))
        .when(magnitude >= MICROS_FROM)
        .then(pl.lit("us"))
        .when(magnitude >= MILLIS_FROM)
        .then(pl.lit("ms"))
    )


def is_millis(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """True where a numeric or digit-text value looks like epoch milliseconds."""
    if dtype == pl.String:
        expr = expr.str.strip_chars().cast(pl.Int64, strict=False)
    elif not (dtype.is_integer() or dtype.is_float()):
        return pl.lit(False)
    number = expr.cast(pl.Float64).abs()
    packed = (number >= PACKED_MIN) & (number <= PACKED_MAX)
    return (number >= MILLIS_FROM) & (number < MICROS_FROM) & ~packed
