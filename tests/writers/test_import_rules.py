"""Job-file rules that keep the import writers from dropping what a job asks for."""

from __future__ import annotations

from typing import Any

import pytest

from ctjobs.errors import UsageError
from ctjobs.job.spec import parse_job


def _job(writer: str, *, emptied: str) -> dict[str, Any]:
    return {
        "name": "people",
        "source": {"paths": ["people.csv"]},
        "records": [
            {
                "kind": "profile",
                "identity": "id",
                "change_only": True,
                "emptied": emptied,
                "properties": {"City": "City"},
            }
        ],
        "writer": {"kind": writer, "client_email": "ops@example.com", "out": "out"},
    }


@pytest.mark.parametrize("writer", ["sftp", "files"])
def test_deletions_of_emptied_properties_are_refused_for_import_files(
    writer: str,
) -> None:
    with pytest.raises(UsageError, match='emptied = "delete" is sent only by'):
        parse_job(_job(writer, emptied="delete"))


@pytest.mark.parametrize(
    ("writer", "emptied"),
    [("upload", "delete"), ("sftp", "keep"), ("files", "keep"), ("dry-run", "delete")],
)
def test_other_pairs_are_accepted(writer: str, emptied: str) -> None:
    assert parse_job(_job(writer, emptied=emptied)).records[0].emptied == emptied
