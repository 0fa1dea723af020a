"""The sandbox's command lines and its in-process app."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from ctjobs.sandbox import SandboxConfig, create_app
from ctjobs.sandbox.__main__ import _parser, config_from_arguments
from ctjobs.sandbox.app import ConnectionDropped
from ctjobs.sandbox.cli import sandbox_command


def test_module_flags_build_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLEVERTAP_PASSCODE", "from-env")
    flags = [
        "--port", "0", "--account-id", "A1", "--latency-ms", "250",
        "--max-in-flight", "4", "--error-rate", "0.1", "--legacy-shape",
    ]  # fmt: skip
    arguments = _parser().parse_args(flags)

    config = config_from_arguments(arguments)

    assert (config.account_id, config.passcode) == ("A1", "from-env")
    assert (config.latency_ms, config.max_in_flight) == (250, 4)
    assert (config.error_rate, config.legacy_shape, config.record_as_string) == (
        0.1,
        True,
        False,
    )


def test_command_help_lists_options_and_hides_passcode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLEVERTAP_PASSCODE", "very-secret-value")
    app = typer.Typer()
    app.command("sandbox")(sandbox_command)

    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})

    assert result.exit_code == 0
    for option in ("--port", "--latency-ms", "--max-in-flight", "--legacy-shape"):
        assert option in result.output
    assert "very-secret-value" not in result.output


FAULT_FLAGS = [
    "--account-id", "A1", "--passcode", "P1", "--latency-ms", "5",
    "--max-in-flight", "3", "--error-rate", "1", "--drop-rate", "0",
    "--slow-rate", "0.25", "--slow-ms", "40", "--retry-after", "7", "--seed", "3",
]  # fmt: skip


def _wait_for_url(process: subprocess.Popen[bytes], ready_file: Path) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if ready_file.exists():
            return ready_file.read_text(encoding="utf-8").strip()
        assert process.poll() is None, "the sandbox exited before listening"
        time.sleep(0.05)
    raise AssertionError("the sandbox did not write its ready file within 30 s")


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(["-m", "ctjobs", "sandbox"], id="ctjobs sandbox"),
        pytest.param(["-m", "ctjobs.sandbox"], id="python -m ctjobs.sandbox"),
    ],
)
def test_fault_flags_reach_the_running_sandbox(
    tmp_path: Path, entry: list[str]
) -> None:
    ready_file = tmp_path / "url"
    command = [sys.executable, *entry, "--port", "0", *FAULT_FLAGS]
    command += ["--ready-file", str(ready_file)]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = _wait_for_url(process, ready_file)
        headers = {"X-CleverTap-Account-Id": "A1", "X-CleverTap-Passcode": "P1"}
        with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
            config = client.get("/_sandbox/config").json()
            # Every upload fails (--error-rate 1): only 503s carry Retry-After.
            answers = [client.post("/1/upload", json={"d": []}) for _ in range(12)]
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert config["account_id"] == "A1"
    assert config["passcode"] == "***"
    assert (config["latency_ms"], config["max_in_flight"]) == (5, 3)
    assert (config["error_rate"], config["drop_rate"]) == (1, 0)
    assert (config["slow_rate"], config["slow_ms"]) == (0.25, 40)
    assert (config["retry_after"], config["seed"]) == (7, 3)
    retry_after = {a.status_code: a.headers.get("Retry-After") for a in answers}
    assert retry_after == {500: None, 503: "7"}


def test_module_fault_flags_default_to_no_fault() -> None:
    arguments = _parser().parse_args(["--account-id", "A1", "--passcode", "P1"])

    config = config_from_arguments(arguments)

    assert (config.slow_rate, config.slow_ms, config.retry_after) == (0, 0, None)


def test_command_help_lists_the_fault_options() -> None:
    app = typer.Typer()
    app.command("sandbox")(sandbox_command)

    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})

    assert result.exit_code == 0
    for option in (
        "--error-rate", "--drop-rate", "--slow-rate", "--slow-ms", "--retry-after",
    ):  # fmt: skip
        assert option in result.output
    module_help = _parser().format_help()
    for option in ("--slow-rate", "--slow-ms", "--retry-after"):
        assert option in module_help


def test_config_repr_hides_passcode() -> None:
    config = SandboxConfig(account_id="A1", passcode="very-secret-value")

    assert "very-secret-value" not in repr(config)


async def _in_process_upload(config: SandboxConfig) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(config))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:
        return await c.post(
            "/1/upload",
            json={"d": [{"type": "event", "identity": "a", "evtName": "Viewed"}]},
            headers={"X-CleverTap-Account-Id": "A1", "X-CleverTap-Passcode": "P1"},
        )


def test_app_works_in_process() -> None:
    response = asyncio.run(
        _in_process_upload(SandboxConfig(account_id="A1", passcode="P1"))
    )

    assert response.status_code == 200
    assert response.json()["unprocessed"][0]["code"] == 512


def test_drop_in_process_raises() -> None:
    config = SandboxConfig(account_id="A1", passcode="P1", drop_rate=1)

    with pytest.raises(ConnectionDropped):
        asyncio.run(_in_process_upload(config))
