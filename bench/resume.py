"""What resuming a killed upload costs, against the same upload run uninterrupted.

The sandbox answers in 20 ms, so sending is quick and the fixed costs of a run
(reading, building, checking the ledger) show. The killed run gets SIGKILL once
the sandbox has stored half of the records; the same job then runs again with the
same ledger and sends only what was not acknowledged. Batches in flight at the
kill are in doubt: the job's default (`in_doubt = "hold"`) keeps them pending
rather than risk sending them twice, so they are counted, not resent.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bench.jobs import enrichment_job, upload_writer
from bench.measure import Child, measure, python_command
from bench.session import Session
from bench.uploads import sandbox_env
from ctjobs.sandbox import SandboxProcess

RECORDS = 1_000_000
LATENCY_MS = 20
KILL_SHARE = 0.5
POLL_S = 0.1
SETTLE_S = 2.0


def killer(
    sandbox: SandboxProcess, stored: int, limit_s: float, seen: dict[str, int]
) -> Any:
    """A watcher that SIGKILLs the run once the sandbox has stored `stored` records.

    The count it saw at the kill goes into ``seen["stored"]``.
    """

    def watch(child: Child) -> None:
        deadline = time.monotonic() + limit_s
        while child.running() and time.monotonic() < deadline:
            count = sandbox.stats()["records_accepted"]
            if count >= stored:
                child.kill()
                seen["stored"] = count
                return
            time.sleep(POLL_S)

    return watch


def drive(
    session: Session,
    job: Path,
    sandbox: SandboxProcess,
    name: str,
    *,
    fresh: bool = True,
    kill_at: int | None = None,
    seen: dict[str, int] | None = None,
) -> dict[str, Any]:
    """One run of `job` through `bench.drive`; its summary, time and memory."""
    summary_path = session.scratch / f"{name}-{'fresh' if fresh else 'again'}.json"
    env = (
        sandbox_env(session, name, sandbox)
        if fresh
        else session.env(
            name,
            fresh=False,
            CLEVERTAP_ACCOUNT_ID=sandbox.account_id,
            CLEVERTAP_PASSCODE=sandbox.passcode,
        )
    )
    limit_s = max(session.remaining(), 1)
    watch = None
    if kill_at is not None:
        watch = killer(sandbox, kill_at, limit_s, seen if seen is not None else {})
    run = measure(
        python_command("bench.drive", job, summary_path),
        env=env,
        logs=session.folder("logs", f"{name}-{'fresh' if fresh else 'again'}"),
        timeout_s=limit_s,
        watch=watch,
    )
    figures: dict[str, Any] = {
        "seconds": run.seconds,
        "peak_rss_mib": run.peak_rss_mib,
        "killed": run.killed,
        "returncode": run.returncode,
    }
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
        figures |= {
            "totals": summary["totals"],
            "timings": summary["timings"],
            "skip_seconds": summary["skip_seconds"],
        }
    elif not run.killed:
        figures["error"] = f"exit {run.returncode}: {run.tail()}"
    return figures


def measure_resume(session: Session, rows: Path, tiers: Path) -> dict[str, Any]:
    """The uninterrupted run, the killed run and the resumed run, in that order."""
    with SandboxProcess(latency_ms=LATENCY_MS) as sandbox:
        job = enrichment_job("resume", [str(rows)], tiers, upload_writer(sandbox.url))
        whole = drive(session, job, sandbox, "resume-whole")
        sandbox.reset()
        seen: dict[str, int] = {}
        kill_at = int(RECORDS * KILL_SHARE)
        killed = drive(
            session, job, sandbox, "resume-killed", kill_at=kill_at, seen=seen
        )
        # Requests in flight at the kill are still answered, and stored.
        time.sleep(SETTLE_S)
        settled = sandbox.stats()["records_accepted"]
        resumed = drive(session, job, sandbox, "resume-killed", fresh=False)
        stored = sandbox.stats()["records_accepted"]
    return {
        "records": RECORDS,
        "uninterrupted": whole,
        "killed": killed | {"stored_at_kill": seen.get("stored"), "settled": settled},
        "resumed": resumed,
        "stored_after_resume": stored,
    }
