"""The shared token buckets: GCRA in DynamoDB, one conditional write per decision.

Each bucket item holds a single "theoretical arrival time" ``tat``. With interval T = 1/rate and
tolerance tau = (burst - 1) * T, a token is taken by setting ``tat = now + T`` when the item is missing
or ``tat <= now``, or ``tat = tat + T`` when ``now < tat <= now + tau``. Which of the two writes to try
is predicted from the last ``tat`` this container saw; a refused condition returns the stored item
(ALL_OLD), which tells both the right write and, if none is allowed, the wait ``tat - tau - now``.

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
# Tokens of SP-API's burst left unused. A call reaches SP-API some milliseconds after its token was
# taken, and not always in the order the tokens were: one token of slack absorbs that jitter, which
# otherwise shows as an occasional 429 when the bucket runs exactly at its limit.
BURST_SLACK = 1
BUCKET_TTL_SECONDS = 24 * 3600


def _number(value: float) -> str:
    return f"{value:.6f}"


class DynamoDbGcraLimiter:
    """Implements the ``RateLimiter`` port."""

    def __init__(self, client: Any, table_name: str, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock
        self._known_tat: dict[str, float] = {}
        self._lock = threading.Lock()
        self.writes = 0  # DynamoDB calls made (benchmarks read it)

    def known_wait(self, bucket: Bucket, plan: UsagePlan) -> float:
        """The wait this container already knows of, without asking DynamoDB (never longer than the truth)."""
        with self._lock:
            known = self._known_tat.get(bucket.key)
        if known is None:
            return 0.0
        return max(0.0, known - max(0, plan.burst - 1 - BURST_SLACK) * plan.interval - self._clock())

    def try_acquire(self, bucket: Bucket, plan: UsagePlan) -> float:
        interval = plan.interval
        tolerance = max(0, plan.burst - 1 - BURST_SLACK) * interval
        key = bucket.key
        for _ in range(MAX_WRITES_PER_DECISION):
            now = self._clock()
            with self._lock:
                known = self._known_tat.get(key)
            if known is not None and known - tolerance > now:
                return known - tolerance - now
            stored = self._write(
                key, now, interval, tolerance, plan.burst, advance=known is not None and known > now
            )
            if stored is None:
                return 0.0
        return interval

    def _write(
        self, key: str, now: float, interval: float, tolerance: float, burst: int, *, advance: bool
    ) -> float | None:
        """One conditional write. None when the token was taken, else the ``tat`` found in the table."""
        if advance:
            update = "SET tat = tat + :interval, expiresAt = :expires, planRate = :rate, planBurst = :burst"
            condition = "tat > :now AND tat <= :limit"
            values = {":interval": interval, ":now": now, ":limit": now + tolerance}
        else:
            update = "SET tat = :next, expiresAt = :expires, planRate = :rate, planBurst = :burst"
            condition = "attribute_not_exists(tat) OR tat <= :now"
            values = {":next": now + interval, ":now": now}
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
