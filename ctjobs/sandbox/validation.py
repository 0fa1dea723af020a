"""Checks of an upload body and of each record in it, written from CleverTap's docs.

A body that is not `{"d": [...]}` or holds too many records fails as a whole
(`MalformedBatch`, HTTP 400). Otherwise every record is checked alone and a
rejected record gets the numeric code CleverTap puts in `unprocessed`.

Where the docs name no code, the sandbox chooses one:

- 512 for any malformed structure: nested values, `Items` misuse, a missing or
  non-object `evtData`/`profileData`, banned characters in a name, a bad
  `$D_` date, in events and profiles alike.
- 522 for sizes: too many event properties, a key over 120 characters, a
  string value over 512 bytes, a multi-value list over 100 items; in events
  and profiles alike.
- 523 for an identifier that is too long or of the wrong type.
- 526 for an `objectId` that is not 1 to 64 letters, digits or `_ - : @ $ ! ( )`.
- Phone numbers must be `+` and 6 to 15 digits, the first not 0.
- `Education` accepts School, College or Graduate in any letter case;
  `Age` accepts a non-negative number or a string of digits.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ctjobs.sandbox import codec

IDENTIFIER_KEYS = ("identity", "objectId", "FBID", "GPID")
BANNED_NAME_CHARACTERS = frozenset("%><!|&.:;$'\"\\")
BANNED_PROFILE_KEY_CHARACTERS = BANNED_NAME_CHARACTERS | {"#"}
RESERVED_EVENT_NAMES = (
    "Notification Sent",
    "Notification Viewed",
    "Notification Clicked",
    "Notification Delivered",
    "Notification Replied",
    "UTM Visited",
    "App Launched",
    "App Uninstalled",
    "App Version Changed",
    "Stayed",
    "Reply Sent",
    "Experiment Rendered",
    "Reachable By",
    "Identity Reset",
    "Identity Set",
    "Identity Error",
)
PROFILE_OPERATIONS = frozenset({"$add", "$remove", "$set", "$delete", "$incr", "$decr"})
MAX_KEY_CHARACTERS = 120
MAX_VALUE_BYTES = 512
MAX_CHARGED_ITEMS = 256
MAX_MULTI_VALUES = 100
# Epoch seconds stay below 10**11 until the year 5138; larger values are milliseconds.
MAX_EPOCH_SECONDS = 10**11

_OBJECT_ID = re.compile(r"[A-Za-z0-9_\-:@$!()]{1,64}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"\+[1-9][0-9]{5,14}")
_EDUCATION = frozenset({"school", "college", "graduate"})
_PLAIN_SCALARS = frozenset({int, float, bool, type(None)})
_SHORT_TEXT = MAX_VALUE_BYTES // 4


def event_key(name: str) -> str:
    """The form CleverTap compares event names in: no spaces, any letter case."""
    return "".join(name.split()).lower()


_RESERVED_EVENT_KEYS = frozenset(event_key(name) for name in RESERVED_EVENT_NAMES)
_CHARGED = event_key("Charged")


class MalformedBatch(ValueError):
    """The body as a whole cannot be taken: not JSON, not `{"d": [...]}`, too big."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one record was refused: CleverTap's code and a sentence ending in '.'."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """A refused record with its 1-based position in the batch."""

    position: int
    record: Any
    rejection: Rejection


@dataclass(frozen=True, slots=True)
class RecordRules:
    """The account-level limits the per-record checks depend on."""

    max_event_properties: int = 100
    identity_max_length: int = 1024
    discarded_events: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls,
        *,
        max_event_properties: int,
        identity_max_length: int,
        discarded_events: list[str],
    ) -> RecordRules:
        """Rules with discarded event names put in CleverTap's comparison form."""
        return cls(
            max_event_properties=max_event_properties,
            identity_max_length=identity_max_length,
            discarded_events=frozenset(event_key(name) for name in discarded_events),
        )


@dataclass(slots=True)
class BatchVerdict:
    """The records of one batch, split into accepted and rejected."""

    accepted: list[Any] = field(default_factory=list)
    rejected: list[RejectedRecord] = field(default_factory=list)


def parse_batch(body: bytes, *, max_records: int) -> list[Any]:
    """The records of an upload body, or MalformedBatch saying why there are none."""
    try:
        payload = codec.loads(body)
    except (ValueError, RecursionError) as error:
        raise MalformedBatch("Malformed request") from error

    records = payload.get("d") if isinstance(payload, dict) else None
    if not isinstance(records, list):
        raise MalformedBatch("Malformed request")
    if len(records) > max_records:
        raise MalformedBatch(
            f"Malformed request: {len(records)} records, at most {max_records} "
            "are allowed in one request"
        )
    return records


def check_batch(records: list[Any], rules: RecordRules) -> BatchVerdict:
    """Check every record of a batch, keeping the batch order."""
    verdict = BatchVerdict()
    for position, record in enumerate(records, start=1):
        rejection = check_record(record, rules)
        if rejection is None:
            verdict.accepted.append(record)
        else:
            verdict.rejected.append(RejectedRecord(position, record, rejection))
    return verdict


def check_record(record: Any, rules: RecordRules) -> Rejection | None:
    """The first problem CleverTap would report for one record, or None if valid."""
    if not isinstance(record, dict):
        return Rejection(524, "Record is not a JSON object.")
    kind = record.get("type")
    if kind not in ("event", "profile"):
        return Rejection(
            524, f"Record type {_show(kind)} is neither event nor profile."
        )

    problem = _check_identifiers(record, rules) or _check_timestamp(record)
    if problem is not None:
        return problem
    if kind == "event":
        return _check_event(record, rules)
    return _check_profile(record)


def _show(value: Any) -> str:
    """A short rendering of a value for a message, whatever its size."""
    text = codec.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_identifiers(record: dict[str, Any], rules: RecordRules) -> Rejection | None:
    object_id = record.get("objectId")
    if object_id not in (None, "") and not (
        isinstance(object_id, str) and _OBJECT_ID.fullmatch(object_id)
    ):
        return Rejection(
            526, f"objectId {_show(object_id)} is not a valid CleverTap ID."
        )

    found = False
    for key in IDENTIFIER_KEYS:
        value = record.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            return Rejection(523, f"Identifier {key} must be a string or an integer.")
        text = str(value).strip()
        if len(text) > rules.identity_max_length:
            return Rejection(
                523,
                f"Identifier {key} has {len(text)} characters; "
                f"it is necessary under {rules.identity_max_length} chars.",
            )
        found = found or bool(text)
    if not found:
        return Rejection(523, "Record has no identity, objectId, FBID or GPID.")
    return None


def _check_timestamp(record: dict[str, Any]) -> Rejection | None:
    if "ts" not in record:
        return None
    ts = record["ts"]
    if isinstance(ts, bool) or not isinstance(ts, int):
        return Rejection(525, f"ts {_show(ts)} is not an integer of epoch seconds.")
    if not 0 <= ts < MAX_EPOCH_SECONDS:
        return Rejection(525, f"ts {ts} is not in epoch seconds (milliseconds?).")
    return None


def _check_event(record: dict[str, Any], rules: RecordRules) -> Rejection | None:
    name = record.get("evtName")
    if not isinstance(name, str) or not name.strip():
        return Rejection(509, "Event name is missing.")
    # Event names have no documented length limit, so only their characters count.
    if not BANNED_NAME_CHARACTERS.isdisjoint(name):
        return Rejection(512, f"Event name {_show(name)} has a character not allowed.")
    key = event_key(name)
    if key in _RESERVED_EVENT_KEYS:
        return Rejection(513, "Trying to raise a restricted system event.")
    if key in rules.discarded_events:
        return Rejection(528, f"Event {_show(name)} has been discarded.")
    return _check_event_data(record.get("evtData"), rules, charged=key == _CHARGED)


def _check_event_data(
    data: Any, rules: RecordRules, *, charged: bool
) -> Rejection | None:
    if not isinstance(data, dict):
        return Rejection(512, "evtData must be a JSON object.")
    if len(data) > rules.max_event_properties:
        return Rejection(
            522,
            f"Event has {len(data)} properties, "
            f"at most {rules.max_event_properties} are allowed.",
        )
    for prop, value in data.items():
        problem = _check_name(prop, BANNED_NAME_CHARACTERS, "Event property")
        if problem is None and prop == "Items" and charged:
            problem = _check_items(value)
        elif problem is None:
            problem = _check_scalar(prop, value)
        if problem is not None:
            return problem
    return None


def _check_items(items: Any) -> Rejection | None:
    if not isinstance(items, list):
        return Rejection(512, "Items must be a list of objects.")
    if len(items) > MAX_CHARGED_ITEMS:
        return Rejection(
            512, f"Items has {len(items)} entries, at most {MAX_CHARGED_ITEMS}."
        )
    for item in items:
        if not isinstance(item, dict):
            return Rejection(512, "Items must be a list of objects.")
        for prop, value in item.items():
            problem = _check_name(prop, BANNED_NAME_CHARACTERS, "Item property") or (
                _check_scalar(prop, value)
            )
            if problem is not None:
                return problem
    return None


# Property names repeat from record to record, so each is checked once.
@functools.lru_cache(maxsize=8192)
def _check_name(name: str, banned: frozenset[str], what: str) -> Rejection | None:
    if not name.strip():
        return Rejection(512, f"{what} name is empty.")
    if len(name) > MAX_KEY_CHARACTERS:
        return Rejection(
            522, f"{what} {_show(name)} is longer than {MAX_KEY_CHARACTERS} characters."
        )
    if not banned.isdisjoint(name):
        return Rejection(
            512, f"{what} {_show(name)} has a character that is not allowed."
        )
    return None


def _check_scalar(prop: str, value: Any) -> Rejection | None:
    # Exact type tests first: this runs for every value of every record.
    kind = type(value)
    if kind is str:
        return _check_text(prop, value)
    if kind in _PLAIN_SCALARS or isinstance(value, bool | int | float):
        return None
    return Rejection(512, f"Property {_show(prop)} holds a nested value.")


def _check_text(prop: str, value: str) -> Rejection | None:
    # Under 129 characters a string cannot exceed 512 bytes in UTF-8: skip encoding.
    if len(value) <= _SHORT_TEXT and value[:3] != "$D_":
        return None
    if len(value) > _SHORT_TEXT and len(value.encode()) > MAX_VALUE_BYTES:
        return Rejection(
            522, f"Value of {_show(prop)} is longer than {MAX_VALUE_BYTES} bytes."
        )
    # Dates before 1970 (a birth date, say) are negative epoch seconds.
    if value.startswith("$D_") and not _is_digits(value[3:].removeprefix("-")):
        return Rejection(
            512, f"Date {_show(value)} of {_show(prop)} is not $D_<epoch>."
        )
    return None


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _check_profile(record: dict[str, Any]) -> Rejection | None:
    data = record.get("profileData")
    if not isinstance(data, dict):
        return Rejection(512, "profileData must be a JSON object.")
    for key, value in data.items():
        problem = _check_name(key, BANNED_PROFILE_KEY_CHARACTERS, "Profile key") or (
            _check_profile_value(key, value)
        )
        if problem is not None:
            return problem
        rule = BUILT_IN_PROFILE_RULES.get(key)
        if rule is not None and not rule.accepts(value):
            return Rejection(rule.code, f"Profile data is incorrect. {rule.reason}")
    return None


def _check_profile_value(key: str, value: Any) -> Rejection | None:
    kind = type(value)
    if kind is list:
        return _check_multi_value(key, value)
    if kind is dict:
        return _check_profile_operation(key, value)
    return _check_scalar(key, value)


def _check_multi_value(key: str, values: list[Any]) -> Rejection | None:
    if len(values) > MAX_MULTI_VALUES:
        return Rejection(
            522, f"{_show(key)} has {len(values)} values, at most {MAX_MULTI_VALUES}."
        )
    for value in values:
        if not isinstance(value, str):
            return Rejection(512, f"Multi-value {_show(key)} may hold only strings.")
        problem = _check_text(key, value)
        if problem is not None:
            return problem
    return None


def _check_profile_operation(key: str, value: dict[str, Any]) -> Rejection | None:
    if len(value) != 1 or not PROFILE_OPERATIONS.issuperset(value):
        return Rejection(
            512,
            f"Profile key {_show(key)} holds an object that is not one of "
            + ", ".join(sorted(PROFILE_OPERATIONS))
            + ".",
        )
    (operand,) = value.values()
    if isinstance(operand, list):
        return _check_multi_value(key, operand)
    return _check_scalar(key, operand)


@dataclass(frozen=True, slots=True)
class ProfileFieldRule:
    """A built-in profile key with the values CleverTap accepts for it."""

    code: int
    reason: str
    accepts: Callable[[Any], bool]


def _is_yes_no(value: Any) -> bool:
    return value in ("Y", "N")


def _is_gender(value: Any) -> bool:
    return value in ("M", "F")


def _is_email(value: Any) -> bool:
    return isinstance(value, str) and _EMAIL.fullmatch(value) is not None


def _is_phone(value: Any) -> bool:
    return isinstance(value, str) and _PHONE.fullmatch(value) is not None


def _is_education(value: Any) -> bool:
    return isinstance(value, str) and value.lower() in _EDUCATION


def _is_age(value: Any) -> bool:
    if isinstance(value, str):
        return _is_digits(value)
    return not isinstance(value, bool) and isinstance(value, int | float) and value >= 0


BUILT_IN_PROFILE_RULES = {
    "Gender": ProfileFieldRule(514, "Gender needs to be M/F.", _is_gender),
    "Email": ProfileFieldRule(515, "Email is not valid.", _is_email),
    "Phone": ProfileFieldRule(516, "Phone number is not valid.", _is_phone),
    "Employed": ProfileFieldRule(517, "Employed needs to be Y/N.", _is_yes_no),
    "Education": ProfileFieldRule(
        518, "Education needs to be School, College or Graduate.", _is_education
    ),
    "Married": ProfileFieldRule(519, "Married needs to be Y/N.", _is_yes_no),
    "Age": ProfileFieldRule(520, "Age needs to be a number.", _is_age),
}
