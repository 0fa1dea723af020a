"""The ledger's frames keep their types whatever the first rows hold."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ctjobs.job.ledger import Ledger
from ctjobs.records.frame import RECORD_KEY, SOURCE_FILE, SOURCE_ROW


def _records(first: int, count: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            RECORD_KEY: [f"f.csv#{i}#event" for i in range(first, first + count)],
            SOURCE_FILE: ["f.csv"] * count,
            SOURCE_ROW: list(range(first, first + count)),
            "type": ["event"] * count,
            "_json": ['{"type":"event"}'] * count,
        }
    )


def test_pending_reads_back_when_only_late_rows_are_resolved(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite", "job")
    run = ledger.start_run("run")
    ledger.add_pending(run, _records(0, 250), "HTTP 500 after 8 attempts")
    late = [f"f.csv#{i}#event" for i in range(200, 250)]
    ledger.resolve("pending", run, late, "later-run")

    pending = ledger.pending(run)
    ledger.close()

    assert pending.height == 250
    assert pending.schema["resolved_by"] == pl.String
    assert pending["resolved_by"].null_count() == 200
    assert pending.schema[SOURCE_ROW] == pl.Int64


def test_runs_read_back_when_the_newest_are_unfinished(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite", "job")
    finished = ledger.start_run("run")
    ledger.finish_run(finished, "done", {"run_id": finished})
    for _ in range(120):
        ledger.start_run("run")

    runs = ledger.runs()
    ledger.close()

    assert runs.height == 121
    assert runs.schema["finished_at"] == pl.String
    assert runs.filter(pl.col("status") == "done")["run_id"].to_list() == [finished]
