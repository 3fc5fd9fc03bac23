"""Reading, masking, fixing and replaying dead-lettered commands (the engine behind `sp-relay dlq`).

Reading never loses a message: messages are received with a short visibility timeout, never deleted
by ``list``/``show``, and made visible again (visibility 0) as soon as the scan ends. ``replay`` deletes
a message from the dead-letter queue only after it was sent to the command queue.
"""

from __future__ import annotations

import copy
import json
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from botocore.exceptions import BotoCoreError, ClientError

from domain.commands import parse_command
from domain.errors import PermanentError

# Attributes the worker puts on a dead-lettered message (adapters.sqs.REASON_ATTRIBUTES) and the
# deferral counter; a replay starts afresh, so every ``sp-relay-*`` attribute is dropped.
RELAY_ATTRIBUTE_PREFIX = "sp-relay-"
NO_REASON = "(none)"
MASK = "***"
SQS_BATCH = 10


# --- one dead letter -----------------------------------------------------------------------------------


@dataclass(slots=True)
class DeadLetter:
    message_id: str
    receipt_handle: str
    body: str
    message_attributes: dict[str, dict[str, Any]]  # as SQS returns them (DataType, StringValue)
    sent_at: float  # epoch seconds, SQS SentTimestamp
    receive_count: int = 1
    _command: dict[str, Any] | None = field(default=None, repr=False)
    _parsed: bool = field(default=False, repr=False)

    @classmethod
    def from_sqs(cls, message: Mapping[str, Any]) -> DeadLetter:
        system = message.get("Attributes", {})
        sent_ms = system.get("SentTimestamp")
        return cls(
            message_id=str(message["MessageId"]),
            receipt_handle=str(message["ReceiptHandle"]),
            body=str(message.get("Body", "")),
            message_attributes=dict(message.get("MessageAttributes", {})),
            sent_at=int(sent_ms) / 1000 if sent_ms else time.time(),
            receive_count=int(system.get("ApproximateReceiveCount", 1)),
        )

    @property
    def attributes(self) -> dict[str, str]:
        return {
            name: str(value.get("StringValue"))
            for name, value in self.message_attributes.items()
            if value.get("StringValue") is not None
        }

    @property
    def command(self) -> dict[str, Any] | None:
        """The body as a JSON object, or None when it is not one."""
        if not self._parsed:
            self._parsed = True
            try:
                document = json.loads(self.body)
            except (ValueError, RecursionError):
                document = None
            self._command = document if isinstance(document, dict) else None
        return self._command

    def _field(self, name: str) -> str | None:
        value = (self.command or {}).get(name)
        return value if isinstance(value, str) else None

    @property
    def command_type(self) -> str | None:
        return self._field("type")

    @property
    def account(self) -> str | None:
        return self._field("account")

    @property
    def command_id(self) -> str | None:
        return self._field("commandId")

    @property
    def reason(self) -> str:
        return self.attributes.get("sp-relay-reason", NO_REASON)

    @property
    def outcome(self) -> str | None:
        return self.attributes.get("sp-relay-outcome")

    @property
    def detail(self) -> str | None:
        return self.attributes.get("sp-relay-detail")

    @property
    def attempts(self) -> int | None:
        raw = self.attributes.get("sp-relay-attempts", "")
        return int(raw) if raw.isdigit() else None

    @property
    def failed_at(self) -> float:
        """When the message failed: the worker's ``sp-relay-failed-at``, else when SQS got it."""
        raw = self.attributes.get("sp-relay-failed-at")
        if raw:
            try:
                return datetime.fromisoformat(raw).timestamp()
            except ValueError:
                pass
        return self.sent_at

    def age(self, now: float) -> float:
        return max(0.0, now - self.failed_at)

    def replay_attributes(self) -> dict[str, dict[str, Any]]:
        """The message attributes a replay carries: the producer's own, none of the relay's."""
        kept: dict[str, dict[str, Any]] = {}
        for name, value in self.message_attributes.items():
            if name.startswith(RELAY_ATTRIBUTE_PREFIX):
                continue
            kept[name] = {k: v for k, v in value.items() if k in {"DataType", "StringValue", "BinaryValue"}}
        return kept


# --- durations and filters -----------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """'90', '90s', '15m', '2h', '3d', '1w' → seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 2h, 3d)")
    return float(match.group(1)) * _UNITS[match.group(2).lower()]


def format_age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600:02d}h"


@dataclass(frozen=True, slots=True)
class Filters:
    types: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    command_ids: tuple[str, ...] = ()
    older_than: float | None = None  # seconds on the DLQ
    newer_than: float | None = None

    @property
    def is_empty(self) -> bool:
        return not (
            self.types
            or self.accounts
            or self.reasons
            or self.command_ids
            or self.older_than is not None
            or self.newer_than is not None
        )

    def matches(self, letter: DeadLetter, now: float) -> bool:
        if self.types and letter.command_type not in self.types:
            return False
        if self.accounts and letter.account not in self.accounts:
            return False
        if self.reasons and letter.reason not in self.reasons:
            return False
        if self.command_ids and letter.command_id not in self.command_ids:
            return False
        age = letter.age(now)
        if self.older_than is not None and age < self.older_than:
            return False
        return not (self.newer_than is not None and age > self.newer_than)

    def describe(self) -> str:
        parts = [
            *(f"type={t}" for t in self.types),
            *(f"account={a}" for a in self.accounts),
            *(f"reason={r}" for r in self.reasons),
            *(f"commandId={c}" for c in self.command_ids),
        ]
        if self.older_than is not None:
            parts.append(f"older than {format_age(self.older_than)}")
        if self.newer_than is not None:
            parts.append(f"newer than {format_age(self.newer_than)}")
        return ", ".join(parts) or "none (every message)"


# --- masking -------------------------------------------------------------------------------------------

# Keys whose values identify a person (a customer's name, phone, e-mail) or are part of an address.
_PERSONAL_KEY = re.compile(
    r"name|phone|e-?mail|fax|street|city|postal|zip|district|county|stateorregion|addressline", re.I
)
# An object under such a key is an address: every value in it is masked, except the country.
_ADDRESS_KEY = re.compile(r"address|party$|recipient|buyer(info)?$|shipto|billto", re.I)
_KEEP_IN_ADDRESS = {"countrycode", "partyid", "addresstype"}
_SECRET_KEY = re.compile(
    r"secret|token|password|passwd|credential|authori[sz]ation|api[-_]?key|private", re.I
)
_SECRET_VALUE = re.compile(
    r"^(Atz[ar]\||amzn1\.oa2-cs\.|eyJ[A-Za-z0-9_-]{8,}\.)|^[A-Za-z0-9+/_=-]{40,}$|^-----BEGIN", re.S
)
# Identifiers (commandId, sellerFulfillmentOrderId, ...) may be long but are never secrets by their look.
_IDENTIFIER_KEY = re.compile(r"(id|ids|number|code|sku|type|account|region|date)$", re.I)
# Masks "key": "value" pairs in a body that is not valid JSON (a truncated command can still hold data).
_JSON_PAIR = re.compile(r'"(?P<key>[^"\\]{1,80})"\s*:\s*"(?P<value>(?:[^"\\]|\\.)*)"?')


def _sensitive_key(key: str) -> bool:
    return bool(_PERSONAL_KEY.search(key) or _SECRET_KEY.search(key))


def mask_value(value: Any, *, key: str = "", in_address: bool = False) -> Any:
    """A copy of a JSON value with personal data and secret-looking values replaced by ``***``."""
    if isinstance(value, dict):
        return {
            k: mask_value(
                v,
                key=k,
                in_address=(in_address or bool(_ADDRESS_KEY.search(k))) and k.lower() not in _KEEP_IN_ADDRESS,
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_value(item, key=key, in_address=in_address) for item in value]
    if isinstance(value, str):
        if in_address or _sensitive_key(key):
            return MASK
        if _SECRET_VALUE.search(value) and not _IDENTIFIER_KEY.search(key):
            return MASK
        return value
    if in_address and isinstance(value, int | float) and not isinstance(value, bool):
        return MASK
    return value


def mask_text(text: str) -> str:
    """Masks a text that is not a JSON object: sensitive ``"key": "value"`` pairs and secret-like words."""

    def pair(match: re.Match[str]) -> str:
        key, value = match.group("key"), match.group("value")
        if _sensitive_key(key) or _ADDRESS_KEY.search(key) or _SECRET_VALUE.search(value):
            return f'"{key}": "{MASK}"'
        return match.group(0)

    masked = _JSON_PAIR.sub(pair, text)
    return " ".join(MASK if _SECRET_VALUE.search(word) else word for word in masked.split(" "))


def masked_body(letter: DeadLetter) -> str:
    if letter.command is not None:
        return json.dumps(mask_value(letter.command), indent=2, ensure_ascii=False)
    return mask_text(letter.body)


# --- fix-ups -------------------------------------------------------------------------------------------


class FixUpError(ValueError):
    """A fix-up that cannot be applied to a message (the message stays on the DLQ)."""


_MISSING = object()


@dataclass(frozen=True, slots=True)
class FixUp:
    """``--set payload.items.0.quantity=2`` (the value is JSON) or ``--unset payload.giftMessage``."""

    path: tuple[str, ...]
    value: Any = _MISSING

    @property
    def removes(self) -> bool:
        return self.value is _MISSING

    @classmethod
    def parse_set(cls, text: str) -> FixUp:
        path, sep, raw = text.partition("=")
        if not sep or not path.strip():
            raise ValueError(f"--set wants FIELD=JSON, got {text!r}")
        try:
            value = json.loads(raw)
        except ValueError:
            raise ValueError(
                f"--set {path}: the value must be JSON (quote strings: {path}='\"text\"'), got {raw!r}"
            ) from None
        return cls(_split_path(path), value)

    @classmethod
    def parse_unset(cls, text: str) -> FixUp:
        return cls(_split_path(text))

    def describe(self) -> str:
        dotted = ".".join(self.path)
        return f"unset {dotted}" if self.removes else f"{dotted}={json.dumps(self.value)}"

    def apply(self, document: dict[str, Any]) -> None:
        parent: Any = document
        for depth, step in enumerate(self.path[:-1]):
            parent = _child(parent, step, ".".join(self.path[: depth + 1]))
        last = self.path[-1]
        where = ".".join(self.path)
        if isinstance(parent, list):
            index = _index(parent, last, where)
            if self.removes:
                del parent[index]
            else:
                parent[index] = self.value
        elif isinstance(parent, dict):
            if self.removes:
                if last not in parent:
                    raise FixUpError(f"{where}: no such field to unset")
                del parent[last]
            else:
                parent[last] = self.value
        else:
            raise FixUpError(f"{'.'.join(self.path[:-1])}: not an object or a list")


def _split_path(text: str) -> tuple[str, ...]:
    steps = tuple(step.strip() for step in text.strip().split("."))
    if not steps or any(not step for step in steps):
        raise ValueError(f"bad field path {text!r} (use dots: payload.destinationAddress.city)")
    return steps


def _index(container: list[Any], step: str, where: str) -> int:
    if not step.lstrip("-").isdigit() or not -len(container) <= int(step) < len(container):
        raise FixUpError(f"{where}: no item {step} (the list has {len(container)})")
    return int(step)


def _child(container: Any, step: str, where: str) -> Any:
    if isinstance(container, list):
        return container[_index(container, step, where)]
    if isinstance(container, dict):
        if step not in container:
            raise FixUpError(f"{where}: no such field")
        return container[step]
    raise FixUpError(f"{where}: not an object or a list")


def fixed_body(letter: DeadLetter, fixups: Sequence[FixUp]) -> str:
    """The body to replay: unchanged without fix-ups, else the fixed command as JSON."""
    if not fixups:
        return letter.body
    if letter.command is None:
        raise FixUpError("the body is not a JSON object; it cannot be fixed field by field")
    document = copy.deepcopy(letter.command)
    for fixup in fixups:
        fixup.apply(document)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


# --- the queue -----------------------------------------------------------------------------------------


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


# --- list ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Group:
    command_type: str
    account: str
    reason: str
    count: int = 0
    oldest: float = 0.0  # age in seconds
    newest: float = math.inf
    command_ids: list[str] = field(default_factory=list)


def group(letters: Sequence[DeadLetter], now: float) -> list[Group]:
    groups: dict[tuple[str, str, str], Group] = {}
    for letter in letters:
        key = (letter.command_type or "(unparsable)", letter.account or "-", letter.reason)
        entry = groups.setdefault(key, Group(*key))
        entry.count += 1
        age = letter.age(now)
        entry.oldest = max(entry.oldest, age)
        entry.newest = min(entry.newest, age)
        if letter.command_id:
            entry.command_ids.append(letter.command_id)
    return sorted(groups.values(), key=lambda g: (-g.count, g.command_type, g.account, g.reason))


def find(letters: Sequence[DeadLetter], wanted: str) -> DeadLetter | None:
    """By message id, source message id (before the DLQ) or commandId."""
    for letter in letters:
        if wanted in {letter.message_id, letter.attributes.get("sp-relay-source-message-id")}:
            return letter
    for letter in letters:
        if letter.command_id == wanted:
            return letter
    return None


# --- replay --------------------------------------------------------------------------------------------


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
