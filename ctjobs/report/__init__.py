"""What a run did, for people: the HTML run report and the SVG charts it draws."""

from __future__ import annotations

from ctjobs.report.charts import bar_chart, column_chart
from ctjobs.report.html import render_report, scrub_secrets, write_report

__all__ = [
    "bar_chart",
    "column_chart",
    "render_report",
    "scrub_secrets",
    "write_report",
]
