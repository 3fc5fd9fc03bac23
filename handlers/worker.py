"""Lambda entry point of the worker: SQS batch in, partial batch response out. Wiring only."""

from __future__ import annotations

import logging
from typing import Any, cast

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from domain.ports import InboundMessage
from domain.relay import Disposition
from handlers.bootstrap import Worker, container_worker

logger = Logger(service="sp-relay")
# X-Ray (Tracing: Active in template.yaml); off outside Lambda. The response is kept out of the trace (it
# may quote a command). An exception escaping the handler is not: X-Ray's subsegment records its type and
# message whatever capture_error says (False only keeps it out of the metadata), which is why a record's
# failure leaves the record handler as RetryLater(message_id), never with its text
# (tests/unit/test_tracing.py).
tracer = Tracer(service="sp-relay")


class RetryLater(Exception):
    """Marks a record as a batch item failure: SQS gives it back after its visibility timeout."""


class QuietRetryBatchProcessor(BatchProcessor):
    """Logs every record failure through the worker's logger, except an ordinary ``RetryLater``: the
    relay has already said why, and a traceback per retry would bury the lines that matter."""

    def failure_handler(self, record: Any, exception: Any) -> Any:
        if not isinstance(exception[1], RetryLater):
            return super().failure_handler(record, exception)
        own_logger, self.logger = self.logger, None
        try:
            return super().failure_handler(record, exception)
        finally:
            self.logger = own_logger


def inbound_message(record: SQSRecord) -> InboundMessage:
    attributes = {
        name: value.string_value
        for name, value in (record.message_attributes or {}).items()
        if value.string_value is not None
    }
    return InboundMessage(
        message_id=record.message_id,
        body=record.body,
        receive_count=int(record.attributes.approximate_receive_count or 1),
        receipt_handle=record.receipt_handle,
        attributes=attributes,
        sender_id=record.attributes.get("SenderId"),
    )


def handle_batch(event: dict[str, Any], context: LambdaContext, worker: Worker) -> dict[str, Any]:
    def remaining_seconds() -> float:
        return float(context.get_remaining_time_in_millis()) / 1000

    def record_handler(record: SQSRecord) -> None:
        try:
            disposition = worker.relay.process(inbound_message(record), remaining_seconds)
        except Exception as error:  # noqa: BLE001 - the relay ends every message; this is the net under it
            # A sentence, not a traceback: the exception's text may quote the message.
            logger.error(
                "record failed before the relay could end it; SQS gives it back",
                extra={"message_id": record.message_id, "error_type": type(error).__name__},
            )
            raise RetryLater(record.message_id) from None
        if disposition is Disposition.RETRY:
            raise RetryLater(record.message_id)

    # Every record is judged on its own: a batch where all fail is reported item by item, not raised.
    # The worker's logger: a record failing in a way nobody foresaw still leaves a log line.
    processor = QuietRetryBatchProcessor(
        event_type=EventType.SQS,
        raise_on_entire_batch_failure=False,
        # Powertools' Logger offers the logging.Logger methods the processor calls (warning with exc_info).
        logger=cast("logging.Logger", logger),
    )
    try:
        with worker.aws_deadline.bound_to(remaining_seconds), worker.relay.batch(remaining_seconds()):
            response = process_partial_response(
                event=event, record_handler=record_handler, processor=processor, context=context
            )
    finally:
        worker.metrics.flush()  # one EMF document per invocation (adapters/metrics.py)
    return dict(response)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_batch(event, context, container_worker())
