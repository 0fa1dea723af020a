"""Accepting a schema change that a `freeze` policy stopped."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ctjobs.monitor.source import ACCEPT_NEXT

if TYPE_CHECKING:
    from ctjobs.job.spec import JobSpec

SCOPES = ("source", "outgoing")


def accept_schema(job: JobSpec | str | Path, scope: str = "all") -> list[str]:
    """Let the job's next run take what it sees as its accepted schema.

    `scope` is ``source``, ``outgoing`` or ``all``. Returns the scopes marked.

    Example:
        >>> ct.accept_schema("jobs/events.toml")   # then run the job again
    """
    from ctjobs.job.ledger import Ledger
    from ctjobs.job.runner import ledger_path
    from ctjobs.job.spec import JobSpec, load_job

    spec = job if isinstance(job, JobSpec) else load_job(job)
    scopes = list(SCOPES) if scope == "all" else [scope]
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        from ctjobs.errors import UsageError

        raise UsageError(
            f"unknown schema scope {unknown[0]!r}; use source, outgoing or all"
        )
    ledger = Ledger(ledger_path(spec), spec.name)
    try:
        for name in scopes:
            ledger.save_snapshot(name, {ACCEPT_NEXT: True}, "accept")
    finally:
        ledger.close()
    return scopes
