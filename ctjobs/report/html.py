"""The HTML run report: one self-contained page per run, written next to its summary.

The page carries its own CSS and SVG charts (`ctjobs.report.charts`): no script,
no font, nothing fetched, so it opens the same from a laptop, a CI artefact or an
e-mail attachment. It shows what the run read, filtered, built, rejected, sent and
had acknowledged, why records were rejected (with examples and where they came
from), the values dropped, the schema changes noticed and the files read.

Every value is escaped by the template. As a second guard, the values of the
secret variables (`SECRET_VARIABLES`) are scrubbed from the finished page, so a
passcode that found its way into an error message or a record is not published:
their values in the environment, and those in the secrets file named by
``CTJOBS_SECRETS_FILE`` (read as `ctjobs.credentials.load_credentials` reads it).
The same values are scrubbed from the run's other files and from what the ledger
stores about the run (`scrub_summary`, `scrub_frame`, `scrub_data`).

Example:
    >>> write_report(summary, ledger.rejections(run_id), run_dir / "report.html")
"""

from __future__ import annotations

import html
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import jinja2
import polars as pl
from markupsafe import escape

from ctjobs.credentials import SECRETS_FILE_VARIABLE, read_secrets_file, redact
from ctjobs.errors import UsageError
from ctjobs.job.summary import RunSummary, reason_key
from ctjobs.report.charts import bar_chart

#: Environment variables whose values must never appear in a report.
SECRET_VARIABLES = (
    "CLEVERTAP_PASSCODE",
    "CTJOBS_SFTP_PASSWORD",
    "CTJOBS_WEBHOOK_SECRET",
    "CTJOBS_WEBHOOK_PASSWORD",
)
#: Examples shown per rejection reason, and the characters of record JSON shown.
EXAMPLES_PER_REASON = 3
RECORD_CHARS = 400
#: Outputs listed by name; a dry run over a year can write thousands of bodies.
OUTPUTS_SHOWN = 20
TEMPLATE = "template.html"

# Per-mapping counts in pipeline order, with the words the CLI summary uses.
_MAPPING_COUNTS = (
    ("rows_in", "rows in"),
    ("built", "built"),
    ("rejected_preflight", "rejected before sending"),
    ("skipped_sent", "already sent"),
    ("skipped_unchanged", "unchanged"),
    ("sent", "sent"),
    ("accepted", "accepted"),
    ("rejected", "rejected by CleverTap"),
    ("pending", "pending"),
    ("written", "written"),
)
# Counts that mean nothing in a dry run (nothing is sent) or only in one.
_SENDING_ONLY = (
    "skipped_sent",
    "skipped_unchanged",
    "sent",
    "accepted",
    "rejected",
    "pending",
)
_STAGES = {"preflight": "before sending", "clevertap": "by CleverTap"}


@dataclass(frozen=True)
class MappingRow:
    """One count across the mappings, for the per-mapping table."""

    label: str
    values: list[int]
    total: int


@dataclass(frozen=True)
class Example:
    """One rejected record as shown: where it came from and its JSON, cut short."""

    source_file: str | None
    source_row: int | None
    record: str
    resolved_by: str | None


@dataclass
class Reason:
    """One rejection reason with its count, the stages that gave it and examples."""

    key: str
    count: int
    stages: list[str] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)


@dataclass(frozen=True)
class SchemaChange:
    """A schema note: its kind, its message and any other fields it carries."""

    kind: str
    message: str
    details: list[tuple[str, str]]


def write_report(summary: RunSummary, rejections: pl.DataFrame, path: Path) -> Path:
    """Write the run's HTML report to `path` and return the path.

    `rejections` is the run's frame from `Ledger.rejections` (columns stage,
    _record_key, _source_file, _source_row, type, code, reason, record,
    resolved_by); it supplies the examples shown for each reason.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(summary, rejections), encoding="utf-8")
    return path


def render_report(summary: RunSummary, rejections: pl.DataFrame) -> str:
    """The report as HTML text, with secret values scrubbed."""
    page = _template().render(**_context(summary, rejections))
    return scrub_secrets(page)


def scrub_secrets(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` with the value of every set `SECRET_VARIABLES` replaced by ``***``.

    The values are those of the environment (`environ`, ``os.environ`` by default)
    and of the secrets file it names in ``CTJOBS_SECRETS_FILE``. Each value is also
    looked for as the page would show it: HTML-escaped, and JSON-escaped inside a
    record, so quoting cannot hide a secret from the scrub.
    """
    return redact(text, _secret_forms(environ))


def scrub_data(value: Any, environ: Mapping[str, str] | None = None) -> Any:
    """`value` with every secret value scrubbed from each string in it.

    Free-text keys (a reason, a path) are scrubbed too; field names, which are
    identifiers, are the data's shape and are left as they are.

    `value` is JSON-shaped (dicts, lists, strings, numbers); each string is scrubbed
    before the data is serialised, so no later escaping can hide a secret. Two keys
    that become one (``"event 'x'"`` and ``"event '***'"``) keep both counts: numbers
    are added, anything else keeps the first value.
    """
    forms = _secret_forms(environ)
    return _scrub_value(value, forms) if forms else value


def scrub_frame(
    frame: pl.DataFrame, environ: Mapping[str, str] | None = None
) -> pl.DataFrame:
    """`frame` with every secret value scrubbed from its string columns.

    Rows are neither added nor dropped: a record that carried a secret keeps its
    place, showing ``***`` where the value was.
    """
    forms = _secret_forms(environ)
    texts = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    if not forms or not texts:
        return frame

    def scrubbed(name: str) -> pl.Expr:
        expr = pl.col(name)
        for form in forms:  # longest first and as ``***``, as `redact` does
            expr = expr.str.replace_all(form, "***", literal=True)
        return expr

    return frame.with_columns(scrubbed(name) for name in texts)


def scrub_summary(
    summary: RunSummary, environ: Mapping[str, str] | None = None
) -> RunSummary:
    """Scrub every secret value from `summary` in place (see `scrub_data`); return it.

    Counts are kept: only texts change, and reasons that become one are added up.
    """
    if not _secret_forms(environ):
        return summary
    clean = RunSummary.from_dict(scrub_data(summary.to_dict(), environ))
    for item in fields(summary):
        setattr(summary, item.name, getattr(clean, item.name))
    return summary


def _secret_forms(environ: Mapping[str, str] | None) -> list[str]:
    """Every form of every secret value, longest first."""
    forms = {form for value in secret_values(environ) for form in _forms(value)}
    return sorted(forms, key=len, reverse=True)


def _scrub_value(value: Any, forms: list[str]) -> Any:
    if isinstance(value, str):
        return redact(value, forms)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            # Field names are the data's shape, not its content: only free-text
            # keys (a reason, a path) can carry a secret, and only they are scrubbed.
            free = isinstance(key, str) and not key.isidentifier()
            name = _scrub_value(key, forms) if free else key
            clean = _scrub_value(item, forms)
            if name in out and _is_number(out[name]) and _is_number(clean):
                out[name] += clean
            else:
                out.setdefault(name, clean)
        return out
    if isinstance(value, list | tuple):
        return type(value)(_scrub_value(item, forms) for item in value)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of `SECRET_VARIABLES` set in `environ` or in its secrets file.

    A value is taken as written and, as credentials are used, with surrounding
    whitespace stripped. A secrets file that cannot be read holds nothing to hide
    (a run that needed it has already failed on it).
    """
    env = os.environ if environ is None else environ
    found = [env.get(name, "") for name in SECRET_VARIABLES]
    secrets_file = env.get(SECRETS_FILE_VARIABLE)
    if secrets_file:
        try:
            held = read_secrets_file(secrets_file)
        except UsageError:
            held = {}
        found += [held.get(name, "") for name in SECRET_VARIABLES]
    values = {form for value in found for form in (value, value.strip())}
    return sorted(v for v in values if v)


def _forms(value: str) -> set[str]:
    """`value` raw, JSON-escaped, and each of those as an HTML escaper writes it."""
    in_json = json.dumps(value)[1:-1]
    return {
        shown
        for text in (value, in_json)
        for shown in (text, str(escape(text)), html.escape(text))
    }


@cache
def _template() -> jinja2.Template:
    # The template ships as package data, so it is read through importlib.resources
    # and works from a wheel as well as from a checkout.
    text = resources.files("ctjobs.report").joinpath(TEMPLATE).read_text("utf-8")
    environment = jinja2.Environment(
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["n"] = _count
    return environment.from_string(text)


def _count(value: int | float) -> str:
    """A count with thousands separators, as the page shows every count."""
    return f"{value:,}"


# ------------------------------------------------------------------ the page's data


def _context(summary: RunSummary, rejections: pl.DataFrame) -> dict[str, Any]:
    """Everything the template shows, computed here so the template only lays out."""
    reasons = _reasons(summary, rejections)
    timings = sorted(summary.timings.items(), key=lambda item: _stage_order(item[0]))
    return {
        "version": _version(),
        "s": summary,
        "mappings": summary.mappings,
        "mapping_rows": _mapping_rows(summary),
        "funnel_chart": bar_chart(_funnel(summary), title="From rows to records"),
        "timings": timings,
        "timings_chart": bar_chart(
            timings, title="Seconds per stage", color="#009E73", decimals=3
        ),
        "reasons": reasons,
        "examples_per_reason": EXAMPLES_PER_REASON,
        "reasons_chart": bar_chart(
            [(r.key, r.count) for r in reasons],
            title="Rejected records by reason",
            label_width=320,
            color="#D55E00",
        ),
        "dropped": sorted(summary.dropped_values.items(), key=lambda item: -item[1]),
        "schema_changes": [_schema_change(note) for note in summary.schema_changes],
        "outputs": summary.outputs[:OUTPUTS_SHOWN],
        "more_outputs": max(len(summary.outputs) - OUTPUTS_SHOWN, 0),
    }


def _version() -> str:
    # Read from the installed metadata rather than `ctjobs.__version__`, so the
    # report never imports the whole public API from inside a run.
    try:
        return metadata.version("ctjobs")
    except metadata.PackageNotFoundError:
        return "(version unknown)"


def _stage_order(stage: str) -> int:
    order = ("read", "transform", "build", "write")
    return order.index(stage) if stage in order else len(order)


def _shown_counts(summary: RunSummary) -> list[tuple[str, str]]:
    """The per-mapping counts worth a row: a dry run sends nothing, so skip those."""
    if not summary.dry_run:
        written = summary.total("written") > 0
        return [c for c in _MAPPING_COUNTS if c[0] != "written" or written]
    return [c for c in _MAPPING_COUNTS if c[0] not in _SENDING_ONLY]


def _mapping_rows(summary: RunSummary) -> list[MappingRow]:
    rows = []
    for attribute, label in _shown_counts(summary):
        values = [int(getattr(m, attribute)) for m in summary.mappings]
        rows.append(MappingRow(label, values, sum(values)))
    return rows


def _funnel(summary: RunSummary) -> list[tuple[str, float]]:
    """The bars of the funnel: the run's rows, then its records stage by stage."""
    bars: list[tuple[str, float]] = [
        ("rows read", summary.rows_read),
        ("filtered out", summary.rows_filtered_out),
        ("rows after transforms", summary.rows_after_transforms),
    ]
    for attribute, label in _shown_counts(summary):
        if attribute != "rows_in":
            bars.append((f"records {label}", summary.total(attribute)))
    return bars


def _reasons(summary: RunSummary, rejections: pl.DataFrame) -> list[Reason]:
    """Rejection reasons, most frequent first, each with a few stored examples.

    The counts are the summary's (what the CLI printed); the stages and examples
    come from the ledger's rows, grouped by the same reason key.
    """
    reasons = {
        key: Reason(key, count) for key, count in summary.rejected_by_reason.items()
    }
    stored: Counter[str] = Counter()
    for row in rejections.iter_rows(named=True):
        key = reason_key(row["code"], str(row["reason"] or ""))
        stored[key] += 1
        _add_example(reasons.setdefault(key, Reason(key, 0)), row)
    for reason in reasons.values():
        # A reason the ledger holds but the summary lacks is counted from the ledger.
        reason.count = reason.count or stored[reason.key]
    return sorted(reasons.values(), key=lambda r: (-r.count, r.key))


def _add_example(reason: Reason, row: Mapping[str, Any]) -> None:
    stage = _STAGES.get(str(row["stage"]), str(row["stage"]))
    if stage not in reason.stages:
        reason.stages.append(stage)
    if len(reason.examples) < EXAMPLES_PER_REASON:
        reason.examples.append(
            Example(
                source_file=row["_source_file"],
                source_row=row["_source_row"],
                record=_truncate(str(row["record"] or ""), RECORD_CHARS),
                resolved_by=row["resolved_by"],
            )
        )


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _schema_change(note: Mapping[str, Any]) -> SchemaChange:
    details = [
        (str(k), _plain(v)) for k, v in note.items() if k not in {"kind", "message"}
    ]
    return SchemaChange(
        str(note.get("kind", "")), str(note.get("message", "")), details
    )


def _plain(value: Any) -> str:
    """A note's value as text: JSON for containers, str for the rest."""
    if isinstance(value, Iterable) and not isinstance(value, str):
        return json.dumps(value, default=str)
    return str(value)


__all__ = [
    "SECRET_VARIABLES",
    "render_report",
    "scrub_data",
    "scrub_frame",
    "scrub_secrets",
    "scrub_summary",
    "secret_values",
    "write_report",
]
