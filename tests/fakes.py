"""In-memory fakes of the domain ports, for pure unit tests of the use cases."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from domain.commands import Command
from domain.errors import AlreadyRejected, CommandIdReused, CommandInProgress, LeaseLost, RetryableError
from domain.ledger import (
    Claim,
    FollowUpEventClaim,
    FollowUpRecord,
    LedgerState,
    RejectionClaim,
    RejectionKey,
    Settled,
    fingerprint,
)
from domain.outcomes import Failure, Outcome
from domain.ports import Admission, InboundMessage
from domain.rate_limits import Bucket, UsagePlan
from domain.requests import SpApiRequest, SpApiResponse


@dataclass
class FakeSpApi:
    """Answers from a script per operationId; answers 200 {} when the script is empty."""

    script: dict[str, list[SpApiResponse | Exception]] = field(default_factory=lambda: defaultdict(list))
    calls: list[tuple[str, str, SpApiRequest]] = field(default_factory=list)
    timeouts: list[float | None] = field(default_factory=list)
    # Called as each request is answered (a test's clock moving by the call's duration).
    during_call: Callable[[SpApiRequest], None] | None = None

    def answer(self, operation_id: str, *answers: SpApiResponse | Exception) -> None:
        self.script[operation_id].extend(answers)

    def call(
        self,
        account: str,
        region: str,
        request: SpApiRequest,
        *,
        admit: Admission | None = None,
        timeout_seconds: float | None = None,
    ) -> SpApiResponse:
        if admit is not None:
            admit()
        self.calls.append((account, region, request))
        self.timeouts.append(timeout_seconds)
        if self.during_call is not None:
            self.during_call(request)
        queue = self.script.get(request.operation_id)
        if queue:
            answer = queue.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return SpApiResponse(status=200, body={}, request_id="req-1")

    def operations(self) -> list[str]:
        return [request.operation_id for _, _, request in self.calls]


@dataclass
class FakeAccounts:
    regions: dict[str, str] = field(default_factory=lambda: {"acme": "eu", "play": "na"})
    sandbox_accounts: set[str] = field(default_factory=lambda: {"play"})

    def default_region(self, account: str) -> str:
        from domain.errors import UnknownAccount  # noqa: PLC0415

        if account not in self.regions:
            raise UnknownAccount(f"account: no credentials for account {account!r}")
        return self.regions[account]

    def is_sandbox(self, account: str) -> bool:
        self.default_region(account)
        return account in self.sandbox_accounts


@dataclass
class FakeLimiter:
    waits: list[float] = field(default_factory=list)
    taken: list[tuple[Bucket, UsagePlan]] = field(default_factory=list)

    known_waits: dict[str, float] = field(default_factory=dict)
    pushed_back: list[Bucket] = field(default_factory=list)
    # Called inside each decision (a test's clock moving by the time a slow conditional write takes).
    during_acquire: Callable[[Bucket], None] | None = None

    def known_wait(self, bucket: Bucket, plan: UsagePlan) -> float:
        return self.known_waits.get(bucket.key, 0.0)

    def try_acquire(self, bucket: Bucket, plan: UsagePlan) -> float:
        if self.during_acquire is not None:
            self.during_acquire(bucket)
        self.taken.append((bucket, plan))
        return self.waits.pop(0) if self.waits else 0.0

    def push_back(self, bucket: Bucket, plan: UsagePlan) -> None:
        self.pushed_back.append(bucket)


@dataclass
class LedgerRecord:
    state: LedgerState
    fence: int
    fingerprint: str
    lease_until: float = 0.0
    may_have_applied_since: float | None = None
    result: dict[str, Any] | None = None
    effects_pending: bool = False
    note: str | None = None
    message_id: str | None = None
    transaction_id: str | None = None
    follow_up_scheduled: bool = False


@dataclass
class FakeLedger:
    """The write ledger's rules (domain.ledger) in memory; ``failures`` fails the next writes."""

    records: dict[tuple[str, str], LedgerRecord] = field(default_factory=dict)
    failures: list[RetryableError] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    # (account, seller order id) -> commandId of the create claimed last
    creates: dict[tuple[str, str], str] = field(default_factory=dict)
    reads: list[str] = field(default_factory=list)
    follow_ups: dict[tuple[str, str], FollowUpRecord] = field(default_factory=dict)
    # rejected endings: key -> (fingerprint, owning message id, published, failure)
    rejections: dict[str, tuple[str, str, bool, dict[str, Any]]] = field(default_factory=dict)
    restarted: set[tuple[str, str]] = field(default_factory=set)
    event_holds: dict[tuple[str, str], float] = field(default_factory=dict)

    def _fail(self, what: str) -> None:
        self.writes.append(what)
        if self.failures:
            raise self.failures.pop(0)

    def claim(
        self, command: Command, *, now: float, lease_until: float, creates_order: str | None = None
    ) -> Claim | Settled:
        self._fail("claim")
        key = (command.account, command.command_id)
        record = self.records.get(key)
        mine = fingerprint(command)
        if record is None:
            self.records[key] = LedgerRecord(LedgerState.ATTEMPTED, 1, mine, lease_until, now)
            if creates_order is not None:
                self.creates[(command.account, creates_order)] = command.command_id
            return Claim(fence=1)
        if record.fingerprint != mine:
            raise CommandIdReused(f"commandId: {command.command_id!r} reused with a different payload")
        if record.state is LedgerState.SUCCEEDED:
            assert record.result is not None
            if record.effects_pending:
                if record.lease_until > now:
                    raise CommandInProgress("publishing", retry_after_seconds=record.lease_until - now)
                self._fail("take publish")
                record.fence, record.lease_until = record.fence + 1, lease_until
            return Settled(
                record.result,
                record.effects_pending,
                record.fence,
                message_id=record.message_id,
                transaction_id=record.transaction_id,
                follow_up_scheduled=record.follow_up_scheduled,
            )
        if record.state is LedgerState.REJECTED:
            raise AlreadyRejected(f"commandId {command.command_id!r} was refused before ({record.note})")
        if record.state is LedgerState.ATTEMPTED and record.lease_until >= now:
            raise CommandInProgress("in progress", retry_after_seconds=record.lease_until - now)
        claim = Claim(
            fence=record.fence + 1,
            previous=record.state,
            previous_attempt_at=record.may_have_applied_since,
            previous_note=record.note,
        )
        record.state, record.fence, record.lease_until = LedgerState.ATTEMPTED, claim.fence, lease_until
        if record.may_have_applied_since is None:
            record.may_have_applied_since = now
        return claim

    def _held(self, command: Command, fence: int) -> LedgerRecord:
        record = self.records[(command.account, command.command_id)]
        if record.fence != fence:
            raise LeaseLost("taken over")
        return record

    def succeed(
        self,
        command: Command,
        fence: int,
        result: dict[str, Any],
        *,
        message_id: str,
        transaction_id: str | None = None,
    ) -> None:
        self._fail("succeed")
        record = self._held(command, fence)
        record.state, record.result, record.effects_pending = LedgerState.SUCCEEDED, result, True
        record.message_id, record.transaction_id = message_id, transaction_id
        record.may_have_applied_since = None

    def effects_published(self, command: Command, fence: int) -> None:
        self._fail("effects_published")
        record = self._held(command, fence)
        record.effects_pending, record.lease_until = False, 0.0

    def release_publish(self, command: Command, fence: int, *, follow_up_scheduled: bool) -> None:
        self._fail("release publish")
        record = self._held(command, fence)
        record.lease_until, record.follow_up_scheduled = 0.0, follow_up_scheduled

    def settle(self, command: Command, fence: int, state: LedgerState, note: str) -> None:
        self._fail(f"settle {state.value}")
        record = self._held(command, fence)
        record.state, record.note, record.lease_until = state, note, 0.0
        if not state.may_have_applied:
            record.may_have_applied_since = None

    def start_follow_up(self, account: str, transaction_id: str, record: FollowUpRecord) -> bool:
        self._fail("start follow-up")
        if (account, transaction_id) in self.follow_ups:
            return False
        self.follow_ups[(account, transaction_id)] = record
        return True

    def abandon_follow_up(self, account: str, transaction_id: str) -> None:
        self._fail("abandon follow-up")
        self.follow_ups.pop((account, transaction_id), None)

    def follow_up(self, account: str, transaction_id: str) -> FollowUpRecord | None:
        self.reads.append(f"follow-up {transaction_id}")
        return self.follow_ups.get((account, transaction_id))

    def restart_follow_up(self, account: str, transaction_id: str) -> FollowUpRecord | None:
        self._fail("restart follow-up")
        key = (account, transaction_id)
        record = self.follow_ups.get(key)
        if record is None or record.event_published or key in self.restarted:
            return None
        self.restarted.add(key)
        return record

    def claim_follow_up_event(
        self, account: str, transaction_id: str, *, now: float, lease_until: float
    ) -> FollowUpEventClaim:
        self._fail("claim follow-up event")
        key = (account, transaction_id)
        record = self.follow_ups.get(key)
        if record is None:
            return FollowUpEventClaim(publish=True)
        if record.event_published:
            return FollowUpEventClaim(publish=False, published=True)
        held = self.event_holds.get(key, 0.0)
        if held >= now:
            return FollowUpEventClaim(publish=False, retry_after_seconds=held - now)
        self.event_holds[key] = lease_until
        return FollowUpEventClaim(publish=True, chain=record)

    def follow_up_event_published(self, account: str, transaction_id: str) -> None:
        self._fail("follow-up published")
        record = self.follow_ups[(account, transaction_id)]
        self.follow_ups[(account, transaction_id)] = replace(record, event_published=True)

    def announce_create(self, command: Command, order_id: str, *, now: float) -> None:
        self._fail("announce create")
        key = (command.account, command.command_id)
        if key not in self.records:
            self.records[key] = LedgerRecord(LedgerState.NOT_APPLIED, 0, fingerprint(command))
            self.creates[(command.account, order_id)] = command.command_id

    def create_of_order(self, account: str, order_id: str) -> LedgerState | None:
        self.reads.append(f"create of {order_id}")
        command_id = self.creates.get((account, order_id))
        return None if command_id is None else self.state_of(command_id, account)

    def claim_rejection(
        self, key: RejectionKey, message_id: str, failure: Mapping[str, Any], *, now: float
    ) -> RejectionClaim:
        self._fail("claim rejection")
        found = self.rejections.get(key.key)
        if found is None or found[0] != key.fingerprint:
            self.rejections[key.key] = (key.fingerprint, message_id, False, dict(failure))
            return RejectionClaim(mine=True)
        _, owner, published, recorded = found
        return RejectionClaim(mine=owner == message_id, published=published, failure=recorded)

    def rejection_published(self, key: RejectionKey, message_id: str) -> None:
        self._fail("rejection published")
        found = self.rejections[key.key]
        if found[1] == message_id:
            self.rejections[key.key] = (found[0], found[1], True, found[3])

    def state_of(self, command_id: str, account: str = "acme") -> LedgerState | None:
        record = self.records.get((account, command_id))
        return record.state if record is not None else None


@dataclass
class FakeOutcomes:
    published: list[Outcome] = field(default_factory=list)
    failures_to_raise: list[RetryableError] = field(default_factory=list)

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def publish(self, outcome: Outcome) -> None:
        if self.failures_to_raise:
            raise self.failures_to_raise.pop(0)
        self.published.append(outcome)

    def publish_event(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        if self.failures_to_raise:
            raise self.failures_to_raise.pop(0)
        self.events.append((detail_type, dict(detail)))


@dataclass
class FakeQueue:
    dead_letters: list[tuple[InboundMessage, Failure]] = field(default_factory=list)
    deferred: list[tuple[InboundMessage, int]] = field(default_factory=list)
    backed_off: list[tuple[InboundMessage, int]] = field(default_factory=list)
    # Every send with its sealed relay context, as the next receive would see it (None: none sent).
    scheduled: list[tuple[str, int, str]] = field(default_factory=list)
    dead_letter_contexts: list[str | None] = field(default_factory=list)
    deferred_contexts: list[str] = field(default_factory=list)
    deferred_reasons: list[str] = field(default_factory=list)
    failures_to_raise: list[RetryableError] = field(default_factory=list)  # the next schedules fail
    dead_letter_failures: list[RetryableError] = field(default_factory=list)  # the next DLQ sends fail

    def schedule(self, body: str, delay_seconds: int, relay_context: str) -> None:
        if self.failures_to_raise:
            raise self.failures_to_raise.pop(0)
        self.scheduled.append((body, delay_seconds, relay_context))

    def dead_letter(self, message: InboundMessage, failure: Failure, relay_context: str | None) -> None:
        if self.dead_letter_failures:
            raise self.dead_letter_failures.pop(0)
        self.dead_letters.append((message, failure))
        self.dead_letter_contexts.append(relay_context)

    def defer(
        self, message: InboundMessage, delay_seconds: int, relay_context: str, *, reason: str = ""
    ) -> None:
        self.deferred.append((message, delay_seconds))
        self.deferred_contexts.append(relay_context)
        self.deferred_reasons.append(reason)

    def back_off(self, message: InboundMessage, delay_seconds: int) -> None:
        self.backed_off.append((message, delay_seconds))


@dataclass
class FakeClock:
    current: float = 1_700_000_000.0
    slept: list[float] = field(default_factory=list)

    def now(self) -> float:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.current += seconds


class ProcessKilled(BaseException):
    """Stands for the process dying mid-call: nothing after it runs, no handler sees it as an error."""


@dataclass
class Power:
    """Shared by fakes that model one process: once it is off, nothing more reaches any store."""

    on: bool = True


@dataclass
class FakePollerState:
    values: dict[str, str] = field(default_factory=dict)
    power: Power = field(default_factory=Power)

    def watermark(self, key: str) -> str | None:
        return self.values.get(key)

    def recall(self, key: str) -> str | None:
        return self.values.get(key)

    def set_watermark(self, key: str, value: str) -> None:
        if self.power.on:
            self.values[key] = value

    def remember(self, key: str, fingerprint: str, ttl_seconds: int) -> None:
        if self.power.on:
            self.values[key] = fingerprint


@dataclass
class KillableEvents:
    """An outcome publisher that can kill its process during one PutEvents."""

    power: Power
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    kill_on_call: int | None = None
    calls: int = 0

    def publish(self, outcome: Outcome) -> None:
        raise AssertionError("pollers publish events, not command outcomes")

    def publish_event(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        self.calls += 1
        if self.calls == self.kill_on_call:
            self.power.on = False
            raise ProcessKilled
        self.events.append((detail_type, dict(detail)))
