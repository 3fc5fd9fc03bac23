"""Usage plans and bucket keys for the shared rate limiter."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from domain.spapi import ALL_OPERATIONS
from domain.spapi.spec import OperationSpec


@dataclass(frozen=True, slots=True)
class UsagePlan:
    rate: float  # tokens per second
    burst: int

    @property
    def interval(self) -> float:
        return 1.0 / self.rate


@dataclass(frozen=True, slots=True)
class Bucket:
    """One bucket per (account, region, operation): SP-API limits each selling partner and operation."""

    account: str
    region: str
    operation: str

    @property
    def key(self) -> str:
        return f"{self.account}#{self.region}#{self.operation}"


class FailureHolds:
    """Implements the ``FailingBuckets`` port in memory: what this worker knows of SP-API failing.

    A failure holds the (account, region, operation) for ``base_seconds``, twice as long for each further
    failure in a row (at most ``cap_seconds``); any answer that is no failure releases it. While held, the
    relay defers the bucket's messages without calling, as it does for a bucket it knows is empty: one
    call per hold tells whether SP-API is back. Inside :meth:`batch` a failure also holds its bucket for
    the rest of that batch, however long the batch's other messages take: a batch makes one failing call
    per (account, operation), not one per hold that runs out while it defers the others. ``base_seconds``
    0: nothing is ever held.
    """

    def __init__(
        self, clock: Callable[[], float], base_seconds: float = 0.0, cap_seconds: float = 30.0
    ) -> None:
        self._clock = clock
        self._base = base_seconds
        self._cap = cap_seconds
        self._holds: dict[str, tuple[float, int]] = {}  # bucket key -> (held until, failures in a row)
        self._lock = threading.Lock()
        # Per thread of execution: the local stack runs several invocations at once on one worker.
        self._failed_in_batch: ContextVar[set[str] | None] = ContextVar("failed_in_batch", default=None)

    @contextmanager
    def batch(self) -> Iterator[None]:
        token = self._failed_in_batch.set(set())
        try:
            yield
        finally:
            self._failed_in_batch.reset(token)

    def failed(self, bucket: Bucket) -> None:
        if self._base <= 0:
            return
        with self._lock:
            until, streak = self._holds.get(bucket.key, (0.0, 0))
            hold = min(self._cap, self._base * 2**streak)
            self._holds[bucket.key] = (max(until, self._clock() + hold), streak + 1)
        failed_in_batch = self._failed_in_batch.get()
        if failed_in_batch is not None:
            failed_in_batch.add(bucket.key)

    def answered(self, bucket: Bucket) -> None:
        with self._lock:
            self._holds.pop(bucket.key, None)

    def held_for(self, bucket: Bucket) -> float:
        with self._lock:
            until, _ = self._holds.get(bucket.key, (0.0, 0))
        held = max(0.0, until - self._clock())
        failed_in_batch = self._failed_in_batch.get()
        if failed_in_batch is not None and bucket.key in failed_in_batch:
            return max(held, self._base)
        return held


def bucket_for(account: str, region: str, operation: OperationSpec) -> Bucket:
    return Bucket(account, region, f"{operation.api}.{operation.operation_id}")


class UsagePlanBook:
    """The plan in force per bucket: the catalog's (or the operator's override), until SP-API grants
    another rate.

    ``x-amzn-RateLimit-Limit`` tells the rate actually applied to this caller; the burst stays the
    model's. Overrides (keyed ``"<api>.<operationId>"``) are for selling partners whose usage plan
    Amazon raised: without one, each container learns the higher rate from its first answer only.
    Shared by the threads of one container, hence the lock.
    """

    def __init__(
        self, overrides: Mapping[str, UsagePlan] | None = None, shared: Mapping[str, str] | None = None
    ) -> None:
        self._overrides = dict(overrides or {})
        # Operations that SP-API limits in another operation's bucket ("<api>.<operationId>" -> the other):
        # none by default, so each version of an API (Fulfillment Outbound 2020-07-01 and 2026-07-04) has
        # its own buckets; SHARED_RATE_BUCKETS says otherwise where SP-API's answers show a shared limit.
        self._shared = dict(shared or {})
        self._granted: dict[Bucket, float] = {}
        self._lock = threading.Lock()

    def bucket_for(self, account: str, region: str, operation: OperationSpec) -> Bucket:
        return Bucket(account, region, self._shared.get(operation.key, operation.key))

    def plan_for(self, bucket: Bucket, operation: OperationSpec) -> UsagePlan:
        """The plan of the bucket's operation (the shared one's, for an operation that shares another's)."""
        operation = ALL_OPERATIONS.get(bucket.operation, operation)
        default = self._overrides.get(operation.key, UsagePlan(operation.rate, operation.burst))
        with self._lock:
            rate = self._granted.get(bucket, default.rate)
        return UsagePlan(rate=rate, burst=default.burst)

    def record_granted_rate(self, bucket: Bucket, rate: float | None) -> None:
        if rate is None or rate <= 0:
            return
        with self._lock:
            self._granted[bucket] = rate
