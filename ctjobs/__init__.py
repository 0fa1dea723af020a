"""ctjobs: CleverTap exports in, Polars transforms, CleverTap records out.

The Python API mirrors the job file, stage by stage:

    scan_export / read_export        readers (local, S3, GCS paths and globs)
    rename, filter, with_columns...  transform steps, LazyFrame -> LazyFrame
    build_events / build_profiles    rows -> CleverTap records
    validate                         pre-flight checks: accepted and rejected frames
    preview                          the first request bodies a job would send
    load_job / run_job / replay      a whole job file, with the CLI's summary
    history_frame                    past runs from the ledger, as a frame

Names are imported on first use, so ``import ctjobs`` stays cheap for the servers
(sandbox, webhook intake) that need none of the pipeline.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "CtjobsError": "ctjobs.errors",
    "JobSpec": "ctjobs.job.spec",
    "load_job": "ctjobs.job.spec",
    "RunSummary": "ctjobs.job.summary",
    "run_job": "ctjobs.job.runner",
    "replay": "ctjobs.job.replay",
    "history_frame": "ctjobs.job.history",
    "read_export": "ctjobs.readers.exports",
    "scan_export": "ctjobs.readers.exports",
    "list_files": "ctjobs.readers.storage",
    "scan_bigquery": "ctjobs.readers.bigquery",
    "read_bigquery": "ctjobs.readers.bigquery",
    "build_events": "ctjobs.records.build",
    "build_profiles": "ctjobs.records.build",
    "encode_records": "ctjobs.records.encode",
    "Validated": "ctjobs.records.validate",
    "validate": "ctjobs.records.validate",
    "read_lookup": "ctjobs.transforms.lookups",
    "aggregate": "ctjobs.transforms.steps",
    "cast": "ctjobs.transforms.steps",
    "deduplicate": "ctjobs.transforms.steps",
    "drop": "ctjobs.transforms.steps",
    "filter": "ctjobs.transforms.steps",
    "flatten": "ctjobs.transforms.steps",
    "lookup": "ctjobs.transforms.steps",
    "rename": "ctjobs.transforms.steps",
    "select": "ctjobs.transforms.steps",
    "with_columns": "ctjobs.transforms.steps",
    "preview": "ctjobs.writers.preview",
}

__all__ = [
    "CtjobsError",
    "JobSpec",
    "RunSummary",
    "Validated",
    "aggregate",
    "build_events",
    "build_profiles",
    "cast",
    "deduplicate",
    "drop",
    "encode_records",
    "filter",
    "flatten",
    "history_frame",
    "list_files",
    "load_job",
    "lookup",
    "preview",
    "read_bigquery",
    "read_export",
    "read_lookup",
    "rename",
    "replay",
    "run_job",
    "scan_bigquery",
    "scan_export",
    "select",
    "validate",
    "with_columns",
]

if TYPE_CHECKING:
    from ctjobs.errors import CtjobsError
    from ctjobs.job.history import history_frame
    from ctjobs.job.replay import replay
    from ctjobs.job.runner import run_job
    from ctjobs.job.spec import JobSpec, load_job
    from ctjobs.job.summary import RunSummary
    from ctjobs.readers.bigquery import read_bigquery, scan_bigquery
    from ctjobs.readers.exports import read_export, scan_export
    from ctjobs.readers.storage import list_files
    from ctjobs.records.build import build_events, build_profiles
    from ctjobs.records.encode import encode_records
    from ctjobs.records.validate import Validated, validate
    from ctjobs.transforms.lookups import read_lookup
    from ctjobs.transforms.steps import (
        aggregate,
        cast,
        deduplicate,
        drop,
        filter,
        flatten,
        lookup,
        rename,
        select,
        with_columns,
    )
    from ctjobs.writers.preview import preview


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        message = f"module 'ctjobs' has no attribute {name!r}"
        raise AttributeError(message)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
