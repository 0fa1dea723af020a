"""Object-store landings: land in a local spool, ship compacted Parquet to the URL.

A POST is acknowledged once it is fsync'ed in the spool folder, exactly as for a
local landing; an object store is never on the request path. After each compaction
the spool's ``date=*/part-*.parquet`` files are uploaded to the same relative paths
under the URL with fsspec, and removed locally once the upload returns. A kill
between upload and removal uploads the same file again under the same name, which
overwrites it with identical bytes: nothing is doubled. The payload index stays in
the spool, so keep the spool folder between runs.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ctjobs.webhook.compact import compact_local
from ctjobs.webhook.landing import PARQUET_PREFIX, fsync_dir, landing_roots

logger = logging.getLogger(__name__)


def compact_and_upload(url: str, spool: Path) -> int:
    """Compact ``spool``, upload its Parquet parts to ``url``; return rows compacted."""
    rows = compact_local(spool)
    upload_parts(spool, url)
    return rows


def upload_parts(spool: Path, url: str) -> int:
    """Upload every compacted part in ``spool`` to ``url``; return files uploaded."""
    import fsspec  # only needed for object-store landings

    fs, root = fsspec.core.url_to_fs(url.rstrip("/"))
    uploaded = 0
    for base in landing_roots(spool):
        for part in sorted(base.glob(f"date=*/{PARQUET_PREFIX}*.parquet")):
            relative = part.relative_to(spool).as_posix()
            fs.put_file(str(part), f"{root}/{relative}")
            part.unlink()
            fsync_dir(part.parent)
            uploaded += 1
            logger.info("uploaded %s to %s", relative, url)
    return uploaded
