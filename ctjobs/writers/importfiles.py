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

A profile property holding an operation (``{"$add": [...]}``, ``{"$remove": ...}``,
``{"$set": ...}``, ``{"$delete": true}``) gets two columns, as CleverTap's import
documents: its value and ``<column>.operation`` holding the operation. Several
values to add or remove take one row each: the record's first row carries its
other properties, and each further row repeats only its identity column(s) and
``ts``, with the next value of each such property. Operations the import does not
take (``$incr``, ``$decr``) are refused.

Choices made where CleverTap's documentation is silent:

- CSVs are UTF-8 with comma delimiters, minimal quoting and CRLF line ends (RFC 4180).
- ``ts`` is declared ``INTEGER``, as in CleverTap's samples (``LONG`` is unconfirmed).
- ``$D_`` dates are declared ``STRING``: the manifest has no documented DATE type,
  and the ``$D_`` prefix is what marks a date.
- A property named like a special column (``ts``, ``evtName``, ``identity``...)
  gets the CSV header ``evtData.<name>`` or ``profileData.<name>`` so headers stay
  unique; its ``ctName`` is still the property name, which CleverTap may read as
  the special key. Rename such properties in the job to be safe.
- Records holding a nested value (``Items`` of ``Charged``, any other list or
  struct that is not a profile operation) are refused: CSV cells hold one value.
- ``<column>.operation`` columns are left out of the manifest's ``columns``: the
  docs describe them as CSV headers only, and a ``ctName`` with a dot would be a
  property name CleverTap bans. Unmapped, a column keeps its header.
- The cell beside ``$delete`` holds the operand as the Upload API takes it
  (``true``); the import's expectation there is unconfirmed.
- A property's ``dataType`` comes from its operands other than ``$delete``'s;
  operands of different types make it ``STRING``.
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
from typing import IO, Any, Literal

import numpy as np
import polars as pl
from polars.datatypes import DataTypeClass

from ctjobs.errors import UsageError
from ctjobs.records.encode import RECORD_JSON
from ctjobs.records.frame import (
    EVENT,
    IDENTITY_FIELDS,
    PROFILE,
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
#: Profile operations CleverTap's SFTP import takes, in a ``<column>.operation`` column.
IMPORT_OPERATIONS = ("$add", "$remove", "$set", "$delete")
#: The operations that take several values, written one row per value.
MULTI_VALUE_OPERATIONS = ("$add", "$remove")
OPERATION_SUFFIX = ".operation"
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
    operation: bool = False
    """Whether this is the ``<column>.operation`` column of a profile operation."""


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


def _instance(dtype: pl.DataType | DataTypeClass) -> pl.DataType:
    return dtype if isinstance(dtype, pl.DataType) else dtype()


def _is_value_list(dtype: pl.DataType) -> bool:
    """A list of plain values, such as a multi-value property's strings."""
    return isinstance(dtype, pl.List) and not _is_nested(_instance(dtype.inner))


def _is_operation(kind: str, dtype: pl.DataType) -> bool:
    """A profile operation such as ``{"$add": [...]}``: a struct of ``$`` keys."""
    return (
        kind == PROFILE
        and isinstance(dtype, pl.Struct)
        and bool(dtype.fields)
        and all(f.name.startswith("$") for f in dtype.fields)
    )


def _operands(dtype: pl.DataType) -> list[tuple[str, pl.DataType]]:
    assert isinstance(dtype, pl.Struct)
    return [(f.name, _instance(f.dtype)) for f in dtype.fields]


def _properties(kind: str, schema: pl.Schema) -> list[tuple[str, pl.DataType]]:
    """The property fields of the data struct, without builder placeholders."""
    dtype = schema.get(data_column(kind))
    if not isinstance(dtype, pl.Struct):
        return []
    return [
        (f.name, _instance(f.dtype))
        for f in dtype.fields
        if not f.name.startswith("__")
    ]


def _nested_reason(kind: str, name: str, dtype: pl.DataType) -> str:
    if name == "Items":
        return ITEMS_REASON
    if kind == PROFILE and _is_value_list(dtype):
        return (
            f"{name} (a list of values) cannot be one cell of CleverTap's SFTP "
            'import, which adds values one row each: send it as {"$add": [...]}'
        )
    setting = "nested_events" if kind == EVENT else "nested_profiles"
    return (
        f"{name} (a nested list or object) is not supported by CleverTap's SFTP "
        f"import; flatten it or send it as JSON text (validation.{setting})"
    )


def _operation_problem(name: str, operation: str, operand: pl.DataType) -> str | None:
    """Why CleverTap's SFTP import cannot take `operation` on `name`, or None."""
    if operation not in IMPORT_OPERATIONS:
        return (
            f"{name} has the profile operation {operation}, which CleverTap's SFTP "
            f"import does not support (it takes {', '.join(IMPORT_OPERATIONS)})"
        )
    if not _is_nested(operand):
        return None
    if _is_value_list(operand):
        if operation in MULTI_VALUE_OPERATIONS:
            return None
        return (
            f"{name} {operation} has several values, which CleverTap's SFTP import "
            f"takes only for {' and '.join(MULTI_VALUE_OPERATIONS)} (a row each)"
        )
    return (
        f"{name} {operation} holds a nested value, which CleverTap's SFTP import "
        "does not support"
    )


def _usable_operands(name: str, dtype: pl.DataType) -> list[tuple[str, pl.DataType]]:
    """The operations of a profile property that an import file can hold."""
    return [
        (operation, operand)
        for operation, operand in _operands(dtype)
        if operand != pl.Null and _operation_problem(name, operation, operand) is None
    ]


def _refusals(kind: str, schema: pl.Schema) -> list[tuple[str, pl.Expr, str]]:
    """(property, when a record is refused for it, why) for every refusal."""
    data = pl.col(data_column(kind))
    refusals = []
    for name, dtype in _properties(kind, schema):
        value = data.struct.field(name)
        if not _is_operation(kind, dtype):
            if _is_nested(dtype):
                refusals.append(
                    (name, value.is_not_null(), _nested_reason(kind, name, dtype))
                )
            continue
        operands = _operands(dtype)
        for operation, operand in operands:
            problem = _operation_problem(name, operation, operand)
            if problem is not None:
                used = value.struct.field(operation).is_not_null()
                refusals.append((name, used, problem))
        if len(operands) > 1:
            count = pl.sum_horizontal(
                value.struct.field(operation).is_not_null() for operation, _ in operands
            )
            text = f"{name} has several operations in one record (one per property)"
            refusals.append((name, count > 1, text))
    return refusals


def refuse_nested(
    kind: str, encoded: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split `encoded` into records an import file can hold and a rejection frame.

    Refused are records with a nested value other than a profile operation, and
    profile operations the import does not take: ``$incr``/``$decr``, several
    values for ``$set``/``$delete``, or two operations on one property.
    """
    refusals = _refusals(kind, encoded.schema)
    if not refusals:
        return encoded, pl.DataFrame(schema=REJECTION_SCHEMA)
    # Items first, so a Charged event is refused with the reason users look for.
    refusals.sort(key=lambda refusal: refusal[0] != "Items")
    reason = pl.coalesce(
        pl.when(refused).then(pl.lit(text)) for _, refused, text in refusals
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
        if _is_operation(kind, dtype):
            columns += _operation_columns(name, dtype, f"{data_column(kind)}.", taken)
            continue
        if _is_nested(dtype) or dtype == pl.Null:
            continue
        header = _unique_header(name, f"{data_column(kind)}.", taken)
        taken.add(header)
        columns.append(
            ImportColumn(header, name, _data_type(dtype), property_name=name)
        )
    return columns


def _operation_columns(
    name: str, dtype: pl.DataType, prefix: str, taken: set[str]
) -> list[ImportColumn]:
    """A profile operation's value column and its ``<column>.operation`` column."""
    operands = _usable_operands(name, dtype)
    if not operands:
        return []
    header = _unique_header(name, prefix, taken)
    operation_header = header + OPERATION_SUFFIX
    taken.update((header, operation_header))
    types = {
        _data_type(
            _instance(operand.inner) if isinstance(operand, pl.List) else operand
        )
        for operation, operand in operands
        if operation != "$delete"
    }
    data_type = types.pop() if len(types) == 1 else "STRING"
    return [
        ImportColumn(header, name, data_type, property_name=name),
        ImportColumn(
            operation_header,
            name + OPERATION_SUFFIX,
            "STRING",
            property_name=name,
            operation=True,
        ),
    ]


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


def _operation_cells(
    value: pl.Expr, operands: list[tuple[str, pl.DataType]]
) -> tuple[pl.Expr, pl.Expr]:
    """A profile operation's values (a list of text) and the operation's name."""
    values, names = [], []
    for operation, operand in operands:
        field = value.struct.field(operation)
        if isinstance(operand, pl.List):
            inner = _instance(operand.inner)
            text = field.list.eval(_as_text(pl.element(), inner))
        else:
            text = pl.concat_list(_as_text(field, operand))
        present = field.is_not_null()
        values.append(pl.when(present).then(text.list.drop_nulls()))
        names.append(pl.when(present).then(pl.lit(operation)))
    return pl.coalesce(values), pl.coalesce(names)


def _cells(
    records: pl.DataFrame, kind: str, columns: list[ImportColumn]
) -> pl.DataFrame:
    """The CSV cells of `records`, one column per import column.

    Cells are String, except a profile operation's values: a list of String,
    followed by its operation's column.
    """
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
        if name is not None and _is_operation(kind, dtype):
            values, operation = _operation_cells(expr, _usable_operands(name, dtype))
            expr = operation if column.operation else values
            exprs.append(expr.alias(column.header))
            continue
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


def _expand(
    row: tuple[Any, ...], lists: list[int], repeated: set[int]
) -> Iterator[list[Any]]:
    """One record's CSV rows: one per value of its profile operations.

    The first row holds every cell; the others repeat the `repeated` cells (the
    identities and ``ts``) and carry the next value of each operation, with its
    operation name in the column that follows the values' column.
    """
    counts = [len(row[i] or ()) for i in lists]
    for k in range(max(1, *counts)):
        line = [cell if k == 0 or i in repeated else None for i, cell in enumerate(row)]
        for i, count in zip(lists, counts, strict=True):
            line[i] = row[i][k] if k < count else None
            line[i + 1] = row[i + 1] if k < count else None
        yield line


def _lines(cells: pl.DataFrame, repeated: set[int]) -> Iterator[bytes]:
    """Each row of `cells` as UTF-8 CSV text, formatted by the csv module.

    A row is one line, or one line per value of its profile operations (see
    `_expand`): a record's lines are yielded together, so a part never splits it.
    """
    catcher = _LineCatcher()
    writer = csv.writer(catcher, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    lists = [i for i, dtype in enumerate(cells.dtypes) if isinstance(dtype, pl.List)]
    for chunk in cells.iter_slices(_CHUNK_ROWS):
        for row in chunk.iter_rows():
            if not lists:
                writer.writerow(row)
                yield catcher.line.encode("utf-8")
                continue
            text = []
            for line in _expand(row, lists, repeated):
                writer.writerow(line)
                text.append(catcher.line)
            yield "".join(text).encode("utf-8")


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
    """Write `records` (as `refuse_nested` keeps them) as CSV parts under `folder`.

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
    # Identities and ts are repeated on each extra row a profile operation takes.
    repeated = {i for i, column in enumerate(columns) if column.property_name is None}
    offset = 0
    # Cells are made a chunk of records at a time too: the text of a whole export
    # never sits in memory beside its records.
    for chunk in records.iter_slices(_CHUNK_ROWS):
        for line in _lines(_cells(chunk, kind, columns), repeated):
            sink.add(line, offset)
            offset += 1
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
        # `<column>.operation` columns stay unmapped: see the module docstring.
        "columns": {
            c.header: {"ctName": c.ct_name, "dataType": c.data_type}
            for c in columns
            if not c.operation
        },
    }


def write_manifest(path: Path, content: dict[str, object]) -> int:
    """Write a manifest as UTF-8 JSON and return its size in bytes."""
    data = json.dumps(content, ensure_ascii=False, indent=2).encode("utf-8")
    path.write_bytes(data)
    return len(data)
