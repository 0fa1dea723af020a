"""`ctjobs history` and `ctjobs show RUN_ID`: what they print about past runs.

Three runs of one job over the bundled samples, against the sandbox: a clean run
that records the job's schema, a dry run, and a run that keeps 'App Launched' (a
CleverTap system event, rejected before sending) and adds an over-long property
whose reason quotes a different byte count per record.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ctjobs.cli import app
from ctjobs.job.history import EXAMPLES_PER_REASON
from ctjobs.job.ledger import Ledger
from ctjobs.sandbox import SandboxProcess
from tests.conftest import SAMPLES
from tests.job.jobs import events_job

SYSTEM_EVENT = "513: event 'App Launched' is a CleverTap system event"
LONG_NOTE = "value of 'Note' is N bytes (max N)"
# A Note on every Charged event, 600 bytes plus the payment mode's length.
NOTE_STEP = r"""
[[transforms]]
step = "with_columns"
columns = { "eventProps.Note" = "CASE WHEN eventName = 'Charged' THEN RPAD('n', 600 + LENGTH(\"eventProps.Payment Mode\"), 'n') END" }
"""
HISTORY_LINE = re.compile(
    r"^(?P<run_id>\S+)\s+(?P<job>\S+)\s+(?P<mode>\S+)\s+(?P<status>\S+)\s+"
    r"read\s+(?P<rows_read>\d+)\s+sent\s+(?P<sent>\d+)\s+accepted\s+(?P<accepted>\d+)"
    r"\s+rejected\s+(?P<rejected>\d+)\s+pending\s+(?P<pending>\d+)$"
)


def ctjobs(*args: str, codes: tuple[int, ...] = (0,)) -> str:
    result = CliRunner().invoke(app, list(args), prog_name="ctjobs")
    assert result.exit_code in codes, (result.exit_code, result.output)
    return result.stdout


def run(job: Path, *options: str, code: int) -> dict[str, Any]:
    summary = json.loads(ctjobs("run", str(job), *options, "--json", codes=(code,)))
    assert summary["exit_code"] == code
    return summary


@pytest.fixture
def runs(
    tmp_path: Path, ctjobs_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, dict[str, Any]]]:
    """The clean run, the dry run and the run with rejections, oldest first."""
    with SandboxProcess() as server:
        monkeypatch.setenv("CLEVERTAP_API_URL", server.url)
        monkeypatch.setenv("CLEVERTAP_ACCOUNT_ID", server.account_id)
        monkeypatch.setenv("CLEVERTAP_PASSCODE", server.passcode)
        clean = run(
            events_job(tmp_path, name="shop", where="eventName = 'Charged'"), code=0
        )
        dry = run(
            events_job(
                tmp_path, name="shop", where="eventName IN ('Charged', 'Plan Renewed')"
            ),
            "--dry-run",
            "--out",
            str(tmp_path / "bodies"),
            code=0,
        )
        rejected = run(
            events_job(
                tmp_path,
                name="shop",
                where="eventName IN ('App Launched', 'Charged', 'Plan Renewed')",
                extra_steps=NOTE_STEP,
            ),
            code=3,
        )
    assert (ctjobs_home / "ledger.sqlite").is_file()
    yield {"clean": clean, "dry": dry, "rejected": rejected}


def test_history_lists_every_run_newest_first_with_counts_and_outcome(
    runs: dict[str, dict[str, Any]],
) -> None:
    lines = ctjobs("history").splitlines()

    rows = [HISTORY_LINE.match(line) for line in lines]
    assert all(rows), lines
    newest_first = [runs["rejected"], runs["dry"], runs["clean"]]
    assert [row["run_id"] for row in rows] == [s["run_id"] for s in newest_first]
    for row, summary in zip(rows, newest_first, strict=True):
        totals = summary["totals"]
        assert row["job"] == "shop"
        assert row["mode"] == ("dry-run" if summary["dry_run"] else "run")
        assert row["status"] == summary["status"] == "done"
        assert int(row["rows_read"]) == summary["rows_read"] > 0
        assert int(row["sent"]) == totals["sent"]
        assert int(row["accepted"]) == totals["accepted"]
        assert int(row["rejected"]) == totals["rejected"] + totals["rejected_preflight"]
        assert int(row["pending"]) == totals["pending"] == 0
    assert runs["clean"]["totals"]["accepted"] > 0
    assert runs["dry"]["totals"]["sent"] == 0
    assert runs["rejected"]["totals"]["rejected_preflight"] > 0

    listed = json.loads(ctjobs("history", "shop", "--json"))
    assert [r["dry_run"] for r in listed] == [False, True, False]
    assert (
        listed[0]["rejected_preflight"]
        == runs["rejected"]["totals"]["rejected_preflight"]
    )
    assert ctjobs("history", "another-job").strip() == (
        "no runs of job 'another-job' yet; jobs with runs: shop"
    )


def test_show_prints_counts_reasons_with_a_few_examples_schema_and_files(
    runs: dict[str, dict[str, Any]], ctjobs_home: Path
) -> None:
    summary = runs["rejected"]
    run_id = summary["run_id"]
    lines = ctjobs("show", run_id).splitlines()

    assert lines[0].startswith(f"run {run_id} of job 'shop': done in ")
    (counts,) = summary["mappings"]
    assert (
        f"  event events: built {counts['built']}, rejected before sending "
        f"{counts['rejected_preflight']}, already sent 0, unchanged 0, sent "
        f"{counts['sent']}, accepted {counts['accepted']}, rejected 0, pending 0"
    ) in lines
    assert counts["rejected_preflight"] > 0 and counts["accepted"] > 0

    # Rejections by reason, the most frequent first, counted by the reason's key.
    by_reason = summary["rejected_by_reason"]
    assert set(by_reason) == {SYSTEM_EVENT, LONG_NOTE}
    assert sum(by_reason.values()) == counts["rejected_preflight"]
    reason_lines = [line for line in lines if line.startswith("  rejected ")]
    assert len(reason_lines) == 2
    assert reason_lines[0].startswith(
        f"  rejected {by_reason[LONG_NOTE]:>6}  {LONG_NOTE}"
    )
    assert "(e.g. value of 'Note' is 6" in reason_lines[0]
    assert reason_lines[1] == f"  rejected {by_reason[SYSTEM_EVENT]:>6}  {SYSTEM_EVENT}"

    assert "  schema new_event: event 'Plan Renewed' is new (event)" in lines

    # A few examples per reason, not a few per distinct value the reason quotes.
    ledger = Ledger(ctjobs_home / "ledger.sqlite", job="")
    try:
        stored = ledger.rejections(run_id)
    finally:
        ledger.close()
    notes = stored.filter(stored["reason"].str.starts_with("value of 'Note'"))
    # Shown per distinct value, these would be more than a few.
    assert notes["reason"].n_unique() > EXAMPLES_PER_REASON
    start = lines.index("  examples of rejected records:") + 1
    examples = [line for line in lines[start:] if line.startswith("    ")]
    assert len(examples) == 2 * EXAMPLES_PER_REASON == 6
    note_examples, launch_examples = examples[:3], examples[3:]
    for line in note_examples:
        assert re.match(r"    value of 'Note' is 6\d\d bytes \(max 512\) at ", line)
        assert '"evtName":"Charged"' in line
    for line in launch_examples:
        assert line.startswith(
            "    [513] event 'App Launched' is a CleverTap system event at "
        )
        assert '"evtName":"App Launched"' in line
    for line in examples:
        assert f" at {SAMPLES}/events/csv/" in line
    rows = [int(re.search(r" row (\d+): ", line)[1]) for line in launch_examples]
    assert rows == sorted(rows)

    files = [line for line in lines if line.startswith("  read ")]
    assert len(files) == len(summary["files_read"]) > 0
    for entry in summary["files_read"]:
        assert f"  read {entry['rows']:>7} rows  {entry['path']}" in files
    assert sum(entry["rows"] for entry in summary["files_read"]) == summary["rows_read"]

    shown = json.loads(ctjobs("show", run_id, "--json"))
    assert shown["totals"] == summary["totals"]


def test_show_a_dry_run_has_no_rejections_to_show(
    runs: dict[str, dict[str, Any]],
) -> None:
    dry = runs["dry"]
    lines = ctjobs("show", dry["run_id"]).splitlines()

    assert lines[0].startswith(f"run {dry['run_id']} of job 'shop': done (dry run)")
    assert f"written {dry['totals']['written']}" in lines[2]
    assert f"  request bodies written: {dry['bodies']}" in lines
    assert not any(line.startswith("  rejected ") for line in lines)
    assert "  examples of rejected records:" not in lines


def test_show_an_unknown_run_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["show", "no-such-run"], prog_name="ctjobs")
    assert result.exit_code == 2
    assert "no run 'no-such-run'; `ctjobs history` lists the runs" in result.stderr
