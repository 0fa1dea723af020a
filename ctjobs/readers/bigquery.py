"""Read a BigQuery table or query into the same frame shape as export files.

The query is built here: the table (or the caller's SQL) becomes a subquery, the
date range and `where` filter it with named query parameters, and `columns` narrow
it, so BigQuery scans and returns only what the job needs. A job's leading
transform steps can be compiled in as well (`ctjobs.readers.pushdown`).

Rows come back through Arrow: over the BigQuery Storage Read API when a storage
client is given (or can be created for Google's own endpoint), over the REST API
otherwise. Types map as:

- TIMESTAMP → ``Datetime("us", "UTC")``; sentinel values such as
  ``9999-12-31 23:59:59.999999`` keep their value;
- JSON → String (the JSON text), never an extension type;
- RECORD → Struct, REPEATED → List; an empty result keeps its columns and types.

Every row gets ``_source_file`` (the table name, or ``bigquery:query``) and
``_source_row``: its number in the result, ordered by the date column when there is
one, or, for ``row_ids="content"``, a fingerprint of the row's values, which stays
the same when a row is read again by a later run.

Known limits: the query runs when `scan_bigquery` is called (the LazyFrame is over
the fetched rows); the date column must be a TIMESTAMP, DATETIME or DATE.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC as UTC_ZONE
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
import pyarrow as pa

from ctjobs.errors import SourceError, UsageError
from ctjobs.readers.pushdown import compile_steps, quote
from ctjobs.records.frame import SOURCE_FILE, SOURCE_ROW
from ctjobs.timestamps import UTC

if TYPE_CHECKING:
    from google.cloud.bigquery import Client, SchemaField

    from ctjobs.job.spec import Step

log = logging.getLogger(__name__)

QUERY_SOURCE = "bigquery:query"
RowIds = Literal["number", "content"]

_TABLE_NAME = re.compile(r"^`?[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-$]+){1,2}`?$")
_BOUND_TYPES = {"TIMESTAMP", "DATETIME", "DATE"}
_TIMEOUT_S = 600.0


@dataclass
class BigQueryScan:
    """What a BigQuery read did: the frame, the SQL sent and the source's columns."""

    frame: pl.LazyFrame
    sql: str
    source: str
    schema: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    pushed: int = 0


def bigquery_client(project: str | None = None, endpoint: str | None = None) -> Client:
    """A BigQuery client with the environment's credentials.

    A plain-``http://`` endpoint is a local emulator, never Google: it gets
    anonymous credentials, so no credential lookup or token request happens.
    """
    from google.api_core.client_options import ClientOptions
    from google.cloud import bigquery

    options = ClientOptions(api_endpoint=endpoint) if endpoint else None
    credentials = None
    if endpoint and endpoint.startswith("http://"):
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
    return bigquery.Client(
        project=project, credentials=credentials, client_options=options
    )


def scan_bigquery(
    table_or_query: str,
    *,
    client: Client | None = None,
    bqstorage_client: Any = None,
    project: str | None = None,
    endpoint: str | None = None,
    date_column: str | None = None,
    date_from: date | datetime | None = None,
    date_to: date | datetime | None = None,
    columns: Sequence[str] | None = None,
    where: str | None = None,
) -> pl.LazyFrame:
    """Rows of a BigQuery table (``project.dataset.table``) or query, lazily.

    `date_from` and `date_to` bound `date_column` (both ends included; a `date`
    bound covers its whole day). `where` is a BigQuery SQL condition.

    Example:
        >>> lf = ct.scan_bigquery(
        ...     "my-project.ct.events", date_column="ts", date_from=date(2024, 3, 1)
        ... )
    """
    return open_bigquery(
        table_or_query,
        client=client,
        bqstorage_client=bqstorage_client,
        project=project,
        endpoint=endpoint,
        date_column=date_column,
        date_from=date_from,
        date_to=date_to,
        columns=columns,
        where=where,
    ).frame


def read_bigquery(table_or_query: str, **options: Any) -> pl.DataFrame:
    """Eagerly read a BigQuery table or query; takes the options of `scan_bigquery`.

    Example:
        >>> df = ct.read_bigquery("SELECT identity, ts FROM `p.ct.events` LIMIT 10")
    """
    return scan_bigquery(table_or_query, **options).collect()


def open_bigquery(
    table_or_query: str,
    *,
    client: Client | None = None,
    bqstorage_client: Any = None,
    project: str | None = None,
    endpoint: str | None = None,
    date_column: str | None = None,
    date_from: date | datetime | None = None,
    date_to: date | datetime | None = None,
    since: datetime | None = None,
    columns: Sequence[str] | None = None,
    where: str | None = None,
    steps: Sequence[Step] = (),
    row_ids: RowIds = "number",
) -> BigQueryScan:
    """Like `scan_bigquery`, also returning the SQL and the source's columns.

    `since` keeps rows whose date column is at or after it (an incremental
    watermark); `steps` are transform steps to compile into the query, all of which
    must pass `ctjobs.readers.pushdown.pushable`.
    """
    if (date_from or date_to or since) and not date_column:
        raise UsageError("BigQuery: a date range needs `date_column` to bound")
    client = client or bigquery_client(project, endpoint)
    source = _source_name(table_or_query)
    base = _base_sql(table_or_query)
    fields = _dry_run_schema(client, base, source)
    query = _Query(base, [f.name for f in fields])
    bound_type = _bound_type(fields, date_column, source)
    if date_column and bound_type:
        query.bound(date_column, bound_type, date_from, date_to, since)
    query.filter(where)
    query.narrow(columns)
    query.sql, query.columns = compile_steps(query.sql, query.columns, steps)
    query.finish(date_column, row_ids)
    table = _fetch(client, bqstorage_client, query, endpoint, source)
    frame = _to_frame(table, source, row_ids)
    log.info("read %d row(s) from BigQuery %s", frame.height, source)
    return BigQueryScan(
        frame.lazy(), query.sql, source, schema_text(fields), query.values, len(steps)
    )


def _source_name(table_or_query: str) -> str:
    text = table_or_query.strip()
    return text.strip("`") if _TABLE_NAME.match(text) else QUERY_SOURCE


def _base_sql(table_or_query: str) -> str:
    text = table_or_query.strip()
    if _TABLE_NAME.match(text):
        return f"SELECT * FROM {quote(text.strip('`'))}"
    # A trailing semicolon would end the statement inside the subquery.
    return text.rstrip().rstrip(";")


@dataclass
class _Query:
    """The SQL being built, layer by layer, with its parameters and columns."""

    sql: str
    columns: list[str]
    parameters: list[Any] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    conditions: list[str] = field(default_factory=list)

    def parameter(self, name: str, kind: str, value: Any) -> str:
        from google.cloud.bigquery import ScalarQueryParameter

        self.parameters.append(ScalarQueryParameter(name, kind, value))
        self.values[name] = value
        return f"@{name}"

    def bound(
        self,
        column: str,
        kind: str,
        start: date | datetime | None,
        end: date | datetime | None,
        since: datetime | None,
    ) -> None:
        """Conditions keeping `column` within [start, end] and at or after `since`."""
        name = quote(column)
        if start is not None:
            low = self.parameter("date_from", kind, _bound_value(start, kind))
            self.conditions.append(f"{name} >= {low}")
        if since is not None:
            mark = self.parameter("since", kind, _bound_value(since, kind))
            self.conditions.append(f"{name} >= {mark}")
        if end is not None and not isinstance(end, datetime):
            high = self.parameter(
                "date_to", kind, _bound_value(end + timedelta(1), kind)
            )
            self.conditions.append(f"{name} < {high}")
        elif end is not None:
            high = self.parameter("date_to", kind, _bound_value(end, kind))
            self.conditions.append(f"{name} <= {high}")

    def filter(self, where: str | None) -> None:
        """Apply the collected conditions and the caller's `where` in one layer."""
        if where:
            self.conditions.append(f"({where})")
        if self.conditions:
            joined = " AND ".join(self.conditions)
            self.sql = f"SELECT * FROM ({self.sql}) AS source WHERE {joined}"

    def narrow(self, columns: Sequence[str] | None) -> None:
        if not columns:
            return
        missing = [c for c in columns if c not in self.columns]
        if missing:
            message = (
                f"BigQuery source has no column {', '.join(map(repr, missing))}; "
                f"available: {', '.join(self.columns)}"
            )
            raise UsageError(message)
        self.sql = (
            f"SELECT {', '.join(map(quote, columns))} FROM ({self.sql}) AS source"
        )
        self.columns = list(columns)

    def finish(self, date_column: str | None, row_ids: RowIds) -> None:
        """Order the rows (for stable row numbers) or fingerprint them."""
        if row_ids == "content":
            fingerprint = f"FARM_FINGERPRINT(TO_JSON_STRING(source)) AS {SOURCE_ROW}"
            self.sql = f"SELECT source.*, {fingerprint} FROM ({self.sql}) AS source"
        elif date_column and date_column in self.columns:
            self.sql = (
                f"SELECT * FROM ({self.sql}) AS source ORDER BY {quote(date_column)}"
            )


def _bound_value(value: date | datetime, kind: str) -> date | datetime:
    """A bound as the column's type wants it; naive datetimes are taken as UTC."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(), tzinfo=UTC_ZONE)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=UTC_ZONE)
    if kind == "DATE":
        return value.date()
    if kind == "DATETIME":
        return value.astimezone(UTC_ZONE).replace(tzinfo=None)
    return value


def _dry_run_schema(client: Client, sql: str, source: str) -> list[SchemaField]:
    """The columns `sql` returns, from a dry run (free: nothing is scanned)."""
    from google.api_core.exceptions import GoogleAPIError
    from google.cloud.bigquery import QueryJobConfig

    config = QueryJobConfig(dry_run=True, use_query_cache=False)
    try:
        job = client.query(sql, job_config=config)
    except GoogleAPIError as error:
        raise SourceError(
            f"BigQuery {source}: the query is refused ({error})"
        ) from error
    return list(job.schema or [])


def _bound_type(
    fields: Sequence[SchemaField], date_column: str | None, source: str
) -> str | None:
    if not date_column:
        return None
    for found in fields:
        if found.name == date_column:
            kind = str(found.field_type).upper()
            if kind in _BOUND_TYPES:
                return kind
            message = (
                f"BigQuery {source}: date_column {date_column!r} is {kind}; "
                "name a TIMESTAMP, DATETIME or DATE column"
            )
            raise UsageError(message)
    available = ", ".join(f.name for f in fields)
    message = f"BigQuery {source}: no column {date_column!r}; available: {available}"
    raise UsageError(message)


def _fetch(
    client: Client,
    bqstorage_client: Any,
    query: _Query,
    endpoint: str | None,
    source: str,
) -> pa.Table:
    """Run the query and fetch its rows as Arrow, over gRPC when a client exists."""
    from google.api_core.exceptions import GoogleAPIError
    from google.cloud.bigquery import QueryJobConfig

    config = QueryJobConfig(query_parameters=query.parameters)
    try:
        rows = client.query(query.sql, job_config=config).result(timeout=_TIMEOUT_S)
        if bqstorage_client is not None:
            with warnings.catch_warnings():
                # The client library nags about a pandas-gbq path this reader
                # does not use; the Arrow batches it returns are the same.
                warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
                table = rows.to_arrow(bqstorage_client=bqstorage_client)
        else:
            # A storage client would always talk to Google's endpoint, so it is
            # created only when the REST endpoint is Google's as well.
            table = rows.to_arrow(create_bqstorage_client=endpoint is None)
    except GoogleAPIError as error:
        message = f"BigQuery {source}: the query failed ({error}); SQL: {query.sql}"
        raise SourceError(message) from error
    return table


def _to_frame(table: pa.Table, source: str, row_ids: RowIds) -> pl.DataFrame:
    """The Arrow result as a Polars frame with provenance columns."""
    table = table.cast(plain_schema(table.schema))
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    frame = frame.with_columns(
        pl.col(name).dt.convert_time_zone(UTC)
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone not in (None, UTC)
    )
    if row_ids == "number":
        frame = frame.with_columns(
            pl.int_range(pl.len(), dtype=pl.Int64).alias(SOURCE_ROW)
        )
    ordered = [c for c in frame.columns if c != SOURCE_ROW]
    return frame.select(
        *ordered,
        pl.lit(source, dtype=pl.String).alias(SOURCE_FILE),
        pl.col(SOURCE_ROW).cast(pl.Int64),
    )


def plain_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` without field metadata at any depth.

    The BigQuery client marks JSON columns as the ``google:sqlType:json`` Arrow
    extension; Polars would keep that as an extension type it cannot cast, while
    the values are plain JSON text.
    """
    return pa.schema([_plain_field(f) for f in schema])


def _plain_field(item: pa.Field) -> pa.Field:
    kind = item.type
    if pa.types.is_struct(kind):
        kind = pa.struct([_plain_field(kind.field(i)) for i in range(kind.num_fields)])
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
        inner = _plain_field(kind.value_field)
        kind = pa.large_list(inner) if pa.types.is_large_list(kind) else pa.list_(inner)
    return pa.field(item.name, kind, item.nullable)


def schema_text(fields: Sequence[SchemaField]) -> dict[str, str]:
    """Column name → BigQuery type as text, such as ``ARRAY<STRING>``."""
    return {f.name: _type_text(f) for f in fields}


def _type_text(item: SchemaField) -> str:
    kind = str(item.field_type).upper()
    if kind in {"RECORD", "STRUCT"}:
        inner = ", ".join(f"{f.name} {_type_text(f)}" for f in item.fields)
        kind = f"STRUCT<{inner}>"
    return f"ARRAY<{kind}>" if item.mode == "REPEATED" else kind


def timestamp_bound(text: str | None, lookback_hours: int) -> datetime | None:
    """A stored watermark (ISO text) moved back by `lookback_hours`, or None."""
    if not text:
        return None
    mark = datetime.fromisoformat(text)
    if mark.tzinfo is None:
        mark = mark.replace(tzinfo=UTC_ZONE)
    return mark - timedelta(hours=lookback_hours)
