"""Reading a queue without losing anything: every message once, held invisible until the scan ends."""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any, Self

from botocore.exceptions import BotoCoreError, ClientError

from cli.dead_letters.letter import DeadLetter

SQS_BATCH = 10


class DeadLetterScan:
    """Receives every message of a queue once, holding them invisible until the scan ends.

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
        self.expected = approximate_visible(sqs, queue_url)
        self.received = 0

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
                    fresh.append(letter)
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
    answer = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(answer["Attributes"].get("ApproximateNumberOfMessages", 0))


def read_all(
    sqs: Any, queue_url: str, *, visibility_timeout: int = 30, max_messages: int = 100_000
) -> list[DeadLetter]:
    """Every message on the queue, left in place."""
    with DeadLetterScan(
        sqs, queue_url, visibility_timeout=visibility_timeout, max_messages=max_messages
    ) as scan:
        return [letter for batch in scan.batches() for letter in batch]
