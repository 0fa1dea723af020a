"""One benchmark run: its scratch folder, its time budget and the notes it gathers.

Every measurement gets a fresh ``CTJOBS_HOME`` under the scratch folder, so no run
reads another's ledger and none touches the repository's ``.ctjobs``. A
measurement that the remaining budget cannot afford is skipped with a note
instead of pushing ``make bench`` past its limit.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

# Kept back for writing the report and cleaning up.
RESERVE_S = 20.0
# Credentials and endpoints of the caller never leak into a measured run.
_SCRUBBED = ("CLEVERTAP_API_URL", "CLEVERTAP_ACCOUNT_ID", "CLEVERTAP_PASSCODE")


@dataclass
class Session:
    """The scratch folder, the deadline, and what was skipped or went wrong."""

    scratch: Path
    budget_s: float
    started: float = field(default_factory=time.monotonic)
    notes: list[str] = field(default_factory=list)

    def remaining(self) -> float:
        """Seconds left of the budget, the reserve for the report taken off."""
        return self.budget_s - RESERVE_S - (time.monotonic() - self.started)

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started

    def affordable(self, estimate_s: float, what: str) -> bool:
        """True if `what` (about `estimate_s` seconds) fits; else note the skip."""
        if estimate_s <= self.remaining():
            return True
        self.note(
            f"{what} skipped: it needs about {estimate_s:.0f} s and "
            f"{max(self.remaining(), 0):.0f} s of the budget were left."
        )
        return False

    def note(self, text: str) -> None:
        """Keep `text` for the report and log it."""
        log.warning("%s", text)
        self.notes.append(text)

    def folder(self, *parts: str) -> Path:
        """An empty folder under the scratch folder."""
        path = self.scratch.joinpath(*parts)
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def env(self, name: str, *, fresh: bool = True, **extra: str) -> dict[str, str]:
        """The environment of one measured run, with ``CTJOBS_HOME`` of its own.

        Runs sharing a `name` with ``fresh=False`` share the home and its ledger.
        """
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
        home = self.scratch / "homes" / name
        if fresh:
            home = self.folder("homes", name)
        env["CTJOBS_HOME"] = str(home)
        return env | extra

    def discard(self, path: Path) -> None:
        """Remove a measurement's output once its figures are taken."""
        shutil.rmtree(path, ignore_errors=True)


def folder_digest(folder: Path) -> str:
    """A digest of every file under `folder`, by relative path and content."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()
