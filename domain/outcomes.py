"""Outcome events: every command ends in exactly one of succeeded, rejected or dead-lettered."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from domain.errors import RelayError

MAX_DETAIL_CHARS = 1000


class OutcomeStatus(StrEnum):
    SUCCEEDED = "succeeded"
    # A permanent failure: invalid command or SP-API said no. The message is on the DLQ.
    REJECTED = "rejected"
    # Retries ran out on a retryable failure. The message is on the DLQ.
    DEAD_LETTERED = "dead-lettered"


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a message ended on the dead-letter queue: travels as message attributes and in the event."""

    status: OutcomeStatus
    code: str
    detail: str
    attempts: int
    error: dict[str, Any]

    @classmethod
    def from_error(cls, status: OutcomeStatus, error: RelayError, attempts: int) -> Failure:
        detail = error.message
        if status is OutcomeStatus.DEAD_LETTERED:
            detail = f"retries exhausted after {attempts} attempts; last error: {detail}"
        return cls(status, error.code, detail[:MAX_DETAIL_CHARS], attempts, error.to_dict())


@dataclass(frozen=True, slots=True)
class Outcome:
    status: OutcomeStatus
    command_type: str | None
    command_id: str | None
    account: str | None
    message_id: str
    result: dict[str, Any] | None = None
    failure: Failure | None = None

    def detail(self) -> dict[str, Any]:
        """The event detail: identifiers, then the SP-API answer or the failure. Never the payload."""
        detail: dict[str, Any] = {
            "status": self.status.value,
            "type": self.command_type,
            "commandId": self.command_id,
            "account": self.account,
            "messageId": self.message_id,
        }
        if self.result is not None:
            detail["result"] = self.result
        if self.failure is not None:
            detail["reason"] = {"code": self.failure.code, "detail": self.failure.detail}
            detail["error"] = self.failure.error
            detail["attempts"] = self.failure.attempts
        return detail
