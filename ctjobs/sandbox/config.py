"""The settings of a sandbox: credentials, CleverTap's limits, faults to inject."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# Settings that `POST /_sandbox/config` may not change while the server runs:
# the store file is opened once at start.
FIXED_AT_START = frozenset({"store_path"})


class SandboxConfig(BaseModel):
    """How a sandbox behaves: which credentials it accepts, its limits, its faults."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    account_id: str = Field(
        description="Account ID accepted in X-CleverTap-Account-Id."
    )
    passcode: str = Field(
        repr=False, description="Passcode accepted in X-CleverTap-Passcode (secret)."
    )
    max_in_flight: int = Field(
        default=15,
        ge=1,
        description="Uploads processed at once; one more gets HTTP 429.",
    )
    max_records: int = Field(
        default=1000,
        ge=1,
        description="Records allowed in one request; more gets HTTP 400.",
    )
    latency_ms: int = Field(
        default=0,
        ge=0,
        description="Least time an upload takes; the sandbox's own work is within.",
    )
    error_rate: float = Field(
        default=0, ge=0, le=1, description="Share of uploads answered 500 or 503."
    )
    drop_rate: float = Field(
        default=0,
        ge=0,
        le=1,
        description="Share of uploads whose connection is closed.",
    )
    slow_rate: float = Field(
        default=0, ge=0, le=1, description="Share of uploads delayed by slow_ms more."
    )
    slow_ms: int = Field(default=0, ge=0, description="Extra delay of a slow upload.")
    retry_after: int | None = Field(
        default=None, ge=0, description="Seconds sent as Retry-After on 429 and 503."
    )
    record_as_string: bool = Field(
        default=False,
        description="Echo rejected records as JSON text instead of objects.",
    )
    legacy_shape: bool = Field(
        default=False,
        description="Answer rejections as {record JSON: message}, no code.",
    )
    max_event_properties: int = Field(
        default=100,
        ge=1,
        description="Properties allowed in one evtData (code 522 above).",
    )
    identity_max_length: int = Field(
        default=1024, ge=1, description="Longest identifier accepted (code 523 above)."
    )
    discarded_events: list[str] = Field(
        default_factory=list, description="Event names discarded (code 528)."
    )
    store_path: str | None = Field(
        default=None,
        description="JSONL file that keeps accepted records across restarts.",
    )
    seed: int | None = Field(
        default=None, description="Seed of the fault dice, for repeats."
    )

    def public_view(self) -> dict[str, object]:
        """The settings as JSON-ready values, with the passcode masked."""
        view = self.model_dump()
        view["passcode"] = "***"
        return view
