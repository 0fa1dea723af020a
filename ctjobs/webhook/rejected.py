"""Bodies answered with 400 are kept, with the reason, never dropped silently.

``<land>/_rejected/YYYY-MM-DD/<sha256 of body>.body`` holds the raw bytes and
``<sha256>.reason.json`` says why and when. A retried bad body lands on the same
names, so retries do not pile up. Request headers are not kept: they may carry
credentials.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from ctjobs.webhook.landing import REJECTED_DIR, fsync_dir, make_dirs


def keep_rejected(
    land: Path, body: bytes, reason: str, *, path: str, received_at: datetime
) -> Path:
    """Keep ``body`` and ``reason`` in ``<land>/_rejected/``; return the body file."""
    folder = land / REJECTED_DIR / received_at.astimezone(UTC).strftime("%Y-%m-%d")
    make_dirs(folder)
    name = hashlib.sha256(body).hexdigest()
    note = {
        "reason": reason,
        "received_at": received_at.isoformat().replace("+00:00", "Z"),
        "path": path,
        "bytes": len(body),
    }
    _write_durably(folder / f"{name}.reason.json", json.dumps(note).encode() + b"\n")
    body_file = folder / f"{name}.body"
    _write_durably(body_file, body)
    fsync_dir(folder)
    return body_file


def _write_durably(target: Path, data: bytes) -> None:
    temporary = target.with_name(f".{target.name}.tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
