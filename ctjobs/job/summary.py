"""The run summary: what a run read, filtered, built, sent, and what became of it.

The same object is printed by the CLI, returned to Python callers, stored in the
ledger and rendered in the HTML report. Every input row is accounted for: filtered
out, rejected before sending, skipped as already sent, accepted, rejected by
CleverTap, or pending for the next run.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

_NUMBER = re.compile(r"(?<![\w$])\d+(?:\.\d+)?(?![\w])")

EXIT_DONE = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3


@dataclass
class MappingCounts:
    """Counts for one ``[[records]]`` mapping."""

    name: str
    kind: str
    rows_in: int = 0
    built: int = 0
    rejected_preflight: int = 0
    skipped_sent: int = 0
    skipped_unchanged: int = 0
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    pending: int = 0
    in_doubt: int = 0
    written: int = 0
    # Change-only profiles: properties sent as deletions because they became empty.
    properties_deleted: int = 0


@dataclass
class RunSummary:
    """Everything a run did, with counts that add up."""

    run_id: str
    job: str
    mode: str = "run"
    dry_run: bool = False
    source_timezone: str = "UTC"
    status: str = "running"
    started_at: str = ""
    finished_at: str = ""
    seconds: float = 0.0
    rows_read: int = 0
    rows_filtered_out: int = 0
    rows_after_transforms: int = 0
    mappings: list[MappingCounts] = field(default_factory=list)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    reason_examples: dict[str, str] = field(default_factory=dict)
    dropped_values: dict[str, int] = field(default_factory=dict)
    files_read: list[dict[str, Any]] = field(default_factory=list)
    files_skipped: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)
    partitions_done: list[str] = field(default_factory=list)
    partitions_skipped: list[str] = field(default_factory=list)
    #: Runs that hold records in doubt, still to be settled by a person.
    held_by: list[str] = field(default_factory=list)
    replayed: dict[str, int] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    files_written: list[dict[str, Any]] = field(default_factory=list)
    bodies: int = 0
    schema_changes: list[dict[str, Any]] = field(default_factory=list)
    steps: dict[str, list[str]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    run_dir: str | None = None

    def mapping(self, name: str, kind: str) -> MappingCounts:
        """The counts for a mapping, created on first use."""
        for counts in self.mappings:
            if counts.name == name and counts.kind == kind:
                return counts
        counts = MappingCounts(name, kind)
        self.mappings.append(counts)
        return counts

    def total(self, attribute: str) -> int:
        """A count summed over every mapping."""
        return sum(int(getattr(m, attribute)) for m in self.mappings)

    def count_reasons(self, reasons: list[tuple[int | None, str]]) -> None:
        """Add rejections to the by-reason table, keyed ``code: reason``."""
        keyed = [(reason_key(code, reason), reason) for code, reason in reasons]
        counter = Counter(key for key, _ in keyed)
        for key, value in counter.items():
            self.rejected_by_reason[key] = self.rejected_by_reason.get(key, 0) + value
        for key, reason in keyed:
            # One reason as written, so the printed line shows real values.
            self.reason_examples.setdefault(key, reason)

    @property
    def exit_code(self) -> int:
        """0 done, 3 done with rejections, 1 failed or left pending."""
        if self.status in {"failed", "incomplete", "frozen"}:
            return EXIT_FAILED
        rejected = self.total("rejected") + self.total("rejected_preflight")
        return EXIT_REJECTED if rejected else EXIT_DONE

    def to_dict(self) -> dict[str, Any]:
        """Plain data, with totals, for JSON and the ledger."""
        data = asdict(self)
        data["totals"] = {
            key: self.total(key)
            for key in (
                "built",
                "rejected_preflight",
                "skipped_sent",
                "skipped_unchanged",
                "sent",
                "accepted",
                "rejected",
                "pending",
                "in_doubt",
                "written",
            )
        }
        data["exit_code"] = self.exit_code
        return data

    def to_json(self) -> str:
        """The summary as one JSON object."""
        return json.dumps(self.to_dict(), default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSummary:
        """Rebuild a summary stored by `to_dict`."""
        fields = {k: v for k, v in data.items() if k not in {"totals", "exit_code"}}
        fields["mappings"] = [MappingCounts(**m) for m in fields.get("mappings", [])]
        return cls(**fields)

    def lines(self) -> list[str]:
        """The summary as short human-readable lines."""
        out = [
            f"run {self.run_id} of job {self.job!r}: {self.status}"
            f"{' (dry run)' if self.dry_run else ''} in {self.seconds:.1f}s",
            f"  rows read {self.rows_read}, filtered out {self.rows_filtered_out}, "
            f"files {len(self.files_read)}, source timezone {self.source_timezone}",
        ]
        for m in self.mappings:
            out.append(
                f"  {m.kind} {m.name or ''}: built {m.built}, rejected before sending "
                f"{m.rejected_preflight}, already sent {m.skipped_sent}, unchanged "
                f"{m.skipped_unchanged}, sent {m.sent}, accepted {m.accepted}, "
                f"rejected {m.rejected}, pending {m.pending}"
                + (f" (in doubt {m.in_doubt})" if m.in_doubt else "")
                + (
                    f", properties deleted {m.properties_deleted}"
                    if m.properties_deleted
                    else ""
                )
                + (f", written {m.written}" if self.dry_run or m.written else "")
            )
        for reason, count in sorted(
            self.rejected_by_reason.items(), key=lambda i: -i[1]
        ):
            example = self.reason_examples.get(reason)
            line = f"  rejected {count:>6}  {reason}"
            if example and reason_key(None, example) != example:
                line += f" (e.g. {example})"
            out.append(line)
        for reason, count in self.dropped_values.items():
            out.append(f"  dropped  {count:>6}  values: {reason}")
        for change in self.schema_changes:
            # Where BigQuery ran the steps travels with the source's notes.
            if change.get("kind") == "pushdown":
                out.append(f"  where steps ran: {change.get('message')}")
            else:
                out.append(f"  schema {change.get('kind')}: {change.get('message')}")
        if self.bodies:
            out.append(f"  request bodies written: {self.bodies}")
        elif self.files_written:
            for entry in self.files_written:
                status = entry.get("status", "written")
                out.append(
                    f"  {status:<17} {entry.get('records', 0):>8} records  {entry.get('path')}"
                )
        if self.outputs:
            shown = (
                self.outputs if len(self.outputs) <= 3 else [*self.outputs[:3], "..."]
            )
            out.append(f"  outputs: {', '.join(shown)}")
        for run in self.held_by:
            out.append(
                f"  in doubt: run {run} holds records a killed run sent without an "
                f"answer; `ctjobs show {run}` lists each batch, and `ctjobs replay "
                f"{run} --job JOB --batch B` with --as-sent (missing on CleverTap) or "
                "--confirm-landed (there) settles it"
            )
        if self.run_dir:
            out.append(f"  details: {self.run_dir}")
        if self.error:
            out.append(f"  error: {self.error}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def reason_key(code: int | None, reason: str) -> str:
    """The key rejections are grouped under: the code and the reason, numbers aside.

    Reasons carry the measured size ("is 700 bytes (max 512)"); the sizes differ
    from record to record, so bare numbers outside quotes become ``N`` and records
    rejected for the same reason are counted together.
    """
    parts = re.split(r"('[^']*')", reason)
    masked = "".join(
        part if part.startswith("'") else _NUMBER.sub("N", part) for part in parts
    )
    return f"{code}: {masked}" if code is not None else masked
