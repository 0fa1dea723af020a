"""The three fixes this benchmark proposes for ctjobs, tried without editing ctjobs.

Each replaces one function for the length of a dry run and must give the same
bytes as the function it replaces (the benchmark compares the request bodies):

1. `encode._member`: a ``List(Struct)`` value (CleverTap's ``Items``) is encoded by
   Polars, item by item inside ``list.eval``, instead of by ``json.dumps`` once per
   row in ``map_elements``; other nested values keep the Python path.
2. `batches.batch_id`: the record keys are joined once and hashed in one call,
   instead of two ``blake2b.update`` calls per record (same digest).
3. `Batch.body`: the records' JSON is taken out of Polars as one list instead of
   iterating the Series value by value.

    python -m bench.prototype JOB OUT_DIR
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import polars as pl

from ctjobs.job.runner import run_job
from ctjobs.records import encode
from ctjobs.records.encode import RECORD_JSON
from ctjobs.writers import batches

_member = encode._member


def member(value: pl.Expr, name: str, dtype: pl.DataType | None = None) -> pl.Expr:
    """``"name":value`` with lists of structs encoded by Polars, nulls left out."""
    if not (isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct)):
        return _member(value, name, dtype)
    fields = [
        _member(pl.element().struct.field(f.name), f.name, f.dtype)
        for f in dtype.inner.fields
    ]
    items = value.list.eval(encode._object(fields).drop_nulls()).list.join(",")
    key = json.dumps(name, ensure_ascii=False)
    pair = pl.concat_str(pl.lit(f"{key}:["), items, pl.lit("]"))
    return pl.when(value.is_not_null()).then(pair)


def batch_id(keys: pl.Series) -> str:
    """The digest `batches.batch_id` computes, from one joined string."""
    joined = "".join(f"{key}\0" for key in keys.to_list())
    return hashlib.blake2b(joined.encode(), digest_size=10).hexdigest()


def body(self: batches.Batch) -> bytes:
    """The request body, from the records' JSON taken out as one list."""
    return ('{"d":[' + ",".join(self.records[RECORD_JSON].to_list()) + "]}").encode()


def apply() -> None:
    """Put the three replacements in place for this process."""
    encode._member = member
    batches.batch_id = batch_id
    batches.Batch.body = body  # type: ignore[method-assign]


def main(argv: list[str]) -> None:
    """Dry-run the job with the fixes and print its summary as JSON."""
    apply()
    summary = run_job(Path(argv[0]), dry_run=True, out=Path(argv[1]), chunk="file")
    figures: dict[str, Any] = summary.to_dict()
    print(json.dumps(figures, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
