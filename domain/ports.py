"""What the use cases need from the outside world. Adapters implement these; tests pass fakes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from domain.commands import Command
from domain.ledger import (
    Claim,
    FollowUpEventClaim,
    FollowUpRecord,
    LedgerState,
    RejectionClaim,
    RejectionKey,
    Settled,
)
from domain.outcomes import Failure, Outcome
from domain.rate_limits import Bucket, UsagePlan
from domain.relay_context import ContextValue, is_relay_attribute
from domain.requests import SpApiRequest, SpApiResponse


@dataclass(frozen=True, slots=True)
class InboundMessage:
    message_id: str
    body: str
    receive_count: int
    receipt_handle: str
    # String message attributes as received, the producer's and the relay's (see domain/relay_context.py).
    attributes: Mapping[str, str] = field(default_factory=dict)
    # SQS's SenderId of the message: the IAM identity that sent it (None where unknown).
    sender_id: str | None = None
    # What the relay itself sealed onto the message (domain/relay_context.py), once the relay opened it.
    relay_context: Mapping[str, ContextValue] = field(default_factory=dict)

    @property
    def producer_attributes(self) -> dict[str, str]:
        """The attributes a producer set: every ``sp-relay-*`` one is the relay's and never copied forward."""
        return {name: value for name, value in self.attributes.items() if not is_relay_attribute(name)}


# Called by the SP-API adapter once per request leaving, as the last step before sending: everything
# else (credentials, access token, request) is ready by then. It takes the rate-limit token (it may
# wait, or raise Throttled) and returns the time the token was decided (Clock.now()).
Admission = Callable[[], float]


class SpApi(Protocol):
    def call(
        self,
        account: str,
        region: str,
        request: SpApiRequest,
        *,
        admit: Admission | None = None,
        timeout_seconds: float | None = None,
    ) -> SpApiResponse:
        """Send one request, calling ``admit`` right before each request leaves (none: send at once),
        within ``timeout_seconds`` (none: the client's default). Raises SpApiUnavailable on transport
        failures, CredentialsRejected, UnknownAccount, and whatever ``admit`` raised; any HTTP answer
        (2xx or not) is returned."""
        ...


class Accounts(Protocol):
    def default_region(self, account: str) -> str:
        """The region configured for the account. Raises UnknownAccount."""
        ...

    def is_sandbox(self, account: str) -> bool:
        """Whether the account talks to the SP-API sandbox. Raises UnknownAccount."""
        ...


class RateLimiter(Protocol):
    def try_acquire(self, bucket: Bucket, plan: UsagePlan) -> float:
        """Take one token: 0.0 when taken, else the seconds until one is due (nothing taken)."""
        ...

    def known_wait(self, bucket: Bucket, plan: UsagePlan) -> float:
        """The wait for a token this worker already knows of, without any I/O (0.0: none known)."""
        ...

    def push_back(self, bucket: Bucket, plan: UsagePlan) -> None:
        """SP-API answered 429: its bucket is empty. Tell every worker (one write): wait an interval."""
        ...


class FailingBuckets(Protocol):
    """What this worker knows of SP-API failing for an (account, region, operation): 5xx, timeouts,
    connection errors, 429 (``domain.rate_limits.FailureHolds``). No I/O."""

    def failed(self, bucket: Bucket) -> None:
        """SP-API failed for the bucket: hold it (longer for each failure in a row)."""
        ...

    def answered(self, bucket: Bucket) -> None:
        """SP-API answered for the bucket (any answer that is no failure): release it."""
        ...

    def held_for(self, bucket: Bucket) -> float:
        """Seconds the bucket is still held (0.0: not held). Asked once per message before its call."""
        ...

    def batch(self) -> AbstractContextManager[None]:
        """One batch: a bucket that failed in it stays held until it ends."""
        ...


class WriteLedger(Protocol):
    """The write ledger (``domain.ledger``): every method is one conditional write or none.

    Raises DependencyUnavailable when the store fails, LeaseLost when ``fence`` is no longer the
    command's fencing token (another worker took it over)."""

    def claim(
        self, command: Command, *, now: float, lease_until: float, creates_order: str | None = None
    ) -> Claim | Settled:
        """Take the command for one attempt, or return its saved success. ``creates_order``: the command
        creates this seller order id, and its first claim records that in the same write.

        Raises CommandIdReused (same key, other type or payload) and CommandInProgress (another worker's
        lease is live; ``retry_after_seconds`` says when it runs out)."""
        ...

    def create_of_order(self, account: str, order_id: str) -> LedgerState | None:
        """The ledger state of the latest create of ``order_id`` the relay claimed or announced (None:
        it has neither). Reads only; asked only when SP-API does not know the order."""
        ...

    def announce_create(self, command: Command, order_id: str, *, now: float) -> None:
        """Record a create that waits before its first claim (a token, a failing SP-API) as NOT_APPLIED,
        with its order's pointer, so later writes of the order wait for it. One write; nothing when the
        command has a record already."""
        ...

    def succeed(
        self,
        command: Command,
        fence: int,
        result: dict[str, Any],
        *,
        message_id: str,
        transaction_id: str | None = None,
    ) -> None:
        """SUCCEEDED with the result, its outcome event not published yet (the outbox: ``message_id`` is
        the delivery the event names) and the transaction its follow-up follows. The claim's lease stays:
        while it is live a duplicate waits instead of publishing the same event beside this worker."""
        ...

    def effects_published(self, command: Command, fence: int) -> None:
        """The outcome event and follow-up of a SUCCEEDED command are out (the lease ends)."""
        ...

    def release_publish(self, command: Command, fence: int, *, follow_up_scheduled: bool) -> None:
        """A SUCCEEDED command's outcome could not be published: its lease ends, so the retry publishes
        the saved event at once instead of waiting for the lease; ``follow_up_scheduled``: its chain's
        first check is out (the retry restarts no chain)."""
        ...

    def settle(self, command: Command, fence: int, state: LedgerState, note: str) -> None:
        """REJECTED, NOT_APPLIED or UNKNOWN, with a short note (no payload values, no secrets)."""
        ...

    def start_follow_up(self, account: str, transaction_id: str, record: FollowUpRecord) -> bool:
        """Record the transaction's follow-up chain; False when one was started already (one
        conditional write)."""
        ...

    def abandon_follow_up(self, account: str, transaction_id: str) -> None:
        """Forget a chain whose first status check could not be scheduled, so a retry starts it."""
        ...

    def follow_up(self, account: str, transaction_id: str) -> FollowUpRecord | None:
        """The transaction's follow-up chain, if the relay started one (one read)."""
        ...

    def restart_follow_up(self, account: str, transaction_id: str) -> FollowUpRecord | None:
        """The chain, when this caller may schedule its first check again because the one that recorded
        it may have died before sending it; None when it was restarted already or its event is out
        (one conditional write: a chain is restarted at most once)."""
        ...

    def claim_follow_up_event(
        self, account: str, transaction_id: str, *, now: float, lease_until: float
    ) -> FollowUpEventClaim:
        """Hold the chain's final event until ``lease_until`` so that no other copy of a check publishes
        it meanwhile (one conditional write)."""
        ...

    def follow_up_event_published(self, account: str, transaction_id: str) -> None:
        """The transaction's final event is out: later checks of the chain publish nothing."""
        ...

    def claim_rejection(
        self, key: RejectionKey, message_id: str, failure: Mapping[str, Any], *, now: float
    ) -> RejectionClaim:
        """Record that ``message_id`` ends the command ``key`` names as rejected, unless an ending with the
        same fingerprint is recorded already (one conditional write); what it found."""
        ...

    def rejection_published(self, key: RejectionKey, message_id: str) -> None:
        """The rejected event of ``key``, owned by ``message_id``, is out: a redelivery publishes nothing."""
        ...


class OutcomePublisher(Protocol):
    def publish(self, outcome: Outcome) -> None:
        """Publish a command's outcome (split over several events when too large for one)."""
        ...

    def publish_event(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        """Publish any other event of the relay (transaction results, pollers' findings)."""
        ...


class MessageQueue(Protocol):
    """Every send is checked against SQS's limits first; ``relay_context`` is a sealed value
    (domain/relay_context.py) sent unchanged as the ``sp-relay-context`` attribute.
    A send SQS would refuse is shortened (producer attributes and the reason's detail go first) or,
    when even that cannot fit, raises MessageTooLarge: it is never retried as it is."""

    def dead_letter(self, message: InboundMessage, failure: Failure, relay_context: str | None) -> None:
        """Put the message on the dead-letter queue with the failure attached."""
        ...

    def defer(
        self, message: InboundMessage, delay_seconds: int, relay_context: str, *, reason: str = ""
    ) -> None:
        """Send the message again with a delay (a new receive count): waiting for a token is no failure.
        The producer's attributes travel along; the relay's own are replaced by ``relay_context``.
        ``reason``: the error code that made it wait (for the log line)."""
        ...

    def schedule(self, body: str, delay_seconds: int, relay_context: str) -> None:
        """Put a new message on the command queue, delivered after ``delay_seconds``."""
        ...

    def back_off(self, message: InboundMessage, delay_seconds: int) -> None:
        """Keep the message invisible for ``delay_seconds`` before it is received again."""
        ...


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def sleep(self, seconds: float) -> None: ...


class Meter(Protocol):
    """Counts what only the domain sees happen (a state probe and its reads, which pass through the same
    SP-API port as the writes). The composition root passes the relay's metrics (adapters/metrics.py)."""

    def count(self, name: str, value: float = 1) -> None: ...


class NoMeter:
    """Counts nothing: for relays built without metrics (tests, tools)."""

    def count(self, name: str, value: float = 1) -> None:
        return None
