"""Peak memory of a day-by-day, file-by-file backfill over growing history.

``ctjobs backfill JOB --from ... --to ... --dry-run --chunk file`` holds one file
at a time, so its peak memory should follow the largest file, not the history:
ten times the rows should stay within 1.5 times the memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.datasets import Window
from bench.exports import dry_run_figures, failure, last_json
from bench.measure import ctjobs_command, measure
from bench.session import Session


def measure_backfill(
    session: Session, label: str, window: Window, job: Path
) -> dict[str, Any]:
    """The dry-run backfill of `window`; rate, peak memory and stage timings."""
    out = session.folder("out", f"backfill-{label}")
    command = ctjobs_command(
        "backfill", job, "--from", window.first_day, "--to", window.last_day,
        "--dry-run", "--out", out, "--chunk", "file", "--json",
    )  # fmt: skip
    run = measure(
        command,
        env=session.env(f"backfill-{label}"),
        logs=session.folder("logs", f"backfill-{label}"),
        timeout_s=max(session.remaining(), 1),
    )
    session.discard(out)
    if not run.ok:
        return failure(run, "ctjobs backfill")
    return dry_run_figures(run, last_json(run.stdout), window.rows)
