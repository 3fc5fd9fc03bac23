"""Selling-partner credentials from Secrets Manager: read once per container and cached."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.aws import aws_failures_are_retryable, error_code
from domain.commands import describe_validation_error
from domain.errors import CredentialsRejected, UnknownAccount
from domain.regions import DEFAULT_REGION, Region
from domain.relay_context import MIN_KEY_BYTES


class AccountSecret(BaseModel):
    """The documented JSON shape of one account's secret (``<prefix><account>``)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    clientId: str = Field(min_length=1)  # noqa: N815 - the documented secret field names
    clientSecret: str = Field(min_length=1)  # noqa: N815
    refreshToken: str = Field(min_length=1)  # noqa: N815
    region: Region = DEFAULT_REGION
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


# A secret fixed by the operator is picked up within this long even if nothing was refused.
DEFAULT_SECRET_MAX_AGE_SECONDS = 300.0


class SecretsManagerAccounts:
    """Implements the ``Accounts`` port and hands credentials to the LWA token cache.

    Each account's secret is cached for at most ``max_age_seconds``, and forgotten at once when LWA or
    SP-API refuses the credentials (``forget``), so "fix the secret, then replay" works on warm
    containers too.
    """

    def __init__(
        self,
        client: Any,
        secret_prefix: str,
        *,
        sandbox_everywhere: bool = False,
        max_age_seconds: float = DEFAULT_SECRET_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._prefix = secret_prefix
        self._sandbox_everywhere = sandbox_everywhere
        self._max_age = max_age_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, AccountCredentials]] = {}
        self._lock = threading.Lock()
        self.reads = 0  # how many times a secret was read from Secrets Manager

    def credentials(self, account: str) -> AccountCredentials:
        cached = self._fresh(account)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._fresh(account)
            if cached is None:
                cached = self._load(account)
                self._cache[account] = (self._clock(), cached)
            return cached

    def forget(self, account: str) -> None:
        """Drop the cached secret of ``account``: its credentials were refused; the next use reads it."""
        with self._lock:
            self._cache.pop(account, None)

    def _fresh(self, account: str) -> AccountCredentials | None:
        entry = self._cache.get(account)
        if entry is None or self._clock() - entry[0] >= self._max_age:
            return None
        return entry[1]

    def default_region(self, account: str) -> str:
        return self.credentials(account).region

    def is_sandbox(self, account: str) -> bool:
        return self._sandbox_everywhere or self.credentials(account).sandbox

    def _load(self, account: str) -> AccountCredentials:
        secret_name = f"{self._prefix}{account}"
        self.reads += 1
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
