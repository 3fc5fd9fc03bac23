"""The shared token buckets: GCRA in DynamoDB, one conditional write per decision.

Each bucket item holds a single "theoretical arrival time" ``tat``. With interval T = 1/rate and
tolerance tau = (burst - 1) * T, a token may be taken at ``now`` when the item is missing or
``tat <= now + tau``; taking it moves ``tat`` to ``max(tat, arrival) + T``. Which of the two writes to
try is predicted from the last ``tat`` this container saw; a refused condition returns the stored item
(ALL_OLD), which tells both the right write and, if none is allowed, the wait ``tat - tau - now``.

Why ``arrival`` and not ``now``: SP-API runs the same algorithm on the moment a request reaches it,
which is some milliseconds after this decision (the conditional write itself, then the request on the
wire). While a bucket runs at its limit, both sides add T per call and a late arrival is harmless. But
when a bucket refills, SP-API restarts its ``tat`` from the arrival, and a limiter that restarted from
the earlier decision time would stay behind SP-API by that gap for as long as the bucket stays busy,
turning every fast call into a 429. So a refill is booked at the latest arrival the measurements allow
(``now + arrival_margin``), while the permission is judged at the earliest (``now``). The margin costs
throughput only right after a refill (at most margin x rate tokens until the bucket next refills),
never at steady rate; it is capped at half the bucket's tolerance. ``python -m benchmarks`` prints
the gap between decision and request leaving that the default margin covers.

``tat`` only ever grows, so a wait computed from a remembered ``tat`` is never longer than the true
wait: a container that already knows a bucket is empty answers "wait" without touching DynamoDB, which
is what keeps a throttled batch from hammering the table and SP-API.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from adapters.aws import aws_failures_are_retryable, error_code
from domain.rate_limits import Bucket, UsagePlan

# Under contention a decision may need a second write with fresh knowledge; more than this means
# other workers keep winning, and the caller is told to wait one interval.
MAX_WRITES_PER_DECISION = 4
# The latest a request is expected to reach SP-API after its token was decided (see the module
# docstring). Measured by `python -m benchmarks` on this stack: p99 0.28 s with 32 workers on 2 cores,
# most of it the conditional write under contention; in AWS the write and the trip take tens of ms.
DEFAULT_ARRIVAL_MARGIN_SECONDS = 0.3
BUCKET_TTL_SECONDS = 24 * 3600
# tat is stored to the microsecond: a call exactly at the limit must not be refused by the rounding.
ROUNDING_SECONDS = 1e-6


def _number(value: float) -> str:
    return f"{value:.6f}"


class DynamoDbGcraLimiter:
    """Implements the ``RateLimiter`` port."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        clock: Callable[[], float] = time.time,
        *,
        arrival_margin_seconds: float = DEFAULT_ARRIVAL_MARGIN_SECONDS,
    ) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock
        self._margin = max(0.0, arrival_margin_seconds)
        self._known_tat: dict[str, float] = {}
        self._lock = threading.Lock()
        self.writes = 0  # DynamoDB calls made (benchmarks read it)

    def known_wait(self, bucket: Bucket, plan: UsagePlan) -> float:
        """The wait this container already knows of, without asking DynamoDB (never longer than the truth)."""
        with self._lock:
            known = self._known_tat.get(bucket.key)
        if known is None:
            return 0.0
        return max(0.0, known - _tolerance(plan) - self._clock())

    def try_acquire(self, bucket: Bucket, plan: UsagePlan) -> float:
        interval, tolerance = plan.interval, _tolerance(plan)
        key = bucket.key
        for _ in range(MAX_WRITES_PER_DECISION):
            now = self._clock()
            with self._lock:
                known = self._known_tat.get(key)
            if known is not None and known - tolerance > now + ROUNDING_SECONDS:
                return known - tolerance - now
            # A margin beyond half the tolerance would book every call of a small-burst bucket late.
            latest_arrival = now + min(self._margin, tolerance / 2)
            stored = self._write(
                key,
                now,
                interval,
                plan.burst,
                limit=now + tolerance + ROUNDING_SECONDS,
                latest_arrival=latest_arrival,
                advance=known is not None and known > latest_arrival,
            )
            if stored is None:
                return 0.0
        return interval

    def push_back(self, bucket: Bucket, plan: UsagePlan) -> None:
        """SP-API found its bucket empty: no worker takes a token for one interval from now."""
        now = self._clock()
        pushed = now + _tolerance(plan) + plan.interval
        self.writes += 1
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"bucket": {"S": bucket.key}},
                UpdateExpression="SET tat = :pushed, expiresAt = :expires",
                ConditionExpression="attribute_not_exists(tat) OR tat < :pushed",
                ExpressionAttributeValues={
                    ":pushed": {"N": _number(pushed)},
                    ":expires": {"N": str(int(now + BUCKET_TTL_SECONDS))},
                },
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                with aws_failures_are_retryable(f"rate limiter write to {self._table}"):
                    raise
        except BotoCoreError:
            with aws_failures_are_retryable(f"rate limiter write to {self._table}"):
                raise
        # Already pushed further by another worker, or pushed now: either way at least this far.
        self._remember(bucket.key, pushed)

    def _write(
        self,
        key: str,
        now: float,
        interval: float,
        burst: int,
        *,
        limit: float,
        latest_arrival: float,
        advance: bool,
    ) -> float | None:
        """One conditional write. None when the token was taken, else the ``tat`` found in the table."""
        if advance and latest_arrival < limit:
            update = "SET tat = tat + :interval, expiresAt = :expires, planRate = :rate, planBurst = :burst"
            condition = "tat > :arrival AND tat <= :limit"
            values = {":interval": interval, ":arrival": latest_arrival, ":limit": limit}
        else:
            # A refill: booked from the latest arrival (the permission is still judged at ``limit``).
            update = "SET tat = :next, expiresAt = :expires, planRate = :rate, planBurst = :burst"
            condition = "attribute_not_exists(tat) OR tat <= :bound"
            values = {":next": latest_arrival + interval, ":bound": min(latest_arrival, limit)}
        values[":expires"] = int(now + BUCKET_TTL_SECONDS)
        # The plan in force (SP-API's granted rate when it told one), so `sp-relay status` shows it.
        values[":rate"], values[":burst"] = 1.0 / interval, burst
        self.writes += 1
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key={"bucket": {"S": key}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues={
                    name: {"N": str(value) if isinstance(value, int) else _number(value)}
                    for name, value in values.items()
                },
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                with aws_failures_are_retryable(f"rate limiter write to {self._table}"):
                    raise
            stored = error.response.get("Item", {}).get("tat", {}).get("N")  # type: ignore[attr-defined]
            found = float(stored) if stored is not None else None
            self._remember(key, found)
            return found if found is not None else now
        except BotoCoreError:
            with aws_failures_are_retryable(f"rate limiter write to {self._table}"):
                raise
        self._remember(key, float(Decimal(answer["Attributes"]["tat"]["N"])))
        return None

    def _remember(self, key: str, tat: float | None) -> None:
        with self._lock:
            if tat is None:
                self._known_tat.pop(key, None)
            else:
                self._known_tat[key] = max(tat, self._known_tat.get(key, tat))


def _tolerance(plan: UsagePlan) -> float:
    return max(0, plan.burst - 1) * plan.interval
