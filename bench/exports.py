"""Export files to request bodies, no network: the floor, pandas row by row, ctjobs.

Each case reads one window of generated exports. The floor and ctjobs read every
row of it; pandas, at about 10,000 rows a second, reads the first
`PANDAS_ROWS` and is compared per row. Rates count rows read, whatever the job
filters out afterwards, and the wall time of the whole child process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.datasets import Window
from bench.measure import Measurement, ctjobs_command, measure, python_command
from bench.session import Session, folder_digest

PANDAS_ROWS = 100_000


@dataclass(frozen=True)
class ExportCase:
    """One window of exports, with the label the report gives it."""

    label: str
    window: Window

    @property
    def slug(self) -> str:
        """The case's label as a folder name."""
        return self.label.lower().replace(" ", "-")

    @property
    def fmt(self) -> str:
        """The window's file format."""
        return self.window.export.fmt


def last_json(text: str) -> dict[str, Any]:
    """The last line of `text` that holds a JSON object."""
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            loaded: dict[str, Any] = json.loads(line)
            return loaded
    raise ValueError("no JSON object in the output")


def failure(measurement: Measurement, what: str) -> dict[str, Any]:
    """The figures of a run that did not finish, with why."""
    why = "timed out" if measurement.timed_out else f"exit {measurement.returncode}"
    return {"error": f"{what}: {why}", "detail": measurement.tail()}


def measure_floor(session: Session, case: ExportCase) -> dict[str, Any]:
    """Polars alone: the case's files to JSON lines."""
    out = session.folder("out", f"floor-{case.slug}")
    command = python_command("bench.floor", out, *case.window.files())
    run = measure(
        command,
        env=session.env("floor"),
        logs=session.folder("logs", f"floor-{case.slug}"),
        timeout_s=max(session.remaining(), 1),
    )
    session.discard(out)
    if not run.ok:
        return failure(run, "floor")
    return {
        "seconds": run.seconds,
        "rows_per_s": case.window.rows / run.seconds,
        "peak_rss_mib": run.peak_rss_mib,
        "bytes": last_json(run.stdout)["bytes"],
    }


def measure_ctjobs(
    session: Session, case: ExportCase, job: Path, *, keep: bool = False
) -> dict[str, Any]:
    """``ctjobs run JOB --dry-run --chunk file`` over the case's window.

    With `keep` the request bodies stay on disk (see `ctjobs_out`) so another run
    can be compared with them byte for byte.
    """
    out = ctjobs_out(session, case)
    window = case.window
    command = ctjobs_command(
        "run", job, "--dry-run", "--out", out, "--chunk", "file", "--json",
        "--from", window.first_day, "--to", window.last_day,
    )  # fmt: skip
    run = measure(
        command,
        env=session.env(f"ctjobs-{case.slug}"),
        logs=session.folder("logs", f"ctjobs-{case.slug}"),
        timeout_s=max(session.remaining(), 1),
    )
    if not run.ok:
        session.discard(out)
        return failure(run, "ctjobs")
    summary = last_json(run.stdout)
    figures = dry_run_figures(run, summary, window.rows)
    if keep:
        figures["digest"] = folder_digest(out)
    else:
        session.discard(out)
    return figures


def ctjobs_out(session: Session, case: ExportCase) -> Path:
    """Where the case's ctjobs request bodies are written."""
    return session.folder("out", f"ctjobs-{case.slug}")


def dry_run_figures(
    run: Measurement, summary: dict[str, Any], rows: int
) -> dict[str, Any]:
    """Rate, memory and the run summary's own counts and stage timings."""
    return {
        "seconds": run.seconds,
        "rows_per_s": rows / run.seconds,
        "peak_rss_mib": run.peak_rss_mib,
        "rows_read": summary["rows_read"],
        "records": summary["totals"]["written"],
        "bodies": summary["bodies"],
        "timings": summary["timings"],
        "expected_rows": rows,
    }


def measure_pandas(session: Session, case: ExportCase, tiers: Path) -> dict[str, Any]:
    """pandas and ``iterrows`` over the first `PANDAS_ROWS` rows of the case."""
    out = session.folder("out", f"pandas-{case.slug}")
    command = python_command(
        "bench.pandas_rows", "--rows", PANDAS_ROWS, "--tiers", tiers, "--out", out,
        *case.window.files(),
    )  # fmt: skip
    run = measure(
        command,
        env=session.env("pandas"),
        logs=session.folder("logs", f"pandas-{case.slug}"),
        timeout_s=max(session.remaining(), 1),
    )
    session.discard(out)
    if not run.ok:
        return failure(run, "pandas")
    figures = last_json(run.stdout)
    return {
        **figures,
        "rows_per_s": figures["rows"] / figures["seconds"],
        "peak_rss_mib": run.peak_rss_mib,
    }
