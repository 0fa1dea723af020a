"""The webhook intake: receive CleverTap webhook campaigns and land them as a source.

    create_app(config)      the ASGI app (starlette)
    serve(config, ...)      run it with uvicorn until SIGTERM/SIGINT
    compact(land)           closed JSON-lines landing files -> Parquet
    scan_landing(path)      the landing folder as one LazyFrame, with provenance

The stages follow the request: auth -> payload (shape, rows) -> writer (group
commit to the landing folder, payload index) -> compact -> scan. The names are
imported on first use, so the command line does not load the web stack for
commands that never serve.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

# Bound now: `compact` is also the name of its module, which would otherwise
# shadow the function once imported.
from ctjobs.webhook.compact import compact

if TYPE_CHECKING:
    from ctjobs.webhook.app import create_app
    from ctjobs.webhook.config import WebhookConfig
    from ctjobs.webhook.landing import LANDING_SCHEMA
    from ctjobs.webhook.scan import scan_landed_profiles, scan_landing
    from ctjobs.webhook.server import serve

_HOMES = {
    "LANDING_SCHEMA": "ctjobs.webhook.landing",
    "WebhookConfig": "ctjobs.webhook.config",
    "create_app": "ctjobs.webhook.app",
    "scan_landed_profiles": "ctjobs.webhook.scan",
    "scan_landing": "ctjobs.webhook.scan",
    "serve": "ctjobs.webhook.server",
}

__all__ = [
    "LANDING_SCHEMA",
    "WebhookConfig",
    "compact",
    "create_app",
    "scan_landed_profiles",
    "scan_landing",
    "serve",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(home), name)
