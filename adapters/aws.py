"""Shared AWS plumbing: client construction, AWS calls bounded by the invocation's deadline, and the
translation of AWS failures into the error vocabulary."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from domain.errors import DependencyUnavailable

# Fail fast and let the queue retry: a Lambda blocked in SDK retries only burns its timeout. An AWS
# endpoint in the function's region connects in milliseconds; a second is already an outage.
AWS_CONNECT_TIMEOUT_SECONDS = 1.0
AWS_READ_TIMEOUT_SECONDS = 10.0
# Retries after the first attempt (botocore's "max_attempts" in a Config counts retries only).
AWS_MAX_RETRIES = 3
AWS_CLIENT_CONFIG = Config(
    connect_timeout=AWS_CONNECT_TIMEOUT_SECONDS,
    read_timeout=AWS_READ_TIMEOUT_SECONDS,
    retries={"mode": "standard", "max_attempts": AWS_MAX_RETRIES},
)

# botocore's standard mode sleeps up to min(1 s x 2^(attempt - 1), 20 s) before a retry of a throttled
# call (botocore.retries.standard.ExponentialBackoff): the longest sleep a retry can cost.
_THROTTLED_BACKOFF_BASE_SECONDS = 1.0
_MAX_BACKOFF_SECONDS = 20.0


class AwsDeadlinePassed(BotoCoreError):
    """An AWS attempt that could not end before the invocation does was not started."""

    fmt = "not started: {seconds_left:.2f}s left of the invocation, less than one AWS attempt needs"


@dataclass(slots=True)
class AwsDeadline:
    """Keeps every AWS call of an invocation inside it: an attempt is sent only when it can end in time
    (its read timeout shrinks to the time left), and a retry only when its backoff sleep fits as well.

    botocore's own timeouts and retries know nothing of Lambda's deadline: three throttled ledger writes
    in a row can sleep and wait for longer than the guard keeps after an SP-API answer, and a Lambda timeout
    then redelivers the whole batch. An AWS call that is not started fails as any AWS failure does
    (``DependencyUnavailable``), and the relay gives the message back. Outside :meth:`bound_to` (building
    the graph, a test) calls run with the client's own timeouts. The time left is per thread of execution
    (a ``ContextVar``): the local stack runs several invocations at once on one worker.
    """

    # Kept for the handler to return its batch response after the last AWS answer.
    reserve_seconds: float = 0.25
    # A shorter read timeout than this is no attempt worth making.
    min_read_seconds: float = 0.2
    connect_timeout_seconds: float = AWS_CONNECT_TIMEOUT_SECONDS
    read_timeout_seconds: float = AWS_READ_TIMEOUT_SECONDS
    _remaining: ContextVar[Callable[[], float] | None] = field(
        default_factory=lambda: ContextVar("aws_deadline_remaining", default=None)
    )

    @property
    def min_attempt_seconds(self) -> float:
        """The least time left with which an AWS call is still started."""
        return self.reserve_seconds + self.connect_timeout_seconds + self.min_read_seconds

    @contextmanager
    def bound_to(self, remaining_seconds: Callable[[], float]) -> Iterator[None]:
        token = self._remaining.set(remaining_seconds)
        try:
            yield
        finally:
            self._remaining.reset(token)

    def register(self, client: Any) -> None:
        # On the service's own event names and first: botocore calls more specific handlers first, and
        # its retry handler is registered on needs-retry.<service> when the client is built.
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register_first(f"before-send.{service}", self._before_send)
        client.meta.events.register_first(f"needs-retry.{service}", self._needs_retry)

    def _seconds_left(self) -> float | None:
        remaining = self._remaining.get()
        return None if remaining is None else remaining() - self.reserve_seconds

    def _before_send(self, request: Any, **_: Any) -> None:
        left = self._seconds_left()
        if left is None:
            return
        read_timeout = min(self.read_timeout_seconds, left - self.connect_timeout_seconds)
        if read_timeout < self.min_read_seconds:
            raise AwsDeadlinePassed(seconds_left=max(left + self.reserve_seconds, 0.0))
        # botocore >= 1.43.72 honours a per-request read timeout in the request context.
        request.context["read_timeout"] = read_timeout

    def _needs_retry(self, attempts: int, **_: Any) -> bool | None:
        left = self._seconds_left()
        if left is None:
            return None
        longest_sleep = min(_THROTTLED_BACKOFF_BASE_SECONDS * 2 ** (attempts - 1), _MAX_BACKOFF_SECONDS)
        if left - longest_sleep < self.connect_timeout_seconds + self.min_read_seconds:
            # False, not None: botocore takes the first answer that is not None, so no retry follows and
            # the answer in hand (the throttling error) is what the caller gets.
            return False
        return None


def aws_client(
    service: str,
    *,
    session: boto3.Session,
    endpoint_url: str | None,
    region: str | None,
    deadline: AwsDeadline | None = None,
) -> Any:
    client = session.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint_url,
        region_name=region,
        config=AWS_CLIENT_CONFIG,
    )
    if deadline is not None:
        deadline.register(client)
    return client


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
