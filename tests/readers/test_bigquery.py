"""Reading BigQuery through the emulator: Storage Read API and REST, push-down."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from ctjobs.job.ledger import Ledger
from ctjobs.job.spec import parse_job
from ctjobs.job.summary import RunSummary
from ctjobs.readers.bigquery import open_bigquery, read_bigquery, scan_bigquery
from ctjobs.readers.source import commit_watermark, read_source, steps_after_source
from ctjobs.records.build import build_events
from ctjobs.records.validate import validate

from .conftest import PROJECT, BigQueryEmulator

EVENTS = f"{PROJECT}.ct.events"
SENTINEL = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
ROWS = [
    {"identity": "u1", "ts": "2024-03-01T10:00:00Z", "eventName": "Charged",
     "props": {"coupon": "X1"}, "amount": 10.5},
    {"identity": "u2", "ts": "2024-03-02T11:00:00Z", "eventName": "Viewed",
     "props": None, "amount": None},
    {"identity": "u3", "ts": "9999-12-31T23:59:59.999999Z", "eventName": "Charged",
     "props": {"items": [1, 2]}, "amount": 3.0},
]  # fmt: skip


def _table(bq: BigQueryEmulator, name: str, rows: list[dict[str, Any]]) -> str:
    from google.cloud import bigquery

    schema = [
        bigquery.SchemaField("identity", "STRING"),
        bigquery.SchemaField("ts", "TIMESTAMP"),
        bigquery.SchemaField("eventName", "STRING"),
        bigquery.SchemaField("props", "JSON"),
        bigquery.SchemaField("amount", "FLOAT64"),
    ]
    bq.client.create_dataset("ct", exists_ok=True)
    table = bq.client.create_table(bigquery.Table(name, schema=schema), exists_ok=True)
    if rows:
        assert bq.client.insert_rows_json(table, rows) == []
    return name


@pytest.fixture(scope="module")
def events(bigquery: BigQueryEmulator) -> str:
    """The events table, with a year-9999 sentinel row."""
    return _table(bigquery, EVENTS, ROWS)


def _spec(bq: BigQueryEmulator, table: str, **source: Any) -> Any:
    where = {"table": table, "project": PROJECT, "endpoint": bq.endpoint}
    data = {
        "name": "bq-job",
        "source": {"kind": "bigquery", "date_column": "ts", **where,
                   **source.pop("src", {})},
        "records": [{"kind": "event", "identity": "identity", "ts": "ts",
                     "event_name": "eventName"}],
        **source,
    }  # fmt: skip
    return parse_job(data)


class _ReadSpy:
    """Records the read sessions opened and the streams read over the Storage API."""

    def __init__(self, storage: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sessions: list[Any] = []
        self.streams: list[str] = []
        create, read = storage.create_read_session, storage.read_rows

        def create_read_session(*args: Any, **kwargs: Any) -> Any:
            session = create(*args, **kwargs)
            self.sessions.append(session)
            return session

        def read_rows(name: str, *args: Any, **kwargs: Any) -> Any:
            self.streams.append(name)
            return read(name, *args, **kwargs)

        monkeypatch.setattr(storage, "create_read_session", create_read_session)
        monkeypatch.setattr(storage, "read_rows", read_rows)


def test_query_through_the_storage_read_api(
    bigquery: BigQueryEmulator, events: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sql = f"SELECT identity, ts, props FROM `{events}` ORDER BY identity"
    spy = _ReadSpy(bigquery.storage, monkeypatch)

    frame = read_bigquery(
        sql, client=bigquery.client, bqstorage_client=bigquery.storage
    )

    # The rows came over gRPC from one read session, not in the REST answers.
    assert len(spy.sessions) == 1
    assert spy.sessions[0].estimated_row_count == 3
    assert spy.streams
    assert all(s.startswith(spy.sessions[0].name) for s in spy.streams)

    assert frame.schema["ts"] == pl.Datetime("us", "UTC")
    assert frame.schema["props"] == pl.String
    assert frame["identity"].to_list() == ["u1", "u2", "u3"]
    assert frame["ts"][2] == SENTINEL
    assert frame["_source_file"].unique().to_list() == ["bigquery:query"]
    assert frame["_source_row"].to_list() == [0, 1, 2]

    # The sentinel keeps its value into the record and is refused there, by name.
    records = build_events(frame, identity="identity", ts="ts", event_name_value="X")
    refused = validate(records).rejected.filter(pl.col("_source_row") == 2)
    assert refused.select("code", "reason").rows() == [
        (525, "ts 253402300799 is a year-9999 placeholder")
    ]


def test_table_over_rest_gives_json_as_text(
    bigquery: BigQueryEmulator, events: str
) -> None:
    frame = read_bigquery(events, client=bigquery.client, endpoint=bigquery.endpoint)

    rows = {r["identity"]: r for r in frame.iter_rows(named=True)}
    assert frame.schema["props"] == pl.String
    assert rows["u1"]["props"] == '{"coupon":"X1"}'
    assert rows["u3"]["ts"] == SENTINEL
    assert frame["_source_file"].unique().to_list() == [events]
    assert frame["ts"].is_sorted()


def test_date_range_is_a_query_parameter(
    bigquery: BigQueryEmulator, events: str
) -> None:
    scan = open_bigquery(
        events,
        client=bigquery.client,
        bqstorage_client=bigquery.storage,
        date_column="ts",
        date_from=date(2024, 3, 2),
        date_to=date(2024, 3, 2),
        columns=["identity", "ts"],
    )

    assert scan.frame.collect()["identity"].to_list() == ["u2"]
    assert "`ts` >= @date_from AND `ts` < @date_to" in scan.sql
    assert scan.parameters["date_to"] == datetime(2024, 3, 3, tzinfo=UTC)
    assert scan.frame.collect_schema().names() == [
        "identity",
        "ts",
        "_source_file",
        "_source_row",
    ]


@pytest.mark.parametrize("storage", [True, False], ids=["storage-api", "rest"])
def test_empty_result_keeps_its_schema(
    bigquery: BigQueryEmulator, events: str, storage: bool
) -> None:
    lf = scan_bigquery(
        events,
        client=bigquery.client,
        bqstorage_client=bigquery.storage if storage else None,
        endpoint=bigquery.endpoint,
        where="identity = 'nobody'",
    )

    frame = lf.collect()
    assert frame.height == 0
    assert frame.schema == pl.Schema(
        {
            "identity": pl.String, "ts": pl.Datetime("us", "UTC"),
            "eventName": pl.String, "props": pl.String, "amount": pl.Float64,
            "_source_file": pl.String, "_source_row": pl.Int64,
        }
    )  # fmt: skip


def test_leading_steps_run_inside_bigquery(
    bigquery: BigQueryEmulator, events: str
) -> None:
    transforms = [
        {"step": "filter", "where": "eventName = 'Charged' AND \"amount\" > 5"},
        {"step": "rename", "columns": {"amount": "value"}},
        {"step": "with_columns", "columns": {"who": "UPPER(identity)"}},
        {"step": "deduplicate"},
        {"step": "drop", "columns": ["props"]},
    ]
    spec = _spec(bigquery, events, transforms=transforms)

    frame, notes = read_source(spec, None, client=bigquery.client)

    pushdown = next(n for n in notes if n["kind"] == "pushdown")
    assert pushdown["steps"] == 3
    assert "WHERE `eventName` = 'Charged' AND `amount` > 5" in pushdown["sql"]
    assert "`amount` AS `value`" in pushdown["sql"]
    assert "UPPER(`identity`) AS `who`" in pushdown["sql"]
    assert "steps 4 (deduplicate), 5 (drop) run in Polars" in pushdown["message"]
    assert [s.step for s in steps_after_source(spec)] == ["deduplicate", "drop"]
    result = frame.collect()
    assert result["who"].to_list() == ["U1"]
    assert result["value"].to_list() == [10.5]


def test_incremental_reads_from_the_watermark(
    bigquery: BigQueryEmulator, tmp_path: Path
) -> None:
    table = _table(bigquery, f"{PROJECT}.ct.incremental", ROWS[:2])
    spec = _spec(bigquery, table, src={"incremental": True, "lookback_hours": 1})
    ledger = Ledger(tmp_path / "ledger.sqlite", spec.name)
    summary = RunSummary(run_id="r1", job=spec.name)

    first, _ = read_source(spec, None, ledger, summary)
    first_rows = first.collect()
    assert ledger.position("bigquery.watermark") is None
    commit_watermark(ledger)
    bigquery.client.insert_rows_json(
        table, [{"identity": "u9", "ts": "2024-03-05T00:00:00Z", "eventName": "Late"}]
    )
    second, _ = read_source(spec, None, ledger, RunSummary(run_id="r2", job=spec.name))
    second_rows = second.collect()

    assert first_rows["identity"].to_list() == ["u1", "u2"]
    assert ledger.position("bigquery.watermark") == "2024-03-02T11:00:00+00:00"
    assert sorted(second_rows["identity"].to_list()) == ["u2", "u9"]
    key = {r["identity"]: r["_source_row"] for r in first_rows.iter_rows(named=True)}
    again = {r["identity"]: r["_source_row"] for r in second_rows.iter_rows(named=True)}
    assert again["u2"] == key["u2"]
    ledger.close()


def test_the_runner_reads_a_bigquery_source(
    bigquery: BigQueryEmulator, events: str, tmp_path: Path
) -> None:
    from ctjobs.job.runner import run_job

    transforms = [{"step": "filter", "where": "eventName = 'Charged'"}]
    spec = _spec(bigquery, events, transforms=transforms)

    summary = run_job(spec, dry_run=True, out=tmp_path / "out")

    assert summary.rows_read == 2
    assert any(c["kind"] == "pushdown" for c in summary.schema_changes)
    assert "  where steps ran: steps 1 (filter) ran in BigQuery" in summary.lines()


def test_a_backfill_queries_day_by_day_whatever_the_watermark(
    bigquery: BigQueryEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ctjobs.job.runner import run_job
    from ctjobs.writers.factory import destination_of

    monkeypatch.setenv("CTJOBS_HOME", str(tmp_path / "home"))
    days = [
        {"identity": f"u{n}", "ts": f"2024-03-0{n}T10:00:00Z", "eventName": "Viewed"}
        for n in (1, 2, 3)
    ]
    table = _table(bigquery, f"{PROJECT}.ct.daily", days)
    spec = _spec(
        bigquery,
        table,
        src={"incremental": True},
        writer={
            "kind": "files",
            "out": str(tmp_path / "files"),
            "client_email": "ops@example.com",
        },
    )
    # An incremental position past every row: backfills read their range anyway.
    ledger = Ledger(tmp_path / "home" / "ledger.sqlite", spec.name)
    ledger.deliver_to(destination_of(spec))
    ledger.set_position("bigquery.watermark", "2024-04-01T00:00:00+00:00")
    ledger.close()

    summary = run_job(
        spec, mode="backfill", date_from=date(2024, 3, 1), date_to=date(2024, 3, 3)
    )
    assert summary.partitions_done == ["2024-03-01", "2024-03-02", "2024-03-03"]
    assert summary.rows_read == 3

    again = run_job(
        spec, mode="backfill", date_from=date(2024, 3, 1), date_to=date(2024, 3, 4)
    )
    assert again.partitions_skipped == ["2024-03-01", "2024-03-02", "2024-03-03"]
    assert again.partitions_done == ["2024-03-04"]
    assert again.rows_read == 0


def test_a_placeholder_date_does_not_move_the_watermark(
    bigquery: BigQueryEmulator, events: str, tmp_path: Path
) -> None:
    spec = _spec(bigquery, events, src={"incremental": True})
    ledger = Ledger(tmp_path / "ledger.sqlite", spec.name)
    read_source(spec, None, ledger, RunSummary(run_id="r1", job=spec.name))
    commit_watermark(ledger)
    assert ledger.position("bigquery.watermark") == "2024-03-02T11:00:00+00:00"
    ledger.close()
