"""Choosing the writer a job file names."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ctjobs.errors import UsageError
from ctjobs.job.spec import JobSpec
from ctjobs.writers.base import Writer
from ctjobs.writers.dryrun import DryRunWriter


def make_writer(
    spec: JobSpec, *, dry_run: bool, out: str | Path | None, run_dir: Path
) -> Writer:
    """The writer for `spec`; a dry run always writes request bodies to files."""
    config = spec.writer
    if dry_run and out is not None and "://" in str(out):
        message = (
            f"--out {out}: a dry run writes to a local folder; give a path, or set "
            "the files writer's `out` in the job file to write import files to a URL"
        )
        raise UsageError(message)
    if dry_run and config.kind in {"sftp", "files"}:
        # A dry run of an import job writes the import files locally, uploads nothing.
        from ctjobs.writers.sftp import make_import_writer

        local = config.model_copy(update={"kind": "files", "out": None})
        folder = Path(out) if out else run_dir / "imports"
        return make_import_writer(spec.model_copy(update={"writer": local}), out=folder)
    if dry_run or config.kind == "dry-run":
        folder = Path(out) if out else run_dir / "bodies"
        return DryRunWriter(
            folder, max_records=config.max_records, max_bytes=config.max_bytes
        )
    if config.kind == "upload":
        from ctjobs.credentials import base_url, load_credentials
        from ctjobs.writers.upload import UploadWriter

        if not (config.region or config.url or os.environ.get("CLEVERTAP_API_URL")):
            message = (
                "writer: name a CleverTap `region` (in1, sg1, us1, aps3, mec1, eu1) or a "
                "`url` in the job file, or set CLEVERTAP_API_URL (the sandbox's URL)"
            )
            raise UsageError(message)
        url = base_url(config.region, config.url)
        return UploadWriter(config.model_copy(update={"url": url}), load_credentials())
    if config.kind in {"sftp", "files"}:
        from ctjobs.writers.sftp import make_import_writer

        return make_import_writer(spec, out=out)
    raise UsageError(f"writer kind {config.kind!r} is not known")


def destination_of(spec: JobSpec) -> str | None:
    """Where the job's records land, as a short key for the ledger; None if nowhere.

    A CleverTap account is known by its account ID (whatever regional host or
    sandbox URL reaches it), an import server by user, host, port and folder, a
    local or object-store folder by its path. The key is a digest, so no account
    ID or host name is written into the ledger's keys. A dry run of an upload job
    takes its key from the credentials when they are set, so that it previews
    what a real run would send; without them it counts against nothing sent.
    """
    config = spec.writer
    if config.kind == "upload":
        from ctjobs.credentials import load_credentials

        try:
            where = "clevertap:" + load_credentials().account_id
        except UsageError:
            return None
    elif config.kind == "sftp":
        where = (
            f"sftp:{config.username}@{config.host}:{config.port}/{config.remote_dir}"
        )
    elif config.kind == "files":
        where = f"files:{config.out}"
    else:
        return None
    return hashlib.blake2b(where.encode(), digest_size=8).hexdigest()
