"""The `ctjobs sandbox` command: a thin shell over `serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ctjobs.sandbox.config import SandboxConfig


def sandbox_command(
    port: Annotated[
        int, typer.Option(help="Port to listen on; 0 picks a free one.")
    ] = 8765,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    account_id: Annotated[
        str,
        typer.Option(
            envvar="CLEVERTAP_ACCOUNT_ID", help="Account ID the sandbox accepts."
        ),
    ] = "sandbox-account",
    passcode: Annotated[
        str,
        typer.Option(
            envvar="CLEVERTAP_PASSCODE",
            show_default=False,
            help="Passcode the sandbox accepts (default: sandbox-passcode).",
        ),
    ] = "sandbox-passcode",
    latency_ms: Annotated[
        int, typer.Option(help="Delay added to every upload, in milliseconds.")
    ] = 0,
    max_in_flight: Annotated[
        int, typer.Option(help="Uploads processed at once; one more gets HTTP 429.")
    ] = 15,
    error_rate: Annotated[
        float, typer.Option(help="Share of uploads answered 500 or 503 (0 to 1).")
    ] = 0.0,
    drop_rate: Annotated[
        float, typer.Option(help="Share of uploads whose connection is dropped.")
    ] = 0.0,
    slow_rate: Annotated[
        float,
        typer.Option(help="Share of uploads answered slowly, --slow-ms late (0 to 1)."),
    ] = 0.0,
    slow_ms: Annotated[
        int, typer.Option(help="Extra delay of a slow upload, in milliseconds.")
    ] = 0,
    retry_after: Annotated[
        int | None,
        typer.Option(
            show_default=False,
            help="Seconds sent as Retry-After on 429 and 503 answers (default: none).",
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed for the fault dice, to repeat a run.")
    ] = None,
    record_as_string: Annotated[
        bool, typer.Option(help="Echo rejected records as JSON text, not objects.")
    ] = False,
    legacy_shape: Annotated[
        bool, typer.Option(help="Answer rejections in the old {record: message} shape.")
    ] = False,
    store: Annotated[
        Path | None, typer.Option(help="JSONL file keeping accepted records.")
    ] = None,
    ready_file: Annotated[
        Path | None, typer.Option(help="File to write the URL to once listening.")
    ] = None,
) -> None:
    """Run a local server that behaves like CleverTap's Upload API.

    It answers POST /1/upload as CleverTap does: 401 for wrong credentials, 400
    for a malformed body or more than 1000 records, 429 past --max-in-flight
    concurrent uploads, and per-record codes (509 to 528) in `unprocessed`.
    Accepted records are kept; read them at /_sandbox/records, counters at
    /_sandbox/stats, and change faults at runtime with POST /_sandbox/config.
    Stop it with Ctrl-C.
    """
    config = SandboxConfig(
        account_id=account_id,
        passcode=passcode,
        latency_ms=latency_ms,
        max_in_flight=max_in_flight,
        error_rate=error_rate,
        drop_rate=drop_rate,
        slow_rate=slow_rate,
        slow_ms=slow_ms,
        retry_after=retry_after,
        seed=seed,
        record_as_string=record_as_string,
        legacy_shape=legacy_shape,
        store_path=str(store) if store is not None else None,
    )
    from ctjobs.sandbox.server import serve

    serve(config, host=host, port=port, ready_file=ready_file)
