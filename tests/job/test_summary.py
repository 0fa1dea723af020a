"""The run summary's reason table: grouped by reason, shown with real values."""

from __future__ import annotations

from ctjobs.job.summary import RunSummary, reason_key


def test_reasons_group_across_values_and_print_one_as_written() -> None:
    summary = RunSummary(run_id="r1", job="j")
    summary.count_reasons(
        [
            (525, "ts 1900000000 is after 2024-06-02 00:00 UTC"),
            (525, "ts 1900000001 is after 2024-06-02 00:00 UTC"),
            (523, "identity is missing"),
            (None, "key 'Plan 2' is 130 characters (max 120)"),
        ]
    )

    assert summary.rejected_by_reason == {
        "525: ts N is after N-N-N N:N UTC": 2,
        "523: identity is missing": 1,
        "key 'Plan 2' is N characters (max N)": 1,
    }
    table = [line.strip() for line in summary.lines() if "rejected  " in line]
    assert table == [
        "rejected      2  525: ts N is after N-N-N N:N UTC "
        "(e.g. ts 1900000000 is after 2024-06-02 00:00 UTC)",
        "rejected      1  523: identity is missing",
        "rejected      1  key 'Plan 2' is N characters (max N) "
        "(e.g. key 'Plan 2' is 130 characters (max 120))",
    ]
    again = RunSummary.from_dict(summary.to_dict())
    assert again.reason_examples == summary.reason_examples


def test_quoted_values_are_kept_in_the_key() -> None:
    assert reason_key(512, "'Items 2' is nested") == "512: 'Items 2' is nested"
