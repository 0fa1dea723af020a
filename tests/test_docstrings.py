"""Every public function of `ctjobs` shows how it is called."""

from __future__ import annotations

import inspect

import pytest

import ctjobs as ct

FUNCTIONS = [name for name in ct.__all__ if inspect.isfunction(getattr(ct, name))]


def test_the_public_api_has_functions() -> None:
    assert {"scan_export", "cast", "encode_records", "run_job"} <= set(FUNCTIONS)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_public_function_docstring_has_an_example(name: str) -> None:
    doc = inspect.getdoc(getattr(ct, name)) or ""

    assert doc.strip(), f"ctjobs.{name} has no docstring"
    example = doc.split("Example:", 1)
    assert len(example) == 2, f"ctjobs.{name}: no 'Example:' section"
    assert ">>> " in example[1], f"ctjobs.{name}: the example has no '>>>' line"
