"""Schema monitoring: what changed in the source and in what a job sends."""

from __future__ import annotations

from ctjobs.monitor.accept import accept_schema
from ctjobs.monitor.outgoing import watch_outgoing
from ctjobs.monitor.source import watch_source

__all__ = ["accept_schema", "watch_outgoing", "watch_source"]
