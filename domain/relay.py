"""The use case: relay one queue message to SP-API exactly once and say how it ended."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from domain.commands import Command, parse_command
from domain.errors import PermanentError, RelayError, RetryableError, Throttled
from domain.outcomes import Failure, Outcome, OutcomeStatus
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
from domain.rate_limits import UsagePlanBook, bucket_for
from domain.requests import SpApiRequest, SpApiResponse, build_request, is_retryable_status, raise_for_status
from domain.spapi.spec import OperationSpec

MAX_SQS_DELAY_SECONDS = 900


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

    def backoff_seconds(self, attempt: int, jitter: Callable[[], float] = random.random) -> int:
        """Exponential backoff with full jitter over [base/2, base * 2^(attempt-1)] capped."""
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
        self._plans = plans or UsagePlanBook()

    def process(self, message: InboundMessage, remaining_seconds: Callable[[], float]) -> Disposition:
        """Relay one message. Every path ends in an outcome event, a deferral or a retry."""
        try:
            command = parse_command(message.body)
        except PermanentError as error:
            return self._dead_letter(message, None, error, OutcomeStatus.REJECTED)
        try:
            result = self._ports.idempotency.run_once(
                command, lambda: self._execute(command, remaining_seconds)
            )
        except Throttled as throttled:
            return self._defer(message, command, throttled)
        except PermanentError as error:
            return self._dead_letter(message, command, error, OutcomeStatus.REJECTED)
        except RetryableError as error:
            return self._retry(message, command, error)
        return self._publish(
            message, command, Outcome(OutcomeStatus.SUCCEEDED, *_ids(command, message), result)
        )

    # --- one SP-API effect -------------------------------------------------------------------------------

    def _execute(self, command: Command, remaining_seconds: Callable[[], float]) -> dict[str, Any]:
        region = command.region or self._ports.accounts.default_region(command.account)
        operation = command.type.operation
        request = build_request(operation, command.payload)
        response = self._call(command.account, region, operation, request, remaining_seconds)
        if response.ok:
            return _result(response, request)
        try:
            raise_for_status(operation.operation_id, response)
        except PermanentError as rejection:
            already_done = command.type.already_done
            if already_done is None or not already_done.matches(response.errors()):
                raise
            if already_done.confirm_with is not None:
                confirm_operation = already_done.confirm_with
                confirm_request = build_request(confirm_operation, _parameters_of(confirm_operation, command))
                confirmation = self._call(
                    command.account, region, confirm_operation, confirm_request, remaining_seconds
                )
                if not confirmation.ok:
                    if is_retryable_status(confirmation.status):
                        raise_for_status(confirm_operation.operation_id, confirmation)
                    raise rejection from None
            return {**_result(response, request), "answer": None, "alreadyDone": already_done.description}
        raise AssertionError("raise_for_status returned on a failed answer")  # pragma: no cover

    def _call(
        self,
        account: str,
        region: str,
        operation: OperationSpec,
        request: SpApiRequest,
        remaining_seconds: Callable[[], float],
    ) -> SpApiResponse:
        bucket = bucket_for(account, region, operation)
        self._take_token(
            bucket.key,
            lambda: self._ports.limiter.try_acquire(bucket, self._plans.plan_for(bucket, operation)),
            remaining_seconds,
        )
        response = self._ports.spapi.call(account, region, request)
        self._plans.record_granted_rate(bucket, response.granted_rate)
        return response

    def _take_token(
        self, bucket_key: str, try_acquire: Callable[[], float], remaining_seconds: Callable[[], float]
    ) -> None:
        waited = 0.0
        while True:
            wait = try_acquire()
            if wait <= 0:
                return
            budget = min(self._policy.max_inline_wait_seconds - waited, remaining_seconds() / 4)
            if wait > budget:
                raise Throttled(bucket_key, wait)
            self._ports.clock.sleep(wait)
            waited += wait

    # --- endings -----------------------------------------------------------------------------------------

    def _publish(self, message: InboundMessage, command: Command | None, outcome: Outcome) -> Disposition:
        try:
            self._ports.outcomes.publish(outcome)
        except RetryableError as error:
            # The effect is saved by the idempotency guard: the retry publishes again without a second call.
            return self._retry(message, command, error)
        return Disposition.DONE

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
        delay = min(
            MAX_SQS_DELAY_SECONDS,
            max(self._policy.min_defer_seconds, int(throttled.retry_after_seconds + 0.999)),
        )
        try:
            self._ports.queue.defer(message, delay)
        except RetryableError as error:
            return self._retry(message, command, error)
        return Disposition.DONE


def _ids(command: Command | None, message: InboundMessage) -> tuple[str | None, str | None, str | None, str]:
    if command is None:
        return None, None, None, message.message_id
    return command.type.name, command.command_id, command.account, message.message_id


def _parameters_of(operation: OperationSpec, command: Command) -> dict[str, Any]:
    names = (*operation.path_params, *operation.query_params)
    return {name: command.payload[name] for name in names if name in command.payload}


def _result(response: SpApiResponse, request: SpApiRequest) -> dict[str, Any]:
    return {
        "operationId": request.operation_id,
        "httpStatus": response.status,
        "requestId": response.request_id,
        "answer": response.body,
    }
