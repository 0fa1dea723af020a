"""The webhook intake: receive CleverTap webhook campaigns and land them as a source.

    create_app(config)      the ASGI app (starlette)
    serve(config, ...)      run it with uvicorn until SIGTERM/SIGINT
    compact(land)           closed JSON-lines landing files -> Parquet
    scan_landing(path)      the landing folder as one LazyFrame, with provenance

The stages follow the request: auth -> payload (shape, rows) -> writer (group
commit to the landing folder, payload index) -> compact -> scan.
"""

from __future__ import annotations

from ctjobs.webhook.app import create_app
from ctjobs.webhook.compact import compact
from ctjobs.webhook.config import WebhookConfig
from ctjobs.webhook.landing import LANDING_SCHEMA
from ctjobs.webhook.scan import scan_landed_profiles, scan_landing
from ctjobs.webhook.server import serve

__all__ = [
    "LANDING_SCHEMA",
    "WebhookConfig",
    "compact",
    "create_app",
    "scan_landed_profiles",
    "scan_landing",
    "serve",
]
