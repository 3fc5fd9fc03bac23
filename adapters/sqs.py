"""The command queue and its dead-letter queue, within SQS's limits.

moto enforces none of SQS's message limits, so they are checked here before every send: attribute
values only in the characters SQS allows, at most 10 attributes, body plus attributes within the
queue's MaximumMessageSize (template.yaml sets both queues' sizes to the constants below). A send that
would not fit is shortened; one that cannot be made to fit raises MessageTooLarge, so it is never
retried as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger

from adapters.aws import aws_failures_are_retryable
from domain.attributes import (
    ATTEMPTS_ATTRIBUTE,
    DETAIL_ATTRIBUTE,
    FAILED_AT_ATTRIBUTE,
    OUTCOME_ATTRIBUTE,
    REASON_ATTRIBUTE,
    RELAY_CONTEXT_ATTRIBUTE,
    SOURCE_MESSAGE_ID_ATTRIBUTE,
)
from domain.errors import MessageTooLarge
from domain.outcomes import Failure
from domain.ports import InboundMessage

logger = Logger(service="sp-relay", child=True)

# template.yaml sets these as the queues' MaximumMessageSize (tests/integration/test_template.py checks).
# The dead-letter queue takes SQS's largest message, so a command queue message plus the failure's
# attributes always fits.
COMMAND_QUEUE_MAX_MESSAGE_BYTES = 262_144
DEAD_LETTER_QUEUE_MAX_MESSAGE_BYTES = 1_048_576
MAX_MESSAGE_ATTRIBUTES = 10

MAX_ATTRIBUTE_CHARS = 1000
SHORT_DETAIL_CHARS = 200
# xA | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
_NOT_ALLOWED_BY_SQS = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

Attributes = dict[str, dict[str, str]]


def sqs_text(value: str) -> str:
    """``value`` with every character SQS refuses replaced by U+FFFD."""
    return _NOT_ALLOWED_BY_SQS.sub("\ufffd", value)


def _string(value: str, limit: int | None = MAX_ATTRIBUTE_CHARS) -> dict[str, str]:
    text = sqs_text(value)
    return {"DataType": "String", "StringValue": (text[:limit] if limit else text) or "-"}


def message_bytes(body: str, attributes: Attributes) -> int:
    """What SQS counts against MaximumMessageSize: the body and each attribute's name, type and value."""
    size = len(body.encode("utf-8", "surrogatepass"))
    for name, value in attributes.items():
        size += len(name.encode()) + len(value["DataType"].encode())
        size += len(value.get("StringValue", "").encode("utf-8", "surrogatepass"))
    return size


def fit_attributes(
    body: str,
    attributes: Attributes,
    *,
    max_bytes: int,
    droppable: list[str],
    shorten: Callable[[Attributes], bool] = lambda attributes: False,
) -> tuple[Attributes, list[str]]:
    """Attributes within SQS's count and size limits: first ``shorten`` (returns False when it has
    nothing left to shorten), then the ``droppable`` names from the last. Returns the kept attributes
    and the names dropped; raises MessageTooLarge when even that is not enough."""
    kept = dict(attributes)
    dropped: list[str] = []
    order = [name for name in droppable if name in kept]
    while len(kept) > MAX_MESSAGE_ATTRIBUTES or message_bytes(body, kept) > max_bytes:
        if len(kept) <= MAX_MESSAGE_ATTRIBUTES and shorten(kept):
            continue
        if not order:
            raise MessageTooLarge(
                f"message of {message_bytes(body, kept)} bytes with {len(kept)} attributes does not fit "
                f"SQS's limits ({max_bytes} bytes, {MAX_MESSAGE_ATTRIBUTES} attributes) even when shortened"
            )
        name = order.pop()
        dropped.append(name)
        del kept[name]
    return kept, dropped


class SqsMessageQueue:
    """Implements the ``MessageQueue`` port."""

    def __init__(
        self,
        client: Any,
        command_queue_url: str,
        dead_letter_queue_url: str,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._client = client
        self._command_queue_url = command_queue_url
        self._dead_letter_queue_url = dead_letter_queue_url
        self._clock = clock

    def _now_iso(self) -> str:
        moment = datetime.fromtimestamp(self._clock(), UTC) if self._clock else datetime.now(UTC)
        return moment.isoformat(timespec="seconds")

    def dead_letter(self, message: InboundMessage, failure: Failure, relay_context: str | None) -> None:
        attributes: Attributes = {
            OUTCOME_ATTRIBUTE: _string(failure.status.value),
            REASON_ATTRIBUTE: _string(failure.code),
            DETAIL_ATTRIBUTE: _string(failure.detail),
            ATTEMPTS_ATTRIBUTE: {"DataType": "Number", "StringValue": str(max(failure.attempts, 1))},
            SOURCE_MESSAGE_ID_ATTRIBUTE: _string(message.message_id),
            FAILED_AT_ATTRIBUTE: _string(self._now_iso()),
        }
        if relay_context:
            attributes[RELAY_CONTEXT_ATTRIBUTE] = _string(relay_context, limit=None)

        def shorter_detail(current: Attributes) -> bool:
            detail = current.get(DETAIL_ATTRIBUTE)
            if detail is None or len(detail["StringValue"]) <= SHORT_DETAIL_CHARS:
                return False
            detail["StringValue"] = detail["StringValue"][:SHORT_DETAIL_CHARS]
            return True

        attributes, dropped = fit_attributes(
            message.body,
            attributes,
            max_bytes=DEAD_LETTER_QUEUE_MAX_MESSAGE_BYTES,
            # Given up from the end: the time and ids first; the outcome and the reason stay to the last,
            # they say why the message is here.
            droppable=[
                OUTCOME_ATTRIBUTE,
                REASON_ATTRIBUTE,
                RELAY_CONTEXT_ATTRIBUTE,
                DETAIL_ATTRIBUTE,
                ATTEMPTS_ATTRIBUTE,
                SOURCE_MESSAGE_ID_ATTRIBUTE,
                FAILED_AT_ATTRIBUTE,
            ],
            shorten=shorter_detail,
        )
        with aws_failures_are_retryable("sending to the dead-letter queue"):
            self._client.send_message(
                QueueUrl=self._dead_letter_queue_url, MessageBody=message.body, MessageAttributes=attributes
            )
        logger.warning(
            "message dead-lettered",
            extra={
                "message_id": message.message_id,
                "reason": failure.code,
                "outcome": failure.status.value,
                **({"attributes_dropped": dropped} if dropped else {}),
            },
        )

    def defer(
        self, message: InboundMessage, delay_seconds: int, relay_context: str, *, reason: str = ""
    ) -> None:
        producer = {name: _string(value, limit=None) for name, value in message.producer_attributes.items()}
        # The relay's context is what makes a deferral count; the producer's attributes are given up
        # first, the largest last in the list so it goes first.
        by_size = sorted(producer, key=lambda name: (message_bytes("", {name: producer[name]}), name))
        attributes, dropped = fit_attributes(
            message.body,
            {**producer, RELAY_CONTEXT_ATTRIBUTE: _string(relay_context, limit=None)},
            max_bytes=COMMAND_QUEUE_MAX_MESSAGE_BYTES,
            droppable=by_size,
        )
        with aws_failures_are_retryable("re-sending a throttled message"):
            self._client.send_message(
                QueueUrl=self._command_queue_url,
                MessageBody=message.body,
                DelaySeconds=delay_seconds,
                MessageAttributes=attributes,
            )
        logger.info(
            "message deferred",
            extra={
                "message_id": message.message_id,
                "delay_seconds": delay_seconds,
                "reason": reason or None,
                **({"attributes_dropped": dropped} if dropped else {}),
            },
        )

    def schedule(self, body: str, delay_seconds: int, relay_context: str) -> None:
        attributes, _ = fit_attributes(
            body,
            {RELAY_CONTEXT_ATTRIBUTE: _string(relay_context, limit=None)},
            max_bytes=COMMAND_QUEUE_MAX_MESSAGE_BYTES,
            droppable=[],
        )
        with aws_failures_are_retryable("scheduling a message"):
            self._client.send_message(
                QueueUrl=self._command_queue_url,
                MessageBody=body,
                DelaySeconds=delay_seconds,
                MessageAttributes=attributes,
            )

    def back_off(self, message: InboundMessage, delay_seconds: int) -> None:
        with aws_failures_are_retryable("changing message visibility"):
            self._client.change_message_visibility(
                QueueUrl=self._command_queue_url,
                ReceiptHandle=message.receipt_handle,
                VisibilityTimeout=delay_seconds,
            )
