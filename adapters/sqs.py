"""The command queue and its dead-letter queue."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger

from adapters.aws import aws_failures_are_retryable
from domain.attributes import (
    ATTEMPTS_ATTRIBUTE,
    DEAD_LETTER_ATTRIBUTES,
    DEFERRALS_ATTRIBUTE,
    DETAIL_ATTRIBUTE,
    FAILED_AT_ATTRIBUTE,
    OUTCOME_ATTRIBUTE,
    REASON_ATTRIBUTE,
    SOURCE_MESSAGE_ID_ATTRIBUTE,
)
from domain.outcomes import Failure
from domain.ports import InboundMessage

logger = Logger(service="sp-relay", child=True)

MAX_ATTRIBUTE_CHARS = 1000


def _string(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value[:MAX_ATTRIBUTE_CHARS] or "-"}


class SqsMessageQueue:
    """Implements the ``MessageQueue`` port."""

    def __init__(self, client: Any, command_queue_url: str, dead_letter_queue_url: str) -> None:
        self._client = client
        self._command_queue_url = command_queue_url
        self._dead_letter_queue_url = dead_letter_queue_url

    def dead_letter(self, message: InboundMessage, failure: Failure) -> None:
        attributes = {
            OUTCOME_ATTRIBUTE: _string(failure.status.value),
            REASON_ATTRIBUTE: _string(failure.code),
            DETAIL_ATTRIBUTE: _string(failure.detail),
            ATTEMPTS_ATTRIBUTE: {"DataType": "Number", "StringValue": str(max(failure.attempts, 1))},
            SOURCE_MESSAGE_ID_ATTRIBUTE: _string(message.message_id),
            FAILED_AT_ATTRIBUTE: _string(datetime.now(UTC).isoformat(timespec="seconds")),
        }
        with aws_failures_are_retryable("sending to the dead-letter queue"):
            self._client.send_message(
                QueueUrl=self._dead_letter_queue_url, MessageBody=message.body, MessageAttributes=attributes
            )
        logger.warning(
            "message dead-lettered",
            extra={"message_id": message.message_id, "reason": failure.code, "outcome": failure.status.value},
        )

    def defer(self, message: InboundMessage, delay_seconds: int) -> None:
        attributes = {
            name: _string(value)
            for name, value in message.attributes.items()
            if name != DEFERRALS_ATTRIBUTE and name not in DEAD_LETTER_ATTRIBUTES
        }
        attributes[DEFERRALS_ATTRIBUTE] = {"DataType": "Number", "StringValue": str(message.deferrals + 1)}
        with aws_failures_are_retryable("re-sending a throttled message"):
            self._client.send_message(
                QueueUrl=self._command_queue_url,
                MessageBody=message.body,
                DelaySeconds=delay_seconds,
                MessageAttributes=attributes,
            )
        logger.info(
            "message deferred for a rate-limit token",
            extra={"message_id": message.message_id, "delay_seconds": delay_seconds},
        )

    def schedule(self, body: str, delay_seconds: int, attributes: Mapping[str, str]) -> None:
        with aws_failures_are_retryable("scheduling a message"):
            self._client.send_message(
                QueueUrl=self._command_queue_url,
                MessageBody=body,
                DelaySeconds=delay_seconds,
                MessageAttributes={name: _string(value) for name, value in attributes.items()},
            )

    def back_off(self, message: InboundMessage, delay_seconds: int) -> None:
        with aws_failures_are_retryable("changing message visibility"):
            self._client.change_message_visibility(
                QueueUrl=self._command_queue_url,
                ReceiptHandle=message.receipt_handle,
                VisibilityTimeout=delay_seconds,
            )
