"""CSV exports read together: a column that is a number in one file, text in another."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from ctjobs.errors import SchemaConflictError
from ctjobs.job.spec import JobSpec, parse_job
from ctjobs.readers.exports import read_export
from ctjobs.readers.source import read_source

from .conftest import gz

FIRST = "1-2-Charged-20240301-0-0.csv.gz"
SECOND = "1-2-Charged-20240302-0-0.csv"


def _csv_pair(folder: Path) -> tuple[Path, Path]:
    """Day one has integer sizes, day two the text "unknown" (plain, not gzipped)."""
    first, second = folder / FIRST, folder / SECOND
    first.write_bytes(
        gz("identity,eventName,eventProps.Size\nu1,Charged,42\nu2,Charged,7\n")
    )
    second.write_text("identity,eventName,eventProps.Size\nu3,Charged,unknown\n")
    return first, second


def _spec(folder: Path, widening: str) -> JobSpec:
    data: dict[str, Any] = {
        "name": "sizes",
        "source": {"paths": [str(folder / "*.csv*")], "widening": widening},
        "records": [
            {"kind": "event", "identity": "identity", "event_name": "eventName"}
        ],
    }
    return parse_job(data)


def test_each_file_alone_reads_its_own_type(tmp_path: Path) -> None:
    first, second = _csv_pair(tmp_path)

    assert read_export(str(first)).schema["eventProps.Size"] == pl.Int64
    assert read_export(str(second)).schema["eventProps.Size"] == pl.String


def test_the_job_rule_widen_reads_the_column_as_text(tmp_path: Path) -> None:
    first, second = _csv_pair(tmp_path)

    lazy, _ = read_source(_spec(tmp_path, "widen"), None)
    frame = lazy.collect()

    assert frame.schema["eventProps.Size"] == pl.String
    assert frame["eventProps.Size"].to_list() == ["42", "7", "unknown"]
    assert frame["eventProps.Size"].null_count() == 0
    assert frame["identity"].to_list() == ["u1", "u2", "u3"]
    assert frame["_source_file"].to_list() == [str(first)] * 2 + [str(second)]


@pytest.mark.parametrize("order", ["number first", "text first"])
def test_widen_keeps_every_value_whichever_file_comes_first(
    tmp_path: Path, order: str
) -> None:
    first, second = _csv_pair(tmp_path)
    paths = [str(first), str(second)]
    if order == "text first":
        paths.reverse()

    frame = read_export(paths, widening="widen")

    assert frame.schema["eventProps.Size"] == pl.String
    assert frame["eventProps.Size"].null_count() == 0
    assert sorted(frame["eventProps.Size"].to_list()) == ["42", "7", "unknown"]


def test_the_job_rule_error_names_both_files_and_the_column(tmp_path: Path) -> None:
    first, second = _csv_pair(tmp_path)

    with pytest.raises(SchemaConflictError) as raised:
        read_source(_spec(tmp_path, "error"), None)

    message = str(raised.value)
    assert "'eventProps.Size'" in message
    assert str(first) in message and str(second) in message
    assert FIRST in message and SECOND in message
    assert "Int64" in message and "String" in message
    assert 'widening = "widen"' in message


def test_error_does_not_mistake_an_integer_column_for_a_conflict(
    tmp_path: Path,
) -> None:
    (tmp_path / FIRST).write_bytes(gz("identity,eventProps.Size\nu1,42\n"))
    (tmp_path / SECOND).write_text("identity,eventProps.Size\nu2,7\n")

    frame = read_export(str(tmp_path / "*.csv*"), widening="error")

    assert frame.schema["eventProps.Size"] == pl.Int64
    assert frame["eventProps.Size"].to_list() == [42, 7]
