"""The ASGI app: authenticate, read a capped body, check it, land it, answer.

    POST / and POST /webhook   200 landed (or a duplicate of a landed payload)
                               400 not JSON / not CleverTap's shape (kept in _rejected)
                               401 missing or wrong credentials (nothing kept)
                               413 body over the limit (nothing kept)
                               500 the landing write failed (CleverTap retries)
    GET /health                200 with counters

A 200 is sent only after the delivery's rows are fsync'ed in the landing folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ctjobs.webhook.auth import Authenticator
from ctjobs.webhook.compact import compact_local
from ctjobs.webhook.config import WebhookConfig
from ctjobs.webhook.payload import PayloadRejected, parse_delivery
from ctjobs.webhook.rejected import keep_rejected
from ctjobs.webhook.writer import LandingWriter

logger = logging.getLogger(__name__)
ACCESS_LOGGER = "ctjobs.webhook.access"
access_logger = logging.getLogger(ACCESS_LOGGER)

ACCESS_KEY = "ctjobs.access"


def create_app(config: WebhookConfig) -> Starlette:
    """Build the webhook ASGI app for ``config``.

    Raises `ctjobs.errors.UsageError` when no credentials are configured and
    ``insecure_no_auth`` is not set. The landing folder is opened (and its torn
    tails repaired) when the app starts, through its lifespan.
    """
    config.require_auth()
    intake = _Intake(config)
    routes = [
        Route("/", intake.receive, methods=["POST"]),
        Route("/webhook", intake.receive, methods=["POST"]),
        Route("/health", intake.health, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes, lifespan=intake.lifespan, middleware=[Middleware(AccessLog)]
    )
    app.state.intake = intake
    return app


class _Intake:
    """The state behind the routes: writer, credentials, counters, compaction."""

    def __init__(self, config: WebhookConfig) -> None:
        self.config = config
        self.land = config.landing_dir()
        self.writer = LandingWriter(self.land, rotate_bytes=config.rotate_bytes)
        self.auth = Authenticator(config)
        self.counts: Counter[str] = Counter()
        self.started = time.monotonic()
        self.last_compaction: str | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Open the landing folder, compact periodically, drain writes at shutdown."""
        await asyncio.to_thread(self.writer.open)
        compactor = asyncio.create_task(self._compact_periodically())
        try:
            yield
        finally:
            compactor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await compactor
            await self.writer.close()

    async def receive(self, request: Request) -> Response:
        """Handle one webhook POST."""
        access = request.scope.setdefault(ACCESS_KEY, {})
        self.counts["requests"] += 1
        if not self.auth.allows(request.headers):
            return self._refuse(
                access, 401, "unauthorized", "missing or wrong credentials"
            )
        body = await _read_capped(request, self.config.max_body_bytes)
        if body is None:
            return self._refuse(access, 413, "too_large", "body over the size limit")
        access["bytes"] = len(body)
        return await self._land(request, body, access)

    async def _land(
        self, request: Request, body: bytes, access: dict[str, Any]
    ) -> Response:
        received_at = datetime.now(UTC)
        try:
            delivery = parse_delivery(body, received_at)
        except PayloadRejected as exc:
            await asyncio.to_thread(
                keep_rejected,
                self.land,
                body,
                str(exc),
                path=request.url.path,
                received_at=received_at,
            )
            return self._refuse(access, 400, "rejected", str(exc))
        access.update(payload_id=delivery.payload_id, profiles=len(delivery.rows))
        try:
            is_new = await self.writer.land(delivery)
        except OSError:
            return self._refuse(access, 500, "failed", "could not land; retry")
        self.counts["landed" if is_new else "duplicates"] += 1
        access["outcome"] = "landed" if is_new else "duplicate"
        return JSONResponse(
            {
                "status": "success",
                "payload_id": delivery.payload_id,
                "profiles": len(delivery.rows),
                "duplicate": not is_new,
            }
        )

    def _refuse(
        self, access: dict[str, Any], status: int, outcome: str, error: str
    ) -> Response:
        self.counts[outcome] += 1
        access["outcome"] = outcome
        headers = {}
        if status == 401 and self.config.basic_user is not None:
            headers["WWW-Authenticate"] = 'Basic realm="ctjobs webhook"'
        return JSONResponse({"status": "fail", "error": error}, status, headers)

    async def health(self, request: Request) -> Response:
        """Counters of this server since it started."""
        return JSONResponse(
            {
                "status": "ok",
                "uptime_s": round(time.monotonic() - self.started, 3),
                "requests": dict(self.counts),
                "writer": vars(self.writer.stats),
                "last_compaction": self.last_compaction,
            }
        )

    async def _compact_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.config.compact_interval_s)
            try:
                await self.writer.close_finished()
                rows = await asyncio.to_thread(self._compact)
            except Exception:
                logger.exception("compaction of %s failed; will try again", self.land)
                continue
            self.last_compaction = datetime.now(UTC).isoformat()
            self.counts["compacted_rows"] += rows

    def _compact(self) -> int:
        if not self.config.is_remote:
            return compact_local(self.land)
        from ctjobs.webhook.remote import compact_and_upload

        return compact_and_upload(self.config.land, self.land)


async def _read_capped(request: Request, limit: int) -> bytes | None:
    """The body, or None when it is over ``limit`` bytes; never buffers more."""
    declared = request.headers.get("content-length", "")
    # A sender told "too large" mid-upload often misses the answer, so a body up to
    # twice the limit is read to its end and thrown away; beyond that we stop reading.
    if declared.isdigit() and int(declared) > 2 * limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        else:
            chunks.clear()
            if size > 2 * limit:
                break
    return b"".join(chunks) if size <= limit else None


class AccessLog:
    """One JSON log line per request; never headers, so never a credential."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        record: dict[str, Any] = {"status": 500, "bytes": 0}
        scope[ACCESS_KEY] = record

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                record["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            entry = {"method": scope["method"], "path": scope["path"], **record}
            entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
            access_logger.info("%s", json.dumps(entry, sort_keys=True))
