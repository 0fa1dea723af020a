"""The HTML run report: the run's counts and reasons are on it, secrets never are."""

from __future__ import annotations

import html
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import markupsafe
import polars as pl
import pytest

import ctjobs as ct
from ctjobs.credentials import load_credentials
from ctjobs.job.history import describe_run, history_frame
from ctjobs.job.summary import MappingCounts, RunSummary
from ctjobs.report import (
    bar_chart,
    column_chart,
    render_report,
    scrub_secrets,
    write_report,
)
from ctjobs.report.html import scrub_frame, scrub_summary
from ctjobs.sandbox import SandboxProcess
from tests.conftest import SAMPLES
from tests.job.jobs import events_job

PASSCODE = "fake-passcode-7731"
FILE_PASSCODE = "fake-file-passcode-4409"
ACCOUNT = "acct"
APP_LAUNCHED = "513: event 'App Launched' is a CleverTap system event"
WHERE = "eventName IN ('Charged', 'Plan Renewed', 'App Launched')"


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """A known fake passcode in the environment, to look for in everything written."""
    monkeypatch.setenv("CLEVERTAP_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("CLEVERTAP_PASSCODE", PASSCODE)


def _secrets_file(folder: Path, form: str, passcode: str = FILE_PASSCODE) -> Path:
    """A secrets file holding the account and `passcode`, in one of its forms."""
    lines = {
        "table": [
            "[clevertap]",
            f'account_id = "{ACCOUNT}"',
            f'passcode = "{passcode}"',
        ],
        "toml": [
            f'CLEVERTAP_ACCOUNT_ID = "{ACCOUNT}"',
            f'CLEVERTAP_PASSCODE = "{passcode}"',
        ],
        "dotenv": [
            f"export CLEVERTAP_ACCOUNT_ID={ACCOUNT}",
            f"CLEVERTAP_PASSCODE='{passcode}'",
        ],
    }
    path = folder / f"secrets-{form}"
    path.write_text("\n".join(lines[form]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def file_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake credentials only in a secrets file: none in the environment."""
    monkeypatch.setenv("CTJOBS_SECRETS_FILE", str(_secrets_file(tmp_path, "table")))
    for name in ("CLEVERTAP_ACCOUNT_ID", "CLEVERTAP_PASSCODE"):
        monkeypatch.delenv(name, raising=False)


def _rows_of(event: str) -> int:
    """The sample rows of one event, counted apart from the job under test."""
    lf = ct.scan_export(str(SAMPLES / "events/csv/*.csv.gz"), timezone="Asia/Kolkata")
    return int(
        lf.filter(pl.col("eventName") == event).select(pl.len()).collect().item()
    )


def _run_files(home: Path, summary: RunSummary) -> dict[str, str]:
    folder = home / "runs" / summary.run_id
    names = ("report.html", "summary.json", "rejected.jsonl")
    return {name: (folder / name).read_text(encoding="utf-8") for name in names}


def _assert_counts_shown(report: str, summary: RunSummary) -> None:
    """The report shows the run's own numbers, as the CLI summary has them."""
    for count in (
        summary.rows_read,
        summary.rows_filtered_out,
        summary.total("built"),
        summary.total("rejected_preflight"),
    ):
        assert f'<td class="n">{count:,}</td>' in report
    for key, count in summary.rejected_by_reason.items():
        assert key in html.unescape(report)
        assert f'<td class="n">{count:,}</td>' in report
    assert summary.run_id in report


def _assert_no_passcode(
    files: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    passcode: str = PASSCODE,
) -> None:
    for name, text in files.items():
        assert passcode not in text, name
    assert passcode not in caplog.text
    assert all(passcode not in record.getMessage() for record in caplog.records)


def test_report_of_a_run_sent_to_the_sandbox(
    tmp_path: Path,
    ctjobs_home: Path,
    credentials: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    job = events_job(tmp_path, name="report-sandbox", where=WHERE)
    with SandboxProcess(
        account_id=ACCOUNT, passcode=PASSCODE, discarded_events=["Plan Renewed"]
    ) as sandbox:
        monkeypatch.setenv("CLEVERTAP_API_URL", sandbox.url)
        summary = ct.run_job(job)
        stats = sandbox.stats()

    files = _run_files(ctjobs_home, summary)
    report = files["report.html"]
    launched, renewed = _rows_of("App Launched"), _rows_of("Plan Renewed")
    assert summary.rejected_by_reason[APP_LAUNCHED] == launched
    assert summary.total("rejected") == renewed == stats["records_rejected"]
    assert summary.total("accepted") == stats["records_accepted"] > 0
    _assert_counts_shown(report, summary)
    assert f'<td class="n">{summary.total("accepted"):,}</td>' in report
    assert "by CleverTap" in report and "before sending" in report
    _assert_no_passcode(files, caplog)


def test_report_of_a_dry_run(
    tmp_path: Path,
    ctjobs_home: Path,
    credentials: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    job = events_job(tmp_path, name="report-dry-run", where=WHERE)

    summary = ct.run_job(job, dry_run=True, out=tmp_path / "out")

    files = _run_files(ctjobs_home, summary)
    assert summary.rejected_by_reason == {APP_LAUNCHED: _rows_of("App Launched")}
    _assert_counts_shown(files["report.html"], summary)
    assert "rejected by CleverTap" not in files["report.html"]
    assert f'<td class="n">{summary.total("written"):,}</td>' in files["report.html"]
    _assert_no_passcode(files, caplog)


def test_a_passcode_from_the_secrets_file_is_never_written(
    tmp_path: Path,
    ctjobs_home: Path,
    file_credentials: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    job = events_job(tmp_path, name="report-secrets-file", where=WHERE)
    with SandboxProcess(
        account_id=ACCOUNT, passcode=FILE_PASSCODE, discarded_events=["Plan Renewed"]
    ) as sandbox:
        monkeypatch.setenv("CLEVERTAP_API_URL", sandbox.url)
        summary = ct.run_job(job)
        stats = sandbox.stats()

    # The sandbox took the records, so the passcode from the file was the one sent.
    assert summary.total("accepted") == stats["records_accepted"] > 0
    files = _run_files(ctjobs_home, summary)
    assert files["rejected.jsonl"]  # a rejected-records file to grep, not an empty one
    _assert_counts_shown(files["report.html"], summary)
    _assert_no_passcode(files, caplog, FILE_PASSCODE)


def _planted(passcode: str = PASSCODE) -> str:
    """Steps putting `passcode` where a careless run would write it out.

    Every record carries it as a property, and the 'App Launched' rows are renamed
    after it with a banned character, so they are rejected before sending with a
    reason that quotes it; the sandbox rejects the 'Plan Renewed' ones, each with
    its record.
    """
    renamed = (
        f"CASE WHEN eventName = 'App Launched' THEN '{passcode}!' ELSE eventName END"
    )
    return (
        '[[transforms]]\nstep = "with_columns"\n'
        f'columns = {{ "eventProps.Note" = "\'{passcode}\'", eventName = "{renamed}" }}'
    )


BANNED = "event name '***!' has a banned character"


def _assert_scrubbed_not_dropped(
    files: dict[str, str], summary: dict[str, Any]
) -> None:
    """The planted records are all in the files, with ``***`` for the passcode."""
    rejected = [json.loads(line) for line in files["rejected.jsonl"].splitlines()]
    launched = _rows_of("App Launched")
    assert {row["reason"] for row in rejected} >= {BANNED}
    assert sum(row["reason"] == BANNED for row in rejected) == launched
    assert all(
        json.loads(row["record"])["evtData"]["Note"] == "***" for row in rejected
    )
    assert summary["rejected_by_reason"][BANNED] == launched
    totals = summary["totals"]
    assert len(rejected) == totals["rejected"] + totals["rejected_preflight"]
    assert sum(summary["rejected_by_reason"].values()) == len(rejected)
    assert BANNED in html.unescape(files["report.html"])


def test_a_passcode_in_the_data_is_never_written_or_shown(
    tmp_path: Path,
    ctjobs_home: Path,
    credentials: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    job = events_job(
        tmp_path, name="report-planted", where=WHERE, extra_steps=_planted()
    )
    with SandboxProcess(
        account_id=ACCOUNT, passcode=PASSCODE, discarded_events=["Plan Renewed"]
    ) as sandbox:
        monkeypatch.setenv("CLEVERTAP_API_URL", sandbox.url)
        summary = ct.run_job(job)
        sent = sandbox.records()

    # The data did carry the passcode: the accepted records were sent with it.
    assert sent and all(record["evtData"]["Note"] == PASSCODE for record in sent)
    assert summary.total("rejected") == _rows_of("Plan Renewed")
    files = _run_files(ctjobs_home, summary)
    _assert_no_passcode(files, caplog)
    _assert_scrubbed_not_dropped(files, json.loads(files["summary.json"]))
    assert PASSCODE not in str(summary)  # what `ctjobs run` prints
    for as_json in (False, True):
        shown, _ = describe_run(summary.run_id, as_json=as_json)
        assert PASSCODE not in shown
        assert "***" in shown
    assert PASSCODE not in history_frame().write_json()


def _ctjobs(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own, with its logs on stderr."""
    return subprocess.run(
        [sys.executable, "-m", "ctjobs", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=180,
    )


def test_a_cli_run_refused_by_clevertap_leaks_the_passcode_nowhere(
    tmp_path: Path, ctjobs_home: Path, credentials: None
) -> None:
    # The passcode is also in the exports' folder, as in a URL with credentials in
    # it, and in the job's name; an empty export there gets its path logged.
    exports = tmp_path / f"exports-{PASSCODE}"
    exports.mkdir()
    for sample in (SAMPLES / "events/csv").glob("*.csv.gz"):
        shutil.copy(sample, exports / sample.name)
    (exports / "1709251200-1709337600-Empty-20240301-0-0.csv.gz").write_bytes(b"")
    job = events_job(
        tmp_path, name=f"planted-{PASSCODE}", where=WHERE, extra_steps=_planted()
    )
    text = job.read_text(encoding="utf-8")
    job.write_text(text.replace(f"{SAMPLES}/events/csv", str(exports)), "utf-8")
    with SandboxProcess(
        account_id=ACCOUNT,
        passcode="another-passcode",
        discarded_events=["Plan Renewed"],
    ) as sandbox:
        os.environ["CLEVERTAP_API_URL"] = sandbox.url  # undone by `ctjobs_home`
        done = _ctjobs("--verbose", "run", str(job))
        assert sandbox.stats()["auth_failures"] > 0

    assert done.returncode == 1, done.stderr
    assert "refused the credentials" in done.stderr
    assert f"exports-***{os.sep}" in done.stderr  # the empty file's warning
    (run_dir,) = (ctjobs_home / "runs").iterdir()
    files = {
        name: (run_dir / name).read_text(encoding="utf-8")
        for name in ("report.html", "summary.json", "rejected.jsonl")
    }
    summary = json.loads(files["summary.json"])
    assert summary["status"] == "failed"
    assert "refused the credentials" in summary["error"]
    assert summary["job"] == "planted-***"
    assert all("exports-***" in entry["path"] for entry in summary["files_read"])
    rejected = [json.loads(line) for line in files["rejected.jsonl"].splitlines()]
    assert sum(row["reason"] == BANNED for row in rejected) == _rows_of("App Launched")
    assert all(
        json.loads(row["record"])["evtData"]["Note"] == "***" for row in rejected
    )
    outputs = {
        "run stdout": done.stdout,
        "run stderr": done.stderr,
        **files,
        **{
            " ".join(command): _ctjobs(*command).stdout
            for command in (
                ("show", run_dir.name),
                ("show", run_dir.name, "--json"),
                ("history",),
                ("history", "--json"),
            )
        },
    }
    for name, output in outputs.items():
        assert PASSCODE not in output, name
    assert "planted-***" in outputs["history"]
    assert "exports-***" in outputs[f"show {run_dir.name}"]


# ------------------------------------------------------------ rendering alone


def _summary(**changes: object) -> RunSummary:
    summary = RunSummary(run_id="20240301T000000Z-abc123", job="sample", status="done")
    summary.rows_read, summary.rows_after_transforms = 1200, 1000
    summary.rows_filtered_out = 200
    summary.mappings = [MappingCounts("events", "event", rows_in=1000, built=1000)]
    for name, value in changes.items():
        setattr(summary, name, value)
    return summary


def _rejections(*rows: tuple[int | None, str, str]) -> pl.DataFrame:
    """A ledger-shaped rejections frame from (code, reason, record JSON) rows."""
    return pl.DataFrame(
        {
            "stage": ["preflight"] * len(rows),
            "_record_key": [f"key-{n}" for n in range(len(rows))],
            "_source_file": ["export.csv"] * len(rows),
            "_source_row": list(range(len(rows))),
            "type": ["event"] * len(rows),
            "code": [code for code, _, _ in rows],
            "reason": [reason for _, reason, _ in rows],
            "record": [record for _, _, record in rows],
            "resolved_by": [None] * len(rows),
        },
        schema_overrides={"code": pl.Int64, "_source_row": pl.Int64},
    )


@pytest.mark.parametrize(
    "secret",
    [
        PASSCODE,
        'pa&ss"word<7731>',  # changed by HTML escaping
        "back\\slash'quote",  # changed by JSON escaping, then HTML escaping
    ],
)
@pytest.mark.parametrize(
    "variable",
    [
        "CLEVERTAP_PASSCODE",
        "CTJOBS_SFTP_PASSWORD",
        "CTJOBS_WEBHOOK_SECRET",
        "CTJOBS_WEBHOOK_PASSWORD",
    ],
)
def test_secret_values_are_scrubbed_in_every_form(
    secret: str, variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, secret)
    record = json.dumps({"identity": secret, "evtName": "App Launched"})
    summary = _summary(error=f"refused with passcode {secret}", job=f"job {secret}")

    page = render_report(summary, _rejections((513, f"bad {secret}", record)))

    in_json = json.dumps(secret)[1:-1]
    for text in (secret, in_json):
        for form in (text, html.escape(text), str(markupsafe.escape(text))):
            assert form not in page
    assert secret not in html.unescape(page)
    assert "refused with passcode ***" in page


@pytest.mark.parametrize("form", ["table", "toml", "dotenv"])
def test_a_secrets_file_passcode_is_scrubbed(
    form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "file-pass&code<9>"  # changed by HTML escaping
    secrets = _secrets_file(tmp_path, form, secret)
    monkeypatch.setenv("CTJOBS_SECRETS_FILE", str(secrets))
    assert load_credentials().passcode.get_secret_value() == secret
    record = json.dumps({"identity": secret})
    summary = _summary(error=f"refused with passcode {secret}")

    page = render_report(summary, _rejections((513, f"bad {secret}", record)))

    for shown in (secret, html.escape(secret), str(markupsafe.escape(secret))):
        assert shown not in page
    assert secret not in html.unescape(page)
    assert "refused with passcode ***" in page
    assert scrub_secrets(f"x {secret} y") == "x *** y"


def test_scrubbing_keeps_every_count_and_row(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTJOBS_SFTP_PASSWORD", "s3cret")
    summary = _summary(
        rejected_by_reason={"event 's3cret'": 2, "event '***'": 3, "other": 1},
        files_read=[{"path": "sftp://u:s3cret@host/x.csv", "rows": 1200}],
    )
    frame = _rejections((None, "bad 's3cret'", json.dumps({"identity": "s3cret"})))

    assert scrub_summary(summary) is summary
    shown = scrub_frame(frame)

    assert summary.rejected_by_reason == {"event '***'": 5, "other": 1}
    assert summary.files_read == [{"path": "sftp://u:***@host/x.csv", "rows": 1200}]
    assert summary.rows_read == 1200 and summary.total("built") == 1000
    assert shown.height == frame.height and shown.schema == frame.schema
    assert shown.row(0, named=True)["reason"] == "bad '***'"
    assert json.loads(shown.row(0, named=True)["record"]) == {"identity": "***"}


@pytest.mark.parametrize("secret", ["rows", "y", "_in", "dry_run"])
def test_a_secret_that_is_part_of_a_field_name_leaves_the_summary_whole(
    monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setenv("CLEVERTAP_PASSCODE", secret)
    summary = _summary(rejected_by_reason={f"event '{secret}'": 2})
    before = summary.to_dict()

    scrub_summary(summary)

    after = summary.to_dict()
    assert after.keys() == before.keys()
    assert summary.rows_read == 1200 and summary.total("built") == 1000
    assert summary.rejected_by_reason == {"event '***'": 2}


def test_an_unreadable_secrets_file_does_not_stop_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CTJOBS_SECRETS_FILE", str(tmp_path / "missing.toml"))

    page = render_report(_summary(), _rejections())

    assert "No record was rejected." in page


def test_empty_secret_variables_scrub_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLEVERTAP_PASSCODE", "")

    page = render_report(_summary(), _rejections())

    assert "***" not in page
    assert "No record was rejected." in page


def test_markup_in_data_is_shown_as_text() -> None:
    hostile = "<script>alert(1)</script>"
    summary = _summary(job=hostile, rejected_by_reason={hostile: 1})

    page = render_report(summary, _rejections((None, hostile, json.dumps([hostile]))))

    assert "<script>" not in page
    assert str(markupsafe.escape(hostile)) in page


def test_examples_are_capped_and_records_cut_short(tmp_path: Path) -> None:
    record = json.dumps({"evtName": "App Launched", "evtData": {"x": "y" * 2000}})
    rows = [(513, "event 'App Launched' is a CleverTap system event", record)] * 5
    summary = _summary(rejected_by_reason={APP_LAUNCHED: 5})

    path = write_report(summary, _rejections(*rows), tmp_path / "r" / "report.html")

    page = path.read_text(encoding="utf-8")
    assert page.count("<pre>") == 3
    assert "y" * 500 not in page and "…</pre>" in page
    assert '<td class="n">5</td>' in page


def test_reasons_only_in_the_ledger_are_counted_from_it() -> None:
    rows = [(528, "event discarded: Plan Renewed", "{}")] * 2

    page = render_report(_summary(), _rejections(*rows))

    assert "528: event discarded" in page
    assert '<td class="n">2</td>' in page


@pytest.mark.parametrize(
    ("bars", "expected_rects"),
    [([], 0), ([("a", 1)], 1), ([("a", 0), ("b", 5), ("c", 2.5)], 3)],
)
def test_bar_chart_draws_one_bar_per_value(
    bars: list[tuple[str, float]], expected_rects: int
) -> None:
    chart = bar_chart(bars, title="t")

    assert chart.count("<rect") == expected_rects
    assert chart.startswith("<svg") and chart.endswith("</svg>")


def test_column_chart_draws_every_series_and_escapes_labels() -> None:
    chart = column_chart(
        ["<day 1>", "day 2"], {"accepted": [3, 4], "rejected & more": [1, 0]}, title="t"
    )

    assert chart.count("<rect") == 2 * 2 + 2  # the columns, then one legend swatch each
    assert "&lt;day 1&gt;" in chart and "rejected &amp; more" in chart
