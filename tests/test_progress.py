"""The progress callback: plain lines off a terminal, a bar with totals on one."""

from __future__ import annotations

import io
import time
from pathlib import Path

import ctjobs as ct
from ctjobs.job.progress import LiveBar, PlainLines, Silent, cli_progress
from tests.job.jobs import events_job


class _Pipe(io.StringIO):
    """A stream that is not a terminal, like stderr under cron or CI."""

    def isatty(self) -> bool:
        return False


def test_off_a_terminal_every_stage_end_is_one_plain_line() -> None:
    stream = _Pipe()
    with cli_progress(stream=stream, every_s=60) as progress:
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
    with cli_progress(stream=stream, every_s=60) as progress:
        progress.set_total("read", 200)
        progress("read", 50)
        progress("read", 50, total=400)

    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("rows read 50 of 200 (25%)")
    assert lines[1].endswith("rows read 100 of 400 (25%)")


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
