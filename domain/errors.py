"""The error vocabulary: every failure is either retryable or permanent, and nothing else.

A retryable error sends the message back to the queue with backoff; after the queue's maxReceiveCount
the worker dead-letters it itself. A permanent error goes straight to the dead-letter queue with its reason.
Messages here never carry secrets, tokens or payload values: they name fields and reasons only.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from domain.privacy import redact


class RelayError(Exception):
    """Base of every failure the relay knows how to handle."""

    retryable: ClassVar[bool]
    code: ClassVar[str]

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "retryable": self.retryable}


class RetryableError(RelayError):
    retryable = True
    code = "Retryable"


class PermanentError(RelayError):
    retryable = False
    code = "Permanent"


# --- permanent -------------------------------------------------------------------------------------------


class InvalidCommand(PermanentError):
    """The message is not a valid command: not JSON, wrong shape, or a payload field breaks the model."""

    code = "InvalidCommand"


class UnknownCommandType(PermanentError):
    code = "UnknownCommandType"


class UnknownNotificationType(PermanentError):
    """A notification of a type the notifications handler has no schema for: kept on its DLQ."""

    code = "UnknownNotificationType"


class InvalidNotification(PermanentError):
    """A notification that is not JSON or breaks its type's schema: kept on its DLQ."""

    code = "InvalidNotification"


class UnknownAccount(PermanentError):
    """No credentials are configured for the account the command names."""

    code = "UnknownAccount"


class CredentialsRejected(PermanentError):
    """LWA or SP-API still rejects the account's credentials after one refresh."""

    code = "CredentialsRejected"


class CommandIdReused(PermanentError):
    """The producer reused a commandId with a different payload."""

    code = "CommandIdReused"


class AlreadyRejected(PermanentError):
    """SP-API refused this command (same account, commandId and payload) before: the refusal stands, and
    SP-API is not asked again."""

    code = "AlreadyRejected"


class SandboxOnly(PermanentError):
    """The operation exists only in the SP-API sandbox, and the account is a production one."""

    code = "SandboxOnly"


class MessageTooLarge(PermanentError):
    """A queue send SQS would refuse even after shortening: resending it as it is cannot succeed."""

    code = "MessageTooLarge"


class AccountNotAllowed(PermanentError):
    """The producer that sent the command may not act for the account it names."""

    code = "AccountNotAllowed"


class UnexpectedFailure(PermanentError):
    """A failure the relay has no rule for (a bug, a library surprise): the message is dead-lettered with
    this reason instead of escaping. For a write the SP-API effect may or may not have happened."""

    code = "UnexpectedFailure"

    def __init__(self, error: BaseException, *, outcome_unknown: bool) -> None:
        # The exception's own text may quote input or data: only its type and where it was raised travel.
        frames = traceback.extract_tb(error.__traceback__)
        where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        message = f"unexpected {type(error).__name__}{where} while relaying"
        if outcome_unknown:
            message += "; outcome unknown: SP-API may have applied the write, so a replay checks first"
        super().__init__(message)
        self.outcome_unknown = outcome_unknown

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "outcomeUnknown": self.outcome_unknown}


class ExistingOrderDiffers(PermanentError):
    """The order id of a create already belongs to another order at Amazon (other items or address)."""

    code = "ExistingOrderDiffers"


class SpApiRejected(PermanentError):
    """SP-API answered 4xx (other than 429): resending the same request cannot succeed."""

    code = "SpApiRejected"

    def __init__(
        self,
        operation_id: str,
        status: int,
        errors: Sequence[Mapping[str, Any]],
        request_id: str | None = None,
    ) -> None:
        self.operation_id = operation_id
        self.status = status
        self.errors = [dict(error) for error in errors]
        self.request_id = request_id
        codes = ", ".join(str(error.get("code", "?")) for error in self.errors) or "no error body"
        super().__init__(f"SP-API {operation_id} answered {status} ({codes})")

    def to_dict(self) -> dict[str, Any]:
        # SP-API's messages can quote what it was sent (an address, an e-mail): they travel redacted.
        return {
            **super().to_dict(),
            "status": self.status,
            "errors": redact(self.errors),
            "requestId": self.request_id,
        }


# --- retryable -------------------------------------------------------------------------------------------


class SpApiUnavailable(RetryableError):
    """429, 5xx, timeouts and connection errors.

    ``may_have_applied`` says whether a write could have taken effect at Amazon anyway: False only when
    the request certainly did not reach SP-API's processing (a connect failure, a 429); True (the safe
    default) for a read timeout or a reset after sending, and for 5xx. A write that may have applied is
    never sent again before its state probe says it is missing.
    """

    code = "SpApiUnavailable"

    def __init__(
        self,
        message: str,
        status: int | None = None,
        request_id: str | None = None,
        *,
        may_have_applied: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.request_id = request_id
        self.may_have_applied = may_have_applied

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "mayHaveApplied": self.may_have_applied}


class Throttled(RetryableError):
    """No token in the bucket within the inline wait budget, or SP-API answered 429 (nothing applied):
    give the message back with a delay, no delivery counted."""

    code = "Throttled"

    def __init__(self, bucket: str, retry_after_seconds: float, *, answered_by_spapi: bool = False) -> None:
        source = "SP-API answered 429 for" if answered_by_spapi else "rate limit of"
        super().__init__(f"{source} {bucket}: next token in {retry_after_seconds:.2f}s")
        self.bucket = bucket
        self.retry_after_seconds = retry_after_seconds
        self.answered_by_spapi = answered_by_spapi


class DeadlineReached(RetryableError):
    """The invocation has too little time left for this message's worst case (or for the next request
    of it): nothing was sent for it, and it goes back at once with a short delay, no receive counted.
    A Lambda timeout would instead redeliver the whole batch, the message in flight included."""

    code = "DeadlineReached"

    def __init__(self, message: str, retry_after_seconds: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class LongerThanAnInvocation(RetryableError):
    """The message's worst case is longer than a whole invocation of the function (its timeout against
    the request timeouts): no delivery could send it. Not a wait, so not deferred: retried as a failure,
    a receive counted each time, then the DLQ with this reason; a raised timeout lets a replay go."""

    code = "LongerThanAnInvocation"


class SpApiFailing(Throttled):
    """SP-API failed for this (account, operation) moments ago (5xx, a timeout, a connection error):
    the message is deferred without calling, as for a bucket known to be empty."""

    code = "SpApiFailing"

    def __init__(self, bucket: str, retry_after_seconds: float) -> None:
        super().__init__(bucket, retry_after_seconds)
        self.message = (
            f"SP-API failed for {bucket} moments ago: not called, deferred for {retry_after_seconds:.2f}s"
        )
        self.args = (self.message,)


class CommandInProgress(RetryableError):
    """Another worker holds the write ledger's lease of this (account, commandId): come back after it."""

    code = "CommandInProgress"

    def __init__(self, message: str, retry_after_seconds: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class AwaitingCreate(RetryableError):
    """SP-API does not know the order yet, and the relay holds its create with the outcome still open
    (pending, not applied yet, or unknown): the write waits for the create instead of failing."""

    code = "AwaitingCreate"


class LeaseLost(RetryableError):
    """Another worker took over this command's ledger lease (this one's fencing token is stale)."""

    code = "LeaseLost"


class OutcomeUnknown(RetryableError):
    """An earlier attempt may have applied the write and no state probe can settle it: it is
    dead-lettered with what the probe saw, never re-applied blindly; a replay probes again."""

    code = "OutcomeUnknown"


class DependencyUnavailable(RetryableError):
    """An AWS dependency (DynamoDB, Secrets Manager, SQS, EventBridge) failed transiently."""

    code = "DependencyUnavailable"
