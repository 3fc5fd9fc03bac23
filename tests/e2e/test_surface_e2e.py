"""Every command type, the transaction follow-ups and the scheduled pollers, through the local stack."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from domain.catalog import CATALOG
from domain.events import (
    COMMAND_EVENT,
    FULFILLMENT_ORDER_CHANGED,
    PURCHASE_ORDER_RECEIVED,
    TRANSACTION_EVENT,
    notification_event,
)
from local.runtime import DEMO_ACCOUNTS, LocalStack
from local.scenario import Tour
from tests.conftest import sample_command

pytestmark = pytest.mark.e2e

DRAIN_TIMEOUT = 60.0
SELLER, VENDOR, SANDBOX = (account.seller_id for account in DEMO_ACCOUNTS)


def command(name: str, account: str | None = None, **payload: Any) -> dict[str, Any]:
    document = sample_command(name)
    document["commandId"] = f"{name}-{uuid.uuid4().hex[:12]}"
    if account is not None:
        document["account"] = account
    document["payload"] = {**document["payload"], **payload}
    return document


def run(stack: LocalStack, *commands: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    for item in commands:
        stack.send(item)
    assert stack.wait_until_drained(DRAIN_TIMEOUT), "the command queue did not drain"
    return stack.events()


def succeeded(events: list[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    outcomes = {}
    for kind, detail in events:
        if kind.startswith(COMMAND_EVENT):
            assert detail["status"] == "succeeded", detail
            outcomes[detail["commandId"]] = detail
    return outcomes


def new_order_id() -> str:
    return f"E2E-{uuid.uuid4().hex[:12]}"


def test_every_command_type_succeeds_on_the_local_stack(stack: LocalStack) -> None:
    # The same tour as `make demo`, with fresh ids so it can share the session's stack.
    result = Tour(stack, suffix=f"-{uuid.uuid4().hex[:8]}").run()

    assert all(drained for _, drained in result.steps), result.steps
    statuses = {o["commandId"]: (o["type"], o["status"]) for o in result.outcomes()}
    assert set(statuses) == set(result.sent)
    assert {status for _, status in statuses.values()} == {"succeeded"}, statuses
    assert {command_type for command_type, _ in statuses.values()} == set(CATALOG)
    transactions = sorted(kind for kind, _ in result.events if kind.startswith(TRANSACTION_EVENT))
    assert transactions == ["sp-relay transaction Success"] * 2
    published = json.dumps([detail for _, detail in result.events])
    assert "Jane Doe" not in published and "123 Example Street" not in published


def test_both_acknowledgement_programs_are_followed_to_their_final_status(stack: LocalStack) -> None:
    assert stack.emulator is not None
    stack.emulator.state.set_transaction_outcome(
        "Failure", [{"code": "InvalidData", "message": "bad quantity"}]
    )
    direct, retail = command("acknowledge-po"), command("acknowledge-retail-po")

    events = run(stack, direct, retail)

    finals = {detail["of"]: (kind, detail) for kind, detail in events if kind.startswith(TRANSACTION_EVENT)}
    assert set(finals) == {direct["commandId"], retail["commandId"]}
    for kind, detail in finals.values():
        assert kind == "sp-relay transaction Failure"
        assert [error["code"] for error in detail["errors"]] == ["InvalidData"], detail


def test_a_transaction_that_never_settles_is_treated_as_accepted(stack: LocalStack) -> None:
    assert stack.emulator is not None and stack.resources is not None
    stack.emulator.state.set_transaction_outcome("Processing")
    direct = command("acknowledge-po")

    events = run(
        stack, direct
    )  # the local stack gives up after follow_up_max_minutes (2 in tests? see fixture)

    [(kind, detail)] = [(k, d) for k, d in events if k.startswith(TRANSACTION_EVENT)]
    assert kind == "sp-relay transaction TreatedAsAccepted"
    assert "treated as accepted" in detail["note"]
    assert detail["checks"] >= 2


def test_the_purchase_order_poller_publishes_each_new_order_once(stack: LocalStack) -> None:
    assert stack.emulator is not None
    numbers = stack.emulator.state.seed_df_orders(VENDOR, 3)

    first = stack.run_poller("df-purchase-orders")
    again = stack.run_poller("df-purchase-orders")
    [later] = stack.emulator.state.seed_df_orders(VENDOR, 1)
    third = stack.run_poller("df-purchase-orders")

    assert [r["published"] for r in (first["reports"][0], again["reports"][0], third["reports"][0])] == [
        3,
        0,
        1,
    ]
    events = [d for k, d in stack.events() if k == PURCHASE_ORDER_RECEIVED]
    assert sorted(d["purchaseOrderNumber"] for d in events) == sorted([*numbers, later])
    text = json.dumps(events)
    for order in events:
        assert order["order"]["orderDetails"]["shipToParty"]["redacted"] is True
    assert '"phone"' not in text and "addressLine1" not in text


def test_the_fulfillment_order_poller_publishes_status_and_tracking_changes(stack: LocalStack) -> None:
    """Every notification of this order is missed: the poller alone publishes its changes."""
    assert stack.emulator is not None
    delivery = stack.emulator.state.notification_delivery
    order_id = new_order_id()
    delivery.set_controls(miss_next=1_000)
    try:
        run(
            stack,
            command("create-fulfillment", sellerFulfillmentOrderId=order_id, displayableOrderId=order_id),
        )

        stack.run_poller("mcf-orders")
        shipment = stack.emulator.state.ship_order(order_id, SELLER)
        stack.run_poller("mcf-orders")
        unchanged = stack.run_poller("mcf-orders")
    finally:
        delivery.set_controls(miss_next=0)

    changes = [
        d
        for k, d in stack.events()
        if k == FULFILLMENT_ORDER_CHANGED and d["sellerFulfillmentOrderId"] == order_id
    ]
    assert [(c["previousStatus"], c["status"]) for c in changes] == [
        (None, "Received"),
        ("Received", "Complete"),
    ]
    [package] = changes[1]["shipments"][0]["packages"]
    assert package["trackingNumber"] == shipment["trackingNumber"]
    assert unchanged["reports"][0]["published"] == 0


def test_a_2026_create_accepted_for_later_processing_is_a_success_read_back_with_get_mcf_order(
    stack: LocalStack,
) -> None:
    assert stack.emulator is not None
    state = stack.emulator.state
    order_id = new_order_id()
    with state.lock:
        state.mcf_accept_later = True
    try:
        created = succeeded(run(stack, command("create-mcf-order", orderId=order_id)))
    finally:
        with state.lock:
            state.mcf_accept_later = False
    [outcome] = [o for o in created.values() if o["type"] == "create-mcf-order"]
    read = succeeded(run(stack, command("get-mcf-order", orderId=order_id)))
    [status] = [o for o in read.values() if o["type"] == "get-mcf-order"]

    assert outcome["result"]["httpStatus"] == 202
    assert outcome["result"]["answer"] == {"orderId": order_id, "status": "PROCESSING"}
    assert "get-mcf-order" in outcome["result"]["acceptedForProcessing"]
    assert outcome["result"]["orderStatus"] == {"amazon": "PROCESSING", "normalized": "processing"}
    assert status["result"]["answer"]["order"]["orderId"] == order_id
    assert status["result"]["orderStatus"] == {"amazon": "PROCESSING", "normalized": "processing"}
    assert state.effect_count("createOrder", order_id) == 1


def test_a_2026_duplicate_create_is_confirmed_by_get_order_and_applied_once(stack: LocalStack) -> None:
    assert stack.emulator is not None
    order_id = new_order_id()
    first, second = (
        command("create-mcf-order", orderId=order_id),
        command("create-mcf-order", orderId=order_id),
    )
    outcomes = succeeded(run(stack, first))
    outcomes.update(succeeded(run(stack, second)))

    assert outcomes[first["commandId"]]["result"]["httpStatus"] == 200
    assert "alreadyDone" not in outcomes[first["commandId"]]["result"]
    assert outcomes[second["commandId"]]["result"]["alreadyDone"] == (
        "a create request already exists for this orderId"
    )
    assert stack.emulator.state.effect_count("createOrder", order_id) == 1


def test_orders_of_both_versions_carry_one_normalized_status(stack: LocalStack) -> None:
    old, new = new_order_id(), new_order_id()
    succeeded(
        run(
            stack,
            command("create-fulfillment", sellerFulfillmentOrderId=old, displayableOrderId=old),
            command("create-mcf-order", orderId=new),
        )
    )
    succeeded(
        run(
            stack,
            command("cancel-fulfillment", sellerFulfillmentOrderId=old),
            command("cancel-mcf-order", orderId=new),
        )
    )
    reads = succeeded(
        run(
            stack,
            command("get-fulfillment-order", sellerFulfillmentOrderId=old),
            command("get-mcf-order", orderId=new),
        )
    )
    statuses = {o["type"]: o["result"]["orderStatus"] for o in reads.values() if "orderStatus" in o["result"]}

    assert statuses["get-fulfillment-order"] == {"amazon": "Cancelled", "normalized": "cancelled"}
    assert statuses["get-mcf-order"] == {"amazon": "CANCELLED", "normalized": "cancelled"}


def test_the_fulfillment_order_poller_backs_up_notifications_and_publishes_no_notified_status_twice(
    stack: LocalStack,
) -> None:
    """A status a FULFILLMENT_ORDER_STATUS notification announced (through the real notifications
    handler) is not published again by the MCF poller; a change whose notification was missed is."""
    assert stack.emulator is not None
    order_id = new_order_id()
    # The create's Received notification reaches the stack's notification queue and its real handler.
    created = run(
        stack, command("create-fulfillment", sellerFulfillmentOrderId=order_id, displayableOrderId=order_id)
    )
    delivery = stack.emulator.state.notification_delivery
    delivery.set_controls(miss_next=1)
    try:
        stack.run_poller("mcf-orders")
        stack.emulator.state.ship_order(order_id, SELLER)  # its notification never comes
        stack.run_poller("mcf-orders")
    finally:
        delivery.set_controls(miss_next=0)

    events = created + stack.events()
    notified = [
        d
        for k, d in events
        if k == notification_event("FULFILLMENT_ORDER_STATUS")
        and d["order"] == {"sellerFulfillmentOrderId": order_id}
    ]
    changes = [
        (d["previousStatus"], d["status"])
        for k, d in events
        if k == FULFILLMENT_ORDER_CHANGED and d["sellerFulfillmentOrderId"] == order_id
    ]
    assert [d["status"] for d in notified] == ["Received"]
    # The poller remembered the notified status: the change it publishes names it as the previous one.
    assert changes == [("Received", "Complete")]
