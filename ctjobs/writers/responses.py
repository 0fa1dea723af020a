"""Reading an Upload API answer as one outcome per record of the batch sent.

CleverTap answers HTTP 200 even when records fail, and its top-level ``status`` has
said "success" with every record refused, so the verdict here comes from
``processed`` and ``unprocessed`` alone. Each ``unprocessed`` entry is mapped back
to its position in the batch by "Skipped record number : N" (1-based) or, when no
number is given, by comparing the echoed record with the records sent. Three entry
shapes are understood:

    {"status": "fail", "code": 516, "error": "...", "record": {...}}   object echo
    {"status": "fail", "code": 523, "error": "...", "record": "{...}"} JSON-text echo
    {"{...record JSON...}": "...message..."}                         legacy, no code

An answer that cannot be accounted for record by record (not JSON, another shape,
an entry that matches no record, counts that do not add up) is never success: its
verdict is `retry`, and a batch that keeps getting such answers ends pending.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Verdict = Literal["ok", "retry", "auth", "bad_request", "refused"]

_SKIPPED = re.compile(r"\s*skipped\s+record\s+(?:number|no\.?)?\s*[:#=]?\s*(\d+)", re.I)
_ERROR_CODE = re.compile(r"error\s*code\s*[:=]?\s*(\d{3})", re.I)
_MESSAGE_LIMIT = 300


@dataclass(frozen=True)
class RecordRejection:
    """One record CleverTap refused: its 0-based batch index, code and message."""

    index: int
    code: int | None
    message: str
    record: str | None


@dataclass(frozen=True)
class BatchAnswer:
    """What an answer says about each record of a batch of `size` records.

    `verdict` is ``ok`` when every record is accounted for (accepted or rejected),
    ``retry`` for 429, 5xx and anything not understood, ``auth`` for 401/403,
    ``bad_request`` for a 400 (or 413) refusing the batch as a whole, and
    ``refused`` for any other status, which no retry or split will change.
    """

    verdict: Verdict
    size: int
    status_code: int
    accepted: tuple[int, ...] = ()
    rejected: tuple[RecordRejection, ...] = field(default=())
    message: str = ""

    @property
    def ok(self) -> bool:
        """Whether every record of the batch is accounted for."""
        return self.verdict == "ok"


class _Unaccountable(ValueError):
    """The body does not say, record by record, what happened to the batch."""


def parse_upload_response(
    status_code: int, body: bytes, size: int, *, sent: Sequence[str] = ()
) -> BatchAnswer:
    """The per-record outcome of an upload of `size` records answered with `body`.

    `sent` holds the JSON text of each record in batch order; it is needed only to
    place an ``unprocessed`` entry that carries no record number.
    """
    payload = _json_or_none(body)
    status_code = _effective_status(status_code, payload)
    if status_code != 200:
        return _refusal(status_code, payload, size)
    if not isinstance(payload, dict):
        problem = "an empty body" if not body.strip() else "a body that is not JSON"
        return _not_understood(status_code, size, f"HTTP 200 with {problem}")

    try:
        rejected = _rejections(payload, size, sent)
    except _Unaccountable as error:
        return _not_understood(status_code, size, str(error))
    refused = {r.index for r in rejected}
    accepted = tuple(i for i in range(size) if i not in refused)
    return BatchAnswer("ok", size, status_code, accepted, tuple(rejected))


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _effective_status(status_code: int, payload: Any) -> int:
    """The HTTP status, or the ``code`` of a whole-request failure sent with 200."""
    if status_code != 200 or not isinstance(payload, dict):
        return status_code
    if "processed" in payload or "unprocessed" in payload:
        return status_code
    code = payload.get("code")
    # `{"status":"fail","error":...,"code":401}` is how CleverTap refuses a request.
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return code
    return status_code


def _refusal(status_code: int, payload: Any, size: int) -> BatchAnswer:
    message = f"HTTP {status_code}"
    if isinstance(payload, dict) and isinstance(payload.get("error"), str):
        message += f": {_short(payload['error'])}"
    return BatchAnswer(_verdict(status_code), size, status_code, message=message)


def _verdict(status_code: int) -> Verdict:
    """What a status other than 200 calls for."""
    if status_code in (401, 403):
        return "auth"
    if status_code in (400, 413):
        return "bad_request"
    # Another 2xx promises nothing about the records, so it is tried again.
    if status_code in (408, 429) or status_code >= 500 or 200 <= status_code < 300:
        return "retry"
    return "refused"


def _not_understood(status_code: int, size: int, problem: str) -> BatchAnswer:
    message = f"unreadable answer: {problem}"
    return BatchAnswer("retry", size, status_code, message=message)


def _rejections(
    payload: dict[str, Any], size: int, sent: Sequence[str]
) -> list[RecordRejection]:
    """Every rejected record, each at a distinct index, checked against the counts."""
    processed = _count(payload.get("processed"))
    entries = payload.get("unprocessed", [] if processed == size else None)
    if not isinstance(entries, list):
        raise _Unaccountable("`unprocessed` is missing or not a list")

    parts = [_entry_parts(entry) for entry in entries]
    numbered = [_skipped_index(message, size) for _, message, _ in parts]
    # Entries without a record number take the sent records no number claimed.
    matcher = _RecordMatcher(sent, claimed={i for i in numbered if i is not None})
    rejected = [
        _rejection(part, index if index is not None else matcher.find(part[2]))
        for part, index in zip(parts, numbered, strict=True)
    ]
    if len({r.index for r in rejected}) != len(rejected):
        raise _Unaccountable("two `unprocessed` entries name the same record")
    if processed is None or processed + len(rejected) != size:
        message = (
            f"processed {payload.get('processed')!r} and {len(rejected)} unprocessed "
            f"do not add up to the {size} records sent"
        )
        raise _Unaccountable(message)
    return rejected


def _rejection(
    part: tuple[int | None, str, str | None], index: int | None
) -> RecordRejection:
    """One ``unprocessed`` entry as a rejection at its batch index."""
    code, message, record = part
    if index is None:
        problem = f"cannot tell which record this refers to: {_short(message)}"
        raise _Unaccountable(problem)
    reason = _SKIPPED.sub("", message).strip() or message.strip()
    if code is None and (found := _ERROR_CODE.search(message)):
        code = int(found.group(1))
    return RecordRejection(index, code, reason, record)


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _entry_parts(entry: Any) -> tuple[int | None, str, str | None]:
    """Code, message and echoed record (as JSON text) of an entry of any known shape."""
    if isinstance(entry, str):
        return None, entry, None
    if not isinstance(entry, dict):
        raise _Unaccountable(f"an `unprocessed` entry is {type(entry).__name__}")
    if "error" in entry or "code" in entry or "record" in entry:
        code = _count(entry.get("code"))
        message = entry.get("error")
        return (
            code,
            str(message) if message is not None else "",
            _record_text(entry.get("record")),
        )
    if len(entry) == 1:
        # The legacy shape: the record's JSON text is the key, the message the value.
        ((record, message),) = entry.items()
        return None, str(message), str(record)
    raise _Unaccountable(f"an `unprocessed` entry has unknown keys {sorted(entry)}")


def _record_text(record: Any) -> str | None:
    if record is None:
        return None
    if isinstance(record, str):
        return record
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _skipped_index(message: str, size: int) -> int | None:
    """The 0-based index from "Skipped record number : N", if N is in the batch."""
    found = _SKIPPED.search(message)
    if found is None:
        return None
    number = int(found.group(1))
    return number - 1 if 1 <= number <= size else None


class _RecordMatcher:
    """Finds an echoed record among the records sent, each claimed at most once."""

    def __init__(self, sent: Sequence[str], *, claimed: set[int]) -> None:
        self._sent = sent
        self._claimed = claimed
        self._by_form: dict[str, list[int]] | None = None

    def find(self, record: str | None) -> int | None:
        """The index of the first unclaimed sent record equal to `record`."""
        form = _canonical(record) if record is not None else None
        if form is None:
            return None
        candidates = self._forms().get(form)
        return candidates.pop(0) if candidates else None

    def _forms(self) -> dict[str, list[int]]:
        # Built on first use: most answers carry record numbers and never need it.
        if self._by_form is None:
            self._by_form = {}
            for index, text in enumerate(self._sent):
                form = None if index in self._claimed else _canonical(text)
                if form is not None:
                    self._by_form.setdefault(form, []).append(index)
        return self._by_form


def _canonical(text: str) -> str | None:
    """One spelling for equal JSON values, so key order and spacing do not matter."""
    value = _json_or_none(text.encode())
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"
