"""A sandbox in a child process, for tests and scripts that need a real endpoint."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from ctjobs.errors import CtjobsError
from ctjobs.sandbox.config import SandboxConfig
from ctjobs.sandbox.server import READY_PREFIX

_STARTUP_TIMEOUT_S = 20.0
_STOP_TIMEOUT_S = 10.0


class SandboxStartError(CtjobsError):
    """The sandbox process exited or stayed silent instead of starting to listen."""


class SandboxProcess:
    """`python -m ctjobs.sandbox` running in a child process until stopped.

    Keyword arguments are SandboxConfig fields; credentials default to
    sandbox-account / sandbox-passcode. Use it as a context manager:

        with SandboxProcess(latency_ms=50) as sandbox:
            httpx.post(f"{sandbox.url}/1/upload", ...)
            assert sandbox.stats()["records_accepted"] == 1
    """

    def __init__(
        self,
        *,
        account_id: str = "sandbox-account",
        passcode: str = "sandbox-passcode",
        startup_timeout: float = _STARTUP_TIMEOUT_S,
        **settings: Any,
    ) -> None:
        self.config = SandboxConfig(
            account_id=account_id, passcode=passcode, **settings
        )
        self.startup_timeout = startup_timeout
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._client: httpx.Client | None = None

    @property
    def account_id(self) -> str:
        """The account ID the sandbox accepts."""
        return self.config.account_id

    @property
    def passcode(self) -> str:
        """The passcode the sandbox accepts."""
        return self.config.passcode

    @property
    def headers(self) -> dict[str, str]:
        """Upload headers carrying the sandbox's credentials."""
        return {
            "X-CleverTap-Account-Id": self.account_id,
            "X-CleverTap-Passcode": self.passcode,
        }

    def start(self) -> SandboxProcess:
        """Start the child process and wait until it listens."""
        self._workdir = Path(tempfile.mkdtemp(prefix="ctjobs-sandbox-"))
        # Settings travel in a private file, keeping the passcode out of `ps`.
        config_file = self._workdir / "config.json"
        config_file.write_text(json.dumps(self.config.model_dump()), encoding="utf-8")
        log_file = self._workdir / "sandbox.log"
        command = [
            sys.executable, "-m", "ctjobs.sandbox", "--port", "0",
            "--config", str(config_file),
        ]  # fmt: skip
        with log_file.open("wb") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT
            )
        self.url = self._wait_for_ready(log_file)
        self._client = httpx.Client(base_url=self.url, timeout=30)
        return self

    def _wait_for_ready(self, log_file: Path) -> str:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            for line in log_file.read_text(errors="replace").splitlines():
                if line.startswith(READY_PREFIX):
                    return line.removeprefix(READY_PREFIX).strip()
            if self._process.poll() is not None:
                break
            time.sleep(0.05)

        output = log_file.read_text(errors="replace")[-2000:]
        self.stop()
        raise SandboxStartError(
            f"the sandbox did not report '{READY_PREFIX.strip()}' within "
            f"{self.startup_timeout:.0f} s; its output ends with:\n{output}"
        )

    def stop(self) -> None:
        """Terminate the child process, wait for it, and remove its files."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _control(self) -> httpx.Client:
        if self._client is None:
            raise SandboxStartError("the sandbox is not running; call start() first")
        return self._client

    def records(self) -> list[Any]:
        """Every record the sandbox stored, in arrival order."""
        response = self._control().get("/_sandbox/records")
        response.raise_for_status()
        return [json.loads(line) for line in response.text.splitlines() if line]

    def stats(self) -> dict[str, int]:
        """The sandbox's counters (see SandboxStats)."""
        response = self._control().get("/_sandbox/stats")
        response.raise_for_status()
        counters: dict[str, int] = response.json()
        return counters

    def reset(self) -> None:
        """Forget stored records and zero the counters."""
        self._control().post("/_sandbox/reset").raise_for_status()

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change settings of the running sandbox, e.g. `configure(error_rate=1)`."""
        response = self._control().post("/_sandbox/config", json=settings)
        response.raise_for_status()
        self.config = self.config.model_copy(update=settings)
        view: dict[str, Any] = response.json()
        return view
