"""Each export file once: incremental runs over S3 through the runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
