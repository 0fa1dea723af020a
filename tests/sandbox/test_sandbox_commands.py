"""The sandbox's command lines and its in-process app."""

from __future__ import annotations

import asyncio

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
