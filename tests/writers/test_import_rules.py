"""Job-file rules that keep the import writers from dropping what a job asks for."""

from __future__ import annotations

from pathlib import Path
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


def test_a_dry_run_refuses_a_url_for_its_bodies(tmp_path: Path) -> None:
    from ctjobs import CtjobsError, run_job
    from tests.conftest import ROOT

    with pytest.raises(CtjobsError, match="a dry run writes to a local folder"):
        run_job(ROOT / "jobs/sample_round_trip.toml", dry_run=True, out="s3://b/p")
