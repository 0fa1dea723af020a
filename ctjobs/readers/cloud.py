"""Options and credentials for object stores, in the names fsspec's clients expect.

Credentials come from where each cloud's own tools look: for S3 the environment
(``AWS_ACCESS_KEY_ID``...), ``~/.aws`` profiles and instance roles; for GCS
``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's application-default login or the
metadata server. A job file names only *where* to look, never a secret:
``profile = "exports"`` or ``service_account_file = "/etc/ct/sa.json"``.

Job files may also use Polars' (object_store) spelling of S3 options, such as
``aws_endpoint_url`` or ``aws_region``; they are translated here so one set of
options serves both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

S3 = "s3"
GCS = ("gs", "gcs")

# Polars / object_store spellings → s3fs keyword arguments.
_S3_ALIASES = {
    "aws_endpoint_url": "endpoint_url",
    "aws_endpoint": "endpoint_url",
    "endpoint": "endpoint_url",
    "aws_access_key_id": "key",
    "access_key_id": "key",
    "aws_secret_access_key": "secret",
    "secret_access_key": "secret",
    "aws_session_token": "token",
    "session_token": "token",
    "aws_profile": "profile",
}
_S3_REGION_KEYS = ("aws_region", "region", "region_name")
_S3_DROPPED = ("aws_allow_http", "allow_http", "max_retries")
_GCS_KEY_FILES = ("service_account_file", "credentials_file", "service_account_path")


def storage_options_for(
    protocol: str, options: Mapping[str, Any] | None
) -> dict[str, Any]:
    """fsspec keyword arguments for `protocol`, with listing caches switched off.

    Listings are never cached, so a file that lands between two runs in one Python
    process is seen by the second run.
    """
    given = dict(options or {})
    if protocol == S3:
        given = _s3_options(given)
    elif protocol in GCS:
        given = _gcs_options(given)
    else:
        return given
    given.setdefault("use_listings_cache", False)
    return given


def _s3_options(options: dict[str, Any]) -> dict[str, Any]:
    """Translate Polars-style S3 options; `anonymous` reads public buckets."""
    result: dict[str, Any] = {}
    client_kwargs = dict(options.pop("client_kwargs", None) or {})
    for key, value in options.items():
        if key in _S3_REGION_KEYS:
            client_kwargs["region_name"] = value
        elif key == "anonymous":
            result["anon"] = bool(value)
        elif key not in _S3_DROPPED:
            result[_S3_ALIASES.get(key, key)] = value
    if client_kwargs:
        result["client_kwargs"] = client_kwargs
    return result


def _gcs_options(options: dict[str, Any]) -> dict[str, Any]:
    """Translate a key-file path or `anonymous` into gcsfs's `token` argument."""
    result: dict[str, Any] = {}
    for key, value in options.items():
        if key in _GCS_KEY_FILES:
            result["token"] = os.path.expanduser(str(value))
        elif key == "anonymous":
            if value:
                result["token"] = "anon"
        elif key in {"google_base_url", "endpoint"}:
            result["endpoint_url"] = value
        else:
            result[key] = value
    return result
