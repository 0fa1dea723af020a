"""Read CleverTap export files into one normalised Polars shape.

Whatever the format (gzipped CSV with dotted columns, Parquet flat or nested, JSON
lines with nested ``profile``/``eventProps``, enhanced profile Parquet with
map-of-union columns), `scan_export` gives a LazyFrame where

- ``ts`` is a UTC datetime, parsed from CleverTap's packed local time in the
  declared source timezone;
- identity, phone, email and every other ``profile.*`` value is text exactly as written;
- each event property is a column ``eventProps.<name>``, each profile property a
  column of its own name;
- ``_source_file`` and ``_source_row`` give every row its address.

CSV types are never guessed from the first rows: every file is read as text, and a
property column becomes a number or a boolean only when every value in every file
selected reads as one without loss (a leading zero keeps a column text).
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import polars as pl
from polars.datatypes import DataTypeClass

from ctjobs.errors import SchemaConflictError, SourceError
from ctjobs.readers.cloud import S3, polars_s3_options
from ctjobs.readers.storage import SourceFile, list_files, protocol_of, read_bytes
from ctjobs.records.frame import SOURCE_FILE, SOURCE_ROW, TS_SOURCE
from ctjobs.timestamps import UTC, to_utc

log = logging.getLogger(__name__)

ExportFormat = Literal["csv", "parquet", "json"]
WideningRule = Literal["widen", "error"]

# Columns CleverTap documents as text whatever they look like.
_TEXT_PREFIXES = ("profile.", "sessionProps.", "device.")
_TEXT_COLUMNS = {"eventName", "controlGroupName", "identity", "clevertapId"}
_NUMERIC_DEVICE = {
    "deviceInfo.dpi",
    "deviceInfo.dimensions.width",
    "deviceInfo.dimensions.height",
}
_INT_PATTERN = r"^-?(0|[1-9][0-9]{0,17})$"
# At most 15 integer digits: longer digit strings (order references, card-like ids)
# cannot survive a trip through a float, so they stay text.
_FLOAT_PATTERN = r"^-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,15})?([eE][-+]?[0-9]{1,3})?$"
_JSON_PATTERN = r"^\s*(\[\s*[\[{]|\{)"
_BOOL_VALUES = ["true", "false"]


@dataclass
class ExportScan:
    """What a scan found: the frame, the files behind it and their union schema."""

    frame: pl.LazyFrame
    files: list[SourceFile]
    schema: dict[str, pl.DataType] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)


def format_of(path: str) -> ExportFormat:
    """The export format of `path` from its name (``.csv.gz``, ``.parquet.gzip``...)."""
    name = path.lower()
    for suffix in (".gz", ".gzip"):
        name = name.removesuffix(suffix)
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".json", ".jsonl", ".ndjson")):
        return "json"
    message = (
        f"{path}: cannot tell the export format from the file name; "
        "name the format in the job's source (format = csv, parquet or json)"
    )
    raise SourceError(message)


def scan_export(
    source: str | Sequence[str],
    *,
    format: ExportFormat | None = None,
    timezone: str = UTC,
    schema_overrides: Mapping[str, pl.DataType] | None = None,
    widening: WideningRule = "widen",
    storage_options: Mapping[str, Any] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    files: Sequence[SourceFile] | None = None,
) -> pl.LazyFrame:
    """Lazily read CleverTap export files (paths, globs or URLs) in one shape.

    Example:
        >>> lf = ct.scan_export("data/samples/events/csv/*.csv.gz", timezone="UTC")
        >>> lf.group_by("eventName").len().collect()
    """
    return open_export(
        source,
        format=format,
        timezone=timezone,
        schema_overrides=schema_overrides,
        widening=widening,
        storage_options=storage_options,
        date_from=date_from,
        date_to=date_to,
        files=files,
    ).frame


def read_export(source: str | Sequence[str], **options: Any) -> pl.DataFrame:
    """Eagerly read CleverTap export files; takes the options of `scan_export`.

    Example:
        >>> df = ct.read_export("data/samples/profiles/*.parquet")
    """
    return scan_export(source, **options).collect()


def open_export(
    source: str | Sequence[str],
    *,
    format: ExportFormat | None = None,
    timezone: str = UTC,
    schema_overrides: Mapping[str, pl.DataType] | None = None,
    widening: WideningRule = "widen",
    storage_options: Mapping[str, Any] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    files: Sequence[SourceFile] | None = None,
) -> ExportScan:
    """Like `scan_export`, also returning the files read and the union schema."""
    if files is None:
        files = list_files(
            source,
            storage_options=storage_options,
            date_from=date_from,
            date_to=date_to,
        )
    files = list(files)
    if not files:
        message = f"{_describe(source)}: no export files match; check the path or glob"
        raise SourceError(message)
    overrides = dict(schema_overrides or {})
    frames, files = _non_empty(_read_all(files, format, storage_options), files, source)
    if (format or format_of(files[0].path)) == "csv":
        if widening == "error":
            # Each file typed alone, so a column that is a number in one file and
            # text in another is seen as the conflict it is.
            frames = [
                _type_text_frames([lf], overrides, empty=pl.Null())[0] for lf in frames
            ]
        else:
            frames = _type_text_frames(frames, overrides)
    schema, conflicts = union_schema(frames, files, widening)
    frame = pl.concat([_conform(lf, schema) for lf in frames], how="vertical")
    frame = _declared(frame, overrides)
    schema = dict(frame.collect_schema())
    frame = _normalise(frame, schema, timezone, overrides)
    log.info("scanned %d export file(s), %d column(s)", len(files), len(schema))
    return ExportScan(frame, files, dict(frame.collect_schema()), conflicts)


def _non_empty(
    frames: list[pl.LazyFrame], files: list[SourceFile], source: str | Sequence[str]
) -> tuple[list[pl.LazyFrame], list[SourceFile]]:
    """Drop files with no columns at all (zero bytes), saying so; all empty is an error."""
    kept = [
        (lf, f)
        for lf, f in zip(frames, files, strict=True)
        if set(lf.collect_schema().names()) - {SOURCE_FILE, SOURCE_ROW}
    ]
    for lf, f in zip(frames, files, strict=True):
        if not set(lf.collect_schema().names()) - {SOURCE_FILE, SOURCE_ROW}:
            log.warning("%s is empty (no header, no rows); skipped", f.path)
    if not kept:
        names = ", ".join(f.path for f in files)
        message = f"{names}: every file is empty (not even a header); check the export"
        raise SourceError(message)
    return [lf for lf, _ in kept], [f for _, f in kept]


def _describe(source: str | Sequence[str]) -> str:
    return source if isinstance(source, str) else ", ".join(source)


def _read_all(
    files: list[SourceFile],
    format: ExportFormat | None,
    options: Mapping[str, Any] | None,
) -> list[pl.LazyFrame]:
    """Every file read by `_read_one`, in order, several at a time.

    Fetching, gunzipping and parsing all let go of the GIL, so a few threads keep
    every core and the network busy on a folder of many files.
    """
    if len(files) == 1:
        return [_read_one(files[0], format, options)]
    workers = min(len(files), max(2, 2 * (os.cpu_count() or 1)), 8)
    with ThreadPoolExecutor(workers, thread_name_prefix="ctjobs-read") as pool:
        return list(pool.map(lambda f: _read_one(f, format, options), files))


def _read_one(
    file: SourceFile, format: ExportFormat | None, options: Mapping[str, Any] | None
) -> pl.LazyFrame:
    """One file as a LazyFrame with provenance, columns flattened to dotted names."""
    kind = format or format_of(file.path)
    try:
        if kind == "csv":
            frame = _read_csv_text(file, options)
        elif kind == "parquet":
            lazy = _scan_flat_parquet(file, options)
            if lazy is not None:
                return lazy
            frame = pl.read_parquet(io.BytesIO(read_bytes(file.path, options)))
        else:
            frame = _read_json_lines(file, options)
    except SourceError:
        raise
    except (pl.exceptions.PolarsError, OSError, ValueError) as error:
        first = (
            str(error).strip().splitlines()[0]
            if str(error).strip()
            else type(error).__name__
        )
        where = _first_bad_line(file, options) if kind == "csv" else ""
        message = (
            f"{file.path}{where}: cannot be read as {kind} ({first}); {_remedy(kind)}"
        )
        raise SourceError(message) from error
    frame = unpack_maps(flatten_structs(frame))
    return frame.with_columns(
        pl.lit(file.path).alias(SOURCE_FILE),
        pl.int_range(pl.len(), dtype=pl.Int64).alias(SOURCE_ROW),
    ).lazy()


def _first_bad_line(file: SourceFile, options: Mapping[str, Any] | None) -> str:
    """`` line N`` of the first line of a refused CSV that is not UTF-8 or has
    another number of fields than its header; empty when none is found.

    Only for the message of a file that already failed, so it may read it again.
    """
    try:
        data = read_bytes(file.path, options)
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return f" line {line}"
    except SourceError:
        return ""
    rows = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    try:
        width = len(next(rows))
        for row in rows:
            if row and len(row) != width:
                return f" line {rows.line_num}"
    except (StopIteration, csv.Error):
        return ""
    return ""


def _remedy(kind: ExportFormat) -> str:
    """What to do about an export file its format's reader refused."""
    if kind == "csv":
        return (
            "exports are UTF-8 CSV with one header row and the same number of "
            "fields on every line; re-export the file, re-encode it as UTF-8, or "
            "move it out of the source's paths"
        )
    if kind == "parquet":
        return "the file is not complete Parquet; re-export it or move it aside"
    return "each line must be one JSON object; re-export the file or move it aside"


def _scan_flat_parquet(
    file: SourceFile, options: Mapping[str, Any] | None
) -> pl.LazyFrame | None:
    """A truly lazy scan for Parquet without nested columns, else None.

    Lazy scans let Polars read only the columns and row groups a job needs, from
    local disks and, natively, from S3. Nested and map columns, gzipped files, GCS
    (Polars' reader does not work against every GCS endpoint) and S3 options Polars
    cannot take are read whole through fsspec instead.
    """
    if file.path.endswith((".gz", ".gzip")):
        return None
    if "://" not in file.path:
        lf = pl.scan_parquet(file.path)
    elif protocol_of(file.path) == S3:
        native = polars_s3_options(options)
        if native is None:
            return None
        lf = pl.scan_parquet(
            file.path, storage_options=native, glob=False, hive_partitioning=False
        )
        try:
            lf.collect_schema()
        except (pl.exceptions.PolarsError, OSError) as error:
            log.info("%s: native S3 read failed (%s); using fsspec", file.path, error)
            return None
    else:
        return None
    if any(dtype.is_nested() for dtype in lf.collect_schema().dtypes()):
        return None
    return lf.with_row_index(SOURCE_ROW).with_columns(
        pl.col(SOURCE_ROW).cast(pl.Int64), pl.lit(file.path).alias(SOURCE_FILE)
    )


def _read_csv_text(file: SourceFile, options: Mapping[str, Any] | None) -> pl.DataFrame:
    data = read_bytes(file.path, options)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return pl.read_csv(io.BytesIO(data), infer_schema=False, raise_if_empty=False)


def _read_json_lines(
    file: SourceFile, options: Mapping[str, Any] | None
) -> pl.DataFrame:
    lines = read_bytes(file.path, options).splitlines()
    # Legacy JSON exports may open with a line holding only the event name.
    if lines and not lines[0].lstrip().startswith(b"{"):
        lines = lines[1:]
    body = b"\n".join(line for line in lines if line.strip())
    if not body:
        return pl.DataFrame()
    return pl.read_ndjson(io.BytesIO(body), infer_schema_length=None)


def flatten_structs(frame: pl.DataFrame, *, keep: Iterable[str] = ()) -> pl.DataFrame:
    """Unnest struct columns into dotted names, as CleverTap's CSV exports name them."""
    keep = set(keep)
    while True:
        nested = [
            name
            for name, dtype in frame.schema.items()
            if isinstance(dtype, pl.Struct) and name not in keep
        ]
        if not nested:
            return frame
        columns: list[pl.Expr] = []
        for name, dtype in frame.schema.items():
            if name in nested and isinstance(dtype, pl.Struct):
                columns.extend(
                    pl.col(name).struct.field(f.name).alias(f"{name}.{f.name}")
                    for f in dtype.fields
                )
            else:
                columns.append(pl.col(name))
        frame = frame.select(columns)


def _union_member(values: pl.Series) -> pl.Series:
    """One scalar per union-struct value: the member that is set, typed if it can be."""
    dtype = values.dtype
    assert isinstance(dtype, pl.Struct)
    used = [
        f.name
        for f in dtype.fields
        if values.struct.field(f.name).null_count() < len(values)
    ]
    if not used:
        return pl.Series(values.name, [None] * len(values), dtype=pl.String)
    if len(used) == 1:
        return values.struct.field(used[0]).alias(values.name)
    parts = [values.struct.field(name).cast(pl.String) for name in used]
    return pl.select(pl.coalesce(parts)).to_series().alias(values.name)


def unpack_maps(frame: pl.DataFrame) -> pl.DataFrame:
    """Turn enhanced-export MAP(VARCHAR, STRUCT(member0..)) columns into columns.

    ``profileProps`` and ``commPrefs`` keys become columns of their own names (as in
    the CSV profile export), ``device`` keys become ``device.<key>``.
    """
    maps = [n for n, t in frame.schema.items() if isinstance(t, pl.Map)]
    for name in maps:
        keys = frame.select(pl.col(name).map.keys().explode().unique().drop_nulls())
        prefix = "" if name in {"profileProps", "commPrefs"} else f"{name}."
        new: list[pl.Series] = []
        for key in sorted(keys.to_series().to_list()):
            values = (
                frame.select(pl.col(name).map.get(key)).to_series().alias(prefix + key)
            )
            if isinstance(values.dtype, pl.Struct):
                values = _union_member(values)
            new.append(values)
        frame = frame.drop(name).with_columns(new)
    return frame


def _type_text_frames(
    frames: list[pl.LazyFrame],
    overrides: Mapping[str, pl.DataType],
    *,
    empty: pl.DataType | None = None,
) -> list[pl.LazyFrame]:
    """Type text columns from every value in every file, so all files agree.

    A column with no value at all stays text, or becomes `empty` when given.
    """
    columns: dict[str, None] = {}
    for lf in frames:
        columns.update(dict.fromkeys(lf.collect_schema().names()))
    candidates = [c for c in columns if _inferable(c) and c not in overrides]
    if not candidates:
        return frames
    texts = pl.concat(
        [
            lf.select(
                [
                    pl.col(c)
                    if c in lf.collect_schema()
                    else pl.lit(None, pl.String).alias(c)
                    for c in candidates
                ]
            )
            for lf in frames
        ],
        how="vertical",
    )
    stats = (
        texts.select(
            *(_all_match(c, _INT_PATTERN).alias(f"int:{c}") for c in candidates),
            *(_all_match(c, _FLOAT_PATTERN).alias(f"float:{c}") for c in candidates),
            *(
                pl.col(c)
                .str.to_lowercase()
                .is_in(_BOOL_VALUES)
                .all()
                .alias(f"bool:{c}")
                for c in candidates
            ),
            *(pl.col(c).is_not_null().any().alias(f"any:{c}") for c in candidates),
            *(_all_match(c, _JSON_PATTERN).alias(f"json:{c}") for c in candidates),
        )
        .collect()
        .row(0, named=True)
    )
    types: dict[str, pl.DataType] = {}
    for c in candidates:
        if not stats[f"any:{c}"]:
            if empty is not None:
                types[c] = empty
            continue
        if stats[f"int:{c}"]:
            types[c] = pl.Int64()
        elif stats[f"float:{c}"]:
            types[c] = pl.Float64()
        elif stats[f"bool:{c}"]:
            types[c] = pl.Boolean()
        elif stats[f"json:{c}"]:
            # Lists of objects (Charged's Items) are flattened to JSON text in CSV
            # exports; decode them back so they are sent as lists again.
            values = texts.select(pl.col(c).drop_nulls()).collect().to_series()
            decoded = values.str.json_decode(infer_schema_length=None)
            types[c] = decoded.dtype
    return [_cast_text(lf, types) for lf in frames]


def _inferable(column: str) -> bool:
    if column in (SOURCE_FILE, SOURCE_ROW) or column in _TEXT_COLUMNS:
        return False
    if column == "ts" or column in _NUMERIC_DEVICE:
        return True
    return not column.startswith((*_TEXT_PREFIXES, "deviceInfo."))


def _all_match(column: str, pattern: str) -> pl.Expr:
    return pl.col(column).str.strip_chars().str.contains(pattern).all()


def _cast_text(lf: pl.LazyFrame, types: Mapping[str, pl.DataType]) -> pl.LazyFrame:
    names = set(lf.collect_schema().names())
    casts = []
    for column, dtype in types.items():
        if column not in names:
            continue
        text = pl.col(column).str.strip_chars()
        if dtype == pl.Null:
            casts.append(pl.lit(None, dtype=pl.Null).alias(column))
        elif dtype == pl.Boolean:
            casts.append((text.str.to_lowercase() == "true").alias(column))
        elif dtype.is_nested():
            casts.append(pl.col(column).str.json_decode(dtype).alias(column))
        else:
            casts.append(text.cast(dtype, strict=False).alias(column))
    return lf.with_columns(casts) if casts else lf


def _convert(column: str, source: pl.DataType, target: pl.DataType) -> pl.Expr:
    """`column` as `target`, null where a value does not convert."""
    value = pl.col(column)
    if source != pl.String:
        return value.cast(target, strict=False)
    text = value.str.strip_chars()
    if target == pl.Boolean:
        lowered = text.str.to_lowercase()
        truthy = lowered.is_in(["true", "1", "yes"])
        falsy = lowered.is_in(["false", "0", "no"])
        return pl.when(truthy).then(True).when(falsy).then(False)
    if isinstance(target, pl.Date):
        return text.str.to_date(strict=False)
    if isinstance(target, pl.Datetime):
        return text.str.to_datetime(time_unit="us", time_zone="UTC", strict=False)
    if target.is_nested():
        return text.str.json_decode(target)
    return text.cast(target, strict=False)


def _declared(lf: pl.LazyFrame, overrides: Mapping[str, pl.DataType]) -> pl.LazyFrame:
    """Apply the job's declared types; a value that does not fit stops the read.

    A declared type is a promise about the data, so a cell that breaks it is
    reported with its file, row and column instead of quietly becoming null.
    """
    schema = lf.collect_schema()
    wanted = {c: t for c, t in overrides.items() if c in schema and schema[c] != t}
    if not wanted:
        return lf
    converted = {c: _convert(c, schema[c], t).alias(c) for c, t in wanted.items()}
    for column, expr in converted.items():
        broken = (
            lf.filter(pl.col(column).is_not_null() & expr.is_null())
            .select(SOURCE_FILE, SOURCE_ROW, pl.col(column).cast(pl.String))
            .head(3)
            .collect()
        )
        if broken.height:
            cells = "; ".join(
                f"{file} row {row}: {value!r}" for file, row, value in broken.rows()
            )
            message = (
                f"column {column!r} is declared {wanted[column]} but does not read as "
                f"one at {cells}; fix the data or the type in schema_overrides"
            )
            raise SourceError(message)
    return lf.with_columns(converted.values())


def union_schema(
    frames: Sequence[pl.LazyFrame], files: Sequence[SourceFile], widening: WideningRule
) -> tuple[dict[str, pl.DataType], list[str]]:
    """The union of the files' columns, with each column's type reconciled.

    Numbers widen to Float64 (integers alone stay Int64), inside lists and list
    items too, and list items missing a field get it as null. A change of kind
    (a number in one file and text in another, a boolean and a number, a list of
    integers and a list of text) becomes text under the ``widen`` rule and raises
    `SchemaConflictError` naming both files and the column under ``error``. Shapes
    that cannot meet at all (a list in one file, a plain value in another) raise
    `SchemaConflictError` under either rule.
    """
    schema: dict[str, pl.DataType] = {}
    origin: dict[str, str] = {}
    conflicts: list[str] = []
    for lf, file in zip(frames, files, strict=True):
        for column, dtype in lf.collect_schema().items():
            if column not in schema or schema[column] == pl.Null:
                schema[column], origin[column] = dtype, file.path
                continue
            merged, changes_kind = _widen(schema[column], dtype)
            if merged is None or (widening == "error" and changes_kind):
                found = (
                    f"column {column!r} is {schema[column]} in {origin[column]} but "
                    f"{dtype} in {file.path}"
                )
                if merged is None:
                    hint = (
                        "the two cannot be combined; declare the column's type in "
                        "the job's schema_overrides or fix the export"
                    )
                else:
                    hint = (
                        "declare its type in the job's schema_overrides or set "
                        'widening = "widen"'
                    )
                raise SchemaConflictError(f"{found}; {hint}")
            if merged != schema[column]:
                conflicts.append(
                    f"{column}: {schema[column]} widened to {merged} by {file.path}"
                )
                schema[column] = merged
    return schema, conflicts


def _widen(left: pl.DataType, right: pl.DataType) -> tuple[pl.DataType | None, bool]:
    """The type both `left` and `right` values fit, and whether a value changes kind.

    None when no such type exists (a list and a plain value, a list and a struct).
    """
    if left == right or right == pl.Null:
        return left, False
    if left == pl.Null:
        return right, False
    if left.is_numeric() and right.is_numeric():
        if left.is_integer() and right.is_integer():
            return pl.Int64(), False
        return pl.Float64(), False
    if isinstance(left, pl.List) and isinstance(right, pl.List):
        inner, changes_kind = _widen(_instance(left.inner), _instance(right.inner))
        return (None if inner is None else pl.List(inner)), changes_kind
    if isinstance(left, pl.Struct) and isinstance(right, pl.Struct):
        fields = {f.name: _instance(f.dtype) for f in left.fields}
        changed = False
        for item in right.fields:
            if item.name not in fields:
                fields[item.name] = _instance(item.dtype)
                continue
            merged, changes_kind = _widen(fields[item.name], _instance(item.dtype))
            if merged is None:
                return None, True
            fields[item.name] = merged
            changed = changed or changes_kind
        return pl.Struct(fields), changed
    if left.is_nested() or right.is_nested():
        return None, True
    # Different kinds of plain value (a boolean and a number included): text keeps
    # every value as written, where Float64 would turn true into 1.0.
    return pl.String(), True


def _instance(dtype: pl.DataType | DataTypeClass) -> pl.DataType:
    """`dtype` as an instance (Polars gives nested members as classes or instances)."""
    return dtype() if isinstance(dtype, DataTypeClass) else dtype


def _conform(lf: pl.LazyFrame, schema: Mapping[str, pl.DataType]) -> pl.LazyFrame:
    have = lf.collect_schema()
    columns = []
    for column, dtype in schema.items():
        if column not in have:
            columns.append(pl.lit(None, dtype=dtype).alias(column))
        elif have[column] != dtype:
            columns.append(pl.col(column).cast(dtype, strict=False))
        else:
            columns.append(pl.col(column))
    return lf.select(columns)


def _normalise(
    lf: pl.LazyFrame,
    schema: Mapping[str, pl.DataType],
    timezone: str,
    overrides: Mapping[str, pl.DataType],
) -> pl.LazyFrame:
    """Parse ``ts`` in the source timezone and keep identity-like columns as text."""
    columns = []
    kept = []
    for column, dtype in schema.items():
        if column == "ts" and column not in overrides:
            parsed = to_utc(pl.col("ts"), dtype, timezone)
            columns.append(parsed.alias("ts"))
            if dtype == pl.String:
                # Text that is not a time reads as null; the value is kept beside
                # it, so the record's rejection says what was there.
                raw = pl.col("ts").str.strip_chars()
                unread = pl.when(parsed.is_null() & (raw != "")).then(pl.col("ts"))
                columns.append(unread.alias(TS_SOURCE))
                kept.append(TS_SOURCE)
        elif _must_be_text(column) and dtype != pl.String and not dtype.is_nested():
            columns.append(pl.col(column).cast(pl.String))
    if columns:
        lf = lf.with_columns(columns)
    ordered = [c for c in schema if c not in (SOURCE_FILE, SOURCE_ROW)]
    return lf.select(*ordered, *kept, SOURCE_FILE, SOURCE_ROW)


def _must_be_text(column: str) -> bool:
    return column.startswith(_TEXT_PREFIXES) or column in _TEXT_COLUMNS
