"""A local server that behaves like CleverTap's Upload API, faults on demand.

    create_app(config)   the Starlette app (POST /1/upload and /_sandbox/*)
    serve(config, ...)   run it under uvicorn, announcing `SANDBOX READY <url>`
    SandboxProcess       run it in a child process, for tests
    SandboxConfig        credentials, limits and faults

The record checks in `validation` are written from CleverTap's documentation
alone, apart from the client-side checks in `ctjobs.records`, so that where the
two agree the agreement means something.

The names are imported on first use, so the command line does not load the web
stack for commands that never serve.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ctjobs.sandbox.app import create_app
    from ctjobs.sandbox.config import SandboxConfig
    from ctjobs.sandbox.process import SandboxProcess, SandboxStartError
    from ctjobs.sandbox.server import serve

_HOMES = {
    "SandboxConfig": "ctjobs.sandbox.config",
    "SandboxProcess": "ctjobs.sandbox.process",
    "SandboxStartError": "ctjobs.sandbox.process",
    "create_app": "ctjobs.sandbox.app",
    "serve": "ctjobs.sandbox.server",
}

__all__ = [
    "SandboxConfig",
    "SandboxProcess",
    "SandboxStartError",
    "create_app",
    "serve",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(home), name)
