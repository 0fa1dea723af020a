"""Counters of what the sandbox received, and the gate on concurrent uploads."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(slots=True)
class SandboxStats:
    """What the sandbox has seen since it started or was last reset.

    `requests` counts every POST to /1/upload. `uploads` counts those answered
    200 after checking their records, dry runs included; `dry_runs` counts the
    dry runs alone, whose records are left out of the record counters so that
    `records_accepted` always equals the number of records stored.
    """

    requests: int = 0
    uploads: int = 0
    dry_runs: int = 0
    records_received: int = 0
    records_accepted: int = 0
    records_rejected: int = 0
    auth_failures: int = 0
    malformed: int = 0
    throttled: int = 0
    faults: int = 0
    max_in_flight_seen: int = 0
    in_flight: int = 0

    def try_admit(self, limit: int) -> bool:
        """Take an in-flight slot if fewer than `limit` uploads are being processed."""
        if self.in_flight >= limit:
            self.throttled += 1
            return False
        self.in_flight += 1
        self.max_in_flight_seen = max(self.max_in_flight_seen, self.in_flight)
        return True

    def release(self) -> None:
        """Give back the slot taken by `try_admit`."""
        self.in_flight -= 1

    def reset(self) -> None:
        """Zero every counter except the uploads still being processed."""
        in_flight = self.in_flight
        for stat in dataclasses.fields(self):
            setattr(self, stat.name, 0)
        self.in_flight = in_flight
        self.max_in_flight_seen = in_flight

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return dataclasses.asdict(self)
