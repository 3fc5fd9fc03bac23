"""The relay's metrics: a small interface, CloudWatch EMF through Powertools, and meters around ports.

The domain never sees any of this. The composition root (``handlers.bootstrap``) wraps the adapters it
builds in meters that count what passes through them, and the handler flushes once per invocation:

============================ ========================================================== ============
metric                       counted when                                               unit
============================ ========================================================== ============
``CommandsSucceeded``        a ``succeeded`` outcome was published                      Count
``CommandsRejected``         a message was put on the DLQ as ``rejected``               Count
``CommandsDeadLettered``     a message was put on the DLQ after its retries ran out     Count
``SpApiCalls``               SP-API answered (any status)                               Count
``SpApiThrottled``           SP-API answered 429                                        Count
``SpApiLatency``             time of each SP-API call, answer or transport failure      Milliseconds
``TokenWaits``               the shared rate limiter said "wait" (no token yet)         Count
``Deferrals``                a message was re-sent with a delay to wait for a token     Count
``BucketPushBacks``          a 429 from SP-API pushed the shared bucket back            Count
``SpApiFailureDeferrals``    a message was deferred without calling SP-API, which had   Count
                             just failed (5xx, timeout, connection error) for its
                             (account, operation)
``StateProbes``              a write whose earlier attempt may have been applied ran    Count
                             its state probe (``domain.relay.STATE_PROBES``)
``StateProbeReads``          a state probe sent an SP-API read: one token of that read  Count
                             operation's bucket, shared with the pollers
``CommandsNeverFit``         a command's worst case is longer than a whole invocation   Count
                             of the worker: never sent, retried, then the DLQ as
                             ``LongerThanAnInvocation`` (``domain.relay.
                             COMMANDS_NEVER_FIT``)
============================ ========================================================== ============

Namespace ``SpRelay`` (``POWERTOOLS_METRICS_NAMESPACE``), one dimension ``service`` = ``sp-relay``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar, cast

from domain import env_vars
from domain.outcomes import Failure, Outcome, OutcomeStatus
from domain.ports import (
    Admission,
    FailingBuckets,
    InboundMessage,
    MessageQueue,
    OutcomePublisher,
    RateLimiter,
    SpApi,
)
from domain.rate_limits import Bucket, UsagePlan
from domain.requests import SpApiRequest, SpApiResponse

DEFAULT_SERVICE = "sp-relay"

COMMANDS_SUCCEEDED = "CommandsSucceeded"
COMMANDS_REJECTED = "CommandsRejected"
COMMANDS_DEAD_LETTERED = "CommandsDeadLettered"
SPAPI_CALLS = "SpApiCalls"
SPAPI_THROTTLED = "SpApiThrottled"
SPAPI_LATENCY = "SpApiLatency"
TOKEN_WAITS = "TokenWaits"  # noqa: S105 - a metric name
DEFERRALS = "Deferrals"
BUCKET_PUSH_BACKS = "BucketPushBacks"
SPAPI_FAILURE_DEFERRALS = "SpApiFailureDeferrals"

_BY_STATUS = {
    OutcomeStatus.SUCCEEDED.value: COMMANDS_SUCCEEDED,
    OutcomeStatus.REJECTED.value: COMMANDS_REJECTED,
    OutcomeStatus.DEAD_LETTERED.value: COMMANDS_DEAD_LETTERED,
}


def status_metric(status: str) -> str:
    """``succeeded`` → ``CommandsSucceeded``; statuses added later get a name of the same shape."""
    return _BY_STATUS.get(status) or "Commands" + "".join(part.capitalize() for part in status.split("-"))


class Metrics(Protocol):
    """What the relay's meters need from a metrics backend."""

    def count(self, name: str, value: float = 1) -> None: ...

    def milliseconds(self, name: str, value: float) -> None: ...

    def flush(self) -> None:
        """Publish what was recorded since the last flush (once per invocation)."""
        ...


class InMemoryMetrics:
    """Keeps totals in memory: the local stack and the tests read them; nothing is printed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, float] = {}
        self.timings: dict[str, list[float]] = {}
        self.flushes = 0

    def count(self, name: str, value: float = 1) -> None:
        with self._lock:
            self.counts[name] = self.counts.get(name, 0) + value

    def milliseconds(self, name: str, value: float) -> None:
        with self._lock:
            self.timings.setdefault(name, []).append(value)

    def flush(self) -> None:
        with self._lock:
            self.flushes += 1


class PowertoolsMetrics:
    """CloudWatch embedded metric format through Powertools: one EMF document on stdout per flush.

    Powertools keeps its metric set per process; the lock keeps concurrent handler threads (the local
    runner) from flushing each other's half-built sets.
    """

    def __init__(self, namespace: str | None = None, service: str | None = None) -> None:
        from aws_lambda_powertools import Metrics as PowertoolsMetricsClient  # noqa: PLC0415
        from aws_lambda_powertools.metrics import MetricUnit  # noqa: PLC0415

        self._client = PowertoolsMetricsClient(
            namespace=namespace,
            service=service or os.environ.get(env_vars.POWERTOOLS_SERVICE_NAME) or DEFAULT_SERVICE,
        )
        self._count_unit = MetricUnit.Count
        self._milliseconds_unit = MetricUnit.Milliseconds
        self._lock = threading.Lock()
        self._pending = False

    def count(self, name: str, value: float = 1) -> None:
        with self._lock:
            self._client.add_metric(name=name, unit=self._count_unit, value=value)
            self._pending = True

    def milliseconds(self, name: str, value: float) -> None:
        with self._lock:
            self._client.add_metric(name=name, unit=self._milliseconds_unit, value=value)
            self._pending = True

    def flush(self) -> None:
        with self._lock:
            if not self._pending:
                return  # no "no metrics to publish" warning on an idle invocation
            self._pending = False
            self._client.flush_metrics()


def metrics_from_env(environ: Mapping[str, str] | None = None) -> Metrics:
    """EMF when a metrics namespace is configured (template.yaml sets it), else in-memory totals."""
    env = os.environ if environ is None else environ
    namespace = env.get(env_vars.POWERTOOLS_METRICS_NAMESPACE, "").strip()
    if namespace:
        return PowertoolsMetrics(namespace=namespace, service=env.get(env_vars.POWERTOOLS_SERVICE_NAME))
    return InMemoryMetrics()


# --- meters around the ports (used by the composition root) ------------------------------------------


class _Meter:
    """Delegates everything to the wrapped adapter; subclasses intercept the calls they measure."""

    def __init__(self, inner: Any, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _MeteredSpApi(_Meter):
    def call(
        self,
        account: str,
        region: str,
        request: SpApiRequest,
        *,
        admit: Admission | None = None,
        timeout_seconds: float | None = None,
    ) -> SpApiResponse:
        admitting = [0.0]

        def timed_admit() -> float:
            # The wait for a token is no SP-API latency.
            admit_started = time.perf_counter()
            try:
                return admit() if admit is not None else time.time()
            finally:
                admitting[0] += time.perf_counter() - admit_started

        started = time.perf_counter()
        try:
            response: SpApiResponse = self._inner.call(
                account, region, request, admit=timed_admit, timeout_seconds=timeout_seconds
            )
        finally:
            elapsed = time.perf_counter() - started - admitting[0]
            self._metrics.milliseconds(SPAPI_LATENCY, elapsed * 1000)
        self._metrics.count(SPAPI_CALLS)
        if response.status == 429:
            self._metrics.count(SPAPI_THROTTLED)
        return response


class _MeteredLimiter(_Meter):
    def try_acquire(self, bucket: Bucket, plan: UsagePlan) -> float:
        wait = float(self._inner.try_acquire(bucket, plan))
        if wait > 0:
            self._metrics.count(TOKEN_WAITS)
        return wait

    def push_back(self, bucket: Bucket, plan: UsagePlan) -> None:
        self._inner.push_back(bucket, plan)
        self._metrics.count(BUCKET_PUSH_BACKS)


class _MeteredFailingBuckets(_Meter):
    def held_for(self, bucket: Bucket) -> float:
        # Asked once per message before its call (domain.gateway.check_bucket): held means deferred.
        held = float(self._inner.held_for(bucket))
        if held > 0:
            self._metrics.count(SPAPI_FAILURE_DEFERRALS)
        return held


class _MeteredOutcomes(_Meter):
    def publish(self, outcome: Outcome) -> None:
        self._inner.publish(outcome)
        # Failures are counted when they reach the DLQ (the queue meter), so a retried publish of a
        # failure is not counted twice.
        if outcome.status is OutcomeStatus.SUCCEEDED:
            self._metrics.count(COMMANDS_SUCCEEDED)


class _MeteredQueue(_Meter):
    def dead_letter(self, message: InboundMessage, failure: Failure, relay_context: str | None) -> None:
        self._inner.dead_letter(message, failure, relay_context)
        self._metrics.count(status_metric(str(failure.status.value)))

    def defer(
        self, message: InboundMessage, delay_seconds: int, relay_context: str, *, reason: str = ""
    ) -> None:
        self._inner.defer(message, delay_seconds, relay_context, reason=reason)
        self._metrics.count(DEFERRALS)


SpApiT = TypeVar("SpApiT", bound=SpApi)
LimiterT = TypeVar("LimiterT", bound=RateLimiter)
OutcomesT = TypeVar("OutcomesT", bound=OutcomePublisher)
QueueT = TypeVar("QueueT", bound=MessageQueue)
FailingT = TypeVar("FailingT", bound=FailingBuckets)


def metered_spapi(inner: SpApiT, metrics: Metrics) -> SpApiT:
    return cast(SpApiT, _MeteredSpApi(inner, metrics))


def metered_limiter(inner: LimiterT, metrics: Metrics) -> LimiterT:
    return cast(LimiterT, _MeteredLimiter(inner, metrics))


def metered_failing_buckets(inner: FailingT, metrics: Metrics) -> FailingT:
    return cast(FailingT, _MeteredFailingBuckets(inner, metrics))


def metered_outcomes(inner: OutcomesT, metrics: Metrics) -> OutcomesT:
    return cast(OutcomesT, _MeteredOutcomes(inner, metrics))


def metered_queue(inner: QueueT, metrics: Metrics) -> QueueT:
    return cast(QueueT, _MeteredQueue(inner, metrics))
