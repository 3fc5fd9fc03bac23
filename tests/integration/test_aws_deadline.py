"""AWS calls end before the invocation does: boto3 over HTTP, to a server that never answers and to the
moto server with every attempt throttled, through the clients the composition root builds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from adapters.aws import AWS_MAX_RETRIES, AWS_READ_TIMEOUT_SECONDS, AwsDeadline, AwsDeadlinePassed, aws_client
from chaos.harness import AwsFaultInjector
from local.runtime import LocalStack
from tests.stalled_endpoint import StalledEndpoint

pytestmark = pytest.mark.integration


@pytest.fixture
def stalled() -> Iterator[StalledEndpoint]:
    endpoint = StalledEndpoint()
    yield endpoint
    endpoint.close()


def _session() -> boto3.Session:
    return boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")


def _put(client: Any) -> None:
    client.put_item(TableName="sp-relay-idempotency", Item={"id": {"S": "deadline-probe"}})


def _seconds_left(seconds: float) -> Any:
    ends = time.monotonic() + seconds
    return lambda: ends - time.monotonic()


def test_a_call_to_a_stalled_aws_ends_within_the_time_left_not_after_its_read_timeouts(
    stalled: StalledEndpoint,
) -> None:
    deadline = AwsDeadline()
    client = aws_client(
        "dynamodb", session=_session(), endpoint_url=stalled.url, region=None, deadline=deadline
    )
    seconds = 2.0
    started = time.monotonic()
    with deadline.bound_to(_seconds_left(seconds)), pytest.raises(BotoCoreError):
        _put(client)
    elapsed = time.monotonic() - started
    # Without the bound: a 10 s read timeout, three attempts.
    assert seconds < AWS_READ_TIMEOUT_SECONDS
    assert elapsed < seconds - deadline.reserve_seconds, f"the call took {elapsed:.2f}s of {seconds}s"


def test_no_aws_attempt_starts_with_less_time_left_than_one_needs(stalled: StalledEndpoint) -> None:
    deadline = AwsDeadline()
    client = aws_client(
        "dynamodb", session=_session(), endpoint_url=stalled.url, region=None, deadline=deadline
    )
    started = time.monotonic()
    with (
        deadline.bound_to(_seconds_left(deadline.min_attempt_seconds - 0.05)),
        pytest.raises(AwsDeadlinePassed),
    ):
        _put(client)
    assert time.monotonic() - started < 0.5
    assert stalled.connections == 0, "a request was sent although it could not end in time"


def _throttled_client(stack: LocalStack, deadline: AwsDeadline) -> tuple[Any, AwsFaultInjector]:
    assert stack.resources is not None and stack.moto is not None
    injector = AwsFaultInjector(rules={"dynamodb.PutItem": (1.0, "ThrottlingException", 400)})
    session = _session()
    injector.register(session)
    client = aws_client(
        "dynamodb",
        session=session,
        endpoint_url=stack.moto.endpoint_url,
        region=stack.resources.region,
        deadline=deadline,
    )
    return client, injector


def test_a_throttled_call_is_retried_only_while_the_backoff_and_the_retry_fit(stack: LocalStack) -> None:
    deadline = AwsDeadline()
    client, injector = _throttled_client(stack, deadline)
    # botocore's first backoff of a throttled call is up to 1 s: with less than that and an attempt's
    # minimum left, the throttling answer is the answer.
    started = time.monotonic()
    with (
        deadline.bound_to(_seconds_left(deadline.min_attempt_seconds + 0.9)),
        pytest.raises(ClientError) as error,
    ):
        _put(client)
    assert error.value.response["Error"]["Code"] == "ThrottlingException"
    assert injector.attempts["dynamodb.PutItem"] == 1
    assert time.monotonic() - started < 0.5

    # With time to spare the SDK's own retries still run, as many as the client config says.
    with deadline.bound_to(_seconds_left(60.0)), pytest.raises(ClientError):
        _put(client)
    assert injector.attempts["dynamodb.PutItem"] == 1 + 1 + AWS_MAX_RETRIES


def test_the_time_left_is_per_thread_and_unbound_calls_keep_the_clients_own_retries(
    stack: LocalStack,
) -> None:
    deadline = AwsDeadline()
    client, injector = _throttled_client(stack, deadline)
    unbound_attempts: list[int] = []

    def unbound_call() -> None:
        before = injector.attempts["dynamodb.PutItem"]
        with pytest.raises(ClientError):
            _put(client)
        unbound_attempts.append(injector.attempts["dynamodb.PutItem"] - before)

    with deadline.bound_to(lambda: 0.0):
        other = threading.Thread(target=unbound_call)
        other.start()
        other.join()
        with pytest.raises(AwsDeadlinePassed):
            _put(client)
    assert unbound_attempts == [1 + AWS_MAX_RETRIES]
