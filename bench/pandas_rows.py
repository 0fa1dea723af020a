"""The row-by-row way many analysts write it: pandas, ``iterrows``, dicts, json.dumps.

The same job as the benchmark's, by hand: read the first rows of the exports, skip
``App Launched`` and rows without an identity, look the tier up in a dict, compute
the channel, build one event dict per row with its ``eventProps.*`` (missing values
left out, the packed local ``ts`` turned into epoch seconds), and write one request
body of 1000 records per file with ``json.dumps``.

    python -m bench.pandas_rows --rows N --tiers TIERS.csv --out OUT_DIR FILE...
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from bench.jobs import TIMEZONE

BATCH = 1000
PROPS = "eventProps."
LOCAL = ZoneInfo(TIMEZONE)
TEXT_COLUMNS = {"profile.identity": str, "profile.phone": str}


def read_slice(files: list[Path], rows: int) -> pd.DataFrame:
    """The first `rows` rows of `files`, read whole file by whole file."""
    frames, gathered = [], 0
    for path in files:
        if path.name.endswith(".parquet"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, compression="gzip", dtype=TEXT_COLUMNS)
        frames.append(frame)
        gathered += len(frame)
        if gathered >= rows:
            break
    return pd.concat(frames, ignore_index=True).head(rows)


def plain(value: Any) -> Any:
    """A JSON-ready Python value: numpy scalars and arrays unwrapped, JSON text parsed."""
    if isinstance(value, np.ndarray):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items() if not missing(item)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str) and value.startswith(("[{", "{")):
        return json.loads(value)
    return value


def missing(value: Any) -> bool:
    """True for a value the export left empty."""
    if isinstance(value, np.ndarray | list | dict):
        return False
    if isinstance(value, float):
        return math.isnan(value)
    return value is None or value is pd.NA or value == ""


def epoch(packed: Any) -> int:
    """Epoch seconds of CleverTap's packed local ``yyyyMMddHHmmss`` time."""
    moment = datetime.strptime(str(int(packed)), "%Y%m%d%H%M%S")
    return int(moment.replace(tzinfo=LOCAL).timestamp())


def day_epoch(text: str) -> str:
    """``$D_<epoch>`` of an ISO date at local midnight, as the job sends dates."""
    moment = datetime.fromisoformat(text).replace(tzinfo=LOCAL)
    return f"$D_{int(moment.timestamp())}"


def event_record(row: pd.Series, tiers: dict[str, str]) -> dict[str, Any] | None:
    """One CleverTap event for a row, or None for a row the job filters out."""
    identity = row["profile.identity"]
    if row["eventName"] == "App Launched" or missing(identity):
        return None
    props = {
        name.removeprefix(PROPS): plain(value)
        for name, value in row.items()
        if name.startswith(PROPS)
        and not name.startswith(PROPS + "CT ")
        and not missing(value)
    }
    if "Renewal Date" in props:
        props["Renewal Date"] = day_epoch(props["Renewal Date"])
    props["Tier"] = tiers.get(str(identity), "Standard")
    props["Channel"] = "web" if row["profile.platform"] == "Web" else "app"
    return {
        "type": "event",
        "identity": str(identity),
        "ts": epoch(row["ts"]),
        "evtName": row["eventName"],
        "evtData": props,
    }


def records(frame: pd.DataFrame, tiers: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Every event record of `frame`, row by row with ``iterrows``."""
    for _, row in frame.iterrows():
        record = event_record(row, tiers)
        if record is not None:
            yield record


def write_bodies(batch_source: Iterator[dict[str, Any]], out: Path) -> int:
    """Write request bodies of up to 1000 records, one file each; count the records."""
    out.mkdir(parents=True, exist_ok=True)
    batch: list[dict[str, Any]] = []
    written = bodies = 0
    for record in batch_source:
        batch.append(record)
        if len(batch) == BATCH:
            bodies += 1
            _write_body(out / f"body-{bodies:06d}.json", batch)
            written, batch = written + len(batch), []
    if batch:
        _write_body(out / f"body-{bodies + 1:06d}.json", batch)
        written += len(batch)
    return written


def _write_body(path: Path, batch: list[dict[str, Any]]) -> None:
    body = json.dumps({"d": batch}, ensure_ascii=False, separators=(",", ":"))
    path.write_text(body, encoding="utf-8")


def main() -> None:
    """Time reading, then building and writing, and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--tiers", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("files", type=Path, nargs="+")
    args = parser.parse_args()

    started = time.perf_counter()
    lookup = pd.read_csv(args.tiers, dtype=str)
    tiers = dict(zip(lookup["identity"], lookup["tier"], strict=True))
    frame = read_slice(args.files, args.rows)
    read_s = time.perf_counter() - started
    written = write_bodies(records(frame, tiers), args.out)
    seconds = time.perf_counter() - started

    figures = {"rows": len(frame), "records": written, "read_seconds": read_s}
    print(json.dumps({**figures, "seconds": seconds, "iteration": "iterrows"}))


if __name__ == "__main__":
    main()
