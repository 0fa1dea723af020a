"""Start the webhook intake as a real process on loopback, and build payloads."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from ctjobs.webhook import scan_landing
from ctjobs.webhook.payload import parse_delivery

SECRET = "hunter2-header-secret"
USER = "clevertap"
PASSWORD = "pa55-basic-password"
SECRET_ENV = {"CTJOBS_WEBHOOK_SECRET": SECRET}
BASIC_ENV = {"CTJOBS_WEBHOOK_USER": USER, "CTJOBS_WEBHOOK_PASSWORD": PASSWORD}
SECRET_HEADERS = {"X-Webhook-Secret": SECRET}

_numbers = itertools.count(1)


@dataclass
class Intake:
    """A running intake process."""

    url: str
    land: Path
    process: subprocess.Popen[bytes]
    log: Path
    stdout: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Send ``sig`` and wait for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)

    def frame(self) -> pl.DataFrame:
        """Everything landed so far."""
        return scan_landing(self.land).collect()


def ctjobs_webhook() -> list[str]:
    """The real command line: the venv's ``ctjobs`` console script, ``webhook``."""
    script = Path(sys.executable).with_name("ctjobs")
    found = str(script) if script.exists() else shutil.which("ctjobs")
    if found is None:
        raise RuntimeError("the ctjobs console script is not installed")
    return [found, "webhook"]


#: ``python -m ctjobs.webhook``: the same Typer app without the ctjobs options.
MODULE_WEBHOOK = [sys.executable, "-m", "ctjobs.webhook"]


def start_intake(
    land: Path,
    env: dict[str, str],
    *args: str,
    timeout: float = 30,
    command: Sequence[str] | None = None,
) -> Intake:
    """Run ``ctjobs webhook serve`` and wait until it is listening.

    ``command`` replaces ``ctjobs webhook`` (e.g. `MODULE_WEBHOOK`).
    """
    number = next(_numbers)
    work = land.parent
    ready, log, stdout = (work / f"{name}-{number}" for name in ("ready", "log", "out"))
    process = subprocess.Popen(
        [
            *(ctjobs_webhook() if command is None else command),
            "serve",
            "--port",
            "0",
            "--land",
            str(land),
            "--ready-file",
            str(ready),
            *args,
        ],
        env=_clean_env() | env,
        stdout=stdout.open("wb"),
        stderr=log.open("wb"),
    )
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"intake did not start:\n{log.read_text()}")
        time.sleep(0.02)
    url = ready.read_text().strip()
    return Intake(url, land, process, log, stdout)


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CTJOBS_WEBHOOK")}


def campaign(
    profiles: int | None = 2, *, single: bool = False, **extra: Any
) -> dict[str, Any]:
    """A made-up campaign payload, unique on every call."""
    number = next(_numbers)
    people = [
        {
            "identity": f"cust-{number}-{i}",
            "objectId": f"__obj{number}{i}",
            "email": f"p{number}.{i}@example.org",
            "profileData": {"Tier": "Gold", "Visits": i},
            "event_properties": {"Amount": 10.5 * i},
            "push_token": f"fcm:{number}:{i}",
        }
        for i in range(profiles or 0)
    ]
    body: dict[str, Any] = {"targetId": 9000 + number, "key_values": {"run": number}}
    body["profiles"] = people[0] if single else people
    return body | extra


def payload_id_of(body: dict[str, Any]) -> str:
    """The id the intake gives ``body``: the same for every retry of it."""
    return parse_delivery(json.dumps(body).encode(), datetime.now(UTC)).payload_id
