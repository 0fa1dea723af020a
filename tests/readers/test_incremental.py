"""Each export file once: incremental runs over S3 through the runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ctjobs.job.runner import run_job
from ctjobs.job.spec import JobSpec, parse_job
from ctjobs.job.summary import RunSummary
from ctjobs.writers.dryrun import DryRunWriter

from .conftest import Store, gz

CSV = "ts,eventName,profile.identity,eventProps.Amount\n"


def _file(*identities: str) -> bytes:
    rows = "".join(f"20240301101500,Charged,{i},5\n" for i in identities)
    return gz(CSV + rows)


def _spec(store: Store) -> JobSpec:
    data: dict[str, Any] = {
        "name": "s3-incremental",
        "source": {
            "paths": [f"{store.url}/events/*.csv.gz"],
            "storage_options": store.options,
            "incremental": True,
        },
        "records": [{"kind": "event", "identity": "profile.identity", "ts": "ts",
                     "event_name": "eventName", "include": ["eventProps.*"]}],
    }  # fmt: skip
    return parse_job(data)


def _run(spec: JobSpec, out: Path) -> RunSummary:
    """A run that counts as sent (so files are marked), writing bodies to files."""
    return run_job(spec, writer=DryRunWriter(out))


def _read(summary: RunSummary) -> dict[str, int]:
    return {f["path"].rsplit("/", 1)[-1]: f["rows"] for f in summary.files_read}


def test_a_second_run_reads_only_the_new_file(s3: Store, tmp_path: Path) -> None:
    spec = _spec(s3)
    s3.put("events/1-2-Charged-20240301-0-0.csv.gz", _file("u1", "u2"))
    first = _run(spec, tmp_path / "a")

    s3.put("events/1-2-Charged-20240302-0-0.csv.gz", _file("u3"))
    second = _run(spec, tmp_path / "b")

    assert _read(first) == {"1-2-Charged-20240301-0-0.csv.gz": 2}
    assert _read(second) == {"1-2-Charged-20240302-0-0.csv.gz": 1}
    assert second.files_skipped == [f"{s3.url}/events/1-2-Charged-20240301-0-0.csv.gz"]
    assert second.rows_read == 1


def test_a_rewritten_file_is_reported_and_not_read_again(
    s3: Store, tmp_path: Path
) -> None:
    spec = _spec(s3)
    path = s3.put("events/1-2-Charged-20240301-0-0.csv.gz", _file("u1"))
    s3.put("events/1-2-Charged-20240302-0-0.csv.gz", _file("u2"))
    _run(spec, tmp_path / "a")

    s3.put("events/1-2-Charged-20240301-0-0.csv.gz", _file("u1", "u1b"))
    s3.put("events/1-2-Charged-20240303-0-0.csv.gz", _file("u3"))
    second = _run(spec, tmp_path / "b")

    assert second.files_changed == [path]
    assert _read(second) == {"1-2-Charged-20240303-0-0.csv.gz": 1}


def test_dry_runs_do_not_mark_files(s3: Store, tmp_path: Path) -> None:
    spec = _spec(s3)
    s3.put("events/1-2-Charged-20240301-0-0.csv.gz", _file("u1"))

    first = run_job(spec, dry_run=True, out=tmp_path / "a")
    second = run_job(spec, dry_run=True, out=tmp_path / "b")

    assert first.rows_read == second.rows_read == 1
    assert second.files_skipped == []


def test_a_backfill_leaves_the_incremental_position_where_it_was(
    s3: Store, tmp_path: Path
) -> None:
    from datetime import date

    spec = _spec(s3)
    s3.put("events/1-2-Charged-20240301-0-0.csv.gz", _file("u1", "u2"))
    _run(spec, tmp_path / "a")
    s3.put("events/1-2-Charged-20240302-0-0.csv.gz", _file("u3"))
    s3.put("events/1-2-Charged-20240303-0-0.csv.gz", _file("u4"))

    backfill = run_job(
        spec,
        writer=DryRunWriter(tmp_path / "b"),
        mode="backfill",
        date_from=date(2024, 3, 2),
        date_to=date(2024, 3, 2),
    )
    scheduled = _run(spec, tmp_path / "c")

    assert _read(backfill) == {"1-2-Charged-20240302-0-0.csv.gz": 1}
    # The scheduled run still picks up the day the backfill read: its position
    # moved past the first file only (the ledger, not the position, stops resends).
    assert _read(scheduled) == {
        "1-2-Charged-20240302-0-0.csv.gz": 1,
        "1-2-Charged-20240303-0-0.csv.gz": 1,
    }
    assert scheduled.files_skipped == [
        f"{s3.url}/events/1-2-Charged-20240301-0-0.csv.gz"
    ]


def test_files_are_marked_only_once_every_row_is_accounted_for(
    s3: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ctjobs.sandbox import SandboxProcess

    data = _spec(s3).model_dump(exclude={"base_dir"})
    data["writer"] = {"kind": "upload", "max_attempts": 1}
    spec = parse_job(data)
    s3.put("events/1-2-Charged-20240301-0-0.csv.gz", _file("u1", "u2"))
    with SandboxProcess(account_id="acct", passcode="pass-inc") as server:
        monkeypatch.setenv("CLEVERTAP_API_URL", server.url)
        monkeypatch.setenv("CLEVERTAP_ACCOUNT_ID", server.account_id)
        monkeypatch.setenv("CLEVERTAP_PASSCODE", server.passcode)
        server.configure(error_rate=1.0)
        failed = run_job(spec)
        server.configure(error_rate=0.0)
        retried = run_job(spec)
        after = run_job(spec)
        stored = server.records()

    assert failed.total("pending") == 2 and failed.files_skipped == []
    assert retried.rows_read == 2 and retried.total("accepted") == 2
    assert after.rows_read == 0 and len(stored) == 2
