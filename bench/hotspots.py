"""Where a ctjobs dry run spends its time: a cProfile top-N and a split of ``build``.

cProfile sees Python frames only: most of a run is one call into Polars
(``collect``), whose inside it cannot see. So the build stage, which the run
summary reports as one figure, is split here into its steps (records, checks,
JSON encoding, batch ids, bodies) per event name, with ctjobs' own functions run
one after the other on the same files.

    python -m bench.hotspots JOB OUT_DIR REPORT_JSON [--top N]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from ctjobs.job.runner import run_job
from ctjobs.job.spec import JobSpec, RecordSpec, load_job
from ctjobs.readers.source import read_source
from ctjobs.readers.storage import list_files
from ctjobs.records.build import RecordMapping, build_records
from ctjobs.records.encode import encode_records
from ctjobs.records.validate import validate
from ctjobs.transforms.apply import apply_steps
from ctjobs.writers.batches import Batch, cut_batches

T = TypeVar("T")
BUILD_STEPS = ("records", "validate", "encode", "batch ids", "bodies")


def profile_run(job: Path, out: Path, top: int) -> tuple[list[dict[str, Any]], float]:
    """cProfile a dry run of `job`: the `top` functions by own time, and the total."""
    profiler = cProfile.Profile()
    profiler.runcall(run_job, job, dry_run=True, out=out, chunk="file")
    stats = pstats.Stats(profiler)
    rows = []
    for (file, line, name), entry in stats.stats.items():  # type: ignore[attr-defined]
        calls, _, own, total, _ = entry
        where = f"{Path(file).name}:{line}" if line else file
        rows.append(
            {
                "function": f"{name} ({where})",
                "calls": calls,
                "own": own,
                "total": total,
            }
        )
    total = float(stats.total_tt)  # type: ignore[attr-defined]
    return sorted(rows, key=lambda row: row["own"], reverse=True)[:top], total


def mapping_of(record: RecordSpec, timezone: str) -> RecordMapping:
    """The record mapping a job file's ``[[records]]`` entry describes."""
    return RecordMapping(
        kind=record.kind,  # type: ignore[arg-type]
        identity=record.identity,
        identity_field=record.identity_field,
        ts=record.ts,
        event_name=record.event_name,
        event_name_value=record.event_name_value,
        properties=dict(record.properties),
        include=list(record.include),
        exclude=list(record.exclude),
        dates=list(record.dates),
        timezone=timezone,
        name=record.name,
    )


class StepClock:
    """Seconds per (event name, build step), summed over files."""

    def __init__(self) -> None:
        self.seconds: dict[str, dict[str, float]] = defaultdict(dict)

    def time(self, event: str, step: str, work: Callable[..., T], *args: Any) -> T:
        """Call ``work(*args)``, adding its time to (event, step)."""
        started = time.perf_counter()
        result = work(*args)
        spent = self.seconds[event].get(step, 0.0) + time.perf_counter() - started
        self.seconds[event][step] = spent
        return result


def _records(rows: pl.DataFrame, mapping: RecordMapping) -> pl.DataFrame:
    return build_records(rows.lazy(), mapping).collect()


def _encoded(records: pl.DataFrame) -> pl.DataFrame:
    return encode_records(records).collect()


def _batches(encoded: pl.DataFrame) -> list[Batch]:
    return list(cut_batches(encoded, "event"))


def _bodies(batches: list[Batch]) -> list[bytes]:
    return [batch.body() for batch in batches]


def split_build(spec: JobSpec) -> dict[str, Any]:
    """Time the build steps of the job's first mapping, file by file."""
    clock, records_per_event = StepClock(), defaultdict(int)
    mapping = mapping_of(spec.records[0], spec.source.timezone)
    paths = [str(spec.base_dir / path) for path in spec.source.paths]
    for file in list_files(paths):
        event = file.name.split("-")[2]
        frame = read_source(spec, [file])[0]
        rows = apply_steps(frame, spec.transforms, spec.base_dir).collect()
        built = clock.time(event, "records", _records, rows, mapping)
        checked = clock.time(event, "validate", validate, built, spec.validation)
        encoded = clock.time(event, "encode", _encoded, checked.accepted)
        batches = clock.time(event, "batch ids", _batches, encoded)
        clock.time(event, "bodies", _bodies, batches)
        records_per_event[event] += encoded.height
    return {"seconds": clock.seconds, "records": dict(records_per_event)}


def main() -> None:
    """Profile a dry run, split its build stage, and write both as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("report", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()

    top, total = profile_run(args.job, args.out, args.top)
    split = split_build(load_job(args.job))
    report = {"top": top, "total_seconds": total, "build_split": split}
    args.report.write_text(json.dumps(report, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
