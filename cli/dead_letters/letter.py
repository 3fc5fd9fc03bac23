"""One dead-lettered message: its body, as a command when it parses, and the failure the worker wrote."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.attributes import (
    ATTEMPTS_ATTRIBUTE,
    DETAIL_ATTRIBUTE,
    FAILED_AT_ATTRIBUTE,
    OUTCOME_ATTRIBUTE,
    REASON_ATTRIBUTE,
    RELAY_ATTRIBUTE_PREFIX,
    RELAY_CONTEXT_ATTRIBUTE,
    SOURCE_MESSAGE_ID_ATTRIBUTE,
)

NO_REASON = "(none)"


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
        return self.attributes.get(REASON_ATTRIBUTE, NO_REASON)

    @property
    def outcome(self) -> str | None:
        return self.attributes.get(OUTCOME_ATTRIBUTE)

    @property
    def detail(self) -> str | None:
        return self.attributes.get(DETAIL_ATTRIBUTE)

    @property
    def attempts(self) -> int | None:
        raw = self.attributes.get(ATTEMPTS_ATTRIBUTE, "")
        return int(raw) if raw.isdigit() else None

    @property
    def source_message_id(self) -> str | None:
        """The message id the command had on the command queue, before the DLQ."""
        return self.attributes.get(SOURCE_MESSAGE_ID_ATTRIBUTE)

    @property
    def failed_at_text(self) -> str | None:
        return self.attributes.get(FAILED_AT_ATTRIBUTE)

    @property
    def failed_at(self) -> float:
        """When the message failed: the worker's failed-at attribute, else when SQS got it."""
        raw = self.attributes.get(FAILED_AT_ATTRIBUTE)
        if raw:
            try:
                return datetime.fromisoformat(raw).timestamp()
            except ValueError:
                pass
        return self.sent_at

    def age(self, now: float) -> float:
        return max(0.0, now - self.failed_at)

    def replay_attributes(self, *, body_unchanged: bool = True) -> dict[str, dict[str, Any]]:
        """The message attributes a replay carries: the producer's own, and of the relay's only its sealed
        context (a transaction follow-up's, say), copied unchanged, as it is bound to an unchanged body."""
        kept: dict[str, dict[str, Any]] = {}
        for name, value in self.message_attributes.items():
            sealed_context = body_unchanged and name == RELAY_CONTEXT_ATTRIBUTE
            if name.startswith(RELAY_ATTRIBUTE_PREFIX) and not sealed_context:
                continue
            kept[name] = {k: v for k, v in value.items() if k in {"DataType", "StringValue", "BinaryValue"}}
        return kept
