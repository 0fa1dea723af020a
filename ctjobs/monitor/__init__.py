"""Schema monitoring: what changed in the source and in what a job sends."""

from __future__ import annotations

from ctjobs.monitor.outgoing import watch_outgoing

__all__ = ["watch_outgoing"]
