"""A local server that behaves like CleverTap's Upload API, faults on demand.

    create_app(config)   the Starlette app (POST /1/upload and /_sandbox/*)
    serve(config, ...)   run it under uvicorn, announcing `SANDBOX READY <url>`
    SandboxProcess       run it in a child process, for tests
    SandboxConfig        credentials, limits and faults

The record checks in `validation` are written from CleverTap's documentation
alone, apart from the client-side checks in `ctjobs.records`, so that where the
two agree the agreement means something.
"""

from __future__ import annotations

from ctjobs.sandbox.app import create_app
from ctjobs.sandbox.config import SandboxConfig
from ctjobs.sandbox.process import SandboxProcess, SandboxStartError
from ctjobs.sandbox.server import serve

__all__ = [
    "SandboxConfig",
    "SandboxProcess",
    "SandboxStartError",
    "create_app",
    "serve",
]
