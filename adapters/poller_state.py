"""Watermarks and per-order fingerprints of the pollers, in DynamoDB (hash key ``key``, TTL ``expiresAt``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from adapters.aws import aws_failures_are_retryable


class DynamoDbPollerState:
    """Implements ``domain.pollers.PollerState``."""

    def __init__(self, client: Any, table_name: str, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock

    def watermark(self, key: str) -> str | None:
        return self.recall(key)

    def recall(self, key: str) -> str | None:
        with aws_failures_are_retryable(f"reading {self._table}"):
            answer = self._client.get_item(
                TableName=self._table, Key={"key": {"S": key}}, ConsistentRead=True
            )
        value = answer.get("Item", {}).get("value", {}).get("S")
        return str(value) if value is not None else None

    def set_watermark(self, key: str, value: str) -> None:
        with aws_failures_are_retryable(f"writing {self._table}"):
            self._client.put_item(TableName=self._table, Item={"key": {"S": key}, "value": {"S": value}})

    def remember(self, key: str, fingerprint: str, ttl_seconds: int) -> None:
        item = {
            "key": {"S": key},
            "value": {"S": fingerprint},
            "expiresAt": {"N": str(int(self._clock()) + ttl_seconds)},
        }
        with aws_failures_are_retryable(f"writing {self._table}"):
            self._client.put_item(TableName=self._table, Item=item)
