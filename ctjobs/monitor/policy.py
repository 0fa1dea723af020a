"""Schema changes and the job's policy for each kind of change.

A change is one column (or outgoing property, or event name) that was added,
removed or changed type since the snapshot the job last accepted. The job's
``schema_policy`` says, per kind of change, what happens:

``evolve``   accept it and record it as the new snapshot
``warn``     the same, and log a WARNING
``freeze``   stop the run before anything is sent (`SchemaFrozenError`)
``discard``  leave the new or retyped column out of what is read or sent
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ctjobs.errors import SchemaFrozenError

if TYPE_CHECKING:
    from ctjobs.job.spec import JobSpec

log = logging.getLogger(__name__)

Policy = Literal["evolve", "warn", "freeze", "discard"]

DEFAULT_POLICY: dict[str, Policy] = {
    "added": "evolve",
    "removed": "warn",
    "retyped": "warn",
}
# Outgoing kinds fall back to the source kind they resemble.
FALLBACK = {
    "new_event": "added",
    "retyped_property": "retyped",
    "new_property": "added",
}


@dataclass(frozen=True)
class Change:
    """One difference between the accepted snapshot and what this run sees."""

    kind: str
    column: str
    before: str | None
    after: str | None
    policy: Policy
    scope: str
    # The owner and the name of an outgoing property: (event name or "profile", key).
    parts: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        """Whether the change becomes part of the recorded snapshot."""
        return self.policy in {"evolve", "warn"}

    def note(self, detail: str = "") -> dict[str, Any]:
        """The change as a run-summary note."""
        return {
            "kind": self.kind,
            "column": self.column,
            "policy": self.policy,
            "scope": self.scope,
            "message": self.describe() + detail,
        }

    def describe(self) -> str:
        """A sentence about the change, as a person would say it."""
        what = f"{self.scope} {self.column!r}"
        if self.kind in {"added", "new_event", "new_property"}:
            return f"{what} is new ({self.after})"
        if self.kind == "removed":
            return f"{what} is gone (was {self.before})"
        return f"{what} changed type from {self.before} to {self.after}"


def policy_for(spec: JobSpec, kind: str) -> Policy:
    """The job's policy for changes of `kind`, with documented defaults."""
    policies: Mapping[str, Policy] = spec.schema_policy
    if kind in policies:
        return policies[kind]
    base = FALLBACK.get(kind, kind)
    return policies.get(base, DEFAULT_POLICY.get(base, "warn"))


def compare(
    before: Mapping[str, str], after: Mapping[str, str]
) -> list[tuple[str, str, str | None, str | None]]:
    """(kind, name, old type, new type) for every added, removed or retyped name."""
    changes: list[tuple[str, str, str | None, str | None]] = []
    for name, kind in after.items():
        if name not in before:
            changes.append(("added", name, None, kind))
        elif before[name] != kind:
            changes.append(("retyped", name, before[name], kind))
    changes.extend(("removed", n, t, None) for n, t in before.items() if n not in after)
    return changes


def enforce(changes: Iterable[Change], job: str, how_to_accept: str) -> None:
    """Log warnings, then stop with `SchemaFrozenError` if any change is frozen."""
    frozen = []
    for change in changes:
        if change.policy == "warn":
            log.warning("job %s: %s", job, change.describe())
        elif change.policy == "freeze":
            frozen.append(change)
    if not frozen:
        return
    listed = "; ".join(c.describe() for c in frozen)
    kinds = sorted({c.kind for c in frozen})
    settings = " or ".join(f'schema_policy.{k} = "evolve"' for k in kinds)
    message = (
        f"job {job}: stopped before sending anything read with a changed schema "
        "(the schema is frozen): "
        f"{listed}. To accept it, set {settings} in the job file, or {how_to_accept}"
    )
    raise SchemaFrozenError(message)
