"""Moving dead letters back to the command queue: one by one (receive-send-delete) or SQS's own redrive."""

from __future__ import annotations

import signal
import threading
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
from domain.outcomes import OutcomeStatus


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


class StopRequests:
    """Ctrl-C during a replay asks it to stop after the message in hand, so the counts stay true.

    A message is never left half-moved (sent but not deleted) by Ctrl-C: the first Ctrl-C sets
    ``requested`` and the loop stops between messages; a second one interrupts at once.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *_: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


def is_permanent(letter: DeadLetter) -> bool:
    """The worker rejected it (invalid command, SP-API said no): replayed unchanged, it fails again."""
    return letter.outcome == OutcomeStatus.REJECTED.value


@dataclass(frozen=True, slots=True)
class ReplayItem:
    letter: DeadLetter
    action: str  # moved | would move | held back | refused | failed | moved (not deleted)
    detail: str = ""


@dataclass(slots=True)
class ReplaySummary:
    method: str
    expected: int = 0  # SQS's approximate count when the replay started
    scanned: int = 0  # messages read that were on the DLQ when the replay started
    arrived_later: int = 0  # read but not replayed: they reached the DLQ during the replay
    interrupted: bool = False
    items: list[ReplayItem] = field(default_factory=list)

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
        """Of the messages read, how many are still on the DLQ (a sent-but-not-deleted one is)."""
        return self.scanned - self.count("moved")

    def counts(self) -> dict[str, int]:
        return {
            "onTheDlqAtStart": self.expected,
            "read": self.scanned,
            "matched": self.matched,
            "moved": self.count("moved"),
            "movedNotDeleted": self.count("moved (not deleted)"),
            "wouldMove": self.count("would move"),
            "heldBack": self.count("held back"),
            "refused": self.count("refused"),
            "failed": self.count("failed"),
            "leftOnTheDlq": self.left,
            "arrivedDuringTheReplay": self.arrived_later,
        }


def replay_one(
    letter: DeadLetter,
    *,
    sqs: Any,
    scan: DeadLetterScan,
    command_queue_url: str,
    fixups: Sequence[FixUp],
    dry_run: bool,
    pacer: Pacer,
    include_permanent: bool = False,
) -> ReplayItem:
    if is_permanent(letter) and not fixups and not include_permanent:
        return ReplayItem(
            letter, "held back", "failed permanently; fix it with --set/--unset or pass --include-permanent"
        )
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
    attributes = letter.replay_attributes(body_unchanged=body == letter.body)
    if attributes:
        request["MessageAttributes"] = attributes
    try:
        sent = sqs.send_message(**request)
    except (ClientError, BotoCoreError) as error:
        return ReplayItem(letter, "failed", f"send failed, left on the DLQ: {type(error).__name__}: {error}")
    scan.sent_ids.add(str(sent["MessageId"]))
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
