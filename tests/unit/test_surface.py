"""The relay across the whole surface: reads and paging, Restricted Data Tokens, sandbox-only
operations, transaction follow-ups, redaction and event size."""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.attributes import RELAY_CONTEXT_ATTRIBUTE
from domain.outcomes import Outcome, OutcomeStatus
from domain.ports import InboundMessage
from domain.privacy import REDACTED, redact
from domain.relay import FOLLOW_UP_OF, FOLLOW_UP_STARTED, Disposition
from domain.requests import SpApiResponse
from tests.unit.relay_world import World, message, sample

pytestmark = pytest.mark.unit


def page(orders: list[str], next_token: str | None) -> SpApiResponse:
    body: dict[str, Any] = {
        "payload": {"fulfillmentOrders": [{"sellerFulfillmentOrderId": o} for o in orders]}
    }
    if next_token:
        body["payload"]["nextToken"] = next_token
    return SpApiResponse(200, body, "req")


def test_a_paged_read_joins_every_page_and_skips_the_write_ledger(world: World) -> None:
    world.spapi.answer(
        "listAllFulfillmentOrders", page(["A", "B"], "t1"), page(["C"], "t2"), page(["D"], None)
    )

    assert world.process(message(sample("list-fulfillment-orders"))) is Disposition.DONE

    requests = [request for _, _, request in world.spapi.calls]
    assert [dict(r.query).get("nextToken") for r in requests] == [None, "t1", "t2"]
    [outcome] = world.outcomes.published
    assert outcome.result is not None
    orders = outcome.result["answer"]["payload"]["fulfillmentOrders"]
    assert [o["sellerFulfillmentOrderId"] for o in orders] == ["A", "B", "C", "D"]
    assert "nextToken" not in outcome.result["answer"]["payload"]
    assert outcome.result["pages"] == 3
    assert world.ledger.records == {}
    assert len(world.limiter.taken) == 3  # one token per page


def test_a_restricted_read_gets_a_restricted_data_token_once_and_uses_it(world: World) -> None:
    world.spapi.answer(
        "createRestrictedDataToken",
        SpApiResponse(200, {"restrictedDataToken": "Atz.sprdt|secret", "expiresIn": 3600}),
    )
    order = {
        "purchaseOrderNumber": "PO1",
        "orderDetails": {
            "shipToParty": {
                "partyId": "X",
                "address": {"name": "Jane Doe", "addressLine1": "1 Road", "countryCode": "US"},
            }
        },
    }
    world.spapi.answer("getOrder", SpApiResponse(200, order), SpApiResponse(200, order))

    world.process(message(sample("get-df-purchase-order")))
    world.process(message(sample("get-df-purchase-order", commandId="again")))

    operations = world.spapi.operations()
    assert operations == ["createRestrictedDataToken", "getOrder", "getOrder"]
    rdt_request = world.spapi.calls[0][2]
    assert rdt_request.body == {
        "restrictedResources": [
            {"method": "GET", "path": "/vendor/directFulfillment/orders/2021-12-28/purchaseOrders/2JK3S9VC"}
        ]
    }
    assert [request.access_token for _, _, request in world.spapi.calls[1:]] == ["Atz.sprdt|secret"] * 2
    assert "Atz.sprdt|secret" not in repr(world.spapi.calls[1][2])
    published = json.dumps([o.detail() for o in world.outcomes.published])
    assert "Jane Doe" not in published and "1 Road" not in published


def test_a_refused_restricted_data_token_is_renewed_once(world: World) -> None:
    world.spapi.answer(
        "createRestrictedDataToken",
        SpApiResponse(200, {"restrictedDataToken": "old", "expiresIn": 3600}),
        SpApiResponse(200, {"restrictedDataToken": "new", "expiresIn": 3600}),
    )
    world.spapi.answer(
        "getOrder", SpApiResponse(403, {"errors": [{"code": "Unauthorized"}]}), SpApiResponse(200, {})
    )

    world.process(message(sample("get-df-purchase-order")))

    assert [
        request.access_token for _, _, request in world.spapi.calls if request.operation_id == "getOrder"
    ] == ["old", "new"]
    assert world.outcomes.published[0].status is OutcomeStatus.SUCCEEDED


def test_a_sandbox_only_operation_is_refused_for_a_production_account(world: World) -> None:
    world.process(message(sample("submit-fulfillment-order-status-update", account="acme")))

    [(_, failure)] = world.queue.dead_letters
    assert failure.code == "SandboxOnly"
    assert "acme" in failure.detail
    assert world.spapi.calls == []


def test_a_sandbox_only_operation_runs_for_a_sandbox_account(world: World) -> None:
    world.process(message(sample("submit-fulfillment-order-status-update", account="play")))

    assert world.spapi.operations() == ["submitFulfillmentOrderStatusUpdate"]


def status_message(body: str, relay_context: str) -> InboundMessage:
    return InboundMessage("m-follow", body, 1, "rh", {RELAY_CONTEXT_ATTRIBUTE: relay_context})


def sealed(world: World, body: str, of: str, started: float) -> str:
    return world.relay.ports.seal.seal(body, {FOLLOW_UP_OF: of, FOLLOW_UP_STARTED: started})


def test_an_acknowledgement_is_followed_until_its_transaction_succeeds(world: World) -> None:
    world.spapi.answer("submitAcknowledgement", SpApiResponse(202, {"transactionId": "tx-1"}))
    world.process(message(sample("acknowledge-po")))

    [(body, delay, context)] = world.queue.scheduled
    follow = json.loads(body)
    assert (follow["type"], follow["payload"]) == ("get-df-transaction-status", {"transactionId": "tx-1"})
    assert delay == 60
    opened = world.relay.ports.seal.open(body, context)
    assert opened[FOLLOW_UP_OF] == sample("acknowledge-po")["commandId"]

    processing = {"transactionStatus": {"transactionId": "tx-1", "status": "Processing"}}
    world.spapi.answer("getTransactionStatus", SpApiResponse(200, processing))
    world.process(status_message(body, context))
    assert len(world.queue.scheduled) == 2 and world.outcomes.events == []

    success = {"transactionStatus": {"transactionId": "tx-1", "status": "Success"}}
    world.spapi.answer("getTransactionStatus", SpApiResponse(200, success))
    world.process(status_message(*world.queue.scheduled[-1][::2]))

    [(detail_type, detail)] = world.outcomes.events
    assert detail_type == "sp-relay transaction Success"
    assert (detail["of"], detail["transactionId"], detail["checks"]) == (
        opened[FOLLOW_UP_OF],
        "tx-1",
        2,
    )


def test_a_failed_transaction_is_published_with_sp_api_errors(world: World) -> None:
    errors = [{"code": "InvalidData", "message": "Bad quantity"}]
    failure = {
        "payload": {"transactionStatus": {"transactionId": "tx-2", "status": "Failure", "errors": errors}}
    }
    world.spapi.answer("getTransaction", SpApiResponse(200, failure))
    body = json.dumps(sample("get-retail-transaction"))

    world.process(status_message(body, sealed(world, body, "ack-1", world.clock.now())))

    [(detail_type, detail)] = world.outcomes.events
    assert detail_type == "sp-relay transaction Failure"
    assert detail["errors"] == errors


def test_a_transaction_still_processing_after_the_limit_is_treated_as_accepted(world: World) -> None:
    processing = {"transactionStatus": {"transactionId": "tx-3", "status": "Processing"}}
    world.spapi.answer("getTransactionStatus", SpApiResponse(200, processing))
    started = world.clock.now() - 31 * 60

    body = json.dumps(sample("get-df-transaction-status"))
    world.process(status_message(body, sealed(world, body, "ack-1", started)))

    [(detail_type, detail)] = world.outcomes.events
    assert detail_type == "sp-relay transaction TreatedAsAccepted"
    assert "still Processing after 31.0 minutes" in detail["note"]
    assert world.queue.scheduled == []


def test_a_status_read_sent_by_a_producer_is_a_plain_read(world: World) -> None:
    world.spapi.answer(
        "getTransactionStatus", SpApiResponse(200, {"transactionStatus": {"status": "Processing"}})
    )

    world.process(message(sample("get-df-transaction-status")))

    assert world.outcomes.published[0].status is OutcomeStatus.SUCCEEDED
    assert world.queue.scheduled == [] and world.outcomes.events == []


def test_redaction_keeps_country_and_drops_people() -> None:
    answer: dict[str, Any] = {
        "payload": {
            "fulfillmentOrder": {
                "destinationAddress": {
                    "name": "Jane",
                    "addressLine1": "1 Road",
                    "postalCode": "1",
                    "countryCode": "US",
                },
                "notificationEmails": ["jane@example.com"],
                "sellerFulfillmentOrderId": "ORDER-1",
            }
        }
    }

    clean = redact(answer)

    order = clean["payload"]["fulfillmentOrder"]
    assert order["destinationAddress"] == {"countryCode": "US", "redacted": True}
    assert order["notificationEmails"] == [REDACTED]
    assert order["sellerFulfillmentOrderId"] == "ORDER-1"
    untouched: Any = answer["payload"]["fulfillmentOrder"]
    assert untouched["destinationAddress"]["name"] == "Jane"


def test_an_address_under_another_name_is_redacted_too() -> None:
    order = {
        "shipToParty": {
            "name": "Maria",
            "addressLine1": "350 Fifth Avenue",
            "city": "New York",
            "countryCode": "US",
        }
    }

    assert redact(order) == {"shipToParty": {"countryCode": "US", "redacted": True}}


def test_a_large_joined_read_is_split_over_several_events() -> None:
    items = [{"sellerFulfillmentOrderId": f"ORDER-{n}", "comment": "x" * 200} for n in range(500)]
    result = {
        "answer": {"payload": {"fulfillmentOrders": items}},
        "joinedItems": ["payload", "fulfillmentOrders"],
    }
    outcome = Outcome(OutcomeStatus.SUCCEEDED, "list-fulfillment-orders", "c-1", "acme", "m-1", result)

    parts = outcome.event_details(max_bytes=20_000)

    assert len(parts) > 1
    assert all(len(json.dumps(part)) <= 20_000 for part in parts)
    assert [p["split"] for p in parts] == list(range(1, len(parts) + 1))
    assert {p["splits"] for p in parts} == {len(parts)}
    joined = [o for p in parts for o in p["result"]["answer"]["payload"]["fulfillmentOrders"]]
    assert joined == items


def test_an_unsplittable_large_answer_is_left_out_and_said_so() -> None:
    result = {"answer": {"document": "y" * 50_000}}
    outcome = Outcome(OutcomeStatus.SUCCEEDED, "get-fulfillment-order", "c-1", "acme", "m-1", result)

    [part] = outcome.event_details(max_bytes=20_000)

    assert part["result"]["answer"] is None
    assert "exceeds one event" in part["result"]["answerOmitted"]
