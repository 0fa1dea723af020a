"""Where export files live: local paths, S3 and GCS, listed fresh on every call.

Listing and opening go through fsspec, so one code path serves every store. A file's
size plus a version tag identify what was processed, for the ledger: the ETag on S3,
the generation on GCS, the modification time on local disks.

Dates, for ``--from`` / ``--to``, come from, in this order:

- the day in a legacy event export's name (``...-<yyyymmdd>-<index>-<db>.csv.gz``);
- a date folder (``2024-03-01/`` or ``date=2024-03-01/``);
- the export run's epoch timestamp that CleverTap puts before the database id in
  profile export names (``<account>-<request>-<epoch>-<db>.csv.gz``, and custom
  names, which always end in ``-<epoch>-<db>``; legacy ``...-<epoch>-<db>-csv.gz``
  too), taken as a UTC day.

A file none of these date is left out of a bounded listing, with a warning naming it.

Credentials and endpoints: see `ctjobs.readers.cloud`. For example
``storage_options={"endpoint_url": "http://127.0.0.1:9000"}`` reads from an
S3-compatible store, ``{"profile": "exports"}`` uses an ``~/.aws`` profile.

Known limit: a file rewritten between its listing and its reading is read as it is
then, but recorded with the version seen at listing time; the next run reports it as
changed.
"""

from __future__ import annotations

import gzip
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import fsspec

from ctjobs.errors import SourceError
from ctjobs.readers.cloud import GCS, S3, storage_options_for

log = logging.getLogger(__name__)

_NAME_DATE = re.compile(r"-(?P<day>\d{8})-\d+-\d+\.[A-Za-z]+(?:\.(?:gz|gzip))?$")
# Export run time in epoch seconds, then the database (instance) id, then the format
# as an extension (enhanced) or a dash-suffix (legacy profiles): -1761651721-0.csv.gz
_NAME_EPOCH = re.compile(
    r"-(?P<epoch>\d{10})-\d{1,3}[.-][A-Za-z]+(?:\.[A-Za-z]+)?(?:\.(?:gz|gzip))?$"
)
_FOLDER_DATE = re.compile(r"(?:^|/)(?:date=)?(?P<day>\d{4}-\d{2}-\d{2})(?:/|$)")
_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class SourceFile:
    """One file of a source as listed now: its path, size and version tag."""

    path: str
    size: int
    version: str
    day: date | None

    @property
    def name(self) -> str:
        """The file name without its folder."""
        return self.path.rstrip("/").rsplit("/", 1)[-1]


def protocol_of(path: str) -> str:
    """The fsspec protocol of `path`: ``file``, ``s3``, ``gs``..."""
    if "://" in path:
        return path.split("://", 1)[0]
    return "file"


def filesystem(path: str, storage_options: Mapping[str, Any] | None = None) -> Any:
    """An fsspec filesystem for `path` whose listings are never cached.

    Instances are shared (so connections are reused) but listings are not, so every
    `list_files` call sees the store as it is now.
    """
    protocol = protocol_of(path)
    options = storage_options_for(protocol, storage_options)
    if protocol in GCS:
        # The core class, not the experimental zonal-bucket one that fsspec's registry
        # picks by default: that one probes each bucket over gRPC and stalls for a
        # minute against anything but Google itself. Exports live in plain buckets.
        from gcsfs.core import GCSFileSystem

        return GCSFileSystem(**options)
    return fsspec.filesystem(protocol, **options)


def day_of(path: str) -> date | None:
    """The partition day of an export file, from its name or its folder."""
    found = _NAME_DATE.search(path)
    if found:
        text = found["day"]
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    found = _FOLDER_DATE.search(path)
    if found:
        return date.fromisoformat(found["day"])
    found = _NAME_EPOCH.search(path.rstrip("/").rsplit("/", 1)[-1])
    if found:
        return datetime.fromtimestamp(int(found["epoch"]), UTC).date()
    return None


def _qualify(path: str, protocol: str) -> str:
    if protocol == "file" or "://" in path:
        return path
    return f"{protocol}://{path}"


def _version(info: Mapping[str, Any], protocol: str) -> str:
    """The tag that changes when a file is rewritten: ETag, generation or mtime."""
    if protocol == S3:
        keys: tuple[str, ...] = ("ETag", "etag", "VersionId")
    elif protocol in GCS:
        keys = ("generation", "md5Hash", "crc32c")
    else:
        keys = ("mtime", "LastModified", "last_modified", "updated")
    for key in (*keys, "etag", "mtime", "LastModified", "updated"):
        if info.get(key) not in (None, ""):
            return str(info[key]).strip('"')
    return ""


def list_files(
    patterns: str | Iterable[str],
    *,
    storage_options: Mapping[str, Any] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> list[SourceFile]:
    """List the files matching `patterns`, sorted by day then path.

    Example:
        >>> list_files("data/samples/events/csv/*.csv.gz", date_from=date(2024, 3, 2))
    """
    if isinstance(patterns, str):
        patterns = [patterns]
    found: dict[str, SourceFile] = {}
    undated: list[str] = []
    for pattern in patterns:
        for file in _list_one(pattern, storage_options):
            if _in_range(file.day, date_from, date_to):
                found[file.path] = file
            elif file.day is None:
                undated.append(file.path)
    if undated:
        log.warning(
            "%d file(s) left out of the date range because neither their name nor "
            "their folder gives a date: %s",
            len(undated),
            ", ".join(sorted(set(undated))),
        )
    return sorted(found.values(), key=lambda f: (f.day or date.min, f.path))


def _list_one(
    pattern: str, storage_options: Mapping[str, Any] | None
) -> list[SourceFile]:
    protocol = protocol_of(pattern)
    fs = filesystem(pattern, storage_options)
    if protocol == "file":
        pattern = str(Path(pattern.removeprefix("file://")).expanduser())
    if _GLOB_CHARS.search(pattern):
        infos = fs.glob(pattern, detail=True)
    elif fs.isdir(pattern):
        infos = fs.find(pattern, detail=True)
    elif fs.exists(pattern):
        infos = {pattern: fs.info(pattern)}
    else:
        infos = {}
    files = []
    for name, info in infos.items():
        if info.get("type") == "directory" or Path(name).name.startswith((".", "_")):
            continue
        path = _qualify(name, protocol)
        size = int(info.get("size") or 0)
        files.append(SourceFile(path, size, _version(info, protocol), day_of(path)))
    return files


def _in_range(day: date | None, start: date | None, end: date | None) -> bool:
    if day is None:
        return start is None and end is None
    return (start is None or day >= start) and (end is None or day <= end)


def read_bytes(path: str, storage_options: Mapping[str, Any] | None = None) -> bytes:
    """The whole content of `path`, gunzipped when it is gzip-compressed."""
    try:
        with filesystem(path, storage_options).open(path, "rb") as handle:
            data: bytes = handle.read()
    except FileNotFoundError as error:
        message = f"{path}: the file is gone; list the source again and re-run"
        raise SourceError(message) from error
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            message = f"{path}: the gzip data is truncated or corrupt ({error})"
            raise SourceError(message) from error
    return data
