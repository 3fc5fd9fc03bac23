"""The write ledger: what is known about each write command, per (account, commandId).

Every write passes through these states, each transition a conditional write on the fencing token of the
worker that holds the command:

    (none) ──claim──▶ ATTEMPTED ──▶ SUCCEEDED      SP-API accepted it (the saved result answers repeats)
                         │     ──▶ REJECTED        not applied: SP-API refused it (4xx), for good
                         │     ──▶ NOT_APPLIED     not applied: the request never reached SP-API, a 429,
                         │                         or its credentials were refused (fixed, it may go again)
                         │     ──▶ UNKNOWN         may have applied: a 5xx, a read timeout, a reset
                         └─ lease runs out ──▶     (a kill, a Lambda timeout, a failed save): as UNKNOWN

A claim is one conditional write that is at once the lease and the "attempted" mark: it takes a record
that is new, not applied, unknown, or attempted under an expired lease, and gives back what it found.
SUCCEEDED and REJECTED are final: a repeat of the command (same payload) gets the saved success, or
``AlreadyRejected`` without SP-API being asked again; another payload under the id is a reuse.
A claim that finds ATTEMPTED or UNKNOWN runs the command type's state probe before sending anything.
Nothing here ever deletes a record: "may have applied" is remembered until a probe settles it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from domain.commands import Command


class LedgerState(StrEnum):
    ATTEMPTED = "ATTEMPTED"
    SUCCEEDED = "SUCCEEDED"
    REJECTED = "REJECTED"
    NOT_APPLIED = "NOT_APPLIED"
    UNKNOWN = "UNKNOWN"

    @property
    def may_have_applied(self) -> bool:
        return self in (LedgerState.ATTEMPTED, LedgerState.UNKNOWN)


# States a new claim may take over at once (ATTEMPTED only once its lease has run out). REJECTED is not
# one: SP-API's refusal stands, so a duplicate neither calls it again nor publishes a second rejection.
CLAIMABLE_STATES = (LedgerState.NOT_APPLIED, LedgerState.UNKNOWN)


@dataclass(frozen=True, slots=True)
class Claim:
    """This worker holds the command: ``fence`` goes with every later write of this attempt."""

    fence: int
    # What the claim took over: None for a new command; ATTEMPTED or UNKNOWN mean "probe first".
    previous: LedgerState | None = None
    # When the earlier attempt was claimed (for probes that compare dates), and what was noted then.
    previous_attempt_at: float | None = None
    previous_note: str | None = None

    @property
    def must_probe(self) -> bool:
        return self.previous is not None and self.previous.may_have_applied


@dataclass(frozen=True, slots=True)
class Settled:
    """The command already succeeded: its saved result; ``effects_pending`` when its outcome event and
    follow-up were not (known to be) published yet.

    The SUCCEEDED record is the outcome's outbox: it is saved before the event is published, with what
    the event is made of (the result, and ``message_id``: the delivery that applied the command), so a
    later delivery that finds it pending publishes that same event, not one of its own making. It keeps
    the acknowledgement's ``transaction_id`` too, so a follow-up chain lost to a kill can be restarted."""

    result: dict[str, Any]
    effects_pending: bool
    fence: int
    message_id: str | None = None
    transaction_id: str | None = None
    # The first status check of the transaction is known to be scheduled (else a kill may have lost it).
    follow_up_scheduled: bool = False


def fingerprint(command: Command) -> str:
    """What a reused commandId is compared on: type, region and payload (not the account or id)."""
    data = command.idempotency_data()
    text = json.dumps([data["type"], data["region"], data["payload"]], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class FollowUpRecord:
    """The one follow-up chain of a transaction, kept in the ledger per (account, transactionId).

    Written once, before the first status check is scheduled (a second start finds it and schedules
    nothing); the status checks read their context from it, so the context survives the DLQ and a
    replay, and no producer can forge it with message attributes."""

    of: str  # the write's commandId
    command_type: str  # the write's type
    status_command_id: str  # the commandId of the status checks this chain sends
    started: float
    event_published: bool = False  # the transaction's final event is out


@dataclass(frozen=True, slots=True)
class FollowUpEventClaim:
    """What a status check learnt when it asked to publish its transaction's final event.

    ``publish``: this check holds the chain's event (one conditional write: no other copy of a check of
    this transaction publishes while the hold is live); ``chain`` is None when the relay never recorded a
    chain (the check publishes unguarded, as before chains were recorded). ``published``: the event is
    out already. Otherwise another copy holds it until ``retry_after_seconds`` from now."""

    publish: bool
    chain: FollowUpRecord | None = None
    published: bool = False
    retry_after_seconds: float = 0.0


# --- rejected endings: one rejected event per command ------------------------------------------------------
#
# A command can be rejected before it reaches the ledger's claim (invalid, an account it may not act for, a
# sandbox-only type) or after it (SP-API refused it: REJECTED). Either way a producer duplicate or a
# redelivery would be rejected again; the first rejection records its ending, conditionally, and only the
# message that recorded it publishes the rejected event. Every copy still goes to the DLQ, so nothing an
# operator may want to replay vanishes.


@dataclass(frozen=True, slots=True)
class RejectionKey:
    """Which command a rejection ends: ``key`` is account and commandId when the body names both, else
    the body's own fingerprint; ``fingerprint`` tells another body under the same commandId (a fixed
    replay, a reuse), whose rejection is an ending of its own."""

    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class RejectionClaim:
    """What recording a rejected ending found. ``mine``: this SQS message owns the command's rejected
    event (it recorded it now, or on an earlier delivery of the same message); ``published``: that event
    is out; ``failure``: the failure the owner recorded (``Failure`` as a dict), which a redelivery
    publishes rather than its own (a write's redelivery only learns "already rejected")."""

    mine: bool
    published: bool = False
    failure: dict[str, Any] | None = None


def rejection_key(
    body: str, command: Command | None, account: str | None, command_id: str | None
) -> RejectionKey:
    """The ending key of a rejected message: a parsed command by its ledger fingerprint (the same one a
    reuse is told by), a body that names its account and commandId by those and the body's hash, and
    any other body by its hash alone (so the same body redelivered is the same ending)."""
    body_print = hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()
    if command is not None:
        return RejectionKey(f"{command.account}#{command.command_id}", fingerprint(command))
    if account is not None and command_id is not None:
        return RejectionKey(f"{account}#{command_id}", body_print)
    return RejectionKey(f"body#{body_print}", body_print)
