"""Credential checks for incoming POSTs: a shared header secret and HTTP Basic.

Every configured check must pass. Comparisons run in constant time, and nothing
here ever puts a credential into a message or a log line.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping

from pydantic import SecretStr

from ctjobs.webhook.config import WebhookConfig


class Authenticator:
    """Decides whether a request's headers carry the configured credentials."""

    def __init__(self, config: WebhookConfig) -> None:
        self._header = config.secret_header.lower()
        self._secret = _secret_bytes(config.secret)
        self._user = None if config.basic_user is None else config.basic_user.encode()
        self._password = _secret_bytes(config.basic_password)

    def allows(self, headers: Mapping[str, str]) -> bool:
        """Whether ``headers`` satisfy every configured check."""
        allowed = True
        if self._secret is not None:
            offered = headers.get(self._header, "").encode()
            allowed &= hmac.compare_digest(offered, self._secret)
        if self._user is not None and self._password is not None:
            allowed &= self._basic_allows(headers.get("authorization", ""))
        return allowed

    def _basic_allows(self, authorization: str) -> bool:
        user, password = _basic_credentials(authorization)
        assert self._user is not None and self._password is not None
        # Both comparisons always run, so timing does not tell which part was wrong.
        user_ok = hmac.compare_digest(user, self._user)
        password_ok = hmac.compare_digest(password, self._password)
        return user_ok and password_ok


def _secret_bytes(secret: SecretStr | None) -> bytes | None:
    return None if secret is None else secret.get_secret_value().encode()


def _basic_credentials(authorization: str) -> tuple[bytes, bytes]:
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return b"", b""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return b"", b""
    user, _, password = decoded.partition(b":")
    return user, password
