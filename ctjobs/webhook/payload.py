"""CleverTap webhook payloads: check the shape and turn a delivery into landing rows.

A payload is ``{"targetId", "key_values", "profiles", ...}``; ``profiles`` is an array
or, for personalised content, a single object. CleverTap's test payload adds
``"is_test": true``. Keys this module does not know are kept: the payload's in
``payload_extra``, the profile's in the raw ``profile`` JSON.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

KNOWN_PAYLOAD_KEYS = frozenset({"targetId", "key_values", "profiles", "is_test"})
# Column name -> the profile key it comes from, matched without regard to case,
# since CleverTap sends "identity" in campaigns and "Identity" in the test payload.
PROFILE_IDENTIFIERS = {
    "identity": "identity",
    "objectId": "objectid",
    "email": "email",
    "push_token": "push_token",
}
PROFILE_JSON_FIELDS = {
    "profileData": "profiledata",
    "event_properties": "event_properties",
}


class PayloadRejected(ValueError):
    """A body that is not JSON or not a CleverTap webhook payload."""


@dataclass(frozen=True)
class Delivery:
    """One accepted POST: its id, whether it is CleverTap's test, and its rows."""

    payload_id: str
    is_test: bool
    received_at: datetime
    rows: list[dict[str, Any]]

    def jsonl(self) -> bytes:
        """The rows as JSON lines, each ending in a newline."""
        return b"".join(_dumps(row).encode() + b"\n" for row in self.rows)


def parse_delivery(body: bytes, received_at: datetime) -> Delivery:
    """Check ``body`` and build its landing rows; raise `PayloadRejected` if unfit."""
    payload = _load_json(body)
    is_test = _check_shape(payload)
    payload_id = hashlib.sha256(_dumps(payload).encode()).hexdigest()
    rows = _landing_rows(payload, payload_id, is_test, received_at)
    return Delivery(payload_id, is_test, received_at, rows)


def _dumps(value: object) -> str:
    # One canonical text for a value, so a retry with other spacing or key order
    # gets the same payload id.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _load_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PayloadRejected(f"body is not UTF-8 text: {exc.reason}") from exc
    except json.JSONDecodeError as exc:
        raise PayloadRejected(
            f"body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc


def _check_shape(payload: Any) -> bool:
    """Return ``is_test`` after checking the CleverTap keys; raise if misshapen."""
    if not isinstance(payload, dict):
        raise PayloadRejected(
            f"expected a JSON object with 'profiles', got a {type(payload).__name__}"
        )
    is_test: object = payload.get("is_test", False)
    if not isinstance(is_test, bool):
        raise PayloadRejected("'is_test' must be true or false")
    if "profiles" not in payload:
        found = ", ".join(sorted(payload)) or "none"
        raise PayloadRejected(f"no 'profiles' key; keys found: {found}")
    _check_profiles(payload["profiles"])
    if not isinstance(payload.get("key_values", {}), dict | None):
        raise PayloadRejected("'key_values' must be an object")
    if "targetId" in payload:
        _target_id(payload["targetId"])
    elif not is_test:
        raise PayloadRejected("no 'targetId' key: CleverTap sends the campaign id")
    return is_test


def _check_profiles(profiles: Any) -> None:
    if isinstance(profiles, dict):
        return
    if not isinstance(profiles, list):
        raise PayloadRejected("'profiles' must be an array or an object")
    for index, profile in enumerate(profiles):
        if not isinstance(profile, dict):
            raise PayloadRejected(f"profiles[{index}] is not an object")


def _target_id(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise PayloadRejected(f"'targetId' must be an integer, got {value!r:.40}")


def _landing_rows(
    payload: dict[str, Any], payload_id: str, is_test: bool, received_at: datetime
) -> list[dict[str, Any]]:
    profiles = payload["profiles"]
    profiles = [profiles] if isinstance(profiles, dict) else profiles
    extra = {k: v for k, v in payload.items() if k not in KNOWN_PAYLOAD_KEYS}
    common: dict[str, Any] = {
        "payload_id": payload_id,
        "targetId": _target_id(payload.get("targetId")),
        "key_values": _json_or_none(payload.get("key_values")),
        "received_at": received_at.isoformat().replace("+00:00", "Z"),
        "profile_count": len(profiles),
        "payload_extra": _dumps(extra) if extra else None,
        "is_test": is_test,
    }
    if not profiles:
        # An empty delivery still lands one row, so its key_values are not lost
        # and its payload id can be found in the landing files.
        return [{**common, "profile_index": None, **_profile_columns({})}]
    return [
        {**common, "profile_index": index, **_profile_columns(profile)}
        for index, profile in enumerate(profiles)
    ]


def _profile_columns(profile: dict[str, Any]) -> dict[str, Any]:
    by_lower = {key.lower(): value for key, value in profile.items()}
    columns: dict[str, Any] = {
        column: _text_or_none(by_lower.get(key))
        for column, key in PROFILE_IDENTIFIERS.items()
    }
    for column, key in PROFILE_JSON_FIELDS.items():
        columns[column] = _json_or_none(by_lower.get(key))
    columns["profile"] = _dumps(profile) if profile else None
    return columns


def _text_or_none(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | dict | list):
        return _dumps(value)
    return str(value)


def _json_or_none(value: Any) -> str | None:
    return None if value is None else _dumps(value)
