"""Benchmarks of ctjobs: ``python -m bench.run`` (``make bench``) writes BENCHMARKS.md.

Every figure is measured in a fresh child process on the machine at hand, so the
ratios between figures of one run are what count, not the figures alone.
"""
