from __future__ import annotations

from collections.abc import Iterator

import pytest

from .intake import BASIC_ENV, SECRET_ENV, Intake, start_intake


@pytest.fixture(scope="module")
def secret_intake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Intake]:
    """An intake that wants the shared header secret; 64 KiB body limit."""
    work = tmp_path_factory.mktemp("secret")
    intake = start_intake(work / "land", SECRET_ENV, "--max-body-bytes", "65536")
    yield intake
    intake.stop()


@pytest.fixture(scope="module")
def basic_intake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Intake]:
    """An intake that wants HTTP Basic credentials."""
    work = tmp_path_factory.mktemp("basic")
    intake = start_intake(work / "land", BASIC_ENV)
    yield intake
    intake.stop()
