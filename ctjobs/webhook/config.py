"""How the webhook intake is configured: where it lands, limits, and credentials.

Credentials come only from the environment, never from a file or a flag, so they do
not end up in shell history or in a job file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator

from ctjobs.errors import UsageError

ENV_SECRET = "CTJOBS_WEBHOOK_SECRET"
ENV_SECRET_HEADER = "CTJOBS_WEBHOOK_SECRET_HEADER"
ENV_USER = "CTJOBS_WEBHOOK_USER"
ENV_PASSWORD = "CTJOBS_WEBHOOK_PASSWORD"
DEFAULT_SECRET_HEADER = "X-Webhook-Secret"
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
REMOTE_SCHEMES = ("s3://", "gs://", "gcs://", "az://", "abfs://", "memory://")


class WebhookConfig(BaseModel):
    """Settings of one webhook intake server."""

    land: str = Field(description="Landing folder, or an s3:// or gs:// URL")
    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES, gt=0, description="Largest body accepted"
    )
    compact_interval_s: float = Field(
        default=300.0, gt=0, description="Seconds between compactions to Parquet"
    )
    rotate_bytes: int = Field(
        default=64 * 1024 * 1024, gt=0, description="Close a landing file this size"
    )
    spool: str | None = Field(
        default=None, description="Local folder that lands first when land is a URL"
    )
    secret: SecretStr | None = Field(default=None, description="Shared header secret")
    secret_header: str = Field(
        default=DEFAULT_SECRET_HEADER, description="Header that carries the secret"
    )
    basic_user: str | None = Field(default=None, description="HTTP Basic user name")
    basic_password: SecretStr | None = Field(
        default=None, description="HTTP Basic password"
    )
    insecure_no_auth: bool = Field(
        default=False, description="Accept requests without any credentials"
    )

    @model_validator(mode="after")
    def _credentials_are_usable(self) -> WebhookConfig:
        for name, value in (("secret", self.secret), ("password", self.basic_password)):
            if value is not None and not value.get_secret_value():
                raise ValueError(f"the webhook {name} is empty; unset it or fill it")
        if (self.basic_user is None) != (self.basic_password is None):
            raise ValueError(
                f"HTTP Basic needs both {ENV_USER} and {ENV_PASSWORD}; only one is set"
            )
        return self

    @classmethod
    def from_env(
        cls, land: str, *, environ: Mapping[str, str] | None = None, **settings: object
    ) -> WebhookConfig:
        """Build a config for ``land``, reading credentials from the environment.

        ``environ`` defaults to ``os.environ``; empty variables count as unset.
        Other fields (``max_body_bytes``, ``insecure_no_auth`` ...) pass through.
        """
        env = os.environ if environ is None else environ

        def read(name: str) -> str | None:
            return env.get(name) or None

        try:
            return cls._from_settings(
                {
                    "land": land,
                    "secret": read(ENV_SECRET),
                    "secret_header": read(ENV_SECRET_HEADER) or DEFAULT_SECRET_HEADER,
                    "basic_user": read(ENV_USER),
                    "basic_password": read(ENV_PASSWORD),
                    **settings,
                }
            )
        except ValidationError as exc:
            # Only the messages: pydantic's full text would echo the input values.
            problems = "; ".join(error["msg"] for error in exc.errors())
            raise UsageError(f"webhook settings are not usable: {problems}") from None

    @classmethod
    def _from_settings(cls, settings: dict[str, object]) -> WebhookConfig:
        return cls.model_validate(settings)

    @property
    def has_auth(self) -> bool:
        """Whether at least one credential check is configured."""
        return self.secret is not None or self.basic_user is not None

    @property
    def is_remote(self) -> bool:
        """Whether ``land`` is an object-store URL rather than a local folder."""
        return self.land.startswith(REMOTE_SCHEMES)

    def landing_dir(self) -> Path:
        """The local folder payloads are appended to (the spool for a URL)."""
        if not self.is_remote:
            return Path(self.land)
        if self.spool is not None:
            return Path(self.spool)
        digest = hashlib.sha256(self.land.encode()).hexdigest()[:16]
        return Path.home() / ".cache" / "ctjobs" / "webhook-spool" / digest

    def require_auth(self) -> None:
        """Refuse to run an open endpoint unless that was asked for explicitly."""
        if self.has_auth or self.insecure_no_auth:
            return
        raise UsageError(
            "the webhook server has no credentials configured: set "
            f"{ENV_SECRET} (header {self.secret_header}) or {ENV_USER} and "
            f"{ENV_PASSWORD}, or pass --insecure-no-auth to accept anyone's POSTs"
        )
