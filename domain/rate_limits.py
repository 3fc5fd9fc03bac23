"""Usage plans and bucket keys for the shared rate limiter."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

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

    def __init__(self, overrides: Mapping[str, UsagePlan] | None = None) -> None:
        self._overrides = dict(overrides or {})
        self._granted: dict[Bucket, float] = {}
        self._lock = threading.Lock()

    def plan_for(self, bucket: Bucket, operation: OperationSpec) -> UsagePlan:
        default = self._overrides.get(operation.key, UsagePlan(operation.rate, operation.burst))
        with self._lock:
            rate = self._granted.get(bucket, default.rate)
        return UsagePlan(rate=rate, burst=default.burst)

    def record_granted_rate(self, bucket: Bucket, rate: float | None) -> None:
        if rate is None or rate <= 0:
            return
        with self._lock:
            self._granted[bucket] = rate
