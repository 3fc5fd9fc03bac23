"""Shared AWS plumbing: client construction and the translation of AWS failures into the error vocabulary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from domain.errors import DependencyUnavailable

# Fail fast and let the queue retry: a Lambda blocked in SDK retries only burns its timeout.
AWS_CLIENT_CONFIG = Config(
    connect_timeout=3,
    read_timeout=10,
    retries={"mode": "standard", "max_attempts": 3},
)


def aws_client(service: str, *, session: boto3.Session, endpoint_url: str | None, region: str | None) -> Any:
    return session.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint_url,
        region_name=region,
        config=AWS_CLIENT_CONFIG,
    )


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


@contextmanager
def aws_failures_are_retryable(action: str) -> Iterator[None]:
    """Any AWS failure here is transient from the relay's point of view: the message is retried."""
    try:
        yield
    except ClientError as error:
        raise DependencyUnavailable(f"{action} failed: {error_code(error)}") from error
    except BotoCoreError as error:
        raise DependencyUnavailable(f"{action} failed: {type(error).__name__}") from error
