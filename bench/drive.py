"""Run a job as ``ctjobs run`` does, and time how long it spends skipping.

The runner asks the ledger which records were already acknowledged before each
write (`Runner._unsent`); this driver wraps that one step with a timer, so a
resumed run reports how much of its time went on skipping what an earlier run
sent. Nothing else changes: the job, the ledger and the writer are ctjobs' own.

    python -m bench.drive JOB SUMMARY_JSON
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from ctjobs.job.runner import Runner, run_job


class SkipTimer:
    """Seconds spent in the runner's already-acknowledged check, summed."""

    seconds = 0.0

    @classmethod
    def wrap(cls) -> None:
        """Time every call of `Runner._unsent` from now on."""
        unsent = Runner._unsent

        def timed(runner: Runner, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return unsent(runner, *args, **kwargs)
            finally:
                cls.seconds += time.perf_counter() - started

        Runner._unsent = timed  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    """Run the job, write its summary with the skip time, exit as the CLI would."""
    job, summary_path = Path(argv[0]), Path(argv[1])
    SkipTimer.wrap()
    summary = run_job(job)
    figures = {**summary.to_dict(), "skip_seconds": round(SkipTimer.seconds, 3)}
    summary_path.write_text(json.dumps(figures, default=str), encoding="utf-8")
    return summary.exit_code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
