"""JSON in and out of the sandbox: orjson when installed, the standard library if not.

Both refuse NaN and Infinity, which are not JSON even though Python's parser
accepts them by default.
"""

from __future__ import annotations

import importlib
import json
import math
from types import ModuleType
from typing import Any


def _find_orjson() -> ModuleType | None:
    try:
        return importlib.import_module("orjson")
    except ImportError:
        return None


_ORJSON = _find_orjson()


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    # A literal such as 1e999 overflows to infinity, which JSON cannot carry back.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def loads(body: bytes) -> Any:
    """Parse a JSON document; raise ValueError for anything that is not strict JSON."""
    if _ORJSON is not None:
        try:
            return _ORJSON.loads(body)
        except _ORJSON.JSONDecodeError as error:
            raise ValueError(str(error)) from error
    return json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)


def dumps(value: Any) -> str:
    """Serialise a value as compact JSON text."""
    if _ORJSON is not None:
        text: str = _ORJSON.dumps(value).decode()
        return text
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
