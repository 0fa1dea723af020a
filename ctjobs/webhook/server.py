"""Running the intake: uvicorn on a socket we bind, a READY line, a clean shutdown.

uvicorn handles SIGTERM and SIGINT: it stops accepting, lets in-flight requests
finish (each waits for its batch to be fsync'ed), then runs the app's shutdown,
which drains the landing writer before the process exits. A stop asked for by a
signal that ends in that clean shutdown returns normally (exit code 0): uvicorn
re-raises the signal once it is done, and `serve` answers it instead of dying of it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import uvicorn

from ctjobs.webhook.app import ACCESS_LOGGER, create_app
from ctjobs.webhook.config import WebhookConfig

READY_PREFIX = "WEBHOOK READY"
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def serve(
    config: WebhookConfig,
    host: str = "127.0.0.1",
    port: int = 0,
    ready_file: str | os.PathLike[str] | None = None,
) -> None:
    """Serve the webhook intake until SIGTERM or SIGINT; blocks.

    ``port=0`` picks a free port. Once listening, prints
    ``WEBHOOK READY http://<host>:<port>`` to stdout and, if ``ready_file`` is given,
    writes that URL to it.
    """
    app = create_app(config)
    # Checked before uvicorn starts, so a taken folder is one clear line, not a
    # failed application start-up.
    app.state.intake.writer.check_free()
    listener = _bind(host, port)
    uvicorn_config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=30,
    )
    server = uvicorn.Server(uvicorn_config)
    with _stop_on_signals(server):
        asyncio.run(_run(server, listener, ready_file))
    if not server.started:
        sys.exit(3)  # the app failed to start; uvicorn has logged why


async def _run(
    server: uvicorn.Server,
    listener: socket.socket,
    ready_file: str | os.PathLike[str] | None,
) -> None:
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    if server.started:
        _announce(listener, ready_file)
    await serving


@contextmanager
def _stop_on_signals(server: uvicorn.Server) -> Iterator[None]:
    """Make SIGTERM and SIGINT ask ``server`` to stop, before and after uvicorn.

    uvicorn puts its own handlers in place only while it serves, restores these
    afterwards and then raises each signal it caught again. With these handlers,
    that second delivery is a no-op rather than death by signal (or a
    KeyboardInterrupt), and a signal that arrives before uvicorn listens still
    stops it once it has started. Off the main thread, signals are left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # The explicit protocol matters: asyncio turns off Nagle only on accepted
    # sockets that say IPPROTO_TCP, and with Nagle on, each keep-alive answer
    # waits ~40 ms for the client's delayed ACK.
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.set_inheritable(True)
    return listener


def _announce(
    listener: socket.socket, ready_file: str | os.PathLike[str] | None
) -> None:
    host, port = listener.getsockname()[:2]
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    if ready_file is not None:
        target = Path(ready_file)
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_text(url + "\n")
        temporary.replace(target)
    print(f"{READY_PREFIX} {url}", flush=True)
    logging.getLogger(__name__).info("webhook intake listening on %s", url)


def configure_logging(level: int = logging.INFO) -> None:
    """Send logs to stderr, each line once; access lines are bare JSON, one per request.

    When the root logger already has a handler (the ``ctjobs`` console script's
    `logging.basicConfig`), that handler is used and none is added, so no line is
    written twice; the root level is only ever lowered to ``level``, never raised,
    so ``ctjobs --debug webhook serve`` keeps its debug lines. Calling this again
    adds nothing.
    """
    root = logging.getLogger()
    if root.handlers:
        root.setLevel(min(root.level, level))
    else:
        plain = logging.StreamHandler(sys.stderr)
        plain.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        root.addHandler(plain)
        root.setLevel(level)
    access_logger = logging.getLogger(ACCESS_LOGGER)
    access_logger.propagate = False
    if not access_logger.handlers:
        access = logging.StreamHandler(sys.stderr)
        access.setFormatter(logging.Formatter("%(message)s"))
        access_logger.addHandler(access)
