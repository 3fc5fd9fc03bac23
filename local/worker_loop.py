"""The local stand-in for Lambda's SQS event source mapping.

It polls the command queue the way the event source mapping does — batches of up to 10, the queue's
visibility timeout, partial batch responses — and calls the real Lambda handler with a real-shaped SQS
event and a Lambda context whose remaining time counts down from the function timeout. Messages the
handler reports as failed stay on the queue and come back after their visibility timeout; SQS moves
them to the DLQ after maxReceiveCount, as on AWS. An invocation that runs past the function timeout
is a Lambda timeout: it is counted, and its whole batch comes back, whatever the handler answered (a
thread cannot be killed at the deadline, so what it did after it still happened; the count is the check).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from local.stalls import PROCESS_STALLS

logger = Logger(service="sp-relay-local")
# What SQS answers a receive on a deleted queue (the JSON and the query protocol name it differently).
MISSING_QUEUE_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


class LocalLambdaContext:
    """The parts of ``LambdaContext`` the handler and Powertools use."""

    def __init__(self, function_name: str, timeout_seconds: float, memory_mb: int = 512) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def lambda_sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One SQS message as Lambda's event source mapping delivers it."""
    attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        for name, value in message.get("MessageAttributes", {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


@dataclass(slots=True)
class PollStats:
    batches: int = 0
    received: int = 0
    deleted: int = 0
    failed: int = 0
    handler_errors: int = 0
    timeouts: int = 0
    # Of the timeouts, those the local process's own pauses explain (local.stalls): the invocation's time
    # without them was within the function timeout.
    timeouts_in_rig_pauses: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(
        self,
        received: int,
        deleted: int,
        failed: int,
        handler_error: bool,
        timed_out: bool = False,
        *,
        in_rig_pause: bool = False,
    ) -> None:
        with self._lock:
            self.batches += 1
            self.received += received
            self.deleted += deleted
            self.failed += failed
            self.handler_errors += int(handler_error)
            self.timeouts += int(timed_out)
            self.timeouts_in_rig_pauses += int(timed_out and in_rig_pause)


class LocalEventSourceMapping:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handler: LambdaHandler,
        *,
        region: str = "us-east-1",
        batch_size: int = 10,
        wait_seconds: int = 1,
        function_timeout_seconds: float = 60.0,
        concurrency: int = 2,
        function_name: str = "sp-relay-worker",
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._handler = handler
        self._region = region
        self._batch_size = batch_size
        self._wait_seconds = wait_seconds
        self._timeout = function_timeout_seconds
        self._concurrency = concurrency
        self._function_name = function_name
        self._queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.stats = PollStats()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def poll_once(self) -> int:
        """Receive one batch, invoke the handler, delete what succeeded. Returns the batch size."""
        answer = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=self._wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [lambda_sqs_record(m, self._queue_arn, self._region) for m in messages]}
        context = LocalLambdaContext(self._function_name, self._timeout)
        invoked = time.monotonic()
        try:
            response = self._handler(event, context)
        except Exception:  # a crashed invocation fails the whole batch, as on Lambda
            logger.exception(
                "handler invocation failed; the whole batch returns after its visibility timeout"
            )
            self.stats.add(len(messages), 0, len(messages), handler_error=True)
            return len(messages)
        if context.get_remaining_time_in_millis() <= 0:
            ended = time.monotonic()
            paused = PROCESS_STALLS.paused_seconds_between(invoked, ended)
            pauses = PROCESS_STALLS.pauses_between(invoked, ended)[:20]
            logger.error(
                "handler invocation ran past the function timeout; Lambda would have ended it and the "
                "whole batch returns after its visibility timeout",
                extra={
                    "function_timeout_seconds": self._timeout,
                    "batch_size": len(messages),
                    "ran_seconds": round(ended - invoked, 3),
                    "process_paused_seconds": round(paused, 3),
                    "pauses": [f"{p.cause} {p.seconds:.2f}s at +{p.started - invoked:.2f}s" for p in pauses],
                },
            )
            # Without the process's own pauses it would have ended in time: the rig stood still, not it.
            in_rig_pause = ended - invoked - paused <= self._timeout
            self.stats.add(len(messages), 0, len(messages), False, timed_out=True, in_rig_pause=in_rig_pause)
            return len(messages)
        failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        self.stats.add(len(messages), len(done), len(failed), handler_error=False)
        return len(messages)

    def start(self) -> None:
        PROCESS_STALLS.start()
        self._stop.clear()
        for index in range(self._concurrency):
            thread = threading.Thread(target=self._run, name=f"local-esm-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in MISSING_QUEUE_CODES:
                    # The stack was torn down under this poller: nothing will ever arrive again.
                    logger.warning("the command queue no longer exists; this poller stops")
                    return
                logger.exception("polling the command queue failed; retrying in 1 s")
                self._stop.wait(1.0)
            except Exception:  # a poller survives a failed receive, like the managed mapping
                logger.exception("polling the command queue failed; retrying in 1 s")
                self._stop.wait(1.0)

    def queue_is_drained(self) -> bool:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self._queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return all(int(value) == 0 for value in attributes.values())

    def wait_until_drained(self, timeout: float, poll_interval: float = 0.2, quiet_checks: int = 3) -> bool:
        """Wait until the queue stays empty for ``quiet_checks`` looks in a row.

        One empty look is not enough: SQS counts are approximate, and a message whose visibility
        timeout ends between the reads of two counters is briefly counted in neither.
        """
        deadline = time.monotonic() + timeout
        quiet = 0
        while time.monotonic() < deadline:
            quiet = quiet + 1 if self.queue_is_drained() else 0
            if quiet >= quiet_checks:
                return True
            time.sleep(poll_interval)
        return False
