"""ctjobs: CleverTap exports in, Polars transforms, CleverTap records out.

The Python API mirrors the job file, stage by stage:

    scan_export / read_export        readers (local, S3, GCS paths and globs)
    rename, filter, with_columns...  transform steps, LazyFrame -> LazyFrame
    build_events / build_profiles    rows -> CleverTap records
    validate                         pre-flight checks: accepted and rejected frames
    preview                          the first request bodies a job would send
    load_job / run_job               a whole job file, with the CLI's summary
    history_frame                    past runs from the ledger, as a frame
"""

from __future__ import annotations

from ctjobs.errors import CtjobsError
from ctjobs.job.history import history_frame
from ctjobs.job.runner import run_job
from ctjobs.job.spec import JobSpec, load_job
from ctjobs.job.summary import RunSummary
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

__version__ = "0.1.0"

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
    "read_export",
    "read_lookup",
    "rename",
    "run_job",
    "scan_export",
    "select",
    "validate",
    "with_columns",
]
