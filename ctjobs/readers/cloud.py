"""Options and credentials for object stores, in the names fsspec's clients expect.

Credentials come from where each cloud's own tools look: for S3 the environment
(``AWS_ACCESS_KEY_ID``...), ``~/.aws`` profiles and instance roles; for GCS
``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's application-default login or the
metadata server. A job file names only *where* to look, never a secret:
``profile = "exports"``, ``credentials_file = "~/.aws/ct-credentials"`` (an AWS
shared credentials file, for S3) or ``service_account_file = "/etc/ct/sa.json"``
(``credentials_file`` means the service-account file for GCS).

For GCS, that file, or a service-account file ``GOOGLE_APPLICATION_CREDENTIALS``
names, becomes gcsfs's ``token``: left to gcsfs's own search, a missing file or a
project other than the file's would silently read anonymously instead.

Job files may also use Polars' (object_store) spelling of S3 options, such as
``aws_endpoint_url`` or ``aws_region``; they are translated here so one set of
options serves both.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from ctjobs.errors import UsageError

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
_GCS_KEY_FILES = (
    "service_account_file",
    "credentials_file",
    "service_account_path",
    "credentials_path",
)
_GCS_ENVIRONMENT_KEY_FILE = "GOOGLE_APPLICATION_CREDENTIALS"
_S3_KEY_FILES = ("credentials_file", "shared_credentials_file")


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
    credentials_file = None
    for key, value in options.items():
        if key in _S3_KEY_FILES:
            credentials_file = os.path.expanduser(str(value))
        elif key in _S3_REGION_KEYS:
            client_kwargs["region_name"] = value
        elif key == "anonymous":
            result["anon"] = bool(value)
        elif key not in _S3_DROPPED:
            result[_S3_ALIASES.get(key, key)] = value
    if client_kwargs:
        result["client_kwargs"] = client_kwargs
    if credentials_file and "session" not in result:
        # botocore reads a shared credentials file only through its session.
        from aiobotocore.session import (  # type: ignore[import-untyped,unused-ignore]
            AioSession,
        )

        session = AioSession(profile=result.pop("profile", None))
        session.set_config_variable("credentials_file", credentials_file)
        result["session"] = session
    return result


def _gcs_options(options: dict[str, Any]) -> dict[str, Any]:
    """Translate a key-file path or `anonymous` into gcsfs's `token` argument.

    With neither (nor a `token`), a service-account file named by
    ``GOOGLE_APPLICATION_CREDENTIALS`` is the token.
    """
    result: dict[str, Any] = {}
    for key, value in options.items():
        if key in _GCS_KEY_FILES:
            result["token"] = _key_file(value, f"storage option `{key}`")
        elif key == "anonymous":
            if value:
                result["token"] = "anon"
        elif key in {"google_base_url", "endpoint"}:
            result["endpoint_url"] = value
        else:
            result[key] = value
    if "token" not in result:
        named = _environment_service_account()
        if named is not None:
            result["token"] = named
    return result


def _key_file(value: Any, origin: str) -> str:
    """The expanded path of a GCS key file, which must exist.

    gcsfs takes a `token` string that is not an existing file for an OAuth access
    token, and sends it to Google to check: a typo would leave the machine.
    """
    path = os.path.expanduser(str(value))
    if not os.path.isfile(path):
        message = (
            f"{origin} names {path}, which is not a file; "
            "point it at the service-account JSON key file"
        )
        raise UsageError(message)
    return path


def _environment_service_account() -> str | None:
    """The service-account file ``GOOGLE_APPLICATION_CREDENTIALS`` names, if any.

    Other kinds of credential file it may name (a gcloud user login, workload
    identity federation) are left to google-auth, through gcsfs's default search.
    """
    named = os.environ.get(_GCS_ENVIRONMENT_KEY_FILE)
    if not named:
        return None
    path = _key_file(named, _GCS_ENVIRONMENT_KEY_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            kind = json.load(handle).get("type")
    except (OSError, ValueError, AttributeError):
        return None
    return path if kind == "service_account" else None


# s3fs keyword arguments → Polars (object_store) storage options.
_POLARS_S3 = {
    "endpoint_url": "aws_endpoint_url",
    "key": "aws_access_key_id",
    "secret": "aws_secret_access_key",
    "token": "aws_session_token",
}


def polars_s3_options(options: Mapping[str, Any] | None) -> dict[str, str] | None:
    """`options` as Polars' native S3 reader takes them, or None when it cannot.

    None means an option has no object_store spelling (a profile, a credentials
    file, a session, anonymous access, other client arguments): read through s3fs
    then. Keys left out come from the environment (``AWS_ACCESS_KEY_ID``...).
    """
    given = _s3_options(dict(options or {}))
    client_kwargs = dict(given.pop("client_kwargs", None) or {})
    region = client_kwargs.pop("region_name", None)
    if client_kwargs:
        return None
    result: dict[str, str] = {}
    for key, value in given.items():
        if key not in _POLARS_S3 or not isinstance(value, str):
            return None
        result[_POLARS_S3[key]] = value
    if region:
        result["aws_region"] = str(region)
    if result.get("aws_endpoint_url", "").startswith("http://"):
        result["aws_allow_http"] = "true"
    return result
