"""The composition root: the one place that builds adapters and hands them to the use case.

Nothing here runs at import time. A Lambda container builds its worker once, on the first event, and
reuses it (clients, cached credentials and access tokens) for every later invocation.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import boto3
import httpx

from adapters.aws import AwsDeadline, aws_client
from adapters.clock import SystemClock
from adapters.credentials import SecretsManagerAccounts, read_relay_context_key
from adapters.ledger import DynamoDbWriteLedger
from adapters.metrics import (
    InMemoryMetrics,
    Metrics,
    metered_failing_buckets,
    metered_limiter,
    metered_outcomes,
    metered_queue,
    metered_spapi,
    metrics_from_env,
)
from adapters.notification_log import DynamoDbNotificationLog, load_notification_schemas
from adapters.outcomes import EventBridgeOutcomes
from adapters.poller_state import DynamoDbPollerState
from adapters.rate_limiter import DynamoDbGcraLimiter
from adapters.settings import (
    NOTIFICATIONS_ENVIRONMENT,
    POLLER_ENVIRONMENT,
    WORKER_ENVIRONMENT,
    FunctionEnvironment,
    Settings,
    SettingsError,
)
from adapters.spapi import CONNECT_TIMEOUT_SECONDS, LwaTokenCache, SpApiHttpClient, request_seconds
from adapters.sqs import SqsMessageQueue
from domain import env_vars
from domain.authorization import AccountAuthorization
from domain.catalog import GRANTLESS_SCOPES, RESTRICTED_OPERATIONS
from domain.gateway import SpApiGateway
from domain.notifications import NotificationIntake, NotificationPorts, compile_schemas
from domain.pollers import (
    POLLERS,
    FulfillmentOrderPoller,
    Poller,
    PollerPorts,
    PurchaseOrderPoller,
    RetailPurchaseOrderPoller,
)
from domain.ports import Clock, OutcomePublisher, RateLimiter, SpApi
from domain.rate_limits import FailureHolds, UsagePlan, UsagePlanBook
from domain.relay import Relay, RelayPorts, RetryPolicy
from domain.relay_context import RelayContextSeal


@dataclass(frozen=True, slots=True)
class Worker:
    """Everything one container needs to process batches."""

    relay: Relay
    ledger: DynamoDbWriteLedger
    tokens: LwaTokenCache
    limiter: DynamoDbGcraLimiter
    # EMF on Lambda (POWERTOOLS_METRICS_NAMESPACE set), in-memory totals locally; flushed per invocation.
    metrics: Metrics = field(default_factory=InMemoryMetrics)
    # Registered on every AWS client of this graph; the handler binds it to the invocation's time left.
    aws_deadline: AwsDeadline = field(default_factory=AwsDeadline)


# Kept after an SP-API answer for the ledger writes and the outcome event that follow it: the deadline
# guard's share of a message after its call. The first of them must still find the least time an AWS
# call is started with (AwsDeadline); one second more leaves room for the rest (tens of ms each on AWS).
AFTER_CALL_SECONDS = AwsDeadline().min_attempt_seconds + 1.0

# While SP-API keeps failing for an (account, operation), a container still tries it this often at least.
FAILURE_HOLD_CAP_SECONDS = 30.0

# These libraries log request and response bodies and headers at DEBUG: secrets, tokens, addresses.
# They stay at WARNING whatever level the root logger or the Lambda log configuration asks for.
CHATTY_LIBRARY_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer", "httpx", "httpcore")


def silence_library_debug_logs() -> None:
    for name in CHATTY_LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


@dataclass(frozen=True, slots=True)
class SpApiSide:
    """What the worker and the pollers both use to reach SP-API within its usage plans."""

    accounts: SecretsManagerAccounts
    tokens: LwaTokenCache
    limiter: DynamoDbGcraLimiter
    # The metered ports the gateway calls through (the relay's ports name them too).
    spapi: SpApi
    limiter_port: RateLimiter
    gateway: SpApiGateway
    outcomes: OutcomePublisher
    metrics: Metrics
    clock: Clock


def build_spapi_side(
    settings: Settings,
    client: Callable[[str], Any],
    *,
    http: httpx.Client | None,
    metrics: Metrics | None,
    clock: Clock | None,
) -> SpApiSide:
    """Accounts, tokens, the shared limiter, the gateway and the outcome bus, with one clock for all."""
    silence_library_debug_logs()
    http = http or httpx.Client(
        timeout=httpx.Timeout(
            settings.http_timeout_seconds, connect=min(CONNECT_TIMEOUT_SECONDS, settings.http_timeout_seconds)
        ),
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
    )
    clock = clock or SystemClock()
    metrics = metrics or metrics_from_env()
    accounts = SecretsManagerAccounts(
        client("secretsmanager"),
        settings.account_secret_prefix,
        sandbox_everywhere=settings.spapi_sandbox,
        max_age_seconds=settings.secret_max_age_seconds,
        clock=clock.now,
    )
    tokens = LwaTokenCache(http, settings.lwa_token_url, accounts, clock=clock.now)
    spapi = SpApiHttpClient(
        http, tokens, accounts, endpoint_override=settings.spapi_endpoint_url, sandbox=settings.spapi_sandbox
    )
    limiter = DynamoDbGcraLimiter(
        client("dynamodb"),
        settings.rate_limit_table_name,
        clock=clock.now,
        arrival_margin_seconds=settings.rate_limit_arrival_margin_seconds,
    )
    spapi_port, limiter_port = metered_spapi(spapi, metrics), metered_limiter(limiter, metrics)
    gateway = SpApiGateway(
        spapi_port,
        limiter_port,
        clock,
        restricted_operations=RESTRICTED_OPERATIONS,
        grantless_scopes=GRANTLESS_SCOPES,
        max_inline_wait_seconds=settings.max_inline_wait_seconds,
        plans=usage_plans(settings),
        request_seconds=request_seconds(http.timeout),
        # SP-API failing for an (account, operation) holds it until the failed message's first retry
        # may come back (backoff: half to all of the base), doubling while it keeps failing.
        failing=metered_failing_buckets(
            FailureHolds(clock.now, settings.retry_backoff_base_seconds / 2, FAILURE_HOLD_CAP_SECONDS),
            metrics,
        ),
    )
    outcomes = metered_outcomes(EventBridgeOutcomes(client("events"), settings.outcome_bus_name), metrics)
    return SpApiSide(accounts, tokens, limiter, spapi_port, limiter_port, gateway, outcomes, metrics, clock)


def _clients(
    settings: Settings, session: boto3.Session | None, deadline: AwsDeadline
) -> Callable[[str], Any]:
    session = session or boto3.Session()

    def client(service: str) -> Any:
        return aws_client(
            service,
            session=session,
            endpoint_url=settings.aws_endpoint_url,
            region=settings.aws_region,
            deadline=deadline,
        )

    return client


def build_worker(
    settings: Settings,
    *,
    session: boto3.Session | None = None,
    http: httpx.Client | None = None,
    metrics: Metrics | None = None,
    clock: Clock | None = None,
) -> Worker:
    for variable, value in (
        (env_vars.COMMAND_QUEUE_URL, settings.command_queue_url),
        (env_vars.DEAD_LETTER_QUEUE_URL, settings.dead_letter_queue_url),
        (env_vars.IDEMPOTENCY_TABLE_NAME, settings.idempotency_table_name),
        (env_vars.RELAY_CONTEXT_KEY_SECRET_ID, settings.relay_context_key_secret_id),
    ):
        if not value:
            raise SettingsError(f"environment variable {variable} is required by the worker")
    assert settings.relay_context_key_secret_id is not None
    aws_deadline = AwsDeadline()
    client = _clients(settings, session, aws_deadline)
    side = build_spapi_side(settings, client, http=http, metrics=metrics, clock=clock)
    key_secret_id = settings.relay_context_key_secret_id
    secrets = client("secretsmanager")
    # Read on first use, not while building: a failing Secrets Manager is retried like any dependency.
    seal = RelayContextSeal(lambda: read_relay_context_key(secrets, key_secret_id))
    ledger = DynamoDbWriteLedger(client("dynamodb"), settings.idempotency_table_name)
    queue = SqsMessageQueue(
        client("sqs"), settings.command_queue_url, settings.dead_letter_queue_url, clock=side.clock.now
    )
    ports = RelayPorts(
        spapi=side.spapi,
        accounts=side.accounts,
        limiter=side.limiter_port,
        ledger=ledger,
        outcomes=side.outcomes,
        queue=metered_queue(queue, side.metrics),
        clock=side.clock,
        seal=seal,
        meter=side.metrics,
    )
    policy = RetryPolicy(
        max_receive_count=settings.max_receive_count,
        max_inline_wait_seconds=settings.max_inline_wait_seconds,
        backoff_base_seconds=settings.retry_backoff_base_seconds,
        retry_budget_seconds=settings.retry_budget_hours * 3600,
        follow_up_interval_seconds=settings.follow_up_interval_seconds,
        follow_up_max_seconds=settings.follow_up_max_minutes * 60,
        # The worst case of one write: an access token, a Restricted Data Token, the call itself.
        min_lease_seconds=3 * settings.http_timeout_seconds + settings.max_inline_wait_seconds,
        after_call_seconds=AFTER_CALL_SECONDS,
        acknowledgement_window_seconds=settings.acknowledgement_window_seconds,
    )
    return Worker(
        relay=Relay(ports, side.gateway, policy, account_authorization(settings)),
        ledger=ledger,
        tokens=side.tokens,
        limiter=side.limiter,
        metrics=side.metrics,
        aws_deadline=aws_deadline,
    )


def account_authorization(settings: Settings) -> AccountAuthorization:
    return AccountAuthorization(
        allowed_accounts=None if settings.allowed_accounts is None else frozenset(settings.allowed_accounts),
        sender_accounts=None
        if settings.sender_accounts is None
        else {sender: frozenset(accounts) for sender, accounts in settings.sender_accounts},
    )


def usage_plans(settings: Settings) -> UsagePlanBook:
    return UsagePlanBook(
        {key: UsagePlan(rate, burst) for key, rate, burst in settings.usage_plan_overrides},
        dict(settings.shared_rate_buckets),
    )


Built = TypeVar("Built")
_workers: dict[Settings, Worker] = {}
_workers_lock = threading.Lock()


def _built_once(
    cache: dict[Settings, Built], build: Callable[[Settings], Built], function: FunctionEnvironment
) -> Built:
    """What ``build`` makes from ``function``'s settings in the environment, made on first use and reused
    after.

    Keyed by the settings, so a process that hosts several local stacks one after another (the test
    suite, the local runner) gets one per configuration; on Lambda there is exactly one.
    """
    settings = Settings.from_env(function=function)
    built = cache.get(settings)
    if built is None:
        with _workers_lock:
            built = cache.get(settings)
            if built is None:
                built = cache[settings] = build(settings)
    return built


def container_worker() -> Worker:
    """The worker of this container."""
    return _built_once(_workers, build_worker, WORKER_ENVIRONMENT)


@dataclass(frozen=True, slots=True)
class Pollers:
    """Everything one poller container needs: each poller with the accounts it polls."""

    pollers: dict[str, tuple[Poller, tuple[tuple[str, str | None], ...]]]
    metrics: Metrics
    aws_deadline: AwsDeadline = field(default_factory=AwsDeadline)


def build_pollers(
    settings: Settings, *, session: boto3.Session | None = None, http: httpx.Client | None = None
) -> Pollers:
    """The pollers' own graph: SP-API, the limiter, the outcome bus and their state; no queue, no
    write ledger, no relay."""
    if not settings.poller_state_table_name:
        raise SettingsError("environment variable POLLER_STATE_TABLE_NAME is required by the pollers")
    aws_deadline = AwsDeadline()
    client = _clients(settings, session, aws_deadline)
    side = build_spapi_side(settings, client, http=http, metrics=None, clock=None)
    ports = PollerPorts(
        gateway=side.gateway,
        accounts=side.accounts,
        state=DynamoDbPollerState(client("dynamodb"), settings.poller_state_table_name, clock=side.clock.now),
        events=side.outcomes,
        clock=side.clock,
    )
    accounts = {
        PurchaseOrderPoller.name: settings.df_poll_accounts,
        FulfillmentOrderPoller.name: settings.mcf_poll_accounts,
        RetailPurchaseOrderPoller.name: settings.retail_poll_accounts,
    }
    return Pollers(
        {name: (poller(ports), accounts[name]) for name, poller in POLLERS.items()},
        side.metrics,
        aws_deadline,
    )


_pollers: dict[Settings, Pollers] = {}


def container_pollers() -> Pollers:
    """The pollers of this container."""
    return _built_once(_pollers, build_pollers, POLLER_ENVIRONMENT)


@dataclass(frozen=True, slots=True)
class Notifications:
    """Everything one notifications container needs: the intake and its metrics."""

    intake: NotificationIntake
    metrics: Metrics
    aws_deadline: AwsDeadline = field(default_factory=AwsDeadline)


def build_notifications(settings: Settings, *, session: boto3.Session | None = None) -> Notifications:
    """The notifications handler's graph: schemas, the notification log and the write ledger (both in
    the idempotency table), the outcome bus and the notification DLQ; no SP-API, no limiter."""
    for variable, value in (
        (env_vars.NOTIFICATION_DEAD_LETTER_QUEUE_URL, settings.notification_dead_letter_queue_url),
        (env_vars.IDEMPOTENCY_TABLE_NAME, settings.idempotency_table_name),
    ):
        if not value:
            raise SettingsError(f"environment variable {variable} is required by the notifications handler")
    silence_library_debug_logs()
    aws_deadline = AwsDeadline()
    client = _clients(settings, session, aws_deadline)
    clock = SystemClock()
    metrics = metrics_from_env()
    dynamodb = client("dynamodb")
    ports = NotificationPorts(
        schemas=compile_schemas(load_notification_schemas()),
        log=DynamoDbNotificationLog(dynamodb, settings.idempotency_table_name),
        creators=DynamoDbWriteLedger(dynamodb, settings.idempotency_table_name),
        events=metered_outcomes(EventBridgeOutcomes(client("events"), settings.outcome_bus_name), metrics),
        # Only its dead_letter is used: a notification is never re-sent to the queue it came from.
        dead_letters=SqsMessageQueue(
            client("sqs"), "", settings.notification_dead_letter_queue_url, clock=clock.now
        ),
        clock=clock,
        seller_accounts=dict(settings.notification_seller_accounts),
        announcements=DynamoDbPollerState(dynamodb, settings.poller_state_table_name, clock=clock.now)
        if settings.poller_state_table_name
        else None,
    )
    return Notifications(
        NotificationIntake(ports, max_receive_count=settings.max_receive_count), metrics, aws_deadline
    )


_notifications: dict[Settings, Notifications] = {}


def container_notifications() -> Notifications:
    """The notifications handler of this container."""
    return _built_once(_notifications, build_notifications, NOTIFICATIONS_ENVIRONMENT)
