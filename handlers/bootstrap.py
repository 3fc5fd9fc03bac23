"""The composition root: the one place that builds adapters and hands them to the use case.

Nothing here runs at import time. A Lambda container builds its worker once, on the first event, and
reuses it (clients, cached credentials and access tokens) for every later invocation.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import boto3
import httpx

from adapters.aws import aws_client
from adapters.clock import SystemClock
from adapters.credentials import SecretsManagerAccounts
from adapters.idempotency import PowertoolsIdempotency
from adapters.outcomes import EventBridgeOutcomes
from adapters.rate_limiter import DynamoDbGcraLimiter
from adapters.settings import Settings
from adapters.spapi import LwaTokenCache, SpApiHttpClient
from adapters.sqs import SqsMessageQueue
from domain.relay import Relay, RelayPorts, RetryPolicy


@dataclass(frozen=True, slots=True)
class Worker:
    """Everything one container needs to process batches."""

    relay: Relay
    idempotency: PowertoolsIdempotency
    tokens: LwaTokenCache
    limiter: DynamoDbGcraLimiter


# These libraries log request and response bodies and headers at DEBUG: secrets, tokens, addresses.
# They stay at WARNING whatever level the root logger or the Lambda log configuration asks for.
CHATTY_LIBRARY_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer", "httpx", "httpcore")


def silence_library_debug_logs() -> None:
    for name in CHATTY_LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def build_worker(
    settings: Settings,
    *,
    session: boto3.Session | None = None,
    http: httpx.Client | None = None,
) -> Worker:
    silence_library_debug_logs()
    session = session or boto3.Session()

    def client(service: str) -> object:
        return aws_client(
            service, session=session, endpoint_url=settings.aws_endpoint_url, region=settings.aws_region
        )

    http = http or httpx.Client(
        timeout=httpx.Timeout(settings.http_timeout_seconds, connect=min(5.0, settings.http_timeout_seconds)),
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
    )
    accounts = SecretsManagerAccounts(client("secretsmanager"), settings.account_secret_prefix)
    tokens = LwaTokenCache(http, settings.lwa_token_url, accounts)
    spapi = SpApiHttpClient(
        http, tokens, accounts, endpoint_override=settings.spapi_endpoint_url, sandbox=settings.spapi_sandbox
    )
    dynamodb = client("dynamodb")
    limiter = DynamoDbGcraLimiter(dynamodb, settings.rate_limit_table_name)
    idempotency = PowertoolsIdempotency(dynamodb, settings.idempotency_table_name)
    ports = RelayPorts(
        spapi=spapi,
        accounts=accounts,
        limiter=limiter,
        idempotency=idempotency,
        outcomes=EventBridgeOutcomes(client("events"), settings.outcome_bus_name),
        queue=SqsMessageQueue(client("sqs"), settings.command_queue_url, settings.dead_letter_queue_url),
        clock=SystemClock(),
    )
    policy = RetryPolicy(
        max_receive_count=settings.max_receive_count,
        max_inline_wait_seconds=settings.max_inline_wait_seconds,
        backoff_base_seconds=settings.retry_backoff_base_seconds,
    )
    return Worker(relay=Relay(ports, policy), idempotency=idempotency, tokens=tokens, limiter=limiter)


_workers: dict[Settings, Worker] = {}
_workers_lock = threading.Lock()


def container_worker() -> Worker:
    """The worker of this container, built from the environment on first use and reused after.

    Keyed by the settings, so a process that hosts several local stacks one after another (the test
    suite, the local runner) gets a worker per configuration; on Lambda there is exactly one.
    """
    settings = Settings.from_env()
    worker = _workers.get(settings)
    if worker is None:
        with _workers_lock:
            worker = _workers.get(settings)
            if worker is None:
                worker = _workers[settings] = build_worker(settings)
    return worker
