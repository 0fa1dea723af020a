"""The command line off a terminal: plain progress, --quiet, --verbose, --json, show.

Each test runs ``python -m ctjobs`` as a child process with stdout and stderr
piped, so neither is a terminal, exactly as under cron or CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEFAULT_JOB, ROOT

ANSI_ESCAPE = "\x1b["
PROGRESS = "ctjobs: progress at "


def _ctjobs(
    home: Path, *args: str | Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CTJOBS_HOME": str(home)}
    for name in ("CLEVERTAP_ACCOUNT_ID", "CLEVERTAP_PASSCODE", "CLEVERTAP_API_URL"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "ctjobs", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _dry_run(
    home: Path, out: Path, *options: str, json_summary: bool = False
) -> subprocess.CompletedProcess[str]:
    """A dry run of the main job; `options` are the options before the command."""
    as_json = ["--json"] if json_summary else []
    return _ctjobs(
        home, *options, "run", DEFAULT_JOB, "--dry-run", "--out", out, *as_json
    )


def _progress_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(PROGRESS)]


def test_off_a_terminal_progress_is_plain_lines_on_stderr(
    tmp_path: Path, ctjobs_home: Path
) -> None:
    done = _dry_run(ctjobs_home, tmp_path / "out")

    assert done.returncode == 0, done.stderr
    lines = _progress_lines(done.stderr)
    stages = " ".join(lines)
    for words in ("rows read", "records built", "records sent", "chunks done"):
        assert words in stages, done.stderr
    # Every stderr line is a progress line: no log noise at the default level.
    assert lines == done.stderr.splitlines()
    assert ANSI_ESCAPE not in done.stderr and "\r" not in done.stderr
    assert PROGRESS not in done.stdout and "(dry run)" in done.stdout


def test_quiet_prints_nothing_on_success(tmp_path: Path, ctjobs_home: Path) -> None:
    done = _dry_run(ctjobs_home, tmp_path / "out", "--quiet")

    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
    assert any((tmp_path / "out").rglob("*.json"))  # it did run


def test_quiet_still_prints_the_error(tmp_path: Path, ctjobs_home: Path) -> None:
    done = _ctjobs(ctjobs_home, "-q", "run", tmp_path / "missing.toml", "--dry-run")

    assert done.returncode != 0
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ctjobs: error:"), done.stderr


def test_verbose_adds_info_log_lines(tmp_path: Path, ctjobs_home: Path) -> None:
    done = _dry_run(ctjobs_home, tmp_path / "out", "--verbose")

    assert done.returncode == 0, done.stderr
    info = [line for line in done.stderr.splitlines() if " INFO ctjobs." in line]
    assert info, done.stderr
    assert _progress_lines(done.stderr)
    assert ANSI_ESCAPE not in done.stderr


def test_json_is_one_object_on_stdout(tmp_path: Path, ctjobs_home: Path) -> None:
    done = _dry_run(ctjobs_home, tmp_path / "out", "--verbose", json_summary=True)

    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().splitlines()) == 1
    summary = json.loads(done.stdout)
    assert summary["dry_run"] is True and summary["rows_read"] > 0
    assert not _progress_lines(done.stderr)


@pytest.fixture
def run_id(tmp_path: Path, ctjobs_home: Path) -> str:
    """A finished dry run in this test's ctjobs home."""
    done = _dry_run(ctjobs_home, tmp_path / "out", json_summary=True)
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["run_id"])


def test_show_html_prints_the_report_path(run_id: str, ctjobs_home: Path) -> None:
    done = _ctjobs(ctjobs_home, "show", run_id, "--html")

    assert done.returncode == 0, done.stderr
    report = Path(done.stdout.strip())
    assert report == ctjobs_home / "runs" / run_id / "report.html"
    assert report.is_file() and run_id in report.read_text(encoding="utf-8")


def test_show_html_fails_when_the_report_is_missing(
    run_id: str, ctjobs_home: Path
) -> None:
    (ctjobs_home / "runs" / run_id / "report.html").unlink()

    done = _ctjobs(ctjobs_home, "show", run_id, "--html")

    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("ctjobs: error:") and "no HTML report" in lines[0]
    # Without --html the run is still shown.
    assert _ctjobs(ctjobs_home, "show", run_id).returncode == 0
