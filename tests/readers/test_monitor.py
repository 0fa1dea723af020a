"""The schema-change monitor: source columns and outgoing events, per policy."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from ctjobs.errors import SchemaFrozenError
from ctjobs.job.ledger import Ledger
from ctjobs.job.spec import JobSpec, parse_job
from ctjobs.job.summary import RunSummary
from ctjobs.monitor import accept_schema, watch_outgoing
from ctjobs.readers.source import read_source
from ctjobs.records.encode import encode_records

from .conftest import gz

HEADER = "identity,ts,eventName,eventProps.Amount"
BASE = f"{HEADER}\nu1,20240301101500,Charged,5\n"
ADDED = f"{HEADER},eventProps.Coupon\nu1,20240301101500,Charged,5,X\n"
RETYPED = f"{HEADER}\nu1,20240301101500,Charged,five\n"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    book = Ledger(tmp_path / "ctjobs-home" / "ledger.sqlite", "monitored")
    yield book
    book.close()


def _spec(folder: Path, **policy: str) -> JobSpec:
    data: dict[str, Any] = {
        "name": "monitored",
        "source": {"paths": [str(folder / "*.csv.gz")]},
        "records": [
            {"kind": "event", "identity": "identity", "event_name": "eventName"}
        ],
    }
    if policy:
        data["schema_policy"] = policy
    return parse_job(data)


def _read(
    folder: Path, content: str, spec: JobSpec, ledger: Ledger, *, dry_run: bool = False
) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """Replace the folder's one export file with `content` and read it."""
    (folder / "1-2-Charged-20240301-0-0.csv.gz").write_bytes(gz(content))
    summary = RunSummary(run_id="run", job=spec.name, dry_run=dry_run)
    frame, notes = read_source(spec, None, ledger, summary)
    return frame.collect(), [n for n in notes if n["kind"] != "widened"]


@pytest.mark.parametrize(
    ("before", "after", "kind", "column"),
    [
        (BASE, ADDED, "added", "eventProps.Coupon"),
        (ADDED, BASE, "removed", "eventProps.Coupon"),
        (BASE, RETYPED, "retyped", "eventProps.Amount"),
    ],
)
def test_changes_are_classified(
    tmp_path: Path, ledger: Ledger, before: str, after: str, kind: str, column: str
) -> None:
    spec = _spec(tmp_path, added="evolve", removed="evolve", retyped="evolve")
    assert _read(tmp_path, before, spec, ledger)[1] == []

    _, notes = _read(tmp_path, after, spec, ledger)

    assert [(n["kind"], n["column"], n["policy"]) for n in notes] == [
        (kind, column, "evolve")
    ]


def test_evolve_records_the_change_once(tmp_path: Path, ledger: Ledger) -> None:
    spec = _spec(tmp_path, added="evolve")
    _read(tmp_path, BASE, spec, ledger)

    _, first = _read(tmp_path, ADDED, spec, ledger)
    _, second = _read(tmp_path, ADDED, spec, ledger)

    assert len(first) == 1
    assert second == []


def test_warn_logs_a_warning(
    tmp_path: Path, ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    spec = _spec(tmp_path, added="warn")
    _read(tmp_path, BASE, spec, ledger)

    with caplog.at_level(logging.WARNING, logger="ctjobs.monitor.policy"):
        _, notes = _read(tmp_path, ADDED, spec, ledger)

    assert notes[0]["policy"] == "warn"
    assert "'eventProps.Coupon' is new" in caplog.text


def test_freeze_stops_and_says_how_to_accept(tmp_path: Path, ledger: Ledger) -> None:
    spec = _spec(tmp_path, added="freeze")
    _read(tmp_path, BASE, spec, ledger)

    with pytest.raises(SchemaFrozenError) as raised:
        _read(tmp_path, ADDED, spec, ledger)

    message = str(raised.value)
    assert "'eventProps.Coupon'" in message
    assert 'schema_policy.added = "evolve"' in message
    assert "ctjobs schema accept <job file>" in message
    assert "monitored" in message


def test_accept_schema_lets_the_next_run_through(
    tmp_path: Path, ledger: Ledger
) -> None:
    spec = _spec(tmp_path, added="freeze")
    _read(tmp_path, BASE, spec, ledger)

    assert accept_schema(spec) == ["source", "outgoing"]
    _, accepted = _read(tmp_path, ADDED, spec, ledger)
    _, after = _read(tmp_path, ADDED, spec, ledger)

    assert accepted == after == []


def test_discard_drops_the_new_column_every_run(tmp_path: Path, ledger: Ledger) -> None:
    spec = _spec(tmp_path, added="discard")
    _read(tmp_path, BASE, spec, ledger)

    frame, first = _read(tmp_path, ADDED, spec, ledger)
    _, second = _read(tmp_path, ADDED, spec, ledger)

    assert "eventProps.Coupon" not in frame.columns
    assert [n["kind"] for n in first] == [n["kind"] for n in second] == ["added"]


def test_dry_runs_do_not_move_the_snapshot(tmp_path: Path, ledger: Ledger) -> None:
    spec = _spec(tmp_path, added="warn")
    _read(tmp_path, BASE, spec, ledger)

    _read(tmp_path, ADDED, spec, ledger, dry_run=True)
    _, notes = _read(tmp_path, ADDED, spec, ledger)

    assert ledger.snapshot("source") is not None
    assert [n["column"] for n in notes] == ["eventProps.Coupon"]


# ------------------------------------------------------------------ outgoing


def _events(rows: list[tuple[str, Any]]) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "type": ["event"] * len(rows),
            "identity": [f"u{i}" for i in range(len(rows))],
            "evtName": [name for name, _ in rows],
            "evtData": [{"Amount": amount} for _, amount in rows],
            "_source_file": ["f"] * len(rows),
            "_source_row": list(range(len(rows))),
        }
    )
    return encode_records(frame).collect()


def _outgoing(
    spec: JobSpec, ledger: Ledger, frame: pl.DataFrame
) -> tuple[list[dict[str, Any]], list[tuple[Any, pl.DataFrame]]]:
    built = [(spec.records[0], frame)]
    return watch_outgoing(spec, ledger, "run", built, False), built


def test_a_new_event_name_is_reported(tmp_path: Path, ledger: Ledger) -> None:
    spec = _spec(tmp_path, added="warn")
    _outgoing(spec, ledger, _events([("Charged", 5)]))

    notes, _ = _outgoing(spec, ledger, _events([("Charged", 5), ("Refund", 2)]))

    assert [(n["kind"], n["column"], n["policy"]) for n in notes] == [
        ("new_event", "Refund", "warn")
    ]


def test_a_retyped_property_is_reported_per_event(
    tmp_path: Path, ledger: Ledger
) -> None:
    spec = _spec(tmp_path, retyped="warn")
    _outgoing(spec, ledger, _events([("Charged", 5)]))

    notes, _ = _outgoing(spec, ledger, _events([("Charged", "five")]))

    assert [(n["kind"], n["column"]) for n in notes] == [
        ("retyped_property", "Charged.Amount")
    ]
    assert "from Int64 to String" in notes[0]["message"]


def test_new_event_freeze_stops_before_sending(tmp_path: Path, ledger: Ledger) -> None:
    spec = _spec(tmp_path, new_event="freeze")
    _outgoing(spec, ledger, _events([("Charged", 5)]))

    with pytest.raises(SchemaFrozenError, match="event 'Refund' is new"):
        _outgoing(spec, ledger, _events([("Refund", 1)]))


def test_new_event_discard_takes_its_records_out(
    tmp_path: Path, ledger: Ledger
) -> None:
    spec = _spec(tmp_path, new_event="discard")
    _outgoing(spec, ledger, _events([("Charged", 5)]))

    _, built = _outgoing(spec, ledger, _events([("Charged", 5), ("Refund", 1)]))

    assert built[0][1]["evtName"].to_list() == ["Charged"]


def test_retyped_discard_leaves_the_property_out(
    tmp_path: Path, ledger: Ledger
) -> None:
    spec = _spec(tmp_path, retyped_property="discard")
    _outgoing(spec, ledger, _events([("Charged", 5)]))

    _, built = _outgoing(spec, ledger, _events([("Charged", "five")]))

    record = built[0][1]["_json"][0]
    assert record == '{"type":"event","identity":"u0","evtName":"Charged","evtData":{}}'
