"""The sandbox's HTTP face: CleverTap's upload endpoint and the `/_sandbox` controls.

    POST /1/upload[?dryRun=1]   CleverTap's Upload API, checked from the docs
    GET  /_sandbox/health       200 when up
    GET  /_sandbox/records      stored records as JSON lines
    GET  /_sandbox/stats        counters (see SandboxStats)
    GET  /_sandbox/config       current settings, passcode masked
    POST /_sandbox/config       change settings, e.g. {"error_rate": 0.2}
    POST /_sandbox/reset        forget records and counters

The control endpoints need no credentials: the sandbox is for local tests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ctjobs.sandbox import codec
from ctjobs.sandbox.answers import failure_body, upload_body
from ctjobs.sandbox.config import SandboxConfig
from ctjobs.sandbox.faults import Fault
from ctjobs.sandbox.state import ConfigChangeError, SandboxState
from ctjobs.sandbox.validation import (
    BatchVerdict,
    MalformedBatch,
    check_batch,
    parse_batch,
)

logger = logging.getLogger(__name__)

_RAW_SEND = "ctjobs.sandbox.raw_send"
_ACCOUNT_HEADER = "X-CleverTap-Account-Id"
_PASSCODE_HEADER = "X-CleverTap-Passcode"
_FAULT_ANSWERS = {
    Fault.SERVER_ERROR: (500, "Internal server error"),
    Fault.UNAVAILABLE: (503, "Service unavailable, retry later"),
}


class ConnectionDropped(ConnectionError):
    """Raised in place of a dropped connection where the server gives no socket."""


class SandboxApp(Starlette):
    """A Starlette app that keeps the server's own `send`, to drop connections."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Starlette's middleware wraps `send`; the server's original is the only
        # way back to the socket when a fault asks for the connection to vanish.
        scope[_RAW_SEND] = send
        await super().__call__(scope, receive, send)


def create_app(config: SandboxConfig, *, own_process: bool = False) -> Starlette:
    """A Starlette app that behaves like CleverTap's Upload API under `config`.

    `own_process` says the app is alone in its Python process (as under `serve`),
    which lets it tune the garbage collector for a large store (see RecordStore).
    """
    app = SandboxApp(
        routes=[
            Route("/1/upload", upload, methods=["POST"]),
            Route("/_sandbox/health", health, methods=["GET"]),
            Route("/_sandbox/records", records, methods=["GET"]),
            Route("/_sandbox/stats", stats, methods=["GET"]),
            Route("/_sandbox/config", show_config, methods=["GET"]),
            Route("/_sandbox/config", change_config, methods=["POST"]),
            Route("/_sandbox/reset", reset, methods=["POST"]),
        ]
    )
    app.state.sandbox = SandboxState(config, own_process=own_process)
    return app


def json_response(
    body: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A JSON response serialised with the sandbox's codec."""
    return Response(
        codec.dumps(body), status_code, headers, media_type="application/json"
    )


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


def _refusal(code: int, error: str, retry_after: int | None = None) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return json_response(failure_body(code, error), code, headers)


def _credential_problem(request: Request, config: SandboxConfig) -> str | None:
    # Messages name the header, never the value that was sent.
    if request.headers.get(_ACCOUNT_HEADER) != config.account_id:
        return "Account ID is not valid"
    if request.headers.get(_PASSCODE_HEADER) != config.passcode:
        return "Passcode is not valid"
    return None


async def upload(request: Request) -> Response:
    """POST /1/upload: authenticate, admit, inject faults, check and store records."""
    state = _state(request)
    state.stats.requests += 1
    problem = _credential_problem(request, state.config)
    if problem is not None:
        state.stats.auth_failures += 1
        return _refusal(401, problem)

    if not state.stats.try_admit(state.config.max_in_flight):
        return _refusal(429, "Too many concurrent requests", state.config.retry_after)
    try:
        return await _admitted_upload(request, state)
    finally:
        state.stats.release()


async def _admitted_upload(request: Request, state: SandboxState) -> Response:
    # Latency is the least time an upload takes from arrival to answer, so the
    # sandbox's own parsing and checking happen inside it, as they would at
    # CleverTap, instead of adding to it.
    draw = state.dice.draw(state.config)
    delay_s = (state.config.latency_ms + draw.extra_delay_ms) / 1000
    deadline = time.monotonic() + delay_s
    body = await request.body()
    if draw.fault is not Fault.NONE:
        await _wait_until(deadline)
        return await _fault_answer(request, state, draw.fault)

    try:
        batch = parse_batch(body, max_records=state.config.max_records)
    except MalformedBatch as error:
        await _wait_until(deadline)
        state.stats.malformed += 1
        return _refusal(400, str(error))
    verdict = check_batch(batch, state.rules)
    await _wait_until(deadline)
    return _answer_batch(request, state, batch, verdict)


async def _fault_answer(
    request: Request, state: SandboxState, fault: Fault
) -> Response:
    state.stats.faults += 1
    if fault is Fault.DROP:
        await _drop_connection(request)
        return Response(status_code=500)  # discarded: the connection is gone

    code, error = _FAULT_ANSWERS[fault]
    return _refusal(code, error, state.config.retry_after if code == 503 else None)


async def _wait_until(deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining > 0:
        await asyncio.sleep(remaining)


def _answer_batch(
    request: Request, state: SandboxState, batch: list[Any], verdict: BatchVerdict
) -> Response:
    dry_run = request.query_params.get("dryRun", "0").lower() in ("1", "true")

    state.stats.uploads += 1
    if dry_run:
        state.stats.dry_runs += 1
    else:
        state.store.extend(verdict.accepted)
        state.stats.records_received += len(batch)
        state.stats.records_accepted += len(verdict.accepted)
        state.stats.records_rejected += len(verdict.rejected)
    logger.info(
        "upload%s: %d records, %d accepted, %d rejected",
        " (dry run)" if dry_run else "",
        len(batch),
        len(verdict.accepted),
        len(verdict.rejected),
    )

    config = state.config
    return json_response(
        upload_body(
            verdict,
            record_as_string=config.record_as_string,
            legacy_shape=config.legacy_shape,
        )
    )


async def _drop_connection(request: Request) -> None:
    """Close the client's connection without an answer.

    Uvicorn's `send` is a method of the request cycle that owns the socket's
    transport; closing it is what a crashed or overloaded server looks like to
    the client. Without such a transport (an in-process test client) the
    request fails with ConnectionDropped instead.
    """
    raw_send = request.scope.get(_RAW_SEND)
    transport = getattr(getattr(raw_send, "__self__", None), "transport", None)
    if transport is None:
        raise ConnectionDropped("the sandbox dropped this request's connection")
    transport.close()
    # One turn of the loop lets the server mark the cycle disconnected, so the
    # response returned afterwards is discarded instead of written.
    await asyncio.sleep(0)


async def health(request: Request) -> Response:
    """GET /_sandbox/health: 200 while the sandbox runs."""
    return json_response({"status": "ok"})


async def records(request: Request) -> Response:
    """GET /_sandbox/records: every stored record, one JSON line each."""
    lines = _state(request).store.json_lines()
    return PlainTextResponse(lines, media_type="application/x-ndjson")


async def stats(request: Request) -> Response:
    """GET /_sandbox/stats: the counters by name."""
    return json_response(_state(request).stats.as_dict())


async def show_config(request: Request) -> Response:
    """GET /_sandbox/config: the current settings, passcode masked."""
    return json_response(_state(request).config.public_view())


async def change_config(request: Request) -> Response:
    """POST /_sandbox/config: change settings from a JSON object, answer the result."""
    state = _state(request)
    try:
        changes = codec.loads(await request.body())
        if not isinstance(changes, dict):
            raise ConfigChangeError("the body must be a JSON object of settings")
        state.reconfigure(changes)
    except ValidationError as error:
        # Listed without the input values, which may include a passcode.
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()
        )
        return _refusal(400, f"Invalid sandbox settings: {problems}")
    except ValueError as error:
        return _refusal(400, f"Invalid sandbox settings: {error}")
    logger.info("settings changed: %s", ", ".join(sorted(changes)))
    return json_response(state.config.public_view())


async def reset(request: Request) -> Response:
    """POST /_sandbox/reset: forget stored records and zero the counters."""
    _state(request).reset()
    return json_response({"status": "ok"})
