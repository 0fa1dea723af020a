"""The job file every benchmark runs, written out as TOML.

A realistic enrichment: drop the reserved ``App Launched`` event and rows without
an identity, join each customer's tier from a lookup file, compute a channel from
the platform, and send every remaining row back as an event carrying all of its
``eventProps.*`` plus the tier and the channel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w

from bench.datasets import DATA

TIMEZONE = "Asia/Kolkata"
DROP_FILTER = "eventName <> 'App Launched' AND \"profile.identity\" IS NOT NULL"
CHANNEL = "CASE WHEN \"profile.platform\" = 'Web' THEN 'web' ELSE 'app' END"


def enrichment_job(
    name: str, paths: list[str], tiers: Path, writer: dict[str, Any] | None = None
) -> Path:
    """Write the job reading `paths` under ``bench/data/jobs`` and return its path.

    Without `writer` the job names the Upload API but is only ever run dry.
    """
    job = {
        "name": name,
        "description": "benchmark: filter, tier lookup, computed channel, events",
        "source": {"kind": "export", "paths": paths, "timezone": TIMEZONE},
        "transforms": _transforms(tiers),
        "records": [_event_records()],
        "writer": writer or {"kind": "upload"},
    }
    path = DATA / "jobs" / f"{name}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(job), encoding="utf-8")
    return path


def upload_writer(
    url: str, *, concurrency: int = 15, batch: int = 1000
) -> dict[str, Any]:
    """Writer settings sending to `url` (the sandbox) at CleverTap's limits."""
    return {
        "kind": "upload",
        "url": url,
        "concurrency": concurrency,
        "max_records": batch,
    }


def _transforms(tiers: Path) -> list[dict[str, Any]]:
    return [
        {"step": "filter", "where": DROP_FILTER},
        {
            "step": "lookup",
            "path": str(tiers),
            "on": "profile.identity",
            "lookup_on": "identity",
            "columns": ["tier"],
            "defaults": {"tier": "Standard"},
        },
        {"step": "with_columns", "columns": {"channel": CHANNEL}},
    ]


def _event_records() -> dict[str, Any]:
    return {
        "name": "enriched-events",
        "kind": "event",
        "identity": "profile.identity",
        "ts": "ts",
        "event_name": "eventName",
        "include": ["eventProps.*"],
        "exclude": ["eventProps.CT *"],
        "properties": {"Tier": "tier", "Channel": "channel"},
        "dates": ["Renewal Date"],
    }
