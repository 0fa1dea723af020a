"""The command line: one Typer app behind ``ctjobs webhook`` and
``python -m ctjobs.webhook``, each log line written once."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest

from .intake import (
    MODULE_WEBHOOK,
    SECRET_ENV,
    SECRET_HEADERS,
    campaign,
    ctjobs_webhook,
    start_intake,
)

COMMANDS = {"ctjobs-webhook": None, "python-m": MODULE_WEBHOOK}


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_each_log_line_is_written_once(
    tmp_path: Path, command: Sequence[str] | None
) -> None:
    intake = start_intake(tmp_path / "land", SECRET_ENV, command=command)
    response = httpx.post(
        intake.url, json=campaign(1), headers=SECRET_HEADERS, timeout=10
    )
    assert intake.stop(signal.SIGTERM) == 0

    lines = intake.log.read_text().splitlines()
    listening = [line for line in lines if "webhook intake listening on" in line]
    assert len(listening) == 1, lines
    assert listening[0].endswith(f"webhook intake listening on {intake.url}")
    for known in ("Application startup complete", "Application shutdown complete"):
        assert sum(known in line for line in lines) == 1, lines
    payload_id = response.json()["payload_id"]
    access = [json.loads(line) for line in lines if line.startswith("{")]
    assert [e["payload_id"] for e in access if "payload_id" in e] == [payload_id]


def test_module_and_console_script_offer_the_same_commands() -> None:
    def help_of(command: Sequence[str]) -> str:
        done = subprocess.run(
            [*command, "serve", "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            env={"COLUMNS": "200", "TERM": "dumb", "NO_COLOR": "1"},
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    module, script = help_of(MODULE_WEBHOOK), help_of(ctjobs_webhook())
    for option in (
        "--land",
        "--port",
        "--host",
        "--max-body-bytes",
        "--compact-interval",
        "--ready-file",
        "--spool",
        "--insecure-no-auth",
    ):
        assert option in module and option in script
    assert module.split("\n", 2)[2] == script.split("\n", 2)[2]


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_missing_credentials_exit_2_with_one_line(
    tmp_path: Path, command: Sequence[str] | None
) -> None:
    done = subprocess.run(
        [*(command or ctjobs_webhook()), "serve", "--land", str(tmp_path / "land")],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2
    assert "--insecure-no-auth" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_second_server_on_a_taken_folder_exits_2_with_one_line(
    tmp_path: Path,
) -> None:
    land = tmp_path / "land"
    first = start_intake(land, SECRET_ENV)
    try:
        done = subprocess.run(
            [*ctjobs_webhook(), "serve", "--port", "0", "--land", str(land)],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", **SECRET_ENV},
        )
    finally:
        assert first.stop() == 0
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"ctjobs: error: another webhook server is landing into {land}; "
        "stop it or give this one another --land"
    )
