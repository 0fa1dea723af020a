"""The progress callback: plain lines off a terminal, a bar with totals on one."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

import ctjobs as ct
from ctjobs.job.progress import LiveBar, PlainLines, Silent, cli_progress
from ctjobs.sandbox import SandboxProcess
from tests.job.jobs import events_job


class _Pipe(io.StringIO):
    """A stream that is not a terminal, like stderr under cron or CI."""

    def isatty(self) -> bool:
        return False


def test_off_a_terminal_every_stage_end_is_one_plain_line() -> None:
    stream = _Pipe()
    with cli_progress(stream=stream, every_s=60, min_gap_s=0) as progress:
        progress("read", 9501)
        progress("built", 300)
        progress("built", 3804)
        progress("sent", 0)
        progress("sent", 0)  # adds nothing to what is shown: not repeated
        progress("days", 1)

    lines = stream.getvalue().splitlines()
    assert [line.split(": ", 2)[2] for line in lines] == [
        "rows read 9,501",
        "records built 300",
        "records built 4,104",
        "records sent 0",
        "chunks done 1",
    ]
    assert all(line.startswith("ctjobs: progress at ") for line in lines)
    assert "\x1b" not in stream.getvalue()


def test_a_known_total_is_shown_with_its_share() -> None:
    stream = _Pipe()
    with cli_progress(stream=stream, every_s=60, min_gap_s=0) as progress:
        progress.set_total("read", 200)
        progress("read", 50)
        progress("read", 50, total=400)

    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("rows read 50 of 200 (25%)")
    assert lines[1].endswith("rows read 100 of 400 (25%)")


def test_batch_by_batch_ticks_are_thinned_to_a_line_now_and_then() -> None:
    stream = _Pipe()
    with cli_progress(stream=stream, every_s=60, min_gap_s=60) as progress:
        progress.set_total("sent", 5000)
        for _ in range(4):
            progress("sent", 1000)
        progress("rejected", 3)
        progress("rejected", 2)
        progress("sent", 1000)

    lines = [line.split(": ", 2)[2] for line in stream.getvalue().splitlines()]
    assert lines == [
        "records sent 1,000 of 5,000 (20%)",
        "records sent 4,000 of 5,000 (80%)",  # held back, written before the next
        "records rejected 3",
        "records rejected 5",
        "records sent 5,000 of 5,000 (100%)",
    ]


def test_a_long_stage_gets_heartbeat_lines() -> None:
    stream = _Pipe()
    with cli_progress(stream=stream, every_s=0.1) as progress:
        assert isinstance(progress, PlainLines)
        progress("read", 10)
        time.sleep(0.45)

    beats = [line for line in stream.getvalue().splitlines() if "still" in line]
    assert len(beats) >= 2
    assert beats[0].endswith("still working; rows read 10 so far")


def test_the_heartbeat_stops_with_the_run() -> None:
    stream = _Pipe()
    with cli_progress(stream=stream, every_s=0.05) as progress:
        progress("read", 1)
    written = stream.getvalue()
    time.sleep(0.2)

    assert stream.getvalue() == written


def test_quiet_prints_nothing_but_still_takes_totals() -> None:
    stream = _Pipe()
    with cli_progress(quiet=True, stream=stream) as progress:
        assert isinstance(progress, Silent)
        progress.set_total("read", 10)
        progress("read", 5)
        progress("built", 5, total=5)

    assert stream.getvalue() == ""


def test_on_a_terminal_a_stage_with_a_total_is_a_bar() -> None:
    stream = io.StringIO()
    with cli_progress(stream=stream, terminal=True) as progress:
        assert isinstance(progress, LiveBar)
        progress.set_total("read", 100)
        progress("read", 40)
        progress("built", 7)
        tasks = {task.description: task for task in progress.bar.tasks}

    read, built = tasks["rows read: 40"], tasks["records built: 7"]
    assert (read.total, read.completed) == (100, 40)
    assert (built.total, built.completed) == (None, 7)  # a spinner with a counter


def test_the_runner_drives_it_with_two_arguments(tmp_path: Path) -> None:
    stream = _Pipe()
    job = events_job(tmp_path, name="progress")

    with cli_progress(stream=stream, every_s=60) as progress:
        summary = ct.run_job(job, dry_run=True, out=tmp_path / "out", progress=progress)

    shown = stream.getvalue()
    assert f"rows read {summary.rows_read:,}" in shown
    assert f"records built {summary.total('built'):,}" in shown
    assert "chunks done 1" in shown


class _Recorded:
    """A progress display that also keeps every tick it is given."""

    def __init__(self, shown: LiveBar) -> None:
        self.shown = shown
        self.ticks: list[tuple[str, int]] = []

    def __call__(self, stage: str, count: int, total: int | None = None) -> None:
        self.ticks.append((stage, count))
        self.shown(stage, count, total)

    def set_total(self, stage: str, total: int | None) -> None:
        self.shown.set_total(stage, total)


def test_an_upload_fills_the_sent_bar_batch_by_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = events_job(tmp_path, name="progress-upload", max_records=500)
    with SandboxProcess(account_id="acct", passcode="pass-progress") as server:
        monkeypatch.setenv("CLEVERTAP_API_URL", server.url)
        monkeypatch.setenv("CLEVERTAP_ACCOUNT_ID", server.account_id)
        monkeypatch.setenv("CLEVERTAP_PASSCODE", server.passcode)
        with cli_progress(stream=io.StringIO(), terminal=True) as bar:
            assert isinstance(bar, LiveBar)
            progress = _Recorded(bar)
            summary = ct.run_job(job, progress=progress)
            tasks = {t.description.split(":")[0]: t for t in bar.bar.tasks}

    sent = tasks["records sent"]
    assert sent.total == sent.completed == summary.total("sent") > 500
    batches = [count for stage, count in progress.ticks if stage == "sent" and count]
    assert len(batches) == -(-summary.total("sent") // 500)  # one tick per batch
    assert max(batches) == 500
