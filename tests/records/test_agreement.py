"""The pre-flight check and the sandbox agree: what one passes, the other accepts.

The sandbox is written from CleverTap's documentation apart from the pre-flight
code, so random records that pass one and fail the other point at a real gap.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctjobs.job.spec import ValidationSpec
from ctjobs.records.encode import RECORD_JSON, encode_records
from ctjobs.records.validate import validate
from ctjobs.sandbox import SandboxProcess
from tests.records.test_fidelity import record_frames

_BUILT_IN = {
    "Phone": st.sampled_from(
        ["+919800000001", "9800000001", "+1 415 555 2671", "600111", "abc"]
    ),
    "Email": st.sampled_from(["ana@example.org", "ana@", "a b@example.org", "x@y.co"]),
    "Gender": st.sampled_from(["M", "F", "male", "Female", "x", "m"]),
    "Age": st.sampled_from(["31", "-2", "old", "40"]),
    "Education": st.sampled_from(["School", "college", "Graduate", "PhD"]),
    "Married": st.sampled_from(["Y", "N", "yes", "0", "maybe"]),
    "Employed": st.sampled_from(["Y", "no", "true", "?"]),
    "MSG-sms": st.sampled_from(["true", "false", "1", "maybe"]),
}


@st.composite
def profile_frames(draw: st.DrawFn) -> pl.DataFrame:
    """Profiles whose built-in fields come in forms CleverTap may or may not take."""
    size = draw(st.integers(1, 5))
    chosen = draw(st.lists(st.sampled_from(list(_BUILT_IN)), unique=True, max_size=5))
    data = {
        name: draw(st.lists(st.none() | _BUILT_IN[name], min_size=size, max_size=size))
        for name in chosen
    }
    identity = draw(
        st.lists(
            st.sampled_from(["007421", "u-1", " ", ""]), min_size=size, max_size=size
        )
    )
    frame = pl.DataFrame(
        {
            "type": ["profile"] * size,
            "identity": identity,
            "ts": pl.Series([1709284500] * size, dtype=pl.Int64),
            "_source_row": pl.int_range(size, eager=True),
        }
    )
    struct = (
        pl.DataFrame(data, schema=dict.fromkeys(data, pl.String)).to_struct(
            "profileData"
        )
        if data
        else pl.Series("profileData", [{}] * size)
    )
    return frame.with_columns(struct)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    with SandboxProcess(account_id="agree", passcode="agree-pass") as server:
        yield server


def _send(sandbox: SandboxProcess, records: list[str]) -> dict[str, object]:
    body = '{"d":[' + ",".join(records) + "]}"
    answer = httpx.post(
        f"{sandbox.url}/1/upload?dryRun=1",
        content=body.encode(),
        headers={**sandbox.headers, "Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _agree(sandbox: SandboxProcess, frame: pl.DataFrame, rules: ValidationSpec) -> None:
    frame = frame.with_columns(pl.lit("f").alias("_source_file"))
    checked = validate(frame, rules)
    assert checked.accepted.height + checked.rejected.height == frame.height
    if checked.accepted.height == 0:
        return
    sent = encode_records(checked.accepted).collect()[RECORD_JSON].to_list()
    answer = _send(sandbox, sent)
    assert answer["unprocessed"] == [], json.dumps(answer)[:2000]
    assert answer["processed"] == len(sent)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    frame=record_frames(),
    events=st.sampled_from(["json", "flatten", "reject"]),
    non_finite=st.sampled_from(["drop", "reject"]),
)
def test_whatever_passes_pre_flight_the_sandbox_accepts(
    sandbox: SandboxProcess, frame: pl.DataFrame, events: str, non_finite: str
) -> None:
    rules = ValidationSpec(
        nested_events=events, non_finite=non_finite, ts_min="1970-01-01"
    )
    _agree(sandbox, frame, rules)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(frame=profile_frames())
def test_profile_fields_pre_flight_passes_are_accepted(
    sandbox: SandboxProcess, frame: pl.DataFrame
) -> None:
    _agree(sandbox, frame, ValidationSpec())
