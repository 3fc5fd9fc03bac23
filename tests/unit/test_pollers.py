"""The scheduled pollers: each order's event is published before the order is remembered, so a process
killed during PutEvents repeats an event next run and never loses one."""

from __future__ import annotations

from typing import Any

import pytest

from domain.catalog import RESTRICTED_OPERATIONS
from domain.events import FULFILLMENT_ORDER_CHANGED, PURCHASE_ORDER_RECEIVED
from domain.gateway import SpApiGateway
from domain.pollers import FulfillmentOrderPoller, PollerPorts, PurchaseOrderPoller
from domain.requests import SpApiResponse
from tests.fakes import (
    FakeAccounts,
    FakeClock,
    FakeLimiter,
    FakePollerState,
    FakeSpApi,
    KillableEvents,
    Power,
    ProcessKilled,
)
from tests.unit.test_notifications import fulfillment_status, intake, message

pytestmark = pytest.mark.unit


def purchase_orders(*numbers: str) -> SpApiResponse:
    orders = [
        {
            "purchaseOrderNumber": number,
            "orderDetails": {
                "shipToParty": {"name": "Jane Roe", "addressLine1": "1 Main St", "countryCode": "US"}
            },
        }
        for number in numbers
    ]
    return SpApiResponse(200, {"orders": orders}, "req-po")


def fulfillment_orders(*orders: tuple[str, str]) -> SpApiResponse:
    listed = [
        {
            "sellerFulfillmentOrderId": order_id,
            "fulfillmentOrderStatus": status,
            "statusUpdatedDate": "2026-01-01",
        }
        for order_id, status in orders
    ]
    return SpApiResponse(200, {"payload": {"fulfillmentOrders": listed}}, "req-list")


class Process:
    """One poller process over stores that outlive it."""

    def __init__(self, spapi: FakeSpApi, state: FakePollerState, kill_on_call: int | None = None) -> None:
        self.power = Power()
        # Each process (a fresh gateway) asks for its own Restricted Data Token for getOrders.
        spapi.answer(
            "createRestrictedDataToken",
            SpApiResponse(200, {"restrictedDataToken": "rdt-token-1", "expiresIn": 3600}, "req-rdt"),
        )
        state.power = self.power
        self.events = KillableEvents(self.power, kill_on_call=kill_on_call)
        clock = FakeClock()
        gateway = SpApiGateway(
            spapi,
            FakeLimiter(),
            clock,
            restricted_operations=RESTRICTED_OPERATIONS,
            max_inline_wait_seconds=2.0,
        )
        self.ports = PollerPorts(gateway, FakeAccounts(), state, self.events, clock)

    def numbers(self) -> list[Any]:
        return [detail.get("purchaseOrderNumber") for _, detail in self.events.events]


def test_a_purchase_order_killed_during_put_events_is_published_by_the_next_run() -> None:
    spapi, state = FakeSpApi(), FakePollerState()
    spapi.answer("getOrders", purchase_orders("PO-1"), purchase_orders("PO-1"))
    first = Process(spapi, state, kill_on_call=1)
    with pytest.raises(ProcessKilled):
        PurchaseOrderPoller(first.ports).poll("acme", None, lambda: 60.0)

    second = Process(spapi, state)
    report = PurchaseOrderPoller(second.ports).poll("acme", None, lambda: 60.0)

    assert second.numbers() == ["PO-1"]
    assert report.published == 1


def test_a_purchase_order_is_published_once_across_runs_and_without_the_address() -> None:
    spapi, state = FakeSpApi(), FakePollerState()
    spapi.answer("getOrders", purchase_orders("PO-1", "PO-2"), purchase_orders("PO-1", "PO-2", "PO-3"))
    first, second = Process(spapi, state), Process(spapi, state)

    PurchaseOrderPoller(first.ports).poll("acme", None, lambda: 60.0)
    report = PurchaseOrderPoller(second.ports).poll("acme", None, lambda: 60.0)

    assert first.numbers() == ["PO-1", "PO-2"]
    assert second.numbers() == ["PO-3"]
    assert (report.seen, report.published) == (3, 1)
    detail_type, detail = first.events.events[0]
    assert detail_type == PURCHASE_ORDER_RECEIVED
    assert "Jane Roe" not in repr(detail) and "1 Main St" not in repr(detail)


def test_the_watermark_moves_only_after_a_window_was_polled() -> None:
    spapi, state = FakeSpApi(), FakePollerState()
    spapi.answer("getOrders", purchase_orders("PO-1"))
    killed = Process(spapi, state, kill_on_call=1)
    with pytest.raises(ProcessKilled):
        PurchaseOrderPoller(killed.ports).poll("acme", "eu", lambda: 60.0)
    assert not any(key.startswith("watermark#") for key in state.values)

    spapi.answer("getOrders", purchase_orders())
    PurchaseOrderPoller(Process(spapi, state).ports).poll("acme", "eu", lambda: 60.0)
    assert "watermark#df-purchase-orders#acme#eu" in state.values


def test_an_mcf_change_killed_during_put_events_is_published_by_the_next_run() -> None:
    spapi, state = FakeSpApi(), FakePollerState()
    spapi.answer("listAllFulfillmentOrders", fulfillment_orders(("O-1", "Processing")))
    spapi.answer("listAllFulfillmentOrders", fulfillment_orders(("O-1", "Processing")))
    first = Process(spapi, state, kill_on_call=1)
    with pytest.raises(ProcessKilled):
        FulfillmentOrderPoller(first.ports).poll("acme", None, lambda: 60.0)

    second = Process(spapi, state)
    FulfillmentOrderPoller(second.ports).poll("acme", None, lambda: 60.0)

    [(detail_type, detail)] = second.events.events
    assert detail_type == FULFILLMENT_ORDER_CHANGED
    assert (detail["sellerFulfillmentOrderId"], detail["status"]) == ("O-1", "Processing")


def test_an_mcf_order_is_published_again_only_when_its_status_changes() -> None:
    spapi, state = FakeSpApi(), FakePollerState()
    spapi.answer(
        "listAllFulfillmentOrders",
        fulfillment_orders(("O-1", "Processing")),
        fulfillment_orders(("O-1", "Processing")),
        fulfillment_orders(("O-1", "Complete")),
    )
    runs = [Process(spapi, state) for _ in range(3)]
    for run in runs:
        FulfillmentOrderPoller(run.ports).poll("acme", None, lambda: 60.0)

    statuses = [[(d["status"], d["previousStatus"]) for _, d in run.events.events] for run in runs]
    assert statuses == [[("Processing", None)], [], [("Complete", "Processing")]]
    assert spapi.operations().count("getFulfillmentOrder") == 2


def test_the_mcf_poller_backs_notifications_up_without_publishing_a_notified_status_twice() -> None:
    """Amazon's notifications guide asks for a poller beside the notifications: one may be missed. The
    intake and the poller share the poller's state: a status a FULFILLMENT_ORDER_STATUS notification
    announced is remembered by the poller, not published again; one whose notification never came is."""
    spapi, state = FakeSpApi(), FakePollerState()
    relay, _, bus, _ = intake(announcements=state)
    notified = fulfillment_status("n-1", "O-1")
    notified["Payload"]["FulfillmentOrderStatusNotification"]["FulfillmentOrderStatus"] = "Processing"
    assert relay.process(message(notified), lambda: 30.0).what == "published"

    spapi.answer(
        "listAllFulfillmentOrders",
        fulfillment_orders(("O-1", "Processing"), ("O-2", "Processing")),
        fulfillment_orders(("O-1", "Complete"), ("O-2", "Processing")),
    )
    first, second = Process(spapi, state), Process(spapi, state)
    first_report = FulfillmentOrderPoller(first.ports).poll("shop-a", "na", lambda: 60.0)
    second_report = FulfillmentOrderPoller(second.ports).poll("shop-a", "na", lambda: 60.0)

    published = [
        [(d["sellerFulfillmentOrderId"], d["status"]) for _, d in run.events.events]
        for run in (first, second)
    ]
    # O-1's Processing came by notification; O-2's notification was missed; O-1's Complete too.
    assert published == [[("O-2", "Processing")], [("O-1", "Complete")]]
    assert (first_report.notified, first_report.published) == (1, 1)
    assert (second_report.notified, second_report.published) == (0, 1)
    assert len(bus.events) == 1
    # The notified change costs no getFulfillmentOrder either.
    assert spapi.operations().count("getFulfillmentOrder") == 2


def test_a_notification_of_an_account_the_relay_does_not_know_announces_nothing() -> None:
    state = FakePollerState()
    relay, _, bus, _ = intake(announcements=state)
    unknown_seller = fulfillment_status("n-2", "O-9")
    unknown_seller["Payload"]["FulfillmentOrderStatusNotification"]["SellerId"] = "A9UNKNOWN"
    relay.process(message(unknown_seller), lambda: 30.0)
    assert len(bus.events) == 1
    assert not [key for key in state.values if key.startswith("announced#")]
