"""The CLI end to end on the bundled samples: dry runs, summaries, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import ctjobs as ct
from tests.conftest import DEFAULT_JOB, ROOT


def ctjobs(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ctjobs", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=180,
    )


def test_dry_run_json_summary_matches_the_files_written(tmp_path: Path) -> None:
    out = tmp_path / "bodies"
    done = ctjobs("run", str(DEFAULT_JOB), "--dry-run", "--out", str(out), "--json")
    assert done.returncode in (0, 3), done.stderr
    summary = json.loads(done.stdout)
    bodies = sorted(out.rglob("*.json"))
    records = [r for body in bodies for r in json.loads(body.read_text())["d"]]
    assert summary["bodies"] == len(bodies) > 0
    assert summary["totals"]["written"] == len(records)
    assert (
        summary["totals"]["built"]
        == len(records) + summary["totals"]["rejected_preflight"]
    )
    assert all(len(json.loads(b.read_text())["d"]) <= 1000 for b in bodies)
    built = {m["kind"]: m["built"] for m in summary["mappings"]}
    assert built["profile"] > 0 and built["event"] > 0
    kinds = {m["kind"]: m["written"] for m in summary["mappings"]}
    assert kinds["profile"] == sum(r["type"] == "profile" for r in records) > 0
    assert kinds["event"] == sum(r["type"] == "event" for r in records) > 0
    assert summary["rows_read"] == sum(f["rows"] for f in summary["files_read"])


def test_rows_read_equal_filtered_plus_built_for_one_row_one_record(
    tmp_path: Path,
) -> None:
    job = tmp_path / "events.toml"
    job.write_text(
        f"""
name = "one-to-one"
[source]
paths = ["{ROOT}/data/samples/events/csv/*.csv.gz"]
[[transforms]]
step = "filter"
where = "eventName <> 'App Launched'"
[[records]]
kind = "event"
identity = "profile.identity"
ts = "ts"
event_name = "eventName"
include = ["eventProps.*"]
[writer]
kind = "dry-run"
""",
        encoding="utf-8",
    )
    summary = ct.run_job(job, dry_run=True, out=tmp_path / "out")
    counts = summary.mappings[0]
    assert summary.rows_read == summary.rows_filtered_out + counts.built
    assert counts.built == counts.written + counts.rejected_preflight
    raw = pl.concat(
        [
            pl.read_csv(p, infer_schema=False)
            for p in (ROOT / "data/samples/events/csv").glob("*.gz")
        ],
        how="diagonal",
    )
    assert summary.rows_read == raw.height
    assert (
        summary.rows_filtered_out
        == raw.filter(pl.col("eventName") == "App Launched").height
    )


def test_a_bad_job_file_exits_2_with_one_clear_line(tmp_path: Path) -> None:
    job = tmp_path / "bad.toml"
    job.write_text('name = "x"\n[source]\npaths = []\n', encoding="utf-8")
    done = ctjobs("run", str(job), "--dry-run")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.toml" in lines[0]
    assert "Traceback" not in done.stderr


def test_a_job_file_holding_a_passcode_is_refused(tmp_path: Path) -> None:
    job = tmp_path / "secret.toml"
    job.write_text(
        'name = "x"\n[source]\npaths = ["a.csv"]\n[[records]]\nkind = "profile"\n'
        'identity = "id"\n[writer]\nkind = "upload"\npasscode = "hunter2"\n',
        encoding="utf-8",
    )
    done = ctjobs("run", str(job))
    assert done.returncode == 2
    assert "hunter2" not in done.stderr
    assert "credential" in done.stderr


def test_missing_source_files_fail_with_the_path(tmp_path: Path) -> None:
    job = tmp_path / "missing.toml"
    job.write_text(
        'name = "x"\n[source]\npaths = ["/nowhere/*.csv.gz"]\n[[records]]\n'
        'kind = "profile"\nidentity = "id"\n',
        encoding="utf-8",
    )
    done = ctjobs("run", str(job), "--dry-run")
    assert done.returncode == 2
    assert "/nowhere/*.csv.gz" in done.stderr


def test_upload_without_region_or_url_is_a_usage_error(tmp_path: Path) -> None:
    done = ctjobs("run", str(DEFAULT_JOB))
    assert done.returncode == 2
    assert "CLEVERTAP_API_URL" in done.stderr


def _events_job(tmp_path: Path, body: str, **source: str) -> Path:
    samples = ROOT / "data" / "samples" / "events" / "csv" / "*.csv.gz"
    extra = "".join(f'{key} = "{value}"\n' for key, value in source.items())
    job = tmp_path / "job.toml"
    job.write_text(
        f'name = "x"\n[source]\npaths = ["{samples}"]\n{extra}{body}'
        '[writer]\nkind = "dry-run"\n',
        encoding="utf-8",
    )
    return job


EVENT_MAPPING = (
    '[[records]]\nkind = "event"\nidentity = "profile.identity"\nts = "ts"\n'
    'event_name_value = "{}"\n'
)


def test_two_mappings_of_one_kind_need_their_own_names(tmp_path: Path) -> None:
    twins = EVENT_MAPPING.format("Purchase A") + EVENT_MAPPING.format("Purchase B")
    done = ctjobs("run", str(_events_job(tmp_path, twins)), "--dry-run")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"ctjobs: error: {tmp_path / 'job.toml'}: records 1 and 2 are both unnamed "
        "event mappings; give each [[records]] its own `name`"
    ]

    named = twins.replace("[[records]]\n", '[[records]]\nname = "a"\n', 1)
    summary = ct.run_job(_events_job(tmp_path, named), dry_run=True, out=tmp_path)
    assert summary.total("written") == 2 * summary.rows_after_transforms


def test_an_unknown_timezone_is_a_job_file_error(tmp_path: Path) -> None:
    mapping = EVENT_MAPPING.format("Viewed")
    job = _events_job(tmp_path, mapping, timezone="Mars/Olympus")
    done = ctjobs("run", str(job), "--dry-run")
    assert done.returncode == 2
    assert "unknown timezone 'Mars/Olympus'" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unforeseen_failure_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ctjobs import cli
    from ctjobs.job import runner

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(runner, "run_job", broken)
    monkeypatch.setattr(sys, "argv", ["ctjobs", "run", str(DEFAULT_JOB), "--dry-run"])
    with pytest.raises(SystemExit) as ended:
        cli.main()
    assert ended.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        "ctjobs: error: RuntimeError: disk on fire "
        "(run again with --debug for the traceback)"
    ]


@pytest.mark.parametrize("job", sorted((ROOT / "jobs").glob("*.toml")), ids=str)
def test_every_bundled_job_file_dry_runs(job: Path, tmp_path: Path) -> None:
    summary = ct.run_job(job, dry_run=True, out=tmp_path / "out")
    assert summary.status == "done"
    assert summary.total("built") > 0
    assert summary.total("rejected_preflight") == 0
    assert summary.total("written") == summary.total("built")


def test_the_sftp_job_sends_the_main_jobs_profiles() -> None:
    main = ct.load_job(DEFAULT_JOB)
    by_sftp = ct.load_job(ROOT / "jobs" / "profiles_by_sftp.toml")
    assert by_sftp.writer.kind == "sftp"
    assert by_sftp.source == main.source
    assert by_sftp.transforms == main.transforms
    assert by_sftp.records == [r for r in main.records if r.kind == "profile"]


def test_a_dry_run_to_a_url_is_refused_and_writes_nothing() -> None:
    done = ctjobs("run", str(DEFAULT_JOB), "--dry-run", "--out", "s3://bucket/bodies")
    assert done.returncode == 2
    assert "a dry run writes to a local folder" in done.stderr
    assert not (ROOT / "s3:").exists()


def test_a_job_file_that_is_not_utf8_is_a_job_file_error(tmp_path: Path) -> None:
    job = tmp_path / "latin1.toml"
    job.write_bytes(b'name = "caf\xe9"\n')
    done = ctjobs("run", str(job), "--dry-run")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"ctjobs: error: {job}: not UTF-8 text (byte 11); save the job file as UTF-8"
    )


def test_a_dry_run_into_a_used_folder_leaves_only_its_own_bodies(
    tmp_path: Path,
) -> None:
    out = tmp_path / "bodies"
    both = ct.run_job(DEFAULT_JOB, dry_run=True, out=out)
    assert {Path(p).parent.name for p in both.outputs} == {"events", "profiles"}
    events_only = tmp_path / "events-only.toml"
    events_only.write_text(
        DEFAULT_JOB.read_text(encoding="utf-8")
        .split("[[records]]", 1)[0]
        .replace("../data", str(ROOT / "data"))
        + '[[records]]\nkind = "event"\nidentity = "profile.identity"\nts = "ts"\n'
        'event_name = "eventName"\n[writer]\nkind = "dry-run"\n',
        encoding="utf-8",
    )

    again = ct.run_job(events_only, dry_run=True, out=out)

    written = sorted(str(p) for p in out.rglob("body-*.json"))
    assert written == sorted(again.outputs)
    assert not list((out / "profiles").glob("*.json"))
