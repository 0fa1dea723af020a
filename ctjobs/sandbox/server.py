"""Run the sandbox app under uvicorn and announce where it listens."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path

import uvicorn

from ctjobs.sandbox.app import create_app
from ctjobs.sandbox.config import SandboxConfig

logger = logging.getLogger(__name__)

READY_PREFIX = "SANDBOX READY "
# Seconds an in-flight upload gets to finish once the server is told to stop.
_GRACEFUL_SHUTDOWN_S = 2


def serve(
    config: SandboxConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ready_file: str | Path | None = None,
) -> None:
    """Serve the sandbox until interrupted (SIGINT or SIGTERM).

    Once listening it prints `SANDBOX READY http://<host>:<port>` on stdout and,
    when `ready_file` is given, writes the same URL there. Port 0 picks a free
    port; the line and the file carry the real one.
    """
    sock = _listening_socket(host, port)
    url = f"http://{_url_host(host)}:{sock.getsockname()[1]}"
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config, own_process=True),
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
        )
    )
    asyncio.run(_serve_until_stopped(server, sock, url, ready_file))


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # The explicit protocol matters: asyncio turns Nagle's algorithm off only on
    # sockets that say IPPROTO_TCP, and with it on every answer waits ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


async def _serve_until_stopped(
    server: uvicorn.Server,
    sock: socket.socket,
    url: str,
    ready_file: str | Path | None,
) -> None:
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    if server.started:
        _announce(url, ready_file)
    await serving


def _announce(url: str, ready_file: str | Path | None) -> None:
    print(f"{READY_PREFIX}{url}", flush=True)
    logger.info("sandbox listening on %s", url)
    if ready_file is not None:
        # Written whole then renamed, so a reader never sees half a URL.
        target = Path(ready_file)
        partial = target.with_name(target.name + ".partial")
        partial.write_text(url + "\n", encoding="utf-8")
        os.replace(partial, target)
