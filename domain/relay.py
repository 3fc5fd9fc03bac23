"""The use case: relay one queue message to SP-API exactly once and say how it ended."""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from domain import env_vars
from domain.attributes import RELAY_CONTEXT_ATTRIBUTE
from domain.authorization import AccountAuthorization
from domain.catalog import CATALOG
from domain.commands import Command, parse_command, readable_identity
from domain.errors import (
    AwaitingCreate,
    CommandInProgress,
    DeadlineReached,
    DependencyUnavailable,
    ExistingOrderDiffers,
    LeaseLost,
    LongerThanAnInvocation,
    MessageTooLarge,
    OutcomeUnknown,
    PermanentError,
    RelayError,
    RetryableError,
    SandboxOnly,
    SpApiRejected,
    SpApiUnavailable,
    Throttled,
    UnexpectedFailure,
)
from domain.events import transaction_event
from domain.gateway import SpApiGateway
from domain.ledger import Claim, FollowUpRecord, LedgerState, Settled, rejection_key
from domain.order_status import with_order_status
from domain.outcomes import MAX_DETAIL_CHARS, Failure, Outcome, OutcomeStatus
from domain.paged_reads import PagedRead
from domain.paging import CURSOR_FIELDS, PageCursor, dig
from domain.ports import (
    Accounts,
    Clock,
    InboundMessage,
    MessageQueue,
    Meter,
    NoMeter,
    OutcomePublisher,
    RateLimiter,
    SpApi,
    WriteLedger,
)
from domain.privacy import redact
from domain.probes import ProbeContext, Verdict
from domain.relay_context import ContextValue, RelayContextSeal
from domain.requests import SpApiResponse, raise_for_status
from domain.spapi.spec import OperationSpec

MAX_SQS_DELAY_SECONDS = 900
# A result write that fails after the outcome event went out is tried this often in all.
SAVE_TRIES = 3
# A create in these states may still bring its order into being: later writes of the order wait for it.
OPEN_CREATE_STATES = frozenset({LedgerState.ATTEMPTED, LedgerState.NOT_APPLIED, LedgerState.UNKNOWN})

# Metric names (the table in adapters/metrics.py): state probes run, and the SP-API reads they sent, one
# token of the read operation's bucket each (buckets the pollers share).
STATE_PROBES = "StateProbes"
STATE_PROBE_READS = "StateProbeReads"
# A command needs more than a whole invocation has: no delivery can ever send it (raise the timeout).
COMMANDS_NEVER_FIT = "CommandsNeverFit"

# Fields of the relay's sealed context (domain/relay_context.py).
DEFERRALS = "deferrals"
# On the status checks that follow a transaction: which command started it, when, and how often it was read.
FOLLOW_UP_OF = "followUpOf"
FOLLOW_UP_TYPE = "followUpType"
FOLLOW_UP_STARTED = "followUpStarted"
FOLLOW_UP_CHECKS = "followUpChecks"
# On a retryable failure's delayed copies: when the command was first attempted, and how often it was
# re-sent since. The retry budget is measured from the first; neither travels to the dead-letter queue.
FIRST_ATTEMPT = "firstAttempt"
RETRIES = "retries"
# On the delayed copies of a write that overtook its order's create: when it first found the order
# missing, and how often it has looked since (the ledger's record of the create, not SP-API).
CREATE_AWAITED_SINCE = "createAwaitedSince"
CREATE_AWAITED_TRIES = "createAwaitedTries"
# Counters of one delivery's waiting: a replay from the dead-letter queue starts afresh.
NOT_CARRIED_TO_DLQ = frozenset(
    {DEFERRALS, FIRST_ATTEMPT, RETRIES, CREATE_AWAITED_SINCE, CREATE_AWAITED_TRIES}
)
# Retried by time budget (delayed copies, no receive counted): SP-API or a dependency failing. Waits
# (a token, a lease held, a create awaited) are delayed copies too, each bounded on its own; anything
# else retryable (a probe that cannot settle) keeps counting receives.
BUDGETED_FAILURES = (SpApiUnavailable, DependencyUnavailable, Throttled, LeaseLost)


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
    # How long SP-API or a dependency may keep failing a command, measured from its first attempt: each
    # retry is a delayed copy (no receive counted) until it runs out, then the dead-letter queue.
    # 0: no budget, retries count receives up to max_receive_count (the queue's own redelivery).
    retry_budget_seconds: float = 0.0
    # Transactions (acknowledgements) are checked this often, and given up on as "still Processing,
    # treated as accepted" after this long, as the vendor documentation describes.
    follow_up_interval_seconds: int = 60
    follow_up_max_seconds: float = 30 * 60
    # Kept after an SP-API answer for what must follow it: the ledger writes, the outcome event, a
    # deferral. A message starts only when the invocation has its worst case (the gateway's) plus this
    # left; otherwise it is deferred at once (DeadlineReached), and the calls it makes leave this free.
    after_call_seconds: float = 0.0
    # A write's ledger lease: the invocation's remaining time, at least this, plus a margin for clocks.
    min_lease_seconds: float = 0.0
    lease_margin_seconds: float = 5.0
    # A duplicate that finds another worker's live lease looks again this often (the holder usually
    # finishes within a second; a dead holder's lease runs out in at most the function timeout).
    lease_poll_seconds: float = 5.0
    # An acknowledgement is processed asynchronously: a purchase order may read New for this long after
    # one was accepted. Only past it does a probe that still reads New mean "not applied".
    acknowledgement_window_seconds: float = 15 * 60
    # A write that overtook its order's create looks again after this, twice as long each time, while
    # the create is open (see create_wait_seconds).
    create_poll_seconds: float = 5.0

    def create_wait_seconds(self) -> float:
        """How long a write waits for its order's create: as long as the create itself may be retried
        (the retry budget), or, without a budget, as long as its deferrals would last at the first poll."""
        if self.retry_budget_seconds > 0:
            return self.retry_budget_seconds
        return self.max_deferrals * self.create_poll_seconds

    def backoff_seconds(self, attempt: int, jitter: Callable[[], float] = random.random) -> int:
        """Exponential backoff with jitter: between half and all of base * 2^(attempt-1), capped."""
        ceiling = min(self.backoff_cap_seconds, self.backoff_base_seconds * 2 ** max(attempt - 1, 0))
        return max(1, int(ceiling / 2 + jitter() * ceiling / 2))


@dataclass(frozen=True, slots=True)
class RelayPorts:
    spapi: SpApi
    accounts: Accounts
    limiter: RateLimiter
    ledger: WriteLedger
    outcomes: OutcomePublisher
    queue: MessageQueue
    clock: Clock
    seal: RelayContextSeal
    meter: Meter = field(default_factory=NoMeter)


class Relay:
    def __init__(
        self,
        ports: RelayPorts,
        gateway: SpApiGateway,
        policy: RetryPolicy | None = None,
        authorization: AccountAuthorization | None = None,
    ) -> None:
        """``gateway`` calls SP-API through ``ports.spapi`` within ``ports.limiter``: the composition root
        builds it (the pollers get one of their own)."""
        self._ports = ports
        self._policy = policy or RetryPolicy()
        self._authorization = authorization or AccountAuthorization()
        self.gateway = gateway
        # The time the invocation had when its batch began: what every invocation of the function has.
        self._invocation_seconds: ContextVar[float | None] = ContextVar("invocation_seconds", default=None)

    @property
    def ports(self) -> RelayPorts:
        return self._ports

    @contextlib.contextmanager
    def batch(self, invocation_seconds: float | None = None) -> Iterator[None]:
        """Scope of one batch: an (account, operation) SP-API failed for is not called again in it.
        ``invocation_seconds``: the time the invocation had as the batch began (the function's timeout),
        so that a command needing more than that is told apart from one that came late in a batch."""
        token = self._invocation_seconds.set(invocation_seconds)
        try:
            with self.gateway.failing.batch():
                yield
        finally:
            self._invocation_seconds.reset(token)

    def process(self, message: InboundMessage, remaining_seconds: Callable[[], float]) -> Disposition:
        """Relay one message. Every path ends in an outcome event, a deferral or a retry."""
        try:
            return self._process(message, remaining_seconds)
        except Exception as error:  # noqa: BLE001 - the one place a surprise becomes an ending, not an escape
            return self._dead_letter_unexpected(message, error)

    def _process(self, message: InboundMessage, remaining_seconds: Callable[[], float]) -> Disposition:
        try:
            # From here on the message carries what the relay itself sealed onto it, and nothing else.
            message = replace(message, relay_context=self.context_of(message))
        except RetryableError as error:  # the context key could not be read
            return self._retry(message, None, error)
        try:
            command = parse_command(message.body)
        except PermanentError as error:
            return self._dead_letter(message, None, error, OutcomeStatus.REJECTED)
        if not message.relay_context:
            # Only a producer's own message is checked: the relay's carry a context it sealed after the
            # command they came from was checked.
            try:
                self._authorization.check(message.sender_id, command.account)
            except PermanentError as error:
                return self._dead_letter(message, command, error, OutcomeStatus.REJECTED)
        if command.type.reads:
            return self._read(message, command, remaining_seconds)
        return self._write(message, command, remaining_seconds)

    def context_of(self, message: InboundMessage) -> dict[str, ContextValue]:
        """The relay's own context of the message; whatever a producer set under ``sp-relay-*`` is ignored."""
        return self._ports.seal.open(message.body, message.attributes.get(RELAY_CONTEXT_ATTRIBUTE))

    def _check_sandbox(self, command: Command) -> None:
        if command.type.sandbox_only and not self._ports.accounts.is_sandbox(command.account):
            raise SandboxOnly(
                f"type: {command.type.name} works only with SP-API sandbox accounts, "
                f"and account {command.account!r} is not one"
            )

    def _prepare(self, command: Command, remaining: Callable[[], float]) -> str:
        """The command's region, once its account, sandbox rule, known-empty bucket and the invocation's
        deadline are checked."""
        self._check_sandbox(command)
        region = command.region or self._ports.accounts.default_region(command.account)
        self.gateway.check_bucket(command.account, region, command.type.operation)
        self._check_deadline(command, remaining)
        return region

    def _check_deadline(self, command: Command, remaining: Callable[[], float]) -> None:
        """DeadlineReached unless the invocation has time for the command's worst case: its request at
        full timeouts (a Restricted Data Token's too) and what follows the answer. A Lambda timeout in
        the middle of a call would redeliver the whole batch, the call in flight included."""
        needed = self.gateway.worst_case_seconds(command.type.operation) + self._policy.after_call_seconds
        left = remaining()
        whole = self._invocation_seconds.get()
        if whole is not None and whole < needed:
            self._ports.meter.count(COMMANDS_NEVER_FIT)
            raise LongerThanAnInvocation(
                f"{command.type.name} needs {needed:.2f}s at worst and an invocation of this function has "
                f"{whole:.2f}s in all: no delivery can send it; raise the function's Timeout (or lower "
                f"{env_vars.HTTP_TIMEOUT_SECONDS}), then replay it"
            )
        if left < needed:
            raise DeadlineReached(
                f"{max(left, 0.0):.2f}s left of the invocation, {command.type.name} needs {needed:.2f}s "
                "at worst: deferred before anything was sent",
                retry_after_seconds=self._policy.min_defer_seconds,
            )

    def _call_time(self, remaining: Callable[[], float]) -> Callable[[], float]:
        """The time SP-API calls may use: the invocation's, less what must follow an answer."""
        after = self._policy.after_call_seconds
        return lambda: remaining() - after

    # --- reads: repeated freely, no ledger -----------------------------------------------------------------

    def _read(self, message: InboundMessage, command: Command, remaining: Callable[[], float]) -> Disposition:
        if command.type.paging is not None:
            return self._read_pages(message, command, remaining)
        try:
            region = self._prepare(command, remaining)
            result = self._execute_read(command, region, self._call_time(remaining))
        except (Throttled, DeadlineReached) as waiting:
            return self._defer(message, command, waiting)
        except PermanentError as error:
            return self._dead_letter(message, command, error, OutcomeStatus.REJECTED)
        except RetryableError as error:
            return self._retry(message, command, error)
        if FOLLOW_UP_OF in message.relay_context and command.type.transaction_status is not None:
            return self._continue_follow_up(message, command, result, remaining)
        try:
            self._ports.outcomes.publish(Outcome(OutcomeStatus.SUCCEEDED, *_ids(command, message), result))
        except RetryableError as error:
            return self._retry(message, command, error)
        return Disposition.DONE

    def _execute_read(self, command: Command, region: str, remaining: Callable[[], float]) -> dict[str, Any]:
        operation = command.type.operation
        response = self.gateway.send(command.account, region, operation, command.payload, remaining)
        raise_for_status(operation.operation_id, response)
        return _success(command, response)

    def _read_pages(
        self, message: InboundMessage, command: Command, remaining: Callable[[], float]
    ) -> Disposition:
        """A paged read, streamed into parts (domain/paged_reads.py). A deferred or retried copy carries
        the cursor in the sealed context: it goes on at the first page not published."""
        read = PagedRead(
            self.gateway,
            self._ports.outcomes,
            command,
            _ids(command, message),
            PageCursor.from_context(message.relay_context),
        )
        try:
            # Every page is sent at full timeouts or not at all: the deadline ends the read between pages.
            read.run(self._prepare(command, remaining), self._call_time(remaining))
        except PermanentError as error:
            return self._dead_letter(message, command, error, OutcomeStatus.REJECTED)
        except RetryableError as error:
            # From here on the message is the one that carries the cursor where this delivery stopped.
            message = replace(message, relay_context={**message.relay_context, **read.cursor.to_context()})
            if isinstance(error, Throttled | DeadlineReached):
                return self._defer(message, command, error)
            if read.advanced:
                # The queue's own retry would bring back the message without the pages published since:
                # a copy carries them (bounded: each such copy is at least one page further on).
                return self._defer_paged(message, command, error)
            return self._retry(message, command, error)
        return Disposition.DONE

    def _defer_paged(self, message: InboundMessage, command: Command, error: RetryableError) -> Disposition:
        delay = min(MAX_SQS_DELAY_SECONDS, self._policy.backoff_seconds(1))
        try:
            sealed = self._ports.seal.seal(message.body, message.relay_context)
            self._ports.queue.defer(message, delay, sealed, reason=error.code)
        except RetryableError:
            return self._retry(message, command, error)
        return Disposition.DONE

    # --- writes: once per (account, commandId), through the write ledger ----------------------------------

    def _write(
        self, message: InboundMessage, command: Command, remaining: Callable[[], float]
    ) -> Disposition:
        ledger = self._ports.ledger
        try:
            self._check_create_still_awaited(message, command)
            region = self._prepare(command, remaining)
            now = self._ports.clock.now()
            lease_until = now + self._lease_seconds(remaining)
            claim = ledger.claim(
                command,
                now=now,
                lease_until=lease_until,
                creates_order=_order_created_by(command),
            )
        except AwaitingCreate as waiting:
            return self._await_create(message, command, waiting)
        except (CommandInProgress, DeadlineReached) as waiting:
            # A record exists already (a lease held), or the invocation has no time to spend on one.
            return self._defer(message, command, waiting)
        except Throttled as waiting:
            self._announce_waiting_create(message, command)
            return self._defer(message, command, waiting)
        except PermanentError as error:
            return self._dead_letter(message, command, error, OutcomeStatus.REJECTED)
        except RetryableError as error:
            self._announce_waiting_create(message, command)
            return self._retry(message, command, error)
        if isinstance(claim, Settled):
            if not claim.effects_pending:
                return Disposition.DONE  # its outcome event is out already: a repeat publishes nothing
            # Saved but maybe not published (the worker that saved it died or could not mark it): the
            # saved event goes out, and the follow-up chain is restarted if it may never have run.
            return self._publish_saved(message, command, claim, restart_follow_up=True)
        attempt = _Attempt(claim)
        try:
            result = self._attempt(command, region, attempt, self._call_time(remaining))
        except AwaitingCreate as waiting:
            self._settle_quietly(command, attempt, waiting)
            return self._await_create(message, command, waiting)
        except (Throttled, CommandInProgress, DeadlineReached) as waiting:
            self._settle_quietly(command, attempt, waiting)
            return self._defer(message, command, waiting)
        except OutcomeUnknown as unknown:
            self._settle_quietly(command, attempt, unknown)
            return self._dead_letter(message, command, unknown, OutcomeStatus.DEAD_LETTERED)
        except PermanentError as error:
            self._settle_quietly(command, attempt, error)
            return self._dead_letter(message, command, error, OutcomeStatus.REJECTED)
        except RetryableError as error:
            self._settle_quietly(command, attempt, error)
            return self._retry(message, command, error)
        return self._save_success(message, command, result, claim.fence)

    def _lease_seconds(self, remaining: Callable[[], float]) -> float:
        # A Lambda invocation cannot outlive its remaining time, so neither can its call in flight.
        return max(remaining(), self._policy.min_lease_seconds) + self._policy.lease_margin_seconds

    def _attempt(
        self, command: Command, region: str, attempt: _Attempt, remaining: Callable[[], float]
    ) -> dict[str, Any]:
        payload = command.payload
        if attempt.claim.must_probe:
            verdict = self._probe(command, region, attempt.claim.previous_attempt_at, remaining)
            if verdict.kind == "applied":
                return _probed_result(command, verdict)
            if verdict.kind == "conflict":
                raise ExistingOrderDiffers(verdict.saw)
            if verdict.kind == "wait":
                raise CommandInProgress(f"{command.type.name}: {verdict.saw}", verdict.wait_seconds)
            if verdict.kind == "unsettled":
                raise OutcomeUnknown(
                    f"an earlier attempt of {command.type.name} may have been applied, and the state "
                    f"probe cannot tell: {verdict.saw}"
                )
            attempt.may_have_applied = False  # the probe saw the effect missing
            payload = verdict.payload if verdict.payload is not None else payload
        attempt.sent = True
        try:
            return self._send_write(command, region, payload, remaining)
        except SpApiUnavailable as error:
            attempt.may_have_applied = attempt.may_have_applied or error.may_have_applied
            raise

    def _probe(
        self, command: Command, region: str, attempted_at: float | None, remaining: Callable[[], float]
    ) -> Verdict:
        probe = command.type.probe
        if probe is None:
            return Verdict("unsettled", f"{command.type.name} leaves no state that a read can see")

        meter = self._ports.meter

        def read(operation: OperationSpec, parameters: Mapping[str, Any]) -> SpApiResponse:
            try:
                response = self.gateway.send(command.account, region, operation, parameters, remaining)
            except SpApiUnavailable:
                meter.count(STATE_PROBE_READS)  # sent (a token spent), answer lost
                raise
            meter.count(STATE_PROBE_READS)
            return response

        meter.count(STATE_PROBES)

        context = ProbeContext(
            read, self._ports.clock.now(), attempted_at, self._policy.acknowledgement_window_seconds
        )
        return probe(command.payload, context)

    def _send_write(
        self,
        command: Command,
        region: str,
        payload: Mapping[str, Any],
        remaining: Callable[[], float],
    ) -> dict[str, Any]:
        operation = command.type.operation
        # A write's timeout is never cut: cut short, its outcome would be unknown (DeadlineReached instead).
        response = self.gateway.send(
            command.account, region, operation, payload, remaining, full_timeout=True
        )
        if response.ok:
            return _success(command, response)
        try:
            raise_for_status(operation.operation_id, response)
        except PermanentError as rejection:
            if response.status == 404:
                self._raise_if_create_open(command)
            already_done = command.type.already_done
            if already_done is None or not already_done.matches(response.errors()):
                raise
            if already_done.confirm and command.type.probe is not None:
                # "Already exists" is believed only when the existing order is this command's order.
                verdict = self._probe(command, region, None, remaining)
                if verdict.kind == "conflict":
                    raise ExistingOrderDiffers(verdict.saw) from None
                if verdict.kind != "applied":
                    raise rejection from None
            # The confirmation's answer carries the customer's address: it is not published.
            return {
                **_result(operation.operation_id, response),
                "answer": None,
                "alreadyDone": already_done.description,
            }
        raise AssertionError("raise_for_status returned on a failed answer")  # pragma: no cover

    def _announce_waiting_create(self, message: InboundMessage, command: Command) -> None:
        """A create that waits before its first claim (a token, SP-API failing for the operation, a
        dependency; not the deadline, which comes back at once) is recorded as not applied yet, so a
        later write of its order that SP-API answers 404 meanwhile waits for it instead of being
        rejected. Once per command: its first delivery only (the relay's own copies carry a context);
        best effort, as a lost announcement only leaves that later write to be replayed."""
        order_id = _order_created_by(command)
        if order_id is None or message.relay_context:
            return
        with contextlib.suppress(RetryableError):
            self._ports.ledger.announce_create(command, order_id, now=self._ports.clock.now())

    def _check_create_still_awaited(self, message: InboundMessage, command: Command) -> None:
        """A copy that waits for its order's create asks the ledger, not SP-API, whether the create is
        still open: SP-API has already said the order is missing, and only the create can change that."""
        if CREATE_AWAITED_SINCE in message.relay_context:
            self._raise_if_create_open(command)

    def _raise_if_create_open(self, command: Command) -> None:
        """A write SP-API answers "order not found" waits while the relay's create of that order has
        no outcome yet (a standard queue delivered it first). Without such a create, the 404 stands."""
        sequence = command.type.order_sequence
        if sequence is None or sequence.creates:
            return
        order_id = sequence.order_of(command.payload)
        if order_id is None:
            return
        create = self._ports.ledger.create_of_order(command.account, order_id)
        if create in OPEN_CREATE_STATES:
            assert create is not None
            raise AwaitingCreate(
                f"order {order_id} is not at Amazon yet, and the relay's create of it is "
                f"{create.value}: this {command.type.name} waits for it"
            )

    def _settle_quietly(self, command: Command, attempt: _Attempt, error: RelayError) -> None:
        """Record how the attempt ended. If the ledger cannot be written, the record stays ATTEMPTED
        under its lease, and the next delivery after it probes: slower, never wrong."""
        if isinstance(error, OutcomeUnknown | CommandInProgress) or attempt.may_have_applied:
            state = LedgerState.UNKNOWN
        elif isinstance(error, SpApiRejected | ExistingOrderDiffers):
            # Final: SP-API judged the command itself. Refused credentials or an unknown account judged
            # nothing, so once fixed the command may go again (NOT_APPLIED).
            state = LedgerState.REJECTED
        else:
            state = LedgerState.NOT_APPLIED
        with contextlib.suppress(RetryableError):
            self._ports.ledger.settle(command, attempt.claim.fence, state, error.message[:300])

    def _save_success(
        self, message: InboundMessage, command: Command, result: dict[str, Any], fence: int
    ) -> Disposition:
        """SUCCEEDED with the outcome not yet published (the outbox), on the fencing token, before
        anything is published: a kill or a refused write after the event then leaves a record that says
        "succeeded, publish this", never one that makes the next delivery probe and speak again."""
        ledger = self._ports.ledger
        transaction_id = _transaction_id(command, result)
        failure: RetryableError | None = None
        for _ in range(SAVE_TRIES):
            try:
                ledger.succeed(
                    command, fence, result, message_id=message.message_id, transaction_id=transaction_id
                )
            except LeaseLost:
                return Disposition.DONE  # the lease ran out during the call: the worker after it speaks
            except RetryableError as error:
                failure = error
                continue
            failure = None
            break
        if failure is not None:
            # Nothing is published. UNKNOWN (if that write gets through) lets the retry probe at once
            # rather than after the lease; either way it probes, finds the effect and publishes once.
            with contextlib.suppress(RetryableError):
                ledger.settle(command, fence, LedgerState.UNKNOWN, failure.message[:300])
            return self._retry(message, command, failure)
        settled = Settled(result, True, fence, message_id=message.message_id, transaction_id=transaction_id)
        return self._publish_saved(message, command, settled, restart_follow_up=False)

    def _publish_saved(
        self, message: InboundMessage, command: Command, settled: Settled, *, restart_follow_up: bool
    ) -> Disposition:
        """The saved outcome's side effects: the follow-up chain and the outcome event, then "published".

        The event is the saved one (the applying delivery's messageId and result), so a delivery that
        publishes it again after a kill or a refused mark repeats the same event, never another."""
        ledger = self._ports.ledger
        message_id = settled.message_id or message.message_id
        outcome = Outcome(
            OutcomeStatus.SUCCEEDED,
            command.type.name,
            command.command_id,
            command.account,
            message_id,
            settled.result,
        )
        scheduled = settled.follow_up_scheduled
        try:
            restart = restart_follow_up and not scheduled
            scheduled = self._start_follow_up(command, settled, restart=restart) or scheduled
            self._ports.outcomes.publish(outcome)
        except RetryableError as error:
            # The record still says "publish": the retry does, once this worker's lease is given up.
            with contextlib.suppress(RelayError):
                ledger.release_publish(command, settled.fence, follow_up_scheduled=scheduled)
            return self._retry(message, command, error)
        # The outcome is out: the message is done whatever happens next. The mark is tried again at once
        # when it fails: a record left pending makes a later duplicate or replay publish the event again.
        for _ in range(SAVE_TRIES):
            try:
                ledger.effects_published(command, settled.fence)
            except LeaseLost:
                break
            except RetryableError:
                continue
            break
        return Disposition.DONE

    # --- transactions followed after a write -------------------------------------------------------------

    def _start_follow_up(self, command: Command, settled: Settled, *, restart: bool) -> bool:
        """One chain per transaction: the first check is scheduled once the chain is recorded. A retry
        after a failed outcome publish, a redelivery or a duplicate finds the chain recorded and schedules
        nothing; only one that finds the outcome unpublished and the first check not known to be sent
        (the worker may have died between recording the chain and sending it) restarts it, at most once
        (a conditional write). True when this delivery scheduled a check."""
        follow_up = command.type.follow_up
        transaction_id = settled.transaction_id or _transaction_id(command, settled.result)
        if follow_up is None or transaction_id is None:
            return False
        status_command_id = f"{command.command_id[:120]}.status"
        ledger = self._ports.ledger
        record = FollowUpRecord(
            command.command_id, command.type.name, status_command_id, round(self._ports.clock.now(), 3)
        )
        if not ledger.start_follow_up(command.account, transaction_id, record):
            restarted = ledger.restart_follow_up(command.account, transaction_id) if restart else None
            if restarted is None:
                return False
            record = restarted  # its start time stands: the chain's time limit counts from the first
        status_command = {
            "type": follow_up.status_command,
            "commandId": record.status_command_id,
            "account": command.account,
            "payload": {"transactionId": transaction_id},
        }
        if command.region is not None:
            status_command["region"] = command.region
        body = json.dumps(status_command)
        context: dict[str, ContextValue] = {
            FOLLOW_UP_OF: record.of,
            FOLLOW_UP_TYPE: record.command_type,
            FOLLOW_UP_STARTED: record.started,
            FOLLOW_UP_CHECKS: 0,
        }
        try:
            self._ports.queue.schedule(body, self._follow_up_delay(), self._ports.seal.seal(body, context))
        except RetryableError:
            # Forget the chain so that the retry starts it afresh (after a restart too: a chain run twice
            # is guarded at its final event, a chain never run would be lost).
            with contextlib.suppress(RetryableError):
                ledger.abandon_follow_up(command.account, transaction_id)
            raise
        return True

    def _continue_follow_up(
        self,
        message: InboundMessage,
        command: Command,
        result: dict[str, Any],
        remaining: Callable[[], float],
    ) -> Disposition:
        reading = command.type.transaction_status
        assert reading is not None
        status = dig(result.get("answer"), reading.status)
        context = message.relay_context
        now = self._ports.clock.now()
        started = _number(context.get(FOLLOW_UP_STARTED), now)
        checks = int(_number(context.get(FOLLOW_UP_CHECKS), 0)) + 1
        elapsed = now - started
        ledger = self._ports.ledger
        transaction_id = str(command.payload.get("transactionId"))
        try:
            if status not in ("Success", "Failure"):
                if elapsed + self._follow_up_delay() <= self._policy.follow_up_max_seconds:
                    later = self._ports.seal.seal(message.body, {**context, FOLLOW_UP_CHECKS: checks})
                    self._ports.queue.schedule(message.body, self._follow_up_delay(), later)
                    return Disposition.DONE
                status = "TreatedAsAccepted"
            # Two copies of a check (a restarted chain, a replay, an SQS duplicate) may reach this point
            # together: one conditional write per transaction lets one of them publish.
            hold = ledger.claim_follow_up_event(
                command.account, transaction_id, now=now, lease_until=now + self._lease_seconds(remaining)
            )
            if hold.published:
                return Disposition.DONE  # a copy of a check whose chain's event is out already
            if not hold.publish:
                # Another copy holds the event: look again once its hold ends, in case it died before
                # publishing (it usually publishes within a second, and then this copy publishes nothing).
                raise CommandInProgress(
                    f"the final event of transaction {transaction_id} is being published by another check",
                    retry_after_seconds=hold.retry_after_seconds,
                )
            errors = dig(result.get("answer"), reading.errors)
            self._ports.outcomes.publish_event(
                transaction_event(status),
                {
                    "status": status,
                    "of": context.get(FOLLOW_UP_OF),
                    "type": context.get(FOLLOW_UP_TYPE),
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
        except CommandInProgress as waiting:
            return self._defer(message, command, waiting)
        except RetryableError as error:
            return self._retry(message, command, error)
        if hold.chain is not None:
            with contextlib.suppress(RetryableError):
                # Publish, then remember: if this write fails, a copy of the check after the hold ends may
                # publish again.
                ledger.follow_up_event_published(command.account, transaction_id)
        return Disposition.DONE

    def _follow_up_delay(self) -> int:
        return min(MAX_SQS_DELAY_SECONDS, max(1, self._policy.follow_up_interval_seconds))

    # --- endings -----------------------------------------------------------------------------------------

    def _dead_letter(
        self,
        message: InboundMessage,
        command: Command | None,
        error: RelayError,
        status: OutcomeStatus,
        *,
        attempts: int | None = None,
        note: str | None = None,
    ) -> Disposition:
        failure = Failure.from_error(status, error, message.receive_count if attempts is None else attempts)
        if note is not None:
            failure = replace(failure, detail=f"{note}; {failure.detail}"[:MAX_DETAIL_CHARS])
        # The relay's context travels to the dead-letter queue sealed, so a replay carries it on; the
        # deferral count and a paged read's cursor do not (a replay starts afresh).
        carried = {
            name: value
            for name, value in message.relay_context.items()
            if name not in NOT_CARRIED_TO_DLQ and name not in CURSOR_FIELDS
        }
        try:
            sealed = self._ports.seal.seal(message.body, carried) if carried else None
            if status is OutcomeStatus.REJECTED:
                failure = self._publish_rejection(message, command, failure)
            else:
                self._ports.outcomes.publish(Outcome(status, *_ids(command, message), failure=failure))
            self._ports.queue.dead_letter(message, failure, sealed)
        except RetryableError:
            self._back_off(message)
            return Disposition.RETRY
        return Disposition.DONE

    def _publish_rejection(
        self, message: InboundMessage, command: Command | None, failure: Failure
    ) -> Failure:
        """The command's one rejected event (domain.ledger.RejectionKey): published by the message that
        records the ending first, once; a duplicate publishes nothing. Returns the failure the DLQ gets."""
        ids = _ids(command, message)
        key = rejection_key(message.body, command, ids[2], ids[1])
        ledger = self._ports.ledger
        claim = ledger.claim_rejection(
            key, message.message_id, _failure_record(failure), now=self._ports.clock.now()
        )
        if not claim.mine:
            note = "a duplicate: the rejected event of this command goes with the message that ended it first"
            return replace(failure, detail=f"{note}; {failure.detail}"[:MAX_DETAIL_CHARS])
        # A redelivery publishes what its first delivery recorded (a write's redelivery learns no more
        # than "already rejected" from the ledger).
        recorded = _failure_from_record(claim.failure) or failure
        if not claim.published:
            self._ports.outcomes.publish(Outcome(OutcomeStatus.REJECTED, *ids, failure=recorded))
            # Publish, then remember: if this write fails, only a redelivery of this message (the DLQ send
            # failing too) publishes again.
            with contextlib.suppress(RetryableError):
                ledger.rejection_published(key, message.message_id)
        return recorded

    def _dead_letter_unexpected(self, message: InboundMessage, error: Exception) -> Disposition:
        identity = readable_identity(message.body)
        command_type = CATALOG.get(identity.command_type or "")
        # Anything not known to be a read may have reached SP-API: the ending says the outcome is unknown.
        failure = UnexpectedFailure(error, outcome_unknown=command_type is None or not command_type.reads)
        with contextlib.suppress(RelayError):
            message = replace(message, relay_context=self.context_of(message))
        return self._dead_letter(message, None, failure, OutcomeStatus.DEAD_LETTERED)

    def _retry(self, message: InboundMessage, command: Command | None, error: RetryableError) -> Disposition:
        # The receive count catches crash loops: a budgeted retry is a fresh copy, received once.
        if message.receive_count >= self._policy.max_receive_count:
            return self._dead_letter(message, command, error, OutcomeStatus.DEAD_LETTERED)
        if (
            command is not None
            and self._policy.retry_budget_seconds > 0
            and isinstance(error, BUDGETED_FAILURES)
        ):
            return self._retry_within_budget(message, command, error)
        self._back_off(message)
        return Disposition.RETRY

    def _retry_within_budget(
        self, message: InboundMessage, command: Command, error: RetryableError
    ) -> Disposition:
        """A delayed copy with backoff and jitter, until the budget since the first attempt is spent."""
        context = message.relay_context
        now = self._ports.clock.now()
        first = _number(context.get(FIRST_ATTEMPT), now)
        retries = int(_number(context.get(RETRIES), 0))
        spent = max(0.0, now - first)
        budget = self._policy.retry_budget_seconds
        if spent >= budget:
            note = f"retry budget of {budget / 3600:g} h spent: retried for {spent / 60:.1f} min"
            return self._dead_letter(
                message, command, error, OutcomeStatus.DEAD_LETTERED, attempts=retries + 1, note=note
            )
        left = max(1, int(budget - spent + 0.999))
        delay = min(MAX_SQS_DELAY_SECONDS, self._policy.backoff_seconds(retries + 1), left)
        try:
            sealed = self._ports.seal.seal(
                message.body, {**context, FIRST_ATTEMPT: round(first, 3), RETRIES: retries + 1}
            )
            self._ports.queue.defer(message, delay, sealed, reason=error.code)
        except RelayError:
            # The copy could not be sent: this receive comes back instead, counted.
            self._back_off(message)
            return Disposition.RETRY
        return Disposition.DONE

    def _await_create(
        self, message: InboundMessage, command: Command, waiting: AwaitingCreate
    ) -> Disposition:
        """A delayed copy, no receive counted, looking again later each time, for as long as the create
        may still be retried; then the dead-letter queue, saying what to replay."""
        context = message.relay_context
        now = self._ports.clock.now()
        since = _number(context.get(CREATE_AWAITED_SINCE), now)
        tries = int(_number(context.get(CREATE_AWAITED_TRIES), 0)) + 1
        waited = max(0.0, now - since)
        bound = self._policy.create_wait_seconds()
        if waited >= bound:
            note = (
                f"gave up waiting for the order's create after {tries} tries (about {waited / 60:.0f} min): "
                f"nothing of this {command.type.name} was applied; replay it once that create has succeeded"
            )
            return self._dead_letter(
                message, command, waiting, OutcomeStatus.DEAD_LETTERED, attempts=tries, note=note
            )
        poll = self._policy.create_poll_seconds * 2 ** min(tries - 1, 16)
        delay = min(MAX_SQS_DELAY_SECONDS, int(poll + 0.999), max(1, int(bound - waited + 0.999)))
        context = {**context, CREATE_AWAITED_SINCE: round(since, 3), CREATE_AWAITED_TRIES: tries}
        return self._delayed_copy(message, command, waiting, delay, context)

    def _back_off(self, message: InboundMessage) -> None:
        # On failure the queue's own visibility timeout decides when the message returns.
        with contextlib.suppress(RetryableError):
            self._ports.queue.back_off(message, self._policy.backoff_seconds(message.receive_count))

    def _defer(
        self,
        message: InboundMessage,
        command: Command,
        waiting: Throttled | CommandInProgress | DeadlineReached,
    ) -> Disposition:
        """Waiting (for a token, for another worker's lease, for an invocation with time for the message)
        is no failure: a delayed copy, no receive counted."""
        deferrals = int(_number(message.relay_context.get(DEFERRALS), 0))
        if deferrals >= self._policy.max_deferrals:
            return self._retry(message, command, waiting)
        wait_for = waiting.retry_after_seconds
        if isinstance(waiting, CommandInProgress):
            wait_for = min(wait_for, self._policy.lease_poll_seconds)
        wait = int(wait_for + 0.999)
        delay = min(MAX_SQS_DELAY_SECONDS, max(self._policy.min_defer_seconds, wait))
        return self._delayed_copy(
            message, command, waiting, delay, {**message.relay_context, DEFERRALS: deferrals + 1}
        )

    def _delayed_copy(
        self,
        message: InboundMessage,
        command: Command,
        waiting: RetryableError,
        delay: int,
        context: Mapping[str, ContextValue],
    ) -> Disposition:
        """A waiting message goes back as a fresh copy with its context sealed, no receive counted."""
        try:
            sealed = self._ports.seal.seal(message.body, context)
            self._ports.queue.defer(message, delay, sealed, reason=waiting.code)
        except MessageTooLarge:
            # A copy SQS would refuse waits on this receive instead, counting it like any retry.
            return self._retry(message, command, waiting)
        except RetryableError as error:
            return self._retry(message, command, error)
        return Disposition.DONE


@dataclass(slots=True)
class _Attempt:
    """What one delivery knows of its attempt: whether a request went out, and whether the command may
    have been applied (by this attempt or, until a probe says otherwise, by the one it took over)."""

    claim: Claim
    sent: bool = False
    may_have_applied: bool = False

    def __post_init__(self) -> None:
        self.may_have_applied = self.claim.must_probe


def _order_created_by(command: Command) -> str | None:
    sequence = command.type.order_sequence
    return sequence.order_of(command.payload) if sequence is not None and sequence.creates else None


# In a succeeded acknowledgement's result when a probe settled it: no transactionId is known (SP-API's
# answer was lost), so no transaction event follows; what the probe saw is said instead.
TRANSACTION_FOLLOW_UP = "transactionFollowUp"
SETTLED_BY_PROBE = "settledByProbe"


def _probed_result(command: Command, verdict: Verdict) -> dict[str, Any]:
    result: dict[str, Any] = {
        "operationId": command.type.operation.operation_id,
        "httpStatus": None,
        "requestId": None,
        "answer": None,
        "alreadyDone": verdict.saw,
    }
    if command.type.follow_up is not None:
        result[TRANSACTION_FOLLOW_UP] = {
            "status": SETTLED_BY_PROBE,
            "orderStates": dict(verdict.states),
            "note": (
                "an earlier attempt's answer was lost and the probe found the acknowledgement applied: "
                "its transactionId is unknown, so no sp-relay transaction event follows"
            ),
        }
    return result


def _transaction_id(command: Command, result: Mapping[str, Any]) -> str | None:
    """The transaction SP-API's answer names, for types whose transactions the relay follows."""
    follow_up = command.type.follow_up
    if follow_up is None:
        return None
    transaction_id = dig(result.get("answer"), follow_up.transaction_id)
    return transaction_id if isinstance(transaction_id, str) else None


def _ids(command: Command | None, message: InboundMessage) -> tuple[str | None, str | None, str | None, str]:
    if command is None:
        identity = readable_identity(message.body)
        return identity.command_type, identity.command_id, identity.account, message.message_id
    return command.type.name, command.command_id, command.account, message.message_id


def _failure_record(failure: Failure) -> dict[str, Any]:
    return {
        "status": failure.status.value,
        "code": failure.code,
        "detail": failure.detail,
        "attempts": failure.attempts,
        "error": failure.error,
    }


def _failure_from_record(record: Mapping[str, Any] | None) -> Failure | None:
    """The failure a first delivery recorded, or None when the record does not hold one."""
    if record is None:
        return None
    try:
        return Failure(
            OutcomeStatus(record["status"]),
            str(record["code"]),
            str(record["detail"]),
            int(record["attempts"]),
            dict(record["error"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _number(value: ContextValue | None, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return default


ACCEPTED_FOR_PROCESSING = "acceptedForProcessing"


def _success(command: Command, response: SpApiResponse) -> dict[str, Any]:
    """A 2xx answer's result, with the order's status normalized where the answer shows one, and a 202
    "accepted, processed later" saying where the final state is read."""
    result = with_order_status(
        _result(command.type.operation.operation_id, response), command.type.order_status
    )
    later = command.type.accepted_later
    if later is not None and response.status == 202:
        result[ACCEPTED_FOR_PROCESSING] = (
            "SP-API accepted the request and processes it later: read the final state with "
            f"{later.status_command}"
        )
    return result


def _result(operation_id: str, response: SpApiResponse) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "httpStatus": response.status,
        "requestId": response.request_id,
        "answer": redact(response.body),
    }
