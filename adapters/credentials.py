"""Selling-partner credentials from Secrets Manager: read once per container and cached."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.aws import aws_failures_are_retryable, error_code
from domain.commands import describe_validation_error
from domain.errors import CredentialsRejected, UnknownAccount
from domain.relay_context import MIN_KEY_BYTES


class AccountSecret(BaseModel):
    """The documented JSON shape of one account's secret (``<prefix><account>``)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    clientId: str = Field(min_length=1)  # noqa: N815 - the documented secret field names
    clientSecret: str = Field(min_length=1)  # noqa: N815
    refreshToken: str = Field(min_length=1)  # noqa: N815
    region: Literal["na", "eu", "fe"] = "na"
    sandbox: bool = False


@dataclass(frozen=True, slots=True)
class AccountCredentials:
    account: str
    client_id: str
    region: str
    sandbox: bool
    # repr=False: a credentials object printed in a traceback or a log must not show these.
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)


class SecretsManagerAccounts:
    """Implements the ``Accounts`` port and hands credentials to the LWA token cache."""

    def __init__(self, client: Any, secret_prefix: str, *, sandbox_everywhere: bool = False) -> None:
        self._client = client
        self._prefix = secret_prefix
        self._sandbox_everywhere = sandbox_everywhere
        self._cache: dict[str, AccountCredentials] = {}
        self._lock = threading.Lock()

    def credentials(self, account: str) -> AccountCredentials:
        cached = self._cache.get(account)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._cache.get(account)
            if cached is None:
                cached = self._cache[account] = self._load(account)
            return cached

    def default_region(self, account: str) -> str:
        return self.credentials(account).region

    def is_sandbox(self, account: str) -> bool:
        return self._sandbox_everywhere or self.credentials(account).sandbox

    def _load(self, account: str) -> AccountCredentials:
        secret_name = f"{self._prefix}{account}"
        try:
            answer = self._client.get_secret_value(SecretId=secret_name)
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                raise UnknownAccount(
                    f"account: no credentials for account {account!r} ({secret_name})"
                ) from None
            with aws_failures_are_retryable(f"reading secret {secret_name}"):
                raise
        except BotoCoreError:
            with aws_failures_are_retryable(f"reading secret {secret_name}"):
                raise
        try:
            secret = AccountSecret.model_validate(json.loads(answer.get("SecretString") or ""))
        except ValueError as error:
            reason = describe_validation_error(error) if isinstance(error, ValidationError) else "not JSON"
            raise CredentialsRejected(f"secret {secret_name} is not valid: {reason}") from None
        return AccountCredentials(
            account=account,
            client_id=secret.clientId,
            region=secret.region,
            sandbox=secret.sandbox,
            client_secret=secret.clientSecret,
            refresh_token=secret.refreshToken,
        )


def read_relay_context_key(client: Any, secret_id: str) -> bytes:
    """The key that seals the relay's message context (domain/relay_context.py), read once per container."""
    with aws_failures_are_retryable(f"reading secret {secret_id}"):
        answer = client.get_secret_value(SecretId=secret_id)
    key = str(answer.get("SecretString") or "").encode()
    if len(key) < MIN_KEY_BYTES:
        raise CredentialsRejected(
            f"secret {secret_id}: the relay context key needs at least {MIN_KEY_BYTES} characters"
        )
    return key
