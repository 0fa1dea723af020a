"""Fixtures shared with the readers' tests: moto's S3 server and a bucket on it."""

from __future__ import annotations

from readers.conftest import s3, s3_endpoint, s3_fs

__all__ = ["s3", "s3_endpoint", "s3_fs"]
