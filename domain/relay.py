"""The use case: relay one queue message to SP-API exactly once and say how it ended."""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from domain.attributes import (
    FOLLOW_UP_CHECKS_ATTRIBUTE,
    FOLLOW_UP_OF_ATTRIBUTE,
    FOLLOW_UP_STARTED_ATTRIBUTE,
    FOLLOW_UP_TYPE_ATTRIBUTE,
)
from domain.catalog import CATALOG, RESTRICTED_OPERATIONS
from domain.commands import Command, parse_command, readable_identity
from domain.errors import (
    PermanentError,
    RelayError,
    RetryableError,
    SandboxOnly,
    Throttled,
    UnexpectedFailure,
)
from domain.gateway import SpApiGateway
from domain.outcomes import Failure, Outcome, OutcomeStatus
from domain.paging import dig
from domain.ports import (
    Accounts,
    Clock,
    IdempotencyGuard,
    InboundMessage,
    MessageQueue,
    OutcomePublisher,
    RateLimiter,
    SpApi,
)
from domain.privacy import redact
from domain.rate_limits import UsagePlanBook
from domain.requests import SpApiResponse, is_retryable_status, raise_for_status

MAX_SQS_DELAY_SECONDS = 900
TRANSACTION_EVENT = "sp-relay transaction"


class Disposition(Enum):
    """What the queue should do with the message: delete it, or let it come back later."""

    DONE = "done"
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_receive_count: int = 5
    # Wait for a token inline only this long; a longer wait gives the message back with a delay.
    max_inline_wait_seconds: float = 2.0
    # Seconds a deferred message is at least held back, so a refused bucket is not polled hot.
    min_defer_seconds: int = 1
    # After this many deferrals a throttled message counts receives like any retryable failure.
    max_deferrals: int = 50
    backoff_base_seconds: float = 2.0
    backoff_cap_seconds: float = 300.0
    # Transactions (acknowledgements) are checked this often, and given up on as "still Processing,
    # treated as accepted" after this long, as the vendor documentation describes.
    follow_up_interval_seconds: int = 60
    follow_up_max_seconds: float = 30 * 60

    def backoff_seconds(self, attempt: int, jitter: Callable[[], float] = random.random) -> int:
        """Exponential backoff with jitter: between half and all of base * 2^(attempt-1), capped."""
        ceiling = min(self.backoff_cap_seconds, self.backoff_base_seconds * 2 ** max(attempt - 1, 0))
        return max(1, int(ceiling / 2 + jitter() * ceiling / 2))


@dataclass(frozen=True, slots=True)
class RelayPorts:
    spapi: SpApi
    accounts: Accounts
    limiter: RateLimiter
    idempotency: IdempotencyGuard
    outcomes: OutcomePublisher
    queue: MessageQueue
    clock: Clock


class Relay:
    def __init__(
        self, ports: RelayPorts, policy: RetryPolicy | None = None, plans: UsagePlanBook | None = None
    ) -> None:
        self._ports = ports
        self._policy = policy or RetryPolicy()
        self.gateway = SpApiGateway(
            ports.spapi,
            ports.limiter,
            ports.clock,
            restricted_operations=RESTRICTED_OPERATIONS,
            max_inline_wait_seconds=self._policy.max_inline_wait_seconds,
            plans=plans,
        )

    @property
    def ports(self) -> RelayPorts:
        return self._ports

    def process(self, message: InboundMessage, remaining_seconds: Callable[[], float]) -> Disposition:
        """Relay one message. Every path ends in an outcome event, a deferral or a retry."""
        try:
            return self._process(message, remaining_seconds)
        except Exception as error:  # noqa: BLE001 - the one place a surprise becomes an ending, not an escape
            return self._dead_letter_unexpected(message, error)

    def _process(self, message: InboundMessage, remaining_seconds: Callable[[], float]) -> Disposition:
        try:
            command = parse_command(message.body)
        except PermanentError as error:
            return self._dead_letter(message, None, error, OutcomeStatus.REJECTED)
        try:
            self._check_sandbox(command)
            region = command.region or self._ports.accounts.default_region(command.account)
            self.gateway.check_bucket(command.account, region, command.type.operation)
            if command.type.reads:
                result = self._execute(command, region, remaining_seconds)
            else:
                result = self._ports.idempotency.run_once(
                    command, lambda: self._execute(command, region, remaining_seconds)
                )
        except Throttled as throttled:
            return self._defer(message, command, throttled)
        except PermanentError as error:
            return self._dead_letter(message, command, error, OutcomeStatus.REJECTED)
        except RetryableError as error:
            return self._retry(message, command, error)
        if FOLLOW_UP_OF_ATTRIBUTE in message.attributes and command.type.transaction_status is not None:
            return self._continue_follow_up(message, command, result)
        try:
            self._start_follow_up(command, result)
            self._ports.outcomes.publish(Outcome(OutcomeStatus.SUCCEEDED, *_ids(command, message), result))
        except RetryableError as error:
            # The effect is saved by the idempotency guard: the retry publishes again without a second call.
            return self._retry(message, command, error)
        return Disposition.DONE

    def _check_sandbox(self, command: Command) -> None:
        if command.type.sandbox_only and not self._ports.accounts.is_sandbox(command.account):
            raise SandboxOnly(
                f"type: {command.type.name} works only with SP-API sandbox accounts, "
                f"and account {command.account!r} is not one"
            )

    # --- one SP-API effect -------------------------------------------------------------------------------

    def _execute(self, command: Command, region: str, remaining: Callable[[], float]) -> dict[str, Any]:
        operation = command.type.operation
        if command.type.paging is not None:
            pages = self.gateway.send_all_pages(
                command.account,
                region,
                operation,
                command.payload,
                paging=command.type.paging,
                remaining=remaining,
            )
            result = _result(operation.operation_id, pages[-1])
            result["answer"] = redact(command.type.paging.join([page.body for page in pages]))
            result["pages"] = len(pages)
            result["joinedItems"] = list(command.type.paging.items)
            return result
        response = self.gateway.send(command.account, region, operation, command.payload, remaining)
        if response.ok:
            return _result(operation.operation_id, response)
        try:
            raise_for_status(operation.operation_id, response)
        except PermanentError as rejection:
            already_done = command.type.already_done
            if already_done is None or not already_done.matches(response.errors()):
                raise
            if already_done.confirm_with is not None:
                confirm = already_done.confirm_with
                names = (*confirm.path_params, *confirm.query_params)
                parameters = {name: command.payload[name] for name in names if name in command.payload}
                confirmation = self.gateway.send(command.account, region, confirm, parameters, remaining)
                if not confirmation.ok:
                    if is_retryable_status(confirmation.status):
                        raise_for_status(confirm.operation_id, confirmation)
                    raise rejection from None
            # The confirmation's answer carries the customer's address: it is not published.
            return {
                **_result(operation.operation_id, response),
                "answer": None,
                "alreadyDone": already_done.description,
            }
        raise AssertionError("raise_for_status returned on a failed answer")  # pragma: no cover

    # --- transactions followed after a write -------------------------------------------------------------

    def _start_follow_up(self, command: Command, result: dict[str, Any]) -> None:
        follow_up = command.type.follow_up
        if follow_up is None:
            return
        transaction_id = dig(result.get("answer"), follow_up.transaction_id)
        if not isinstance(transaction_id, str):
            return
        status_command = {
            "type": follow_up.status_command,
            "commandId": f"{command.command_id[:120]}.status",
            "account": command.account,
            "payload": {"transactionId": transaction_id},
        }
        if command.region is not None:
            status_command["region"] = command.region
        attributes = {
            FOLLOW_UP_OF_ATTRIBUTE: command.command_id,
            FOLLOW_UP_TYPE_ATTRIBUTE: command.type.name,
            FOLLOW_UP_STARTED_ATTRIBUTE: f"{self._ports.clock.now():.3f}",
            FOLLOW_UP_CHECKS_ATTRIBUTE: "0",
        }
        self._ports.queue.schedule(json.dumps(status_command), self._follow_up_delay(), attributes)

    def _continue_follow_up(
        self, message: InboundMessage, command: Command, result: dict[str, Any]
    ) -> Disposition:
        reading = command.type.transaction_status
        assert reading is not None
        status = dig(result.get("answer"), reading.status)
        attributes = dict(message.attributes)
        started = _float(attributes.get(FOLLOW_UP_STARTED_ATTRIBUTE), self._ports.clock.now())
        checks = int(_float(attributes.get(FOLLOW_UP_CHECKS_ATTRIBUTE), 0)) + 1
        elapsed = self._ports.clock.now() - started
        try:
            if status not in ("Success", "Failure"):
                if elapsed + self._follow_up_delay() <= self._policy.follow_up_max_seconds:
                    attributes[FOLLOW_UP_CHECKS_ATTRIBUTE] = str(checks)
                    self._ports.queue.schedule(message.body, self._follow_up_delay(), attributes)
                    return Disposition.DONE
                status = "TreatedAsAccepted"
            errors = dig(result.get("answer"), reading.errors)
            self._ports.outcomes.publish_event(
                f"{TRANSACTION_EVENT} {status}",
                {
                    "status": status,
                    "of": attributes.get(FOLLOW_UP_OF_ATTRIBUTE),
                    "type": attributes.get(FOLLOW_UP_TYPE_ATTRIBUTE),
                    "account": command.account,
                    "transactionId": command.payload.get("transactionId"),
                    "errors": errors if isinstance(errors, list) else [],
                    "checks": checks,
                    "elapsedSeconds": round(elapsed, 1),
                    "note": (
                        f"still Processing after {elapsed / 60:.1f} minutes: treated as accepted, "
                        "as the vendor documentation describes"
                        if status == "TreatedAsAccepted"
                        else None
                    ),
                },
            )
        except RetryableError as error:
            return self._retry(message, command, error)
        return Disposition.DONE

    def _follow_up_delay(self) -> int:
        return min(MAX_SQS_DELAY_SECONDS, max(1, self._policy.follow_up_interval_seconds))

    # --- endings -----------------------------------------------------------------------------------------

    def _dead_letter(
        self, message: InboundMessage, command: Command | None, error: RelayError, status: OutcomeStatus
    ) -> Disposition:
        failure = Failure.from_error(status, error, message.receive_count)
        try:
            self._ports.outcomes.publish(Outcome(status, *_ids(command, message), failure=failure))
            self._ports.queue.dead_letter(message, failure)
        except RetryableError:
            self._back_off(message)
            return Disposition.RETRY
        return Disposition.DONE

    def _dead_letter_unexpected(self, message: InboundMessage, error: Exception) -> Disposition:
        identity = readable_identity(message.body)
        command_type = CATALOG.get(identity.command_type or "")
        # Anything not known to be a read may have reached SP-API: the ending says the outcome is unknown.
        failure = UnexpectedFailure(error, outcome_unknown=command_type is None or not command_type.reads)
        return self._dead_letter(message, None, failure, OutcomeStatus.DEAD_LETTERED)

    def _retry(self, message: InboundMessage, command: Command | None, error: RetryableError) -> Disposition:
        if message.receive_count >= self._policy.max_receive_count:
            return self._dead_letter(message, command, error, OutcomeStatus.DEAD_LETTERED)
        self._back_off(message)
        return Disposition.RETRY

    def _back_off(self, message: InboundMessage) -> None:
        # On failure the queue's own visibility timeout decides when the message returns.
        with contextlib.suppress(RetryableError):
            self._ports.queue.back_off(message, self._policy.backoff_seconds(message.receive_count))

    def _defer(self, message: InboundMessage, command: Command, throttled: Throttled) -> Disposition:
        if message.deferrals >= self._policy.max_deferrals:
            return self._retry(message, command, throttled)
        wait = int(throttled.retry_after_seconds + 0.999)
        delay = min(MAX_SQS_DELAY_SECONDS, max(self._policy.min_defer_seconds, wait))
        try:
            self._ports.queue.defer(message, delay)
        except RetryableError as error:
            return self._retry(message, command, error)
        return Disposition.DONE


def _ids(command: Command | None, message: InboundMessage) -> tuple[str | None, str | None, str | None, str]:
    if command is None:
        identity = readable_identity(message.body)
        return identity.command_type, identity.command_id, identity.account, message.message_id
    return command.type.name, command.command_id, command.account, message.message_id


def _float(value: str | None, default: float) -> float:
    try:
        return float(value) if value is not None else default
    except ValueError:
        return default


def _result(operation_id: str, response: SpApiResponse) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "httpStatus": response.status,
        "requestId": response.request_id,
        "answer": redact(response.body),
    }
