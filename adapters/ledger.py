"""The write ledger in DynamoDB (the ``WriteLedger`` port; states and transitions in ``domain.ledger``).

One item per (account, commandId) in the idempotency table. Every write is a single conditional
UpdateItem: a claim is conditioned on the record being claimable and on the payload fingerprint, every
later transition on the claim's fencing token, so a worker that lost its lease cannot overwrite what
the worker after it learnt. Records are never deleted by the relay; the table's TTL ends them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from adapters.aws import aws_failures_are_retryable, error_code
from domain.commands import Command
from domain.errors import AlreadyRejected, CommandIdReused, CommandInProgress, LeaseLost
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

# Fixed, so that a renamed function or a replay through another worker still finds the record.
KEY_PREFIX = "sp-relay#ledger"
# Rejected endings (domain.ledger.RejectionKey), apart from the ledger's records so no account or
# commandId can name one.
REJECTION_KEY_PREFIX = "sp-relay#rejected"
# A replay can come as late as the DLQ's retention (template.yaml: 14 days from the first enqueue) and
# then spend up to REPLAY_WINDOW_SECONDS in retries and deferrals: the record outlives both, or a late
# replay would apply its command a second time (tests/integration/test_template.py checks the sum).
DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600
REPLAY_WINDOW_SECONDS = 7 * 24 * 3600
DEFAULT_RECORD_TTL_SECONDS = DEAD_LETTER_RETENTION_SECONDS + REPLAY_WINDOW_SECONDS + 24 * 3600
CLAIM_CONDITION = (
    "attribute_not_exists(id) OR ((attribute_not_exists(fingerprint) OR fingerprint = :fingerprint) AND "
    "(#state IN (:not_applied, :unknown) OR (#state = :attempted AND leaseUntil < :now)))"
)
# mayHaveAppliedSince: when the first attempt that may have applied began (kept while the state says
# "may have applied", so a probe's settle window counts from that attempt, not from the latest claim).
CLAIM_UPDATE = (
    "SET #state = :attempted, fence = if_not_exists(fence, :zero) + :one, leaseUntil = :lease, "
    "attemptedAt = :now, mayHaveAppliedSince = if_not_exists(mayHaveAppliedSince, :now), "
    "fingerprint = :fingerprint, commandType = :type, expiration = :expiration"
)

# A create that waits before its first claim (domain.relay: announced, so later writes of its order wait).
ANNOUNCE_UPDATE = (
    "SET #state = :not_applied, fingerprint = :fingerprint, commandType = :type, expiration = :expiration"
)
CLAIM_UPDATE_VALUES = (
    ":attempted",
    ":zero",
    ":one",
    ":now",
    ":lease",
    ":fingerprint",
    ":type",
    ":expiration",
)


class DynamoDbWriteLedger:
    def __init__(
        self, client: Any, table_name: str, record_ttl_seconds: int = DEFAULT_RECORD_TTL_SECONDS
    ) -> None:
        self._client = client
        self._table = table_name
        self._ttl = record_ttl_seconds

    @staticmethod
    def key(command: Command) -> str:
        return f"{KEY_PREFIX}#{command.account}#{command.command_id}"

    @staticmethod
    def order_key(account: str, order_id: str) -> str:
        return f"{KEY_PREFIX}#order#{account}#{order_id}"

    def claim(
        self, command: Command, *, now: float, lease_until: float, creates_order: str | None = None
    ) -> Claim | Settled:
        values = {
            ":attempted": {"S": LedgerState.ATTEMPTED.value},
            ":not_applied": {"S": LedgerState.NOT_APPLIED.value},
            ":unknown": {"S": LedgerState.UNKNOWN.value},
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
            ":now": {"N": _number(now)},
            ":lease": {"N": _number(lease_until)},
            ":fingerprint": {"S": fingerprint(command)},
            ":type": {"S": command.type.name},
            ":expiration": {"N": str(int(now) + self._ttl)},
        }
        if creates_order is not None and self._first_claim_of_create(command, creates_order, values):
            return Claim(fence=1)
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": self.key(command)}},
                UpdateExpression=CLAIM_UPDATE,
                ConditionExpression=CLAIM_CONDITION,
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                with aws_failures_are_retryable(f"write ledger claim in {self._table}"):
                    raise
            found: dict[str, Any] = dict(error.response.get("Item") or {})  # type: ignore[call-overload]
            return self._refused(command, found, now, lease_until)
        except BotoCoreError:
            with aws_failures_are_retryable(f"write ledger claim in {self._table}"):
                raise
        old = answer.get("Attributes") or {}
        previous = _state(old)
        return Claim(
            fence=int(_n(old, "fence") or 0) + 1,
            previous=previous,
            previous_attempt_at=_n(old, "mayHaveAppliedSince") if previous is not None else None,
            previous_note=_s(old, "note"),
        )

    def _first_claim_of_create(self, command: Command, order_id: str, values: dict[str, Any]) -> bool:
        """A new create is claimed in one transaction with its order's pointer to it (still one DynamoDB
        call). False when the command is not new: the caller claims it as any other (its first claim
        wrote the pointer already)."""
        claim_values = {name: value for name, value in values.items() if name in CLAIM_UPDATE_VALUES}
        return self._new_record_with_pointer(command, order_id, CLAIM_UPDATE, claim_values, "claim")

    def announce_create(self, command: Command, order_id: str, *, now: float) -> None:
        values = {
            ":not_applied": {"S": LedgerState.NOT_APPLIED.value},
            ":fingerprint": {"S": fingerprint(command)},
            ":type": {"S": command.type.name},
            ":expiration": {"N": str(int(now) + self._ttl)},
        }
        # False: the command has a record already (its claim wrote the pointer, or an announcement did).
        self._new_record_with_pointer(command, order_id, ANNOUNCE_UPDATE, values, "announcement")

    def _new_record_with_pointer(
        self, command: Command, order_id: str, update: str, values: dict[str, Any], what: str
    ) -> bool:
        """One transaction: the command's record, written only if it has none, and its order's pointer
        to it. False when the record exists (nothing written)."""
        pointer = {
            "id": {"S": self.order_key(command.account, order_id)},
            "createKey": {"S": self.key(command)},
            "expiration": values[":expiration"],
        }
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": {"id": {"S": self.key(command)}},
                            "UpdateExpression": update,
                            "ConditionExpression": "attribute_not_exists(id)",
                            "ExpressionAttributeNames": {"#state": "state"},
                            "ExpressionAttributeValues": values,
                        }
                    },
                    {"Put": {"TableName": self._table, "Item": pointer}},
                ]
            )
        except ClientError as error:
            reasons = error.response.get("CancellationReasons") or []
            if error_code(error) == "TransactionCanceledException" and any(
                reason.get("Code") == "ConditionalCheckFailed" for reason in reasons
            ):
                return False
            with aws_failures_are_retryable(f"write ledger {what} in {self._table}"):
                raise
        except BotoCoreError:
            with aws_failures_are_retryable(f"write ledger {what} in {self._table}"):
                raise
        return True

    def create_of_order(self, account: str, order_id: str) -> LedgerState | None:
        pointer = self._read(self.order_key(account, order_id))
        create_key = _s(pointer, "createKey")
        if create_key is None:
            return None
        return _state(self._read(create_key))

    def creator_of_order(self, account: str, order_id: str) -> str | None:
        """The commandId of the relay's create of that order, when it applied or may have applied."""
        create_key = _s(self._read(self.order_key(account, order_id)), "createKey")
        prefix = f"{KEY_PREFIX}#{account}#"
        if create_key is None or not create_key.startswith(prefix):
            return None
        state = _state(self._read(create_key))
        if state in (None, LedgerState.REJECTED, LedgerState.NOT_APPLIED):
            return None
        return create_key[len(prefix) :]

    def _read(self, key: str) -> dict[str, Any]:
        with aws_failures_are_retryable(f"write ledger read in {self._table}"):
            answer = self._client.get_item(TableName=self._table, Key={"id": {"S": key}}, ConsistentRead=True)
        item: dict[str, Any] = answer.get("Item") or {}
        return item

    def _refused(self, command: Command, found: dict[str, Any], now: float, lease_until: float) -> Settled:
        if _s(found, "fingerprint") not in (None, fingerprint(command)):
            raise CommandIdReused(
                f"commandId: {command.command_id!r} was already used by account {command.account!r} "
                "with a different type or payload"
            )
        held_until = _n(found, "leaseUntil") or now
        if _state(found) is LedgerState.SUCCEEDED:
            pending = bool(found.get("effectsPending", {}).get("BOOL", False))
            fence = int(_n(found, "fence") or 0)
            if pending:
                # Saved, maybe not published: this delivery publishes the saved event only once it holds the
                # record (a new fence, one conditional write). Two deliveries that found it so at once would
                # both publish; the one that loses waits for the lease and then finds the mark.
                fence = self._take_publish(command, now, lease_until, held_until)
            result = json.loads(_s(found, "result") or "{}")
            return Settled(
                result=result if isinstance(result, dict) else {},
                effects_pending=pending,
                fence=fence,
                message_id=_s(found, "outcomeMessageId"),
                transaction_id=_s(found, "transactionId"),
                follow_up_scheduled=bool(found.get("followUpScheduled", {}).get("BOOL", False)),
            )
        if _state(found) is LedgerState.REJECTED:
            raise AlreadyRejected(
                f"commandId {command.command_id!r} of account {command.account!r} was refused by SP-API "
                f"before ({_s(found, 'note') or 'no note'}): the refusal stands"
            )
        raise CommandInProgress(
            f"commandId {command.command_id!r} is being processed by another worker",
            retry_after_seconds=max(0.0, held_until - now),
        )

    def _take_publish(self, command: Command, now: float, lease_until: float, held_until: float) -> int:
        """The publish of a saved outcome, for this delivery alone: its new fence."""
        in_progress = CommandInProgress(
            f"commandId {command.command_id!r} succeeded; its outcome is being published",
            retry_after_seconds=max(0.0, held_until - now),
        )
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": self.key(command)}},
                UpdateExpression="SET leaseUntil = :lease, fence = fence + :one",
                ConditionExpression=(
                    "#state = :succeeded AND effectsPending = :true "
                    "AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)"
                ),
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":lease": {"N": _number(lease_until)},
                    ":one": {"N": "1"},
                    ":succeeded": {"S": LedgerState.SUCCEEDED.value},
                    ":true": {"BOOL": True},
                    ":now": {"N": _number(now)},
                },
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                raise in_progress from None  # another delivery holds it (or it was published meanwhile)
            with aws_failures_are_retryable(f"write ledger publish lease in {self._table}"):
                raise
        except BotoCoreError:
            with aws_failures_are_retryable(f"write ledger publish lease in {self._table}"):
                raise
        return int(answer["Attributes"]["fence"]["N"])

    def succeed(
        self,
        command: Command,
        fence: int,
        result: dict[str, Any],
        *,
        message_id: str,
        transaction_id: str | None = None,
    ) -> None:
        # leaseUntil stays: it guards the publish that follows (effects_published removes it).
        values = {
            ":state": {"S": LedgerState.SUCCEEDED.value},
            ":result": {"S": json.dumps(result, default=str)},
            ":pending": {"BOOL": True},
            ":message": {"S": message_id},
        }
        transaction = ""
        if transaction_id is not None:
            values[":transaction"] = {"S": transaction_id}
            transaction = ", transactionId = :transaction"
        self._transition(
            command,
            fence,
            "SET #state = :state, #result = :result, effectsPending = :pending, "
            f"outcomeMessageId = :message{transaction} REMOVE mayHaveAppliedSince, note",
            values,
            names={"#result": "result"},
        )

    def effects_published(self, command: Command, fence: int) -> None:
        self._transition(
            command, fence, "SET effectsPending = :pending REMOVE leaseUntil", {":pending": {"BOOL": False}}
        )

    def release_publish(self, command: Command, fence: int, *, follow_up_scheduled: bool) -> None:
        self._transition(
            command,
            fence,
            "SET followUpScheduled = :scheduled REMOVE leaseUntil",
            {":scheduled": {"BOOL": follow_up_scheduled}},
        )

    def settle(self, command: Command, fence: int, state: LedgerState, note: str) -> None:
        remove = "leaseUntil" if state.may_have_applied else "leaseUntil, mayHaveAppliedSince"
        self._transition(
            command,
            fence,
            f"SET #state = :state, note = :note REMOVE {remove}",
            {":state": {"S": state.value}, ":note": {"S": note[:300] or "-"}},
        )

    @staticmethod
    def follow_up_key(account: str, transaction_id: str) -> str:
        return f"{KEY_PREFIX}#follow-up#{account}#{transaction_id}"

    def start_follow_up(self, account: str, transaction_id: str, record: FollowUpRecord) -> bool:
        item = {
            "id": {"S": self.follow_up_key(account, transaction_id)},
            "of": {"S": record.of},
            "commandType": {"S": record.command_type},
            "statusCommandId": {"S": record.status_command_id},
            "started": {"N": _number(record.started)},
            "expiration": {"N": str(int(record.started) + self._ttl)},
        }
        try:
            self._client.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(id)"
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            with aws_failures_are_retryable(f"follow-up start in {self._table}"):
                raise
        except BotoCoreError:
            with aws_failures_are_retryable(f"follow-up start in {self._table}"):
                raise
        return True

    def abandon_follow_up(self, account: str, transaction_id: str) -> None:
        with aws_failures_are_retryable(f"follow-up removal in {self._table}"):
            self._client.delete_item(
                TableName=self._table, Key={"id": {"S": self.follow_up_key(account, transaction_id)}}
            )

    def follow_up(self, account: str, transaction_id: str) -> FollowUpRecord | None:
        return _follow_up_record(self._read(self.follow_up_key(account, transaction_id)))

    def restart_follow_up(self, account: str, transaction_id: str) -> FollowUpRecord | None:
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": self.follow_up_key(account, transaction_id)}},
                UpdateExpression="SET restarted = :true",
                ConditionExpression=(
                    "attribute_exists(id) AND attribute_not_exists(restarted) "
                    "AND attribute_not_exists(eventPublished)"
                ),
                ExpressionAttributeValues={":true": {"BOOL": True}},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return None
            with aws_failures_are_retryable(f"follow-up restart in {self._table}"):
                raise
        except BotoCoreError:
            with aws_failures_are_retryable(f"follow-up restart in {self._table}"):
                raise
        return _follow_up_record(answer.get("Attributes") or {})

    def claim_follow_up_event(
        self, account: str, transaction_id: str, *, now: float, lease_until: float
    ) -> FollowUpEventClaim:
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": self.follow_up_key(account, transaction_id)}},
                UpdateExpression="SET eventLease = :lease",
                ConditionExpression=(
                    "attribute_exists(id) AND attribute_not_exists(eventPublished) "
                    "AND (attribute_not_exists(eventLease) OR eventLease < :now)"
                ),
                ExpressionAttributeValues={
                    ":lease": {"N": _number(lease_until)},
                    ":now": {"N": _number(now)},
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                with aws_failures_are_retryable(f"follow-up event claim in {self._table}"):
                    raise
            found: dict[str, Any] = dict(error.response.get("Item") or {})  # type: ignore[call-overload]
            if not found:
                return FollowUpEventClaim(publish=True)  # no chain recorded: nothing to guard it with
            if found.get("eventPublished", {}).get("BOOL", False):
                return FollowUpEventClaim(publish=False, published=True)
            held_until = _n(found, "eventLease") or now
            return FollowUpEventClaim(publish=False, retry_after_seconds=max(0.0, held_until - now))
        except BotoCoreError:
            with aws_failures_are_retryable(f"follow-up event claim in {self._table}"):
                raise
        return FollowUpEventClaim(publish=True, chain=_follow_up_record(answer.get("Attributes") or {}))

    def follow_up_event_published(self, account: str, transaction_id: str) -> None:
        with aws_failures_are_retryable(f"follow-up update in {self._table}"):
            self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": self.follow_up_key(account, transaction_id)}},
                UpdateExpression="SET eventPublished = :true",
                ConditionExpression="attribute_exists(id)",
                ExpressionAttributeValues={":true": {"BOOL": True}},
            )

    def _transition(
        self,
        command: Command,
        fence: int,
        update: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
    ) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": self.key(command)}},
                UpdateExpression=update,
                ConditionExpression="fence = :fence",
                **_names(update, names or {}),
                ExpressionAttributeValues={**values, ":fence": {"N": str(fence)}},
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                raise LeaseLost(
                    f"commandId {command.command_id!r} was taken over by another worker"
                ) from None
            with aws_failures_are_retryable(f"write ledger update in {self._table}"):
                raise
        except BotoCoreError:
            with aws_failures_are_retryable(f"write ledger update in {self._table}"):
                raise

    # --- rejected endings (domain.ledger.RejectionKey): one item per rejected command or body ------------

    @staticmethod
    def rejection_item_key(key: RejectionKey) -> str:
        return f"{REJECTION_KEY_PREFIX}#{key.key}"

    def claim_rejection(
        self, key: RejectionKey, message_id: str, failure: Mapping[str, Any], *, now: float
    ) -> RejectionClaim:
        item = {
            "id": {"S": self.rejection_item_key(key)},
            "fingerprint": {"S": key.fingerprint},
            "messageId": {"S": message_id},
            "failure": {"S": json.dumps(failure, default=str)},
            "published": {"BOOL": False},
            "expiration": {"N": str(int(now) + self._ttl)},
        }
        try:
            # Another body under the same commandId (a fixed replay, a reuse) is an ending of its own.
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(id) OR fingerprint <> :fingerprint",
                ExpressionAttributeValues={":fingerprint": {"S": key.fingerprint}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                with aws_failures_are_retryable(f"rejection record in {self._table}"):
                    raise
            found: dict[str, Any] = dict(error.response.get("Item") or {})  # type: ignore[call-overload]
            if not found:  # an endpoint that does not return the item: read it
                found = self._read(self.rejection_item_key(key))
            recorded = json.loads(_s(found, "failure") or "null")
            return RejectionClaim(
                mine=_s(found, "messageId") == message_id,
                published=bool(found.get("published", {}).get("BOOL", False)),
                failure=recorded if isinstance(recorded, dict) else None,
            )
        except BotoCoreError:
            with aws_failures_are_retryable(f"rejection record in {self._table}"):
                raise
        return RejectionClaim(mine=True)

    def rejection_published(self, key: RejectionKey, message_id: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": self.rejection_item_key(key)}},
                UpdateExpression="SET published = :true",
                ConditionExpression="messageId = :message",
                ExpressionAttributeValues={":true": {"BOOL": True}, ":message": {"S": message_id}},
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return  # another body's ending took the record over: its owner marks it
            with aws_failures_are_retryable(f"rejection record in {self._table}"):
                raise
        except BotoCoreError:
            with aws_failures_are_retryable(f"rejection record in {self._table}"):
                raise


def _follow_up_record(item: dict[str, Any]) -> FollowUpRecord | None:
    of, command_type, status_id = _s(item, "of"), _s(item, "commandType"), _s(item, "statusCommandId")
    started = _n(item, "started")
    if of is None or command_type is None or status_id is None or started is None:
        return None
    published = bool(item.get("eventPublished", {}).get("BOOL", False))
    return FollowUpRecord(of, command_type, status_id, started, event_published=published)


def _names(update: str, names: dict[str, str]) -> dict[str, Any]:
    used = {**({"#state": "state"} if "#state" in update else {}), **names}
    return {"ExpressionAttributeNames": used} if used else {}


def _number(value: float) -> str:
    return str(Decimal(str(round(value, 6))))


def _n(item: dict[str, Any], name: str) -> float | None:
    value = item.get(name, {}).get("N")
    return float(value) if value is not None else None


def _s(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name, {}).get("S")
    return str(value) if value is not None else None


def _state(item: dict[str, Any]) -> LedgerState | None:
    value = _s(item, "state")
    return LedgerState(value) if value is not None and value in LedgerState.__members__ else None
