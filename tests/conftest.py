"""Suite-wide guards: a private ctjobs home per test, and no cloud metadata calls."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Nothing in the suite may reach a cloud: fail fast and locally instead.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ.setdefault("NO_GCE_CHECK", "true")
os.environ.setdefault("GCE_METADATA_HOST", "127.0.0.1:9")
os.environ.setdefault("GCE_METADATA_IP", "127.0.0.1:9")
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
DEFAULT_JOB = ROOT / "jobs" / "sample_round_trip.toml"


@pytest.fixture(autouse=True)
def ctjobs_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test gets its own ledger and run folders, and no real credentials."""
    home = tmp_path / "ctjobs-home"
    monkeypatch.setenv("CTJOBS_HOME", str(home))
    for name in ("CLEVERTAP_ACCOUNT_ID", "CLEVERTAP_PASSCODE", "CLEVERTAP_API_URL"):
        monkeypatch.delenv(name, raising=False)
    yield home
