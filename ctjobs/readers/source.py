"""A job's source, whatever its kind, as one LazyFrame in the normalised shape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from ctjobs.errors import UsageError
from ctjobs.readers.exports import open_export
from ctjobs.readers.storage import SourceFile
from ctjobs.transforms.steps import dtype_named

if TYPE_CHECKING:
    from ctjobs.job.ledger import Ledger
    from ctjobs.job.spec import JobSpec
    from ctjobs.job.summary import RunSummary


def read_source(
    spec: JobSpec,
    files: Sequence[SourceFile] | None,
    ledger: Ledger | None = None,
    summary: RunSummary | None = None,
) -> tuple[pl.LazyFrame, list[dict[str, Any]]]:
    """The job's rows for `files` (or its query), and any schema notes."""
    source = spec.source
    overrides = {c: dtype_named(t) for c, t in source.schema_overrides.items()}
    if source.kind == "export":
        scan = open_export(
            source.paths,
            format=source.format,
            timezone=source.timezone,
            schema_overrides=overrides,
            widening=source.widening,
            storage_options=source.storage_options,
            files=files,
        )
        notes = [{"kind": "widened", "message": c} for c in scan.conflicts]
        return scan.frame, notes
    if source.kind == "webhook":
        from ctjobs.webhook import scan_landing

        return scan_landing(source.paths[0]), []
    raise UsageError(f"source kind {source.kind!r} is not available in this build")
