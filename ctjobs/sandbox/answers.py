"""The JSON bodies the sandbox answers with, in the shapes CleverTap has used."""

from __future__ import annotations

from typing import Any

from ctjobs.sandbox import codec
from ctjobs.sandbox.validation import BatchVerdict, RejectedRecord


def failure_body(code: int, error: str) -> dict[str, Any]:
    """The body of a request refused as a whole (400, 401, 429, 500, 503)."""
    return {"status": "fail", "error": error, "code": code}


def upload_body(
    verdict: BatchVerdict, *, record_as_string: bool, legacy_shape: bool
) -> dict[str, Any]:
    """The HTTP 200 body of a checked batch, rejected records in `unprocessed`."""
    if legacy_shape:
        unprocessed = [_legacy_entry(rejected) for rejected in verdict.rejected]
    else:
        unprocessed = [
            _entry(rejected, record_as_string=record_as_string)
            for rejected in verdict.rejected
        ]
    processed = len(verdict.accepted)
    return {
        "status": batch_status(processed, len(unprocessed)),
        "processed": processed,
        "unprocessed": unprocessed,
    }


def batch_status(processed: int, unprocessed: int) -> str:
    """success when nothing failed, fail when nothing passed, partial otherwise."""
    if unprocessed == 0:
        return "success"
    return "fail" if processed == 0 else "partial"


def _message(rejected: RejectedRecord) -> str:
    return f"{rejected.rejection.reason} Skipped record number : {rejected.position}"


def _entry(rejected: RejectedRecord, *, record_as_string: bool) -> dict[str, Any]:
    record = rejected.record
    return {
        "status": "fail",
        "code": rejected.rejection.code,
        "error": _message(rejected),
        "record": codec.dumps(record) if record_as_string else record,
    }


def _legacy_entry(rejected: RejectedRecord) -> dict[str, Any]:
    # The 2017 shape: the record's JSON text is the key, the message the value.
    return {codec.dumps(rejected.record): _message(rejected)}
