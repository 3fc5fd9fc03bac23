"""Commands through the whole local stack: SQS (moto server) → worker loop → real Lambda handler →
SP-API emulator over HTTP → outcome events on EventBridge → tap queue."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest

from domain.attributes import DETAIL_ATTRIBUTE, OUTCOME_ATTRIBUTE, REASON_ATTRIBUTE
from domain.events import COMMAND_EVENT, TRANSACTION_EVENT
from domain.privacy import REDACTED
from emulator.state import Fault
from local.runtime import DEMO_ACCOUNTS, LocalStack
from tests import personal_data
from tests.conftest import RecordingHandler, sample_command, unique

pytestmark = pytest.mark.e2e

DRAIN_TIMEOUT = 45.0


def run(stack: LocalStack, *commands: dict[str, Any] | str) -> None:
    for command in commands:
        stack.send(command)
    assert stack.wait_until_drained(DRAIN_TIMEOUT), "the command queue did not drain"


def by_command_id(outcomes: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for outcome in outcomes:
        grouped.setdefault(str(outcome["commandId"]), []).append(outcome)
    return grouped


def effect_count(stack: LocalStack, operation: str, key: str) -> int:
    assert stack.emulator is not None
    return stack.emulator.state.effect_count(operation, key)


def test_every_sample_command_succeeds_in_order(stack: LocalStack) -> None:
    create = unique(sample_command("create-fulfillment"))
    order_id = create["payload"]["sellerFulfillmentOrderId"]
    update = unique(sample_command("update-fulfillment"), order_id=order_id)
    cancel = unique(sample_command("cancel-fulfillment"), order_id=order_id)
    acknowledge = unique(sample_command("acknowledge-po"))

    run(stack, create, acknowledge)
    run(stack, update)
    run(stack, cancel)

    events = stack.events()
    outcomes = by_command_id([detail for kind, detail in events if kind.startswith(COMMAND_EVENT)])
    for command in (create, update, cancel, acknowledge):
        [outcome] = outcomes[command["commandId"]]
        assert outcome["status"] == "succeeded", outcome
    answer = outcomes[acknowledge["commandId"]][0]["result"]["answer"]
    assert set(answer) == {"transactionId"}
    # The acknowledgement's transaction was followed to its end (the queue drained only after that).
    [(kind, transaction)] = [(kind, d) for kind, d in events if kind.startswith(TRANSACTION_EVENT)]
    assert kind == "sp-relay transaction Success"
    assert (transaction["of"], transaction["transactionId"]) == (
        acknowledge["commandId"],
        answer["transactionId"],
    )
    assert effect_count(stack, "createFulfillmentOrder", order_id) == 1
    assert stack.dead_letters() == []


def test_bad_commands_go_to_the_dlq_with_a_reason_while_the_rest_succeed(stack: LocalStack) -> None:
    good = [unique(sample_command("create-fulfillment")) for _ in range(3)]
    too_long = unique(sample_command("cancel-fulfillment"))
    too_long["payload"]["sellerFulfillmentOrderId"] = "X" * 41
    unknown = {"type": "teleport-order", "commandId": "bad-type-1", "account": "demo-seller", "payload": {}}
    sqs = stack.client("sqs")
    assert stack.resources is not None
    bodies = [json.dumps(c) for c in good] + ["{broken json", json.dumps(unknown), json.dumps(too_long)]
    sqs.send_message_batch(
        QueueUrl=stack.resources.command_queue_url,
        Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies)],
    )
    assert stack.wait_until_drained(DRAIN_TIMEOUT)

    statuses = Counter(o["status"] for o in stack.outcomes())
    assert statuses == Counter({"succeeded": 3, "rejected": 3})
    reasons = {m["body"]: m["attributes"] for m in stack.dead_letters()}
    assert reasons["{broken json"][REASON_ATTRIBUTE] == "InvalidCommand"
    assert "not valid JSON" in reasons["{broken json"][DETAIL_ATTRIBUTE]
    assert reasons[json.dumps(unknown)][REASON_ATTRIBUTE] == "UnknownCommandType"
    assert "teleport-order" in reasons[json.dumps(unknown)][DETAIL_ATTRIBUTE]
    detail = reasons[json.dumps(too_long)][DETAIL_ATTRIBUTE]
    assert "payload.sellerFulfillmentOrderId" in detail
    assert "40 characters" in detail


def test_the_same_command_id_sent_twice_makes_one_sp_api_call(stack: LocalStack) -> None:
    create = unique(sample_command("create-fulfillment"))
    order_id = create["payload"]["sellerFulfillmentOrderId"]

    run(stack, create, create)
    run(stack, create)  # a replay after the first one finished

    assert effect_count(stack, "createFulfillmentOrder", order_id) == 1
    assert stack.emulator is not None
    assert len(stack.emulator.state.calls("createFulfillmentOrder")) == 1
    # One outcome event per command: its duplicates and its replay publish nothing again.
    statuses = [o["status"] for o in stack.outcomes()]
    assert statuses == ["succeeded"]


@pytest.mark.parametrize("status", [429, 503])
def test_a_throttled_or_unavailable_sp_api_is_retried_until_it_succeeds(
    stack: LocalStack, status: int
) -> None:
    assert stack.emulator is not None
    stack.emulator.state.add_fault(
        Fault(operation="submitAcknowledgement", kind="status", status=status, count=2)
    )
    acknowledge = unique(sample_command("acknowledge-po"))

    run(stack, acknowledge)

    answers = [call.status for call in stack.emulator.state.calls("submitAcknowledgement")]
    assert answers == [status, status, 202]
    [outcome] = stack.outcomes()
    assert outcome["status"] == "succeeded"
    assert stack.dead_letters() == []


def test_a_create_that_timed_out_after_sp_api_applied_it_is_probed_not_repeated(stack: LocalStack) -> None:
    assert stack.emulator is not None
    stack.emulator.state.add_fault(
        Fault(
            operation="createFulfillmentOrder",
            kind="timeout",
            delay_seconds=4.0,
            apply_before_fault=True,
            count=1,
        )
    )
    create = unique(sample_command("create-fulfillment"))
    order_id = create["payload"]["sellerFulfillmentOrderId"]

    run(stack, create)

    assert effect_count(stack, "createFulfillmentOrder", order_id) == 1
    # The timeout left the outcome unknown: the next delivery read the order instead of sending again.
    assert len(stack.emulator.state.calls("getFulfillmentOrder")) == 1
    # The emulator logs the timed-out call when its delay ends: wait for it, so it stays in this test.
    deadline = time.monotonic() + 10
    while not stack.emulator.state.calls("createFulfillmentOrder") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [call.status for call in stack.emulator.state.calls("createFulfillmentOrder")] == [504]
    [outcome] = stack.outcomes()
    assert outcome["status"] == "succeeded"
    assert "exists with the requested items and destination" in outcome["result"]["alreadyDone"]
    assert outcome["result"]["answer"] is None


def test_a_duplicate_cancel_counts_as_done(stack: LocalStack) -> None:
    create = unique(sample_command("create-fulfillment"))
    order_id = create["payload"]["sellerFulfillmentOrderId"]
    first_cancel = unique(sample_command("cancel-fulfillment"), order_id=order_id)
    second_cancel = unique(sample_command("cancel-fulfillment"), order_id=order_id)

    run(stack, create)
    run(stack, first_cancel)
    run(stack, second_cancel)

    outcomes = by_command_id(stack.outcomes())
    assert outcomes[second_cancel["commandId"]][0]["status"] == "succeeded"
    assert "DuplicateCancelRequest" in outcomes[second_cancel["commandId"]][0]["result"]["alreadyDone"]


def test_sp_api_rejection_is_dead_lettered_with_sp_api_errors(stack: LocalStack) -> None:
    update = unique(sample_command("update-fulfillment"))  # an order that was never created

    run(stack, update)

    [outcome] = stack.outcomes()
    assert outcome["status"] == "rejected"
    assert outcome["error"]["status"] == 404
    assert outcome["error"]["errors"][0]["code"]
    [dead] = stack.dead_letters()
    assert dead["attributes"][REASON_ATTRIBUTE] == "SpApiRejected"
    assert stack.emulator is not None
    assert len(stack.emulator.state.calls("updateFulfillmentOrder")) == 1  # no pointless retries


def test_retries_that_run_out_end_on_the_dlq_with_the_last_error(stack: LocalStack) -> None:
    assert stack.emulator is not None
    stack.emulator.state.add_fault(Fault(operation="cancelFulfillmentOrder", kind="status", status=500))
    cancel = unique(sample_command("cancel-fulfillment"))

    run(stack, cancel)

    assert stack.resources is not None
    attempts = len(stack.emulator.state.calls("cancelFulfillmentOrder"))
    assert attempts == stack.resources.max_receive_count
    [outcome] = stack.outcomes()
    assert outcome["status"] == "dead-lettered"
    [dead] = stack.dead_letters()
    assert dead["attributes"][OUTCOME_ATTRIBUTE] == "dead-lettered"
    assert "retries exhausted after 4 attempts" in dead["attributes"][DETAIL_ATTRIBUTE]
    assert "500" in dead["attributes"][DETAIL_ATTRIBUTE]


def test_an_expired_access_token_is_refreshed_once(stack: LocalStack) -> None:
    assert stack.emulator is not None
    first, second = unique(sample_command("create-fulfillment")), unique(sample_command("create-fulfillment"))
    run(stack, first)
    client_id = DEMO_ACCOUNTS[0].secret["clientId"]
    exchanges_before = stack.emulator.state.token_request_count(client_id)
    stack.emulator.state.expire_tokens()

    run(stack, second)

    assert stack.emulator.state.token_request_count(client_id) - exchanges_before == 1
    # Only this test's commands: on a loaded machine an earlier test's late event can reach the tap.
    outcomes = by_command_id(stack.outcomes())
    assert [o["status"] for o in outcomes[first["commandId"]]] == ["succeeded"]
    assert [o["status"] for o in outcomes[second["commandId"]]] == ["succeeded"]


def test_an_unknown_account_is_rejected_naming_it(stack: LocalStack) -> None:
    command = unique(sample_command("cancel-fulfillment"))
    command["account"] = "nobody-we-know"

    run(stack, command)

    [dead] = stack.dead_letters()
    assert dead["attributes"][REASON_ATTRIBUTE] == "UnknownAccount"
    assert "nobody-we-know" in dead["attributes"][DETAIL_ATTRIBUTE]


def test_no_secret_token_or_address_reaches_logs_or_events(
    stack: LocalStack, captured_logs: RecordingHandler
) -> None:
    assert stack.emulator is not None
    # Fields a deny-list once let through, with values that must not reach a log line or an event:
    # two in a create, three in a DF purchase order SP-API answers with, and an e-mail and a phone in
    # SP-API's error message for a rejected acknowledgement.
    create = personal_data.with_create_fields(unique(sample_command("create-fulfillment")))
    read = unique(sample_command("get-fulfillment-order"))
    read["payload"]["sellerFulfillmentOrderId"] = create["payload"]["sellerFulfillmentOrderId"]
    vendor = next(account.seller_id for account in DEMO_ACCOUNTS if account.name == "demo-vendor")
    purchase_order = unique(sample_command("get-df-purchase-order"))
    number = purchase_order["payload"]["purchaseOrderNumber"]
    personal_data.add_to_df_order(stack.emulator.state.df_order(vendor, number).order)
    stack.emulator.state.add_fault(
        Fault(
            operation="submitAcknowledgement",
            status=400,
            code="InvalidInput",
            message=personal_data.FREE_TEXT,
        )
    )
    acknowledge = unique(sample_command("acknowledge-po"))
    stack.emulator.state.expire_tokens()  # force a token exchange and a refresh inside this test
    run(stack, create, acknowledge, "{not json")
    run(stack, read, purchase_order)
    stack.emulator.state.expire_tokens()
    run(stack, unique(sample_command("create-fulfillment")))
    outcomes = stack.outcomes()
    answers = {o["commandId"]: o["result"]["answer"] for o in outcomes if o["status"] == "succeeded"}
    # The answers carried the fields (so the scan below could find them), redacted.
    order = answers[read["commandId"]]["payload"]["fulfillmentOrder"]
    assert order["displayableOrderComment"] == REDACTED
    assert order["notificationEmails"] == [REDACTED]
    details = answers[purchase_order["commandId"]]["orderDetails"]  # 2021-12-28: the Order itself
    assert details["shipmentDetails"]["messageToCustomer"] == REDACTED
    assert details["sellingParty"]["taxInfo"]["taxRegistrationNumber"] == REDACTED
    assert details["items"][0]["buyerCustomizedInfo"]["customizedUrl"] == REDACTED
    [rejected] = [o for o in outcomes if o["commandId"] == acknowledge["commandId"]]
    assert rejected["status"] == "rejected"
    assert personal_data.FREE_TEXT_KEPT in json.dumps(rejected)  # SP-API's words, with the person masked
    events = json.dumps(outcomes)
    dead_letter_attributes = json.dumps([m["attributes"] for m in stack.dead_letters()])
    assert personal_data.FREE_TEXT_KEPT in dead_letter_attributes

    secrets = [
        value
        for account in DEMO_ACCOUNTS
        for key, value in account.secret.items()
        if key in {"clientSecret", "refreshToken"}
    ]
    tokens = stack.emulator.state.issued_token_values()
    address = create["payload"]["destinationAddress"]
    personal = [address["name"], address["addressLine1"], address["phone"], *personal_data.NEEDLES]
    assert tokens, "the test must have seen access tokens to look for"
    assert any(text.startswith("SP-API call") for text in captured_logs.texts), "no relay log to scan"
    assert any(text.startswith("command outcome") for text in captured_logs.texts)
    for needle in [*secrets, *tokens]:
        leaks = [text[:300] for text in captured_logs.texts if needle in text]
        assert not leaks, leaks
        assert needle not in events
        assert needle not in dead_letter_attributes
    for needle in personal:
        leaks = [text[:300] for text in captured_logs.texts if needle in text]
        assert not leaks, leaks
        assert needle not in events
        assert needle not in dead_letter_attributes
