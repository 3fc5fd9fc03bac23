"""Reading a queue without losing anything: every message once, held invisible until the scan ends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Self

from botocore.exceptions import BotoCoreError, ClientError

from cli.dead_letters.letter import DeadLetter

SQS_BATCH = 10


class DeadLetterScan:
    """Receives every message of a queue once, holding them invisible until the scan ends.

    Only the messages that were on the queue when the scan started are yielded: one that SQS stamped
    later than the start (by SQS's own clock), or whose original message id is one this run sent (a
    replayed command that failed again), is held and counted in ``arrived_later`` instead, so a replay
    never picks up its own failures.

    Used as a context manager: whatever was received and not deleted is made visible again on exit
    (visibility timeout 0), also after an error or Ctrl-C.
    """

    def __init__(
        self, sqs: Any, queue_url: str, *, visibility_timeout: int = 60, max_messages: int = 100_000
    ) -> None:
        self._sqs = sqs
        self._url = queue_url
        self._visibility = visibility_timeout
        self._max = max_messages
        self._held: dict[str, DeadLetter] = {}
        self.expected, self.started_at = _visible_and_server_time(sqs, queue_url)
        self.received = 0
        self.arrived_later = 0
        # Message ids this run sent to the command queue; a dead letter of one of them is a new failure.
        self.sent_ids: set[str] = set()

    def was_there_at_start(self, letter: DeadLetter) -> bool:
        if letter.message_id in self.sent_ids or letter.source_message_id in self.sent_ids:
            return False
        # SQS's Date header has whole seconds: a message sent in the starting second counts as there.
        return letter.sent_at < self.started_at + 1.0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release_all()

    def batches(self) -> Iterator[list[DeadLetter]]:
        """New messages, a receive at a time, until the queue has nothing more to give."""
        empty_rounds = 0
        seen: set[str] = set()
        while self.received < self._max:
            caught_up = self.received >= self.expected
            answer = self._sqs.receive_message(
                QueueUrl=self._url,
                MaxNumberOfMessages=min(SQS_BATCH, self._max - self.received),
                VisibilityTimeout=self._visibility,
                # Short polls sample a subset of SQS hosts: wait a little while messages are still due.
                WaitTimeSeconds=0 if caught_up else 1,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
            )
            fresh: list[DeadLetter] = []
            for message in answer.get("Messages", []):
                letter = DeadLetter.from_sqs(message)
                self._held[letter.message_id] = letter  # the newest receipt handle wins
                if letter.message_id not in seen:
                    seen.add(letter.message_id)
                    if self.was_there_at_start(letter):
                        fresh.append(letter)
                    else:
                        self.arrived_later += 1
            if not fresh:
                empty_rounds += 1
                if empty_rounds >= (1 if caught_up else 3):
                    return
                continue
            empty_rounds = 0
            self.received += len(fresh)
            yield fresh

    def delete(self, letter: DeadLetter) -> None:
        held = self._held.get(letter.message_id, letter)
        self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=held.receipt_handle)
        self._held.pop(letter.message_id, None)

    def release_all(self) -> None:
        held = list(self._held.values())
        self._held.clear()
        for start in range(0, len(held), SQS_BATCH):
            chunk = held[start : start + SQS_BATCH]
            try:
                self._sqs.change_message_visibility_batch(
                    QueueUrl=self._url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0}
                        for i, m in enumerate(chunk)
                    ],
                )
            except (ClientError, BotoCoreError):
                continue


def approximate_visible(sqs: Any, queue_url: str) -> int:
    return _visible_and_server_time(sqs, queue_url)[0]


def _visible_and_server_time(sqs: Any, queue_url: str) -> tuple[int, float]:
    """SQS's approximate count of visible messages, and SQS's clock (its Date header) at that moment.

    The server's clock, not this machine's, decides what was on the queue "at the start": message
    timestamps are SQS's too, so a skewed local clock cannot let a new failure in.
    """
    answer = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    visible = int(answer["Attributes"].get("ApproximateNumberOfMessages", 0))
    date = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        server_time = parsedate_to_datetime(date).timestamp() if date else time.time()
    except (TypeError, ValueError):
        server_time = time.time()
    return visible, server_time


def read_all(
    sqs: Any, queue_url: str, *, visibility_timeout: int = 30, max_messages: int = 100_000
) -> list[DeadLetter]:
    """Every message on the queue, left in place."""
    with DeadLetterScan(
        sqs, queue_url, visibility_timeout=visibility_timeout, max_messages=max_messages
    ) as scan:
        return [letter for batch in scan.batches() for letter in batch]
