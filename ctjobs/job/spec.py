"""The job file: a TOML document read into typed, validated models.

A job says where rows come from (``[source]``), how they are reshaped
(``[[transforms]]``), how rows become CleverTap records (``[[records]]``), what
pre-flight rules apply (``[validation]``) and where records go (``[writer]``).
Credentials never belong in a job file: they come from the environment or a
secrets file, and a job file that holds one is refused.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ctjobs.errors import JobFileError

SchemaPolicy = Literal["evolve", "warn", "freeze", "discard"]
_DEFAULT_POLICY: dict[str, SchemaPolicy] = {
    "added": "evolve",
    "removed": "warn",
    "retyped": "warn",
}
# Key names that hold credentials wherever they appear (storage_options included).
_SECRET_PARTS = (
    "passcode",
    "password",
    "secret",
    "private_key",
    "credential",
    "access_key",
    "_token",
)
_SECRET_KEYS = {"passcode", "password", "secret", "token", "private_key"}
# In storage_options, s3fs's `key` is an access key.
_STORAGE_SECRET_KEYS = {"key"}
# Keys that name where credentials are (a file, a profile), not the credentials.
_REFERENCE_KEYS = {"credentials_file", "profile", "aws_profile"}
_REFERENCE_SUFFIXES = ("_file", "_path", "_filename")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# ---------------------------------------------------------------- source


class SourceSpec(_Model):
    """Where the job's rows come from."""

    kind: Literal["export", "bigquery", "webhook"] = Field(
        "export",
        description="export files, a BigQuery table or query, or webhook landings",
    )
    paths: list[str] = Field(
        default_factory=list, description="paths, globs or s3:// / gs:// URLs of files"
    )
    format: Literal["csv", "parquet", "json"] | None = Field(
        None, description="file format; guessed from the file names when left out"
    )
    timezone: str = Field(
        "UTC",
        description="timezone of naive times in the source (CleverTap's packed ts)",
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            message = (
                f"unknown timezone {name!r}; use an IANA name such as "
                "'Asia/Kolkata' or 'UTC' (the CleverTap project's timezone)"
            )
            raise ValueError(message) from None
        return name

    schema_overrides: dict[str, str] = Field(
        default_factory=dict,
        description="declared column types, which win over inference",
    )
    widening: Literal["widen", "error"] = Field(
        "widen",
        description="what to do when one column has different types across files",
    )
    storage_options: dict[str, Any] = Field(
        default_factory=dict, description="fsspec options (endpoint_url, profile...) "
    )
    # BigQuery
    project: str | None = Field(None, description="BigQuery project to bill and query")
    table: str | None = Field(
        None, description="BigQuery table, `project.dataset.table`"
    )
    query: str | None = Field(None, description="BigQuery SQL instead of a table")
    date_column: str | None = Field(
        None, description="column that bounds --from / --to"
    )
    endpoint: str | None = Field(None, description="BigQuery API endpoint override")
    # Incremental runs
    incremental: bool = Field(
        False, description="process only files (or rows) not processed by earlier runs"
    )
    lookback_hours: int = Field(
        0, description="BigQuery: re-read this many hours before the watermark"
    )

    @model_validator(mode="after")
    def _has_location(self) -> SourceSpec:
        if self.kind in {"export", "webhook"} and not self.paths:
            message = "source: give `paths` (files, globs or URLs) for this source kind"
            raise ValueError(message)
        if self.kind == "bigquery" and not (self.table or self.query):
            raise ValueError("source: a BigQuery source needs `table` or `query`")
        return self


# ---------------------------------------------------------------- transforms


class RenameStep(_Model):
    """Rename columns, old name to new name."""

    step: Literal["rename"]
    columns: dict[str, str]


class SelectStep(_Model):
    """Keep only these columns."""

    step: Literal["select"]
    columns: list[str]


class DropStep(_Model):
    """Drop these columns."""

    step: Literal["drop"]
    columns: list[str]


class FilterStep(_Model):
    """Keep rows where a SQL condition holds."""

    step: Literal["filter"]
    where: str = Field(description='SQL condition; quote dotted names: "eventProps.X"')


class ComputeStep(_Model):
    """Add or replace columns computed from SQL expressions."""

    step: Literal["with_columns"]
    columns: dict[str, str]


class CastStep(_Model):
    """Cast columns to named types (string, int, float, bool, date, datetime)."""

    step: Literal["cast"]
    columns: dict[str, str]


class LookupStep(_Model):
    """Join a lookup file on a key, with defaults for keys it does not hold."""

    step: Literal["lookup"]
    path: str = Field(
        description="lookup file (CSV or Parquet), relative to the job file"
    )
    on: str = Field(description="the key column in the rows")
    lookup_on: str | None = Field(None, description="the key column in the lookup file")
    columns: list[str] | None = Field(None, description="lookup columns to bring in")
    defaults: dict[str, Any] = Field(default_factory=dict)
    how: Literal["left", "inner"] = "left"


class DeduplicateStep(_Model):
    """Drop repeated rows."""

    step: Literal["deduplicate"]
    subset: list[str] | None = None
    keep: Literal["first", "last"] = "first"


class AggregateStep(_Model):
    """One row per group, with SQL aggregate expressions."""

    step: Literal["aggregate"]
    by: list[str]
    aggs: dict[str, str]


class FlattenStep(_Model):
    """Spread a struct or JSON-object column into dotted columns."""

    step: Literal["flatten"]
    column: str
    separator: str = "."


Step = Annotated[
    RenameStep
    | SelectStep
    | DropStep
    | FilterStep
    | ComputeStep
    | CastStep
    | LookupStep
    | DeduplicateStep
    | AggregateStep
    | FlattenStep,
    Field(discriminator="step"),
]


# ---------------------------------------------------------------- records


class RecordSpec(_Model):
    """How rows become CleverTap records of one kind."""

    name: str = Field("", description="a short name for this mapping, used in reports")
    kind: Literal["event", "profile"]
    steps: list[Step] = Field(
        default_factory=list,
        description="transforms for this mapping only (aggregate...)",
    )
    identity: str = Field(description="column holding the identifier")
    identity_field: Literal["identity", "objectId", "FBID", "GPID"] = "identity"
    ts: str | None = Field(None, description="column holding the record's time")
    event_name: str | None = Field(None, description="column holding the event name")
    event_name_value: str | None = Field(None, description="a fixed event name")
    properties: dict[str, str] = Field(
        default_factory=dict, description="CleverTap property name -> source column"
    )
    include: list[str] = Field(
        default_factory=list,
        description="column globs sent as properties (prefix dropped)",
    )
    exclude: list[str] = Field(
        default_factory=list, description="column globs never sent"
    )
    dates: list[str] = Field(
        default_factory=list, description="properties to send as $D_ dates"
    )
    change_only: bool = Field(
        False, description="profiles: send only profiles whose properties changed"
    )
    emptied: Literal["keep", "delete"] = Field(
        "keep",
        description=(
            "change-only profiles, a property sent before that is now empty: keep "
            'CleverTap\'s value, or delete it with {"$delete": true} (that form '
            "is documented for the SDKs and SFTP imports, not yet for /1/upload)"
        ),
    )

    @model_validator(mode="after")
    def _event_has_name(self) -> RecordSpec:
        if self.kind == "event" and not (self.event_name or self.event_name_value):
            raise ValueError(
                "records: an event mapping needs event_name or event_name_value"
            )
        return self


# ---------------------------------------------------------------- validation


class ValidationSpec(_Model):
    """Pre-flight rules, checked before anything is sent."""

    identity_max_length: int = Field(1024, description="longest identity accepted")
    # CleverTap documents no objectId format (unconfirmed): these defaults are the
    # CleverTap IDs seen in samples, "__g…" / "-g…" letters, digits and symbols.
    object_id_max_length: int = Field(
        64, description="longest objectId accepted (unconfirmed limit)"
    )
    object_id_characters: str = Field(
        r"A-Za-z0-9_\-:@$!()",
        description="regex character class an objectId may use (unconfirmed)",
    )
    max_item_properties: int = Field(
        100, description="keys per Charged Items entry (unconfirmed limit)"
    )
    allow_incr_decr: bool = Field(
        False,
        description="send $incr/$decr profile commands (unconfirmed for /1/upload)",
    )
    allow_missing_ts: bool = Field(
        False, description="events without ts go out stamped 'now' by CleverTap"
    )
    ts_min: str = Field("2000-01-01", description="earliest plausible ts (date)")
    ts_max_future_days: int = Field(
        1, description="latest plausible ts, days after now"
    )
    millis: Literal["convert", "reject"] = Field(
        "convert", description="what to do with ts values in milliseconds"
    )
    discarded_events: list[str] = Field(default_factory=list)
    max_event_properties: int = Field(100, description="CleverTap's default is 100")
    max_profile_properties: int = Field(256)
    max_key_length: int = Field(120)
    max_value_bytes: int = Field(512)
    nested_events: Literal["flatten", "json", "reject"] = Field(
        "json", description="nested event properties other than Charged's Items"
    )
    nested_profiles: Literal["flatten", "json", "reject", "keep"] = Field("json")
    non_finite: Literal["drop", "reject"] = Field(
        "drop", description="NaN and infinities: drop the value (counted) or the record"
    )
    default_country: str = Field("IN", description="country for phones without +code")


# ---------------------------------------------------------------- writer


class WriterSpec(_Model):
    """Where records go."""

    kind: Literal["upload", "sftp", "files", "dry-run"] = "upload"
    region: str | None = Field(
        None, description="CleverTap region (in1, sg1, us1, aps3, mec1, eu1)"
    )
    url: str | None = Field(None, description="explicit API base URL (the sandbox)")
    max_records: int = Field(1000, ge=1, le=1000, description="records per request")
    max_bytes: int = Field(4 * 1024 * 1024, description="bytes per request body")
    concurrency: int = Field(15, ge=1, le=15, description="requests in flight")
    max_attempts: int = Field(8, ge=1, description="tries per batch before pending")
    timeout_s: float = Field(60.0, description="seconds to wait for an answer")
    in_doubt: Literal["hold", "resend"] = Field(
        "hold",
        description=(
            "batches a killed run sent but never saw answered: hold them pending "
            "(no duplicates; replay after checking) or resend them (no gaps)"
        ),
    )
    # SFTP / files
    host: str | None = None
    port: int = 22
    username: str | None = None
    key_path: str | None = None
    known_hosts: str | None = None
    accept_unknown_host: bool = False
    remote_dir: str = "."
    out: str | None = Field(None, description="folder or URL for import files")
    client_email: str | None = None
    max_file_bytes: int = Field(1024**3, description="split CSVs above this size")
    manifest_type_case: Literal["lower", "upper"] = Field(
        "lower",
        description="spelling of the manifest's type: event/profile or EVENT/PROFILE",
    )


class JobSpec(_Model):
    """A whole job file."""

    name: str = Field(description="the job's name; the ledger keys its state on it")
    description: str = ""
    ledger: str | None = Field(
        None, description="SQLite ledger path (default .ctjobs/)"
    )
    source: SourceSpec
    transforms: list[Step] = Field(default_factory=list)
    records: list[RecordSpec] = Field(min_length=1)
    validation: ValidationSpec = Field(default_factory=ValidationSpec)
    writer: WriterSpec = Field(default_factory=WriterSpec)
    schema_policy: dict[str, SchemaPolicy] = Field(
        default_factory=lambda: dict(_DEFAULT_POLICY)
    )
    base_dir: Path = Field(Path("."), exclude=True)

    @model_validator(mode="after")
    def _mappings_are_told_apart(self) -> JobSpec:
        # A record's key is its source row plus its mapping's kind and name: two
        # mappings of one kind under one name would share keys, and the second
        # one's records would count as already sent.
        seen: dict[tuple[str, str], int] = {}
        for number, mapping in enumerate(self.records, start=1):
            label = (mapping.kind, mapping.name)
            if label in seen:
                named = f"named {mapping.name!r}" if mapping.name else "unnamed"
                message = (
                    f"records {seen[label]} and {number} are both {named} "
                    f"{mapping.kind} mappings; give each [[records]] its own `name`"
                )
                raise ValueError(message)
            seen[label] = number
        return self

    @model_validator(mode="after")
    def _deletions_need_the_api(self) -> JobSpec:
        # Import files carry each property's value in a typed column, where a
        # deletion found by comparing with the last sync has no place: refuse the
        # pair rather than let the deletions silently not happen.
        if self.writer.kind not in ("sftp", "files"):
            return self
        for number, mapping in enumerate(self.records, start=1):
            if mapping.change_only and mapping.emptied == "delete":
                message = (
                    f'records {number}: emptied = "delete" is sent only by the '
                    f"upload writer, not by the {self.writer.kind} import writer; "
                    'set emptied = "keep" or send this mapping with kind = "upload"'
                )
                raise ValueError(message)
        return self


def _looks_secret(key: str, value: Any = None, *, storage: bool = False) -> bool:
    """Whether `key` (with `value`) holds a credential rather than says where one is.

    ``credentials_file``, ``profile`` and keys ending in ``_file`` / ``_path`` name
    a file or a profile, and are allowed while their value reads as one (a single
    line, not JSON or a PEM block). In `storage` options, ``key`` is a secret too.
    """
    name = key.lower()
    if name in _REFERENCE_KEYS or name.endswith(_REFERENCE_SUFFIXES):
        return not _names_a_place(value)
    if storage and name in _STORAGE_SECRET_KEYS:
        return True
    return name in _SECRET_KEYS or any(part in name for part in _SECRET_PARTS)


def _names_a_place(value: Any) -> bool:
    """A file path or profile name, not inline key material."""
    if value is None or value == "":
        return True
    if not isinstance(value, str):
        return False
    text = value.strip()
    return "\n" not in text and not text.startswith(("{", "[")) and "-----" not in text


def _find_secret(data: Any, where: str = "", *, storage: bool = False) -> str | None:
    if isinstance(data, dict):
        for key, value in data.items():
            if _looks_secret(str(key), value, storage=storage) and value:
                return f"{where}{key}"
            inside = storage or str(key).lower() == "storage_options"
            found = _find_secret(value, f"{where}{key}.", storage=inside)
            if found:
                return found
    if isinstance(data, list):
        for item in data:
            found = _find_secret(item, where, storage=storage)
            if found:
                return found
    return None


def _problem(error: Any) -> str:
    """One validation problem in the job file's own terms (lists counted from 1)."""
    where = " ".join(
        str(p + 1) if isinstance(p, int) else str(p)
        for p in error["loc"]
        if not (isinstance(p, str) and p.endswith("Step"))
    )
    if error["type"] == "union_tag_invalid":
        tag = error.get("ctx", {}).get("tag")
        expected = error.get("ctx", {}).get("expected_tags", "")
        return f"{where}: unknown step {tag!r}; use one of: {expected}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def parse_job(
    data: dict[str, Any], *, origin: str = "<job>", base_dir: Path | None = None
) -> JobSpec:
    """A `JobSpec` from already-parsed TOML data."""
    secret = _find_secret(data)
    if secret:
        message = (
            f"{origin}: `{secret}` looks like a credential; job files must not hold "
            "secrets. Set CLEVERTAP_ACCOUNT_ID / CLEVERTAP_PASSCODE (or the SFTP "
            "password variable) in the environment instead, and storage keys in the "
            "environment or a profile (storage_options may name the profile)"
        )
        raise JobFileError(message)
    try:
        spec = JobSpec.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(_problem(e) for e in error.errors())
        raise JobFileError(f"{origin}: {problems}") from None
    spec.base_dir = base_dir or Path(".")
    return spec


def load_job(path: str | Path) -> JobSpec:
    """Read and validate a job file.

    Example:
        >>> spec = ct.load_job("jobs/sample_round_trip.toml")
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JobFileError(f"{path}: no such job file") from None
    except tomllib.TOMLDecodeError as error:
        raise JobFileError(f"{path}: not valid TOML ({error})") from None
    except UnicodeDecodeError as error:
        message = (
            f"{path}: not UTF-8 text (byte {error.start}); save the job file as UTF-8"
        )
        raise JobFileError(message) from None
    except OSError as error:
        raise JobFileError(f"{path}: cannot be read ({error.strerror})") from None
    return parse_job(data, origin=str(path), base_dir=path.parent)
