"""Outcome events: every command ends in exactly one of succeeded, rejected or dead-lettered."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from domain.errors import RelayError
from domain.events import READ_PART, READ_PART_EVENT, command_event
from domain.paging import dig
from domain.privacy import redact

MAX_DETAIL_CHARS = 1000


class OutcomeStatus(StrEnum):
    SUCCEEDED = "succeeded"
    # A permanent failure: invalid command or SP-API said no. The message is on the DLQ.
    REJECTED = "rejected"
    # Retries ran out on a retryable failure, or a failure with no rule (outcome unknown). On the DLQ.
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
        said = sp_api_said(error.to_dict())
        if said:
            detail = f"{detail}: {said}"
        if status is OutcomeStatus.DEAD_LETTERED and error.retryable and error.code != "OutcomeUnknown":
            detail = f"retries exhausted after {attempts} attempts; last error: {detail}"
        return cls(status, error.code, detail[:MAX_DETAIL_CHARS], attempts, error.to_dict())


def sp_api_said(error: dict[str, Any]) -> str:
    """SP-API's own error messages ("Requested order 'X' not found"), redacted, for the failure's detail:
    what an operator reads first in `sp-relay dlq show` and `sp-relay events`."""
    errors = redact(error.get("errors") or [])
    messages = [str(e["message"]) for e in errors if isinstance(e, dict) and e.get("message")]
    return "; ".join(dict.fromkeys(messages))


@dataclass(frozen=True, slots=True)
class Outcome:
    status: OutcomeStatus
    command_type: str | None
    command_id: str | None
    account: str | None
    message_id: str
    result: dict[str, Any] | None = None
    failure: Failure | None = None
    # False on a part of a paged read that more parts follow: published, but not the command's ending.
    final: bool = True

    @property
    def event_status(self) -> str:
        """The detail's status: the ending, or ``read-part``."""
        return self.status.value if self.final else READ_PART

    @property
    def detail_type(self) -> str:
        """``sp-relay command <ending>``, or ``sp-relay read-part`` for a part more parts follow."""
        return command_event(self.status.value) if self.final else READ_PART_EVENT

    def detail(self) -> dict[str, Any]:
        """The event detail: identifiers, then the SP-API answer or the failure. Never the payload."""
        detail: dict[str, Any] = {
            "status": self.event_status,
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

    def event_details(self, max_bytes: int) -> list[dict[str, Any]]:
        """The detail as one event, or, when too large, split on the joined item list of a paged read
        (``split``/``splits`` say how to put it together). An answer that cannot be split is left out,
        and the event says so."""
        detail = self.detail()
        if _size(detail) <= max_bytes:
            return [detail]
        result = detail.get("result") or {}
        items_path = tuple(result.get("joinedItems") or ())
        items = dig(result.get("answer"), items_path) if items_path else None
        if isinstance(items, list) and items:
            empty = _with_items(detail, items_path, [])
            room = max_bytes - _size(empty) - 64
            chunks: list[list[Any]] = [[]]
            used = 0
            for item in items:
                size = _size(item) + 2
                if chunks[-1] and used + size > room:
                    chunks.append([])
                    used = 0
                chunks[-1].append(item)
                used += size
            parts = []
            for number, chunk in enumerate(chunks, start=1):
                part = _with_items(detail, items_path, chunk)
                part["split"], part["splits"] = number, len(chunks)
                parts.append(part)
            return parts
        trimmed = copy.deepcopy(detail)
        trimmed["result"]["answer"] = None
        trimmed["result"]["answerOmitted"] = (
            f"the answer ({_size(result.get('answer'))} bytes) exceeds one event"
        )
        return [trimmed]


def _size(document: Any) -> int:
    return len(json.dumps(document, default=str).encode())


def _with_items(detail: dict[str, Any], items_path: tuple[str, ...], items: list[Any]) -> dict[str, Any]:
    part = {**detail, "result": {**detail["result"]}}
    answer = copy.deepcopy({k: v for k, v in part["result"]["answer"].items()})
    target = answer
    for step in items_path[:-1]:
        target = target[step]
    target[items_path[-1]] = items
    part["result"]["answer"] = answer
    return part
