"""The notification log in DynamoDB (the ``NotificationLog`` port): one item per NotificationId.

Kept in the idempotency table, beside the write ledger (same key style, same TTL attribute). A claim is
one conditional write; marking it published is a second. Records are never deleted; the TTL ends them.
"""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from adapters.aws import aws_failures_are_retryable, error_code
from adapters.ledger import DEFAULT_RECORD_TTL_SECONDS, KEY_PREFIX
from domain.notifications import KINDS, NotificationClaim

CLAIMED, PUBLISHED = "CLAIMED", "PUBLISHED"


def load_notification_schemas() -> dict[str, dict[str, Any]]:
    """The vendored schema documents (adapters/notification_schemas/), by file name. Read on first use."""
    folder = resources.files("adapters") / "notification_schemas"
    return {kind.schema_file: json.loads((folder / kind.schema_file).read_text()) for kind in KINDS.values()}


class DynamoDbNotificationLog:
    def __init__(
        self, client: Any, table_name: str, record_ttl_seconds: int = DEFAULT_RECORD_TTL_SECONDS
    ) -> None:
        self._client = client
        self._table = table_name
        self._ttl = record_ttl_seconds

    @staticmethod
    def key(notification_id: str) -> str:
        return f"{KEY_PREFIX}#notification#{notification_id}"

    def claim(self, notification_id: str, *, now: float, lease_until: float) -> NotificationClaim:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": self.key(notification_id)}},
                UpdateExpression="SET #state = :claimed, leaseUntil = :lease, expiration = :expiration",
                ConditionExpression="attribute_not_exists(id) OR (#state = :claimed AND leaseUntil < :now)",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":claimed": {"S": CLAIMED},
                    ":lease": {"N": _number(lease_until)},
                    ":now": {"N": _number(now)},
                    ":expiration": {"N": str(int(now) + self._ttl)},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                with aws_failures_are_retryable(f"notification claim in {self._table}"):
                    raise
            found: dict[str, Any] = dict(error.response.get("Item") or {})  # type: ignore[call-overload]
            if found.get("state", {}).get("S") == PUBLISHED:
                return NotificationClaim(claimed=False, published=True)
            lease = float(found.get("leaseUntil", {}).get("N", now))
            return NotificationClaim(claimed=False, retry_after_seconds=max(0.0, lease - now))
        except BotoCoreError:
            with aws_failures_are_retryable(f"notification claim in {self._table}"):
                raise
        return NotificationClaim(claimed=True)

    def published(self, notification_id: str) -> None:
        with aws_failures_are_retryable(f"notification update in {self._table}"):
            self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": self.key(notification_id)}},
                UpdateExpression="SET #state = :published REMOVE leaseUntil",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":published": {"S": PUBLISHED}},
            )


def _number(value: float) -> str:
    return str(Decimal(str(round(value, 6))))
