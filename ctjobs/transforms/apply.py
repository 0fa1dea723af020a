"""Applying a job file's declared steps, in order, to a LazyFrame."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from ctjobs.errors import UsageError
from ctjobs.job.spec import (
    AggregateStep,
    CastStep,
    ComputeStep,
    DeduplicateStep,
    DropStep,
    FilterStep,
    FlattenStep,
    LookupStep,
    RenameStep,
    SelectStep,
    Step,
)
from ctjobs.transforms import steps
from ctjobs.transforms.lookups import read_lookup


def apply_step(
    lf: pl.LazyFrame,
    step: Step,
    base_dir: Path = Path("."),
    *,
    tables: dict[str, pl.DataFrame] | None = None,
) -> pl.LazyFrame:
    """One declared step applied to `lf`.

    `tables` keeps the lookup tables already read, by path: a run that applies
    its steps to many partitions reads each lookup once, and enriches every
    partition from the same table.
    """
    match step:
        case RenameStep():
            return steps.rename(lf, step.columns)
        case SelectStep():
            return steps.select(lf, step.columns)
        case DropStep():
            return steps.drop(lf, step.columns)
        case FilterStep():
            return steps.filter(lf, step.where)
        case ComputeStep():
            return steps.with_columns(lf, step.columns)
        case CastStep():
            return steps.cast(lf, step.columns)
        case LookupStep():
            if tables is None:
                table = read_lookup(step.path, base_dir)
            elif step.path in tables:
                table = tables[step.path]
            else:
                table = tables[step.path] = read_lookup(step.path, base_dir)
            return steps.lookup(
                lf,
                table,
                on=step.on,
                lookup_on=step.lookup_on,
                columns=step.columns,
                defaults=step.defaults,
                how=step.how,
            )
        case DeduplicateStep():
            return steps.deduplicate(lf, step.subset, keep=step.keep)
        case AggregateStep():
            return steps.aggregate(lf, step.by, step.aggs)
        case FlattenStep():
            return steps.flatten(lf, step.column, separator=step.separator)
    raise UsageError(f"unknown step {step!r}")


def apply_steps(
    lf: pl.LazyFrame,
    declared: Sequence[Step],
    base_dir: Path = Path("."),
    *,
    tables: dict[str, pl.DataFrame] | None = None,
) -> pl.LazyFrame:
    """Every declared step applied in order; errors name the step's position."""
    for number, step in enumerate(declared, start=1):
        try:
            lf = apply_step(lf, step, base_dir, tables=tables)
            # Resolving the schema now finds a misspelt column at its own step.
            lf.collect_schema()
        except UsageError as error:
            raise UsageError(f"transform {number} ({step.step}): {error}") from None
        except pl.exceptions.PolarsError as error:
            first = str(error).strip().splitlines()[0]
            message = f"transform {number} ({step.step}): {first}"
            raise UsageError(message) from None
    return lf
