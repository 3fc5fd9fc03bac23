"""Lambda entry point of the notifications handler: SP-API notifications from NotificationQueue in,
one event per notification out (domain/notifications.py). Wiring only."""

from __future__ import annotations

import logging
from typing import Any, cast

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from domain.relay import Disposition
from handlers.bootstrap import Notifications, container_notifications
from handlers.worker import QuietRetryBatchProcessor, RetryLater, inbound_message

logger = Logger(service="sp-relay")
tracer = Tracer(service="sp-relay")


def handle_notifications(
    event: dict[str, Any], context: LambdaContext, built: Notifications
) -> dict[str, Any]:
    def remaining_seconds() -> float:
        return float(context.get_remaining_time_in_millis()) / 1000

    def record_handler(record: SQSRecord) -> None:
        try:
            result = built.intake.process(inbound_message(record), remaining_seconds)
        except Exception as error:  # noqa: BLE001 - the net under the intake
            logger.error(
                "notification failed before the intake could end it; SQS gives it back",
                extra={"message_id": record.message_id, "error_type": type(error).__name__},
            )
            raise RetryLater(record.message_id) from None
        logger.info(
            "notification",
            extra={
                "message_id": record.message_id,
                "result": result.what,
                "notification_type": result.notification_type,
                "reason": result.reason,
            },
        )
        if result.disposition is Disposition.RETRY:
            raise RetryLater(record.message_id)

    processor: BatchProcessor = QuietRetryBatchProcessor(
        event_type=EventType.SQS,
        raise_on_entire_batch_failure=False,
        logger=cast("logging.Logger", logger),
    )
    try:
        with built.aws_deadline.bound_to(remaining_seconds):
            response = process_partial_response(
                event=event, record_handler=record_handler, processor=processor, context=context
            )
    finally:
        built.metrics.flush()
    return dict(response)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_notifications(event, context, container_notifications())
