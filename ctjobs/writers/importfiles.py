"""CleverTap import files: encoded records as CSV parts, each with a manifest.

CleverTap's SFTP import takes a CSV per record type and, after it, a JSON manifest
naming the CSV, its type, the address that gets the status emails and what each
column means. This module builds both on local disk; `ctjobs.writers.sftp` moves
them to their destination.

A CSV has a header row, then one row per record: the identity column(s), ``ts``
(epoch seconds), ``evtName`` for events, then one column per property. Cells are
text: strings as they are (``$D_<epoch>`` dates included), booleans as
``true``/``false``, integers as digits and floats in the shortest positional form
that reads back to the same number. An absent property is an empty cell.

Choices made where CleverTap's documentation is silent:

- CSVs are UTF-8 with comma delimiters, minimal quoting and CRLF line ends (RFC 4180).
- ``ts`` is declared ``INTEGER``, as in CleverTap's samples (``LONG`` is unconfirmed).
- ``$D_`` dates are declared ``STRING``: the manifest has no documented DATE type,
  and the ``$D_`` prefix is what marks a date.
- A property named like a special column (``ts``, ``evtName``, ``identity``...)
  gets the CSV header ``evtData.<name>`` or ``profileData.<name>`` so headers stay
  unique; its ``ctName`` is still the property name, which CleverTap may read as
  the special key. Rename such properties in the job to be safe.
- Records holding a nested value (``Items`` of ``Charged``, any list or struct)
  are refused: CleverTap's SFTP import does not support them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import numpy as np
import polars as pl

from ctjobs.errors import UsageError
from ctjobs.records.encode import RECORD_JSON
from ctjobs.records.frame import (
    EVENT,
    IDENTITY_FIELDS,
    RECORD_KEY,
    REJECTION_SCHEMA,
    SOURCE_FILE,
    SOURCE_ROW,
    data_column,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_FILE_BYTES = 1024**3
# CleverTap takes at most 5 GB per data file; stay clearly below it.
MAX_FILE_BYTES_CAP = 4 * 1024**3
ITEMS_REASON = "Items (nested lists) are not supported by CleverTap's SFTP import"
TypeCase = Literal["lower", "upper"]
PART_SUFFIX = ".part"
"""The suffix of a file still being uploaded, renamed away once it is complete."""

_CHUNK_ROWS = 20_000
_STEM_DIGEST_BYTES = 6
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ImportColumn:
    """One CSV column: its header, CleverTap's name for it, and its manifest type."""

    header: str
    ct_name: str
    data_type: str
    property_name: str | None = None
    """The property's field in the data struct; None for a top-level column."""


@dataclass(frozen=True)
class ImportPart:
    """One CSV file on local disk and the slice of records it holds."""

    name: str
    path: Path
    offset: int
    rows: int
    size: int
    digest: str

    @property
    def csv_name(self) -> str:
        """The CSV's file name."""
        return f"{self.name}.csv"

    def manifest_name(self, run_id: str) -> str:
        """A manifest name unique to this part and this run."""
        return f"{self.name}-{run_id}.manifest"


@dataclass
class ImportFiles:
    """The CSV parts built from one record frame, with their shared columns."""

    kind: str
    columns: list[ImportColumn]
    records: pl.DataFrame
    parts: list[ImportPart] = field(default_factory=list)

    def part_records(self, part: ImportPart) -> pl.DataFrame:
        """The encoded records written to `part`."""
        return self.records.slice(part.offset, part.rows)


# ---------------------------------------------------------------- nested values


def _is_nested(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.List | pl.Array | pl.Struct | pl.Object)


def _properties(kind: str, schema: pl.Schema) -> list[tuple[str, pl.DataType]]:
    """The property fields of the data struct, without builder placeholders."""
    dtype = schema.get(data_column(kind))
    if not isinstance(dtype, pl.Struct):
        return []
    return [
        (f.name, f.dtype if isinstance(f.dtype, pl.DataType) else f.dtype())
        for f in dtype.fields
        if not f.name.startswith("__")
    ]


def _nested_reason(name: str) -> str:
    if name == "Items":
        return ITEMS_REASON
    return (
        f"{name} (a nested list or object) is not supported by CleverTap's SFTP "
        "import; flatten it or send it as JSON text (validation.nested_events)"
    )


def refuse_nested(
    kind: str, encoded: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split `encoded` into records an import file can hold and a rejection frame."""
    nested = [
        name for name, dtype in _properties(kind, encoded.schema) if _is_nested(dtype)
    ]
    if not nested:
        return encoded, pl.DataFrame(schema=REJECTION_SCHEMA)
    # Items first, so a Charged event is refused with the reason users look for.
    nested.sort(key=lambda name: name != "Items")
    data = pl.col(data_column(kind))
    reason = pl.coalesce(
        pl.when(data.struct.field(name).is_not_null()).then(
            pl.lit(_nested_reason(name))
        )
        for name in nested
    )
    marked = encoded.with_columns(reason.alias("__reason"))
    refused = marked.filter(pl.col("__reason").is_not_null())
    kept = marked.filter(pl.col("__reason").is_null()).drop("__reason")
    return kept, _rejections(refused)


def _rejections(refused: pl.DataFrame) -> pl.DataFrame:
    return refused.select(
        pl.col(SOURCE_FILE).cast(pl.String),
        pl.col(SOURCE_ROW).cast(pl.Int64),
        pl.col(RECORD_KEY).cast(pl.String),
        pl.col("type").cast(pl.String),
        pl.lit(None, pl.Int64).alias("code"),
        pl.col("__reason").alias("reason"),
        pl.col(RECORD_JSON).alias("record"),
    )


# ---------------------------------------------------------------- columns


def _data_type(dtype: pl.DataType) -> str:
    if dtype == pl.Boolean:
        return "BOOLEAN"
    if dtype.is_integer():
        return "INTEGER"
    if dtype.is_float() or isinstance(dtype, pl.Decimal):
        return "FLOAT"
    return "STRING"


def import_columns(kind: str, schema: pl.Schema) -> list[ImportColumn]:
    """The CSV columns: identities, ``ts``, ``evtName`` (events), then properties."""
    columns = [
        ImportColumn(name, name, "STRING") for name in IDENTITY_FIELDS if name in schema
    ]
    columns.append(ImportColumn("ts", "ts", "INTEGER"))
    if kind == EVENT:
        columns.append(ImportColumn("evtName", "evtName", "STRING"))
    taken = {column.header for column in columns}
    for name, dtype in _properties(kind, schema):
        if _is_nested(dtype) or dtype == pl.Null:
            continue
        header = _unique_header(name, f"{data_column(kind)}.", taken)
        taken.add(header)
        columns.append(
            ImportColumn(header, name, _data_type(dtype), property_name=name)
        )
    return columns


def _unique_header(name: str, prefix: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    header = prefix + name
    log.warning(
        "property %r has the name of a special import column; its CSV header is %r",
        name,
        header,
    )
    number = 2
    while header in taken:
        header = f"{prefix}{name}.{number}"
        number += 1
    return header


# ---------------------------------------------------------------- cells


def _positional(values: pl.Series) -> pl.Series:
    """Floats as text with no exponent, shortest form that reads back the same."""
    text = values.cast(pl.String)
    if not text.str.contains("e", literal=True).any():
        return text
    scalar = np.float32 if values.dtype == pl.Float32 else np.float64
    cells = [
        None
        if v is None
        else np.format_float_positional(scalar(v), unique=True, trim="0")
        for v in values.to_list()
    ]
    return pl.Series(values.name, cells, dtype=pl.String)


def _as_text(value: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """One column's cells as CSV text; null stays null (an empty cell)."""
    if dtype == pl.Boolean:
        return pl.when(value).then(pl.lit("true")).when(~value).then(pl.lit("false"))
    if dtype.is_float():
        # NaN and infinities have no CleverTap form: leave the cell empty.
        finite = pl.when(value.is_finite()).then(value)
        return finite.map_batches(_positional, return_dtype=pl.String)
    if isinstance(dtype, pl.Decimal):
        return _as_text(value.cast(pl.Float64), pl.Float64())
    return value.cast(pl.String)


def _cells(
    records: pl.DataFrame, kind: str, columns: list[ImportColumn]
) -> pl.DataFrame:
    """The CSV cells of `records`, one String column per import column."""
    schema = records.schema
    properties = dict(_properties(kind, schema))
    data = pl.col(data_column(kind))
    exprs = []
    for column in columns:
        name = column.property_name
        if name is None:
            expr, dtype = pl.col(column.header), schema[column.header]
        else:
            expr, dtype = data.struct.field(name), properties[name]
        exprs.append(_as_text(expr, dtype).alias(column.header))
    return records.select(exprs)


# ---------------------------------------------------------------- parts


class _LineCatcher:
    """A write target that keeps the line `csv.writer` just formatted."""

    def __init__(self) -> None:
        self.line = ""

    def write(self, text: str) -> int:
        self.line = text
        return len(text)


class _PartSink:
    """Writes CSV lines to numbered part files, starting a new part at the limit."""

    def __init__(self, folder: Path, stem: str, header: bytes, limit: int) -> None:
        self.folder, self.stem, self.header, self.limit = folder, stem, header, limit
        self.parts: list[ImportPart] = []
        self._file: IO[bytes] | None = None
        self._digest = hashlib.sha256()
        self._name = ""
        self._offset = self._rows = self._size = 0

    def add(self, line: bytes, offset: int) -> None:
        """Append one record's line, rolling over first when it would pass the limit."""
        if self._file is not None and self._size + len(line) > self.limit:
            self._close()
        if self._file is None:
            self._open(offset)
            if self._size + len(line) > self.limit:
                log.warning("record %d alone is larger than max_file_bytes", offset)
        assert self._file is not None
        self._file.write(line)
        self._digest.update(line)
        self._size += len(line)
        self._rows += 1

    def finish(self) -> list[ImportPart]:
        """Close the current part and return every part written."""
        if self._file is not None:
            self._close()
        return self.parts

    def _open(self, offset: int) -> None:
        self._name = f"{self.stem}-part{len(self.parts) + 1:04d}"
        self._file = (self.folder / f"{self._name}.csv").open("wb")
        self._digest = hashlib.sha256(self.header)
        self._file.write(self.header)
        self._offset, self._rows, self._size = offset, 0, len(self.header)

    def _close(self) -> None:
        assert self._file is not None
        self._file.close()
        self._file = None
        path = self.folder / f"{self._name}.csv"
        digest = self._digest.hexdigest()
        part = ImportPart(
            self._name, path, self._offset, self._rows, self._size, digest
        )
        self.parts.append(part)


def _lines(cells: pl.DataFrame) -> Iterator[bytes]:
    """Each row of `cells` as one UTF-8 CSV line, formatted by the csv module."""
    catcher = _LineCatcher()
    writer = csv.writer(catcher, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    for chunk in cells.iter_slices(_CHUNK_ROWS):
        for row in chunk.iter_rows():
            writer.writerow(row)
            yield catcher.line.encode("utf-8")


def _header(columns: list[ImportColumn]) -> bytes:
    catcher = _LineCatcher()
    csv.writer(catcher, lineterminator="\r\n").writerow([c.header for c in columns])
    return catcher.line.encode("utf-8")


def check_max_file_bytes(max_file_bytes: int) -> int:
    """`max_file_bytes` if CleverTap can take files of that size, else a UsageError."""
    if not 0 < max_file_bytes <= MAX_FILE_BYTES_CAP:
        message = (
            f"writer.max_file_bytes = {max_file_bytes}: import files must be between 1 "
            f"byte and {MAX_FILE_BYTES_CAP} bytes (CleverTap takes at most 5 GB a file)"
        )
        raise UsageError(message)
    return max_file_bytes


def import_prefix(job: str, kind: str) -> str:
    """How every import file name of `job`'s `kind` records starts: ``<job>-<kind>-``."""
    safe_job = _UNSAFE_NAME.sub("_", job).strip("_") or "job"
    return f"{safe_job}-{kind}-"


def import_stem(job: str, kind: str, records: pl.DataFrame) -> str:
    """A file-name stem that is the same for the same records, and differs otherwise.

    The hash covers every record's key and JSON, so a re-run of the same input
    finds its files in the ledger, and changed content never reuses a name that
    CleverTap may still be processing. A re-run after a failure sends only the
    records still pending, so its stem differs from the failed run's: see
    `leftovers` for how that run's files are found again.
    """
    digest = hashlib.blake2b(digest_size=_STEM_DIGEST_BYTES)
    for chunk in records.select(RECORD_KEY, RECORD_JSON).iter_slices(_CHUNK_ROWS):
        for key, text in chunk.iter_rows():
            digest.update(f"{key}\0{text}\0".encode())
    return f"{import_prefix(job, kind)}{digest.hexdigest()}"


def _file_name_pattern(prefix: str) -> re.Pattern[str]:
    """A CSV part, a manifest or a ``.part`` of either, under one stem prefix."""
    return re.compile(
        rf"(?P<part>{re.escape(prefix)}[0-9a-f]{{{2 * _STEM_DIGEST_BYTES}}}"
        r"-part[0-9]{4,})"
        r"(?P<file>\.csv|-[^/]+\.manifest)"
        rf"(?P<temporary>{re.escape(PART_SUFFIX)})?"
    )


def leftovers(
    names: Iterable[str],
    prefix: str,
    *,
    recorded: Callable[[str], bool] | None,
) -> list[str]:
    """The `names` that interrupted uploads under `prefix` left and nothing will use.

    These are every ``.part`` file of the prefix's CSVs and manifests (CleverTap
    ignores them), and every complete CSV with no complete manifest among `names`
    that `recorded` (the ledger's import files) does not know as delivered.
    CleverTap starts an import only when its manifest arrives, so such a CSV was
    never picked up, and its records are still pending: the run sends them again
    under its own names. A CSV with a manifest, or one the ledger records, is
    never listed. `recorded` None means there is no ledger to ask: CSVs are kept.

    Names are matched exactly (``<prefix><12 hex>-partNNNN``), so another job
    whose name merely starts with this one's is never touched.
    """
    pattern = _file_name_pattern(prefix)
    matched = [(name, found) for name in names if (found := pattern.fullmatch(name))]
    manifested = {
        found["part"]
        for _, found in matched
        if found["file"] != ".csv" and not found["temporary"]
    }
    return [
        name
        for name, found in matched
        if found["temporary"]
        or (
            found["file"] == ".csv"
            and found["part"] not in manifested
            and recorded is not None
            and not recorded(name)
        )
    ]


def write_import_csvs(
    kind: str,
    records: pl.DataFrame,
    *,
    folder: Path,
    stem: str,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> ImportFiles:
    """Write `records` (without nested values) as CSV parts under `folder`.

    Rows are formatted a chunk at a time and streamed to disk, so memory holds one
    chunk of text, never a whole CSV.
    """
    columns = import_columns(kind, records.schema)
    files = ImportFiles(kind, columns, records)
    if records.height == 0:
        return files
    sink = _PartSink(
        folder, stem, _header(columns), check_max_file_bytes(max_file_bytes)
    )
    for offset, line in enumerate(_lines(_cells(records, kind, columns))):
        sink.add(line, offset)
    files.parts = sink.finish()
    return files


# ---------------------------------------------------------------- manifests


def manifest(
    part: ImportPart,
    kind: str,
    columns: list[ImportColumn],
    *,
    client_email: str,
    type_case: TypeCase = "lower",
) -> dict[str, object]:
    """The manifest for one CSV part, as a JSON-ready dict."""
    return {
        "fileName": part.csv_name,
        "type": kind.upper() if type_case == "upper" else kind,
        "clientEmail": client_email,
        "columns": {
            c.header: {"ctName": c.ct_name, "dataType": c.data_type} for c in columns
        },
    }


def write_manifest(path: Path, content: dict[str, object]) -> int:
    """Write a manifest as UTF-8 JSON and return its size in bytes."""
    data = json.dumps(content, ensure_ascii=False, indent=2).encode("utf-8")
    path.write_bytes(data)
    return len(data)
