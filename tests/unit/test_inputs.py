"""Inputs: producers cannot forge the relay's own context, queue sends stay within SQS's limits, and
producers act only for the accounts they are allowed to."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.settings import Settings, SettingsError
from adapters.sqs import (
    COMMAND_QUEUE_MAX_MESSAGE_BYTES,
    MAX_MESSAGE_ATTRIBUTES,
    SqsMessageQueue,
    message_bytes,
    sqs_text,
)
from domain.attributes import DETAIL_ATTRIBUTE, RELAY_CONTEXT_ATTRIBUTE
from domain.authorization import AccountAuthorization
from domain.errors import MessageTooLarge
from domain.outcomes import Failure, OutcomeStatus
from domain.ports import InboundMessage
from domain.relay import FOLLOW_UP_OF, Disposition
from domain.relay_context import RelayContextSeal
from domain.requests import SpApiResponse
from handlers.bootstrap import account_authorization
from tests.fakes import FakeQueue
from tests.unit.relay_world import TEST_KEY, World, make_world, message, sample, throttle

pytestmark = pytest.mark.unit

SEAL = RelayContextSeal(TEST_KEY)


# --- the relay's own context ------------------------------------------------------------------------------


def test_a_sealed_context_opens_only_for_its_own_body_and_key() -> None:
    sealed = SEAL.seal('{"a": 1}', {"deferrals": 2, FOLLOW_UP_OF: "ack-1"})

    assert SEAL.open('{"a": 1}', sealed) == {"deferrals": 2, FOLLOW_UP_OF: "ack-1"}
    assert SEAL.open('{"a": 2}', sealed) == {}, "copied onto another body"
    assert RelayContextSeal(b"another-stack-key-0123456789abcdef").open('{"a": 1}', sealed) == {}
    payload = sealed.split(".")[1]
    forged_payload = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")
    assert SEAL.open('{"a": 1}', sealed.replace(payload, forged_payload)) == {}
    assert SEAL.open('{"a": 1}', "v1.e30") == {}
    assert SEAL.open('{"a": 1}', None) == {}


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        RelayContextSeal(b"short")


def forged_follow_up(world: World) -> Any:
    processing = {"transactionStatus": {"transactionId": "tx-1", "status": "Processing"}}
    world.spapi.answer("getTransactionStatus", SpApiResponse(200, processing))
    body = sample("get-df-transaction-status")
    started = world.clock.now() - 3600
    return body, {
        "sp-relay-follow-up-of": "victim-command",
        "sp-relay-follow-up-type": "acknowledge-po",
        "sp-relay-follow-up-started": str(started),
        "sp-relay-follow-up-checks": "40",
    }


def test_a_producer_cannot_forge_a_treated_as_accepted_transaction_with_plain_attributes(
    world: World,
) -> None:
    body, attributes = forged_follow_up(world)

    assert world.process(message(body, attributes=attributes)) is Disposition.DONE

    assert world.outcomes.events == [], "no transaction event for a producer's status read"
    [outcome] = world.outcomes.published
    assert outcome.status is OutcomeStatus.SUCCEEDED


def test_a_producer_cannot_forge_the_sealed_attribute_either(world: World) -> None:
    body, _ = forged_follow_up(world)
    forged = RelayContextSeal(b"guessed-key-guessed-key-guessed-key").seal(
        json.dumps(body), {FOLLOW_UP_OF: "victim-command", "followUpStarted": 0.0}
    )

    world.process(message(body, relay_context=forged))

    assert world.outcomes.events == []


def test_a_producer_deferral_count_is_ignored_and_not_copied_forward(world: World) -> None:
    command = sample("cancel-fulfillment")
    throttle(world, "cancel-fulfillment")
    received = message(command, attributes={"sp-relay-deferrals": "999", "producer-trace": "t-1"})

    assert world.process(received) is Disposition.DONE

    [(deferred, _)] = world.queue.deferred
    [context] = world.queue.deferred_contexts
    assert SEAL.open(deferred.body, context) == {"deferrals": 1}
    assert deferred.producer_attributes == {"producer-trace": "t-1"}


# --- SQS's limits -----------------------------------------------------------------------------------------


class RecordingSqs:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **request: Any) -> dict[str, str]:
        self.sent.append(request)
        return {"MessageId": "x"}


def queue() -> tuple[SqsMessageQueue, RecordingSqs]:
    sqs = RecordingSqs()
    return SqsMessageQueue(sqs, "https://q/commands", "https://q/dlq", clock=lambda: 1_800_000_000.0), sqs


def test_attribute_values_keep_only_characters_sqs_allows() -> None:
    assert sqs_text("a\x00b\x1fc\td\ud800e\uffffé😀") == "a\ufffdb\ufffdc\td\ufffde\ufffdé😀"
    adapter, sqs = queue()
    failure = Failure(
        OutcomeStatus.REJECTED, "InvalidCommand", "payload.\x07bad\x00field: Extra inputs", 1, {}
    )

    adapter.dead_letter(message(sample("cancel-fulfillment")), failure, None)

    detail = sqs.sent[0]["MessageAttributes"][DETAIL_ATTRIBUTE]["StringValue"]
    assert detail == "payload.\ufffdbad\ufffdfield: Extra inputs"


def test_a_deferred_copy_of_a_message_with_ten_attributes_has_at_most_ten() -> None:
    adapter, sqs = queue()
    attributes = {f"producer-{n}": f"value-{n}" for n in range(10)}
    received = message(sample("cancel-fulfillment"), attributes=attributes)

    adapter.defer(received, 5, SEAL.seal(received.body, {"deferrals": 1}))

    sent = sqs.sent[0]["MessageAttributes"]
    assert len(sent) == MAX_MESSAGE_ATTRIBUTES
    assert RELAY_CONTEXT_ATTRIBUTE in sent


def test_a_deferral_that_would_exceed_the_message_size_drops_the_largest_producer_attributes() -> None:
    adapter, sqs = queue()
    body = json.dumps(
        {**sample("cancel-fulfillment"), "pad": "x" * (COMMAND_QUEUE_MAX_MESSAGE_BYTES - 1_200)}
    )
    received = message(body, attributes={"big": "y" * 1_500, "small": "s"})

    adapter.defer(received, 5, SEAL.seal(body, {"deferrals": 1}))

    request = sqs.sent[0]
    assert set(request["MessageAttributes"]) == {"small", RELAY_CONTEXT_ATTRIBUTE}
    assert (
        message_bytes(request["MessageBody"], request["MessageAttributes"]) <= COMMAND_QUEUE_MAX_MESSAGE_BYTES
    )


def test_a_deferral_that_cannot_fit_is_refused_and_the_relay_backs_off_instead(world: World) -> None:
    adapter, sqs = queue()
    body = "x" * COMMAND_QUEUE_MAX_MESSAGE_BYTES
    with pytest.raises(MessageTooLarge, match="does not fit"):
        adapter.defer(message(body), 5, SEAL.seal(body, {"deferrals": 1}))
    assert sqs.sent == []


def test_a_dead_letter_of_a_message_at_the_size_limit_still_fits() -> None:
    adapter, sqs = queue()
    body = "x" * COMMAND_QUEUE_MAX_MESSAGE_BYTES
    failure = Failure(OutcomeStatus.REJECTED, "InvalidCommand", "d" * 5000, 1, {})

    adapter.dead_letter(message(body), failure, None)

    assert len(sqs.sent) == 1 and sqs.sent[0]["MessageBody"] == body


class TooLargeQueue(FakeQueue):
    def defer(
        self, message: InboundMessage, delay_seconds: int, relay_context: str, *, reason: str = ""
    ) -> None:
        raise MessageTooLarge("too large")


def test_a_relay_whose_deferral_is_refused_by_size_counts_a_receive_instead() -> None:
    world = make_world(queue=TooLargeQueue())
    throttle(world, "cancel-fulfillment")

    assert world.process(message(sample("cancel-fulfillment"))) is Disposition.RETRY
    assert len(world.queue.backed_off) == 1 and world.outcomes.published == []


# --- producer-to-account authorization ------------------------------------------------------------------


def test_without_settings_any_sender_acts_for_any_account(world: World) -> None:
    assert world.process(message(sample("cancel-fulfillment"), sender_id="AROAOTHER:x")) is Disposition.DONE
    assert world.outcomes.published[0].status is OutcomeStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("environment", "sender", "allowed"),
    [
        ({"ALLOWED_ACCOUNTS": "acme,shop-b"}, "AROAANY:s", True),
        ({"ALLOWED_ACCOUNTS": "shop-b"}, "AROAANY:s", False),
        ({"SENDER_ACCOUNTS": '{"AROAOMS": ["acme"]}'}, "AROAOMS:lambda-session", True),
        ({"SENDER_ACCOUNTS": '{"AROAOMS": ["acme"]}'}, "AROAERP:lambda-session", False),
        ({"SENDER_ACCOUNTS": '{"AROAOMS": ["shop-b"]}'}, "AROAOMS:lambda-session", False),
        ({"SENDER_ACCOUNTS": '{"AIDAOPERATOR": ["*"]}'}, "AIDAOPERATOR", True),
        ({"SENDER_ACCOUNTS": '{"AIDAOPERATOR": ["*"]}'}, None, False),
    ],
)
def test_senders_act_only_for_their_accounts(
    environment: dict[str, str], sender: str | None, allowed: bool
) -> None:
    world = make_world(authorization=account_authorization(Settings.from_env({**REQUIRED, **environment})))

    world.process(message(sample("cancel-fulfillment"), sender_id=sender))

    [outcome] = world.outcomes.published
    if allowed:
        assert outcome.status is OutcomeStatus.SUCCEEDED
    else:
        assert outcome.status is OutcomeStatus.REJECTED and outcome.failure is not None
        assert outcome.failure.code == "AccountNotAllowed"
        assert outcome.failure.detail.startswith("account: ")
        assert world.spapi.calls == []


def test_the_relays_own_follow_up_passes_authorization() -> None:
    world = make_world(authorization=AccountAuthorization(sender_accounts={"AROAOMS": frozenset({"acme"})}))
    world.spapi.answer("submitAcknowledgement", SpApiResponse(202, {"transactionId": "tx-1"}))
    world.process(message(sample("acknowledge-po"), sender_id="AROAOMS:s"))
    [(body, _, context)] = world.queue.scheduled
    success = {"transactionStatus": {"transactionId": "tx-1", "status": "Success"}}
    world.spapi.answer("getTransactionStatus", SpApiResponse(200, success))

    world.process(message(body, relay_context=context, sender_id="AROAWORKER:relay"))

    assert [detail_type for detail_type, _ in world.outcomes.events] == ["sp-relay transaction Success"]


REQUIRED = {
    "COMMAND_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/commands",
    "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/dlq",
    "IDEMPOTENCY_TABLE_NAME": "idempotency",
    "RATE_LIMIT_TABLE_NAME": "rate-limits",
    "OUTCOME_BUS_NAME": "outcomes",
}


@pytest.mark.parametrize(
    ("variable", "text", "reason"),
    [
        ("ALLOWED_ACCOUNTS", "good, bad name", "'bad name' is not an account name"),
        ("SENDER_ACCOUNTS", "[]", "must be a non-empty JSON object"),
        ("SENDER_ACCOUNTS", '{"AROA": "acme"}', "'AROA' needs a list of account names"),
        ("SENDER_ACCOUNTS", "{", "must be a JSON object"),
    ],
)
def test_authorization_settings_name_the_variable_and_reason(variable: str, text: str, reason: str) -> None:
    with pytest.raises(SettingsError, match=f"{variable}.*{reason}"):
        Settings.from_env({**REQUIRED, variable: text})


def test_a_context_key_that_cannot_be_read_yet_retries_the_message_and_is_read_once_it_can() -> None:
    from domain.errors import DependencyUnavailable  # noqa: PLC0415

    reads: list[int] = []

    def read_key() -> bytes:
        reads.append(1)
        if len(reads) == 1:
            raise DependencyUnavailable("reading secret failed: ThrottlingException")
        return TEST_KEY

    world = make_world(seal=RelayContextSeal(read_key))

    body = sample("cancel-fulfillment")
    with_context = message(body, relay_context=SEAL.seal(json.dumps(body), {"deferrals": 1}))

    assert world.process(message(body)) is Disposition.DONE, "no context: the key is not needed"
    assert world.process(with_context) is Disposition.RETRY
    assert world.process(with_context) is Disposition.DONE
    world.process(with_context)
    assert len(reads) == 2
