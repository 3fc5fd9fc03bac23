"""Moving dead letters back to the command queue: one by one (receive-send-delete) or SQS's own redrive."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cli.dead_letters.fixups import FixUp, FixUpError, fixed_body
from cli.dead_letters.letter import DeadLetter
from cli.dead_letters.scan import DeadLetterScan
from domain.commands import parse_command
from domain.errors import PermanentError


class Pacer:
    """At most ``rate`` sends per second (no cap when rate is None or 0)."""

    def __init__(
        self,
        rate: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / rate if rate else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0

    def wait(self) -> None:
        if not self._interval:
            return
        now = self._clock()
        if self._next > now:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self._interval


@dataclass(frozen=True, slots=True)
class ReplayItem:
    letter: DeadLetter
    action: str  # moved | would move | refused | failed | moved (not deleted)
    detail: str = ""


@dataclass(slots=True)
class ReplaySummary:
    method: str
    scanned: int = 0
    items: list[ReplayItem] = field(default_factory=list)
    native_task: str | None = None
    native_note: str | None = None

    def count(self, *actions: str) -> int:
        return sum(1 for item in self.items if item.action in actions)

    @property
    def moved(self) -> int:
        return self.count("moved", "moved (not deleted)")

    @property
    def matched(self) -> int:
        return len(self.items)

    @property
    def left(self) -> int:
        return self.scanned - self.count("moved")


def replay_one(
    letter: DeadLetter,
    *,
    sqs: Any,
    scan: DeadLetterScan,
    command_queue_url: str,
    fixups: Sequence[FixUp],
    dry_run: bool,
    pacer: Pacer,
) -> ReplayItem:
    try:
        body = fixed_body(letter, fixups)
    except FixUpError as error:
        return ReplayItem(letter, "refused", f"fix-up: {error}")
    try:
        parse_command(body)  # the worker would refuse it: it stays here, with the reason shown
    except PermanentError as error:
        return ReplayItem(letter, "refused", f"{error.code}: {error.message}")
    note = "; ".join(f.describe() for f in fixups)
    if dry_run:
        return ReplayItem(letter, "would move", note)
    pacer.wait()
    request: dict[str, Any] = {"QueueUrl": command_queue_url, "MessageBody": body}
    attributes = letter.replay_attributes()
    if attributes:
        request["MessageAttributes"] = attributes
    try:
        sent = sqs.send_message(**request)
    except (ClientError, BotoCoreError) as error:
        return ReplayItem(letter, "failed", f"send failed, left on the DLQ: {type(error).__name__}: {error}")
    try:
        scan.delete(letter)
    except (ClientError, BotoCoreError) as error:
        # Sent but still on the DLQ: replaying it again is harmless (idempotency on account+commandId).
        return ReplayItem(letter, "moved (not deleted)", f"delete failed: {error}")
    detail = f"→ message {sent['MessageId']}"
    return ReplayItem(letter, "moved", f"{detail}; {note}" if note else detail)


def try_native_move(
    sqs: Any, dlq_url: str, command_queue_url: str, rate: float | None
) -> tuple[str | None, str]:
    """Start SQS's own redrive (StartMessageMoveTask) from the DLQ to the command queue.

    Returns (task handle, note); the handle is None when the endpoint does not support it (moto) or
    refuses it, and the note says why.
    """
    try:
        arns = [
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            for url in (dlq_url, command_queue_url)
        ]
        request: dict[str, Any] = {"SourceArn": arns[0], "DestinationArn": arns[1]}
        if rate:
            request["MaxNumberOfMessagesPerSecond"] = max(1, min(500, int(rate)))
        answer = sqs.start_message_move_task(**request)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "?")
        return None, f"StartMessageMoveTask unavailable ({code})"
    except BotoCoreError as error:
        return None, f"StartMessageMoveTask unavailable ({type(error).__name__})"
    return str(answer["TaskHandle"]), "StartMessageMoveTask started"


def native_move_progress(sqs: Any, dlq_url: str) -> dict[str, Any] | None:
    """The most recent move task of the DLQ (status, moved, to move), if the endpoint can tell."""
    try:
        arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        tasks = sqs.list_message_move_tasks(SourceArn=arn, MaxResults=1).get("Results", [])
    except (ClientError, BotoCoreError):
        return None
    return dict(tasks[0]) if tasks else None
