"""The retail purchase-order poller: each new retail PO published once, windows of at most 7 days
(getPurchaseOrders' limit), page by page, and a watermark never past an order it did not see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.catalog import RESTRICTED_OPERATIONS
from domain.events import RETAIL_PURCHASE_ORDER_RECEIVED
from domain.gateway import SpApiGateway
from domain.paging import MAX_PAGES
from domain.pollers import OVERLAP, PollerPorts, RetailPurchaseOrderPoller
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

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WATERMARK = "watermark#retail-purchase-orders#acme#eu"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def retail_orders(*orders: tuple[str, datetime], next_token: str | None = None) -> SpApiResponse:
    listed = [
        {
            "purchaseOrderNumber": number,
            "purchaseOrderState": "New",
            "orderDetails": {
                "purchaseOrderDate": _iso(created),
                "shipWindow": "2026-03-04T00:00:00Z--2026-03-08T00:00:00Z",
                "shipToParty": {"partyId": "ABE2", "address": {"name": "Dock 4", "countryCode": "US"}},
            },
        }
        for number, created in orders
    ]
    payload: dict[str, Any] = {"orders": listed}
    if next_token:
        payload["pagination"] = {"nextToken": next_token}
    return SpApiResponse(200, {"payload": payload}, "req-retail")


class Process:
    """One poller process (its own gateway and clock) over a state store that outlives it."""

    def __init__(
        self,
        spapi: FakeSpApi,
        state: FakePollerState,
        *,
        now: datetime = NOW,
        kill_on_call: int | None = None,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self.power = Power()
        state.power = self.power
        self.events = KillableEvents(self.power, kill_on_call=kill_on_call)
        clock = FakeClock(current=now.timestamp())
        gateway = SpApiGateway(
            spapi,
            FakeLimiter(),
            clock,
            restricted_operations=RESTRICTED_OPERATIONS,
            max_inline_wait_seconds=2.0,
            max_pages=max_pages,
        )
        self.poller = RetailPurchaseOrderPoller(
            PollerPorts(gateway, FakeAccounts(), state, self.events, clock)
        )

    def numbers(self) -> list[Any]:
        return [detail["purchaseOrderNumber"] for _, detail in self.events.events]


def windows(spapi: FakeSpApi) -> list[tuple[datetime, datetime]]:
    asked = []
    for _, _, request in spapi.calls:
        query = dict(request.query)
        assert query["sortOrder"] == "ASC" and query["limit"] == "100"
        asked.append(
            (datetime.fromisoformat(query["createdAfter"]), datetime.fromisoformat(query["createdBefore"]))
        )
    return asked


def test_the_first_run_reads_its_window_as_slices_of_at_most_7_days_and_publishes_each_order_once() -> None:
    spapi, state = FakeSpApi(), FakePollerState()
    spapi.answer(
        "getPurchaseOrders",
        retail_orders(("PO000001", NOW - timedelta(days=7))),
        retail_orders(("PO000002", NOW - timedelta(hours=1))),
    )
    process = Process(spapi, state)
    report = process.poller.poll("acme", None, lambda: 60.0)

    # The 7-day lookback plus the 10-minute overlap: one slice of 7 days and one of 10 minutes.
    start = NOW - timedelta(days=7) - OVERLAP
    assert windows(spapi) == [(start, start + timedelta(days=7)), (start + timedelta(days=7), NOW)]
    assert process.numbers() == ["PO000001", "PO000002"]
    assert (report.seen, report.published, report.pages, report.truncated) == (2, 2, 2, False)
    assert state.values[WATERMARK] == _iso(NOW)
    detail_type, detail = process.events.events[0]
    assert detail_type == RETAIL_PURCHASE_ORDER_RECEIVED
    assert detail["purchaseOrderState"] == "New"
    assert detail["order"]["orderDetails"]["shipWindow"] == "2026-03-04T00:00:00Z--2026-03-08T00:00:00Z"
    assert "Dock 4" not in repr(detail)

    # The next run reads from the watermark (less the overlap): only the new order is published.
    spapi.calls.clear()
    spapi.answer(
        "getPurchaseOrders",
        retail_orders(("PO000002", NOW - timedelta(hours=1)), ("PO000003", NOW + timedelta(minutes=3))),
    )
    later = Process(spapi, state, now=NOW + timedelta(minutes=5))
    again = later.poller.poll("acme", None, lambda: 60.0)
    assert windows(spapi) == [(NOW - OVERLAP, NOW + timedelta(minutes=5))]
    assert later.numbers() == ["PO000003"]
    assert (again.seen, again.published) == (2, 1)


def test_a_poller_off_for_a_month_reads_every_day_in_7_day_slices_and_no_further_back_than_6_months() -> None:
    spapi, state = FakeSpApi(), FakePollerState()
    state.values[WATERMARK] = _iso(NOW - timedelta(days=30))
    Process(spapi, state).poller.poll("acme", None, lambda: 60.0)
    asked = windows(spapi)
    assert len(asked) == 5
    assert all(before - after <= timedelta(days=7) for after, before in asked)
    assert [after for after, _ in asked[1:]] == [before for _, before in asked[:-1]]  # no gap
    assert (asked[0][0], asked[-1][1]) == (NOW - timedelta(days=30) - OVERLAP, NOW)

    spapi.calls.clear()
    state.values[WATERMARK] = _iso(NOW - timedelta(days=400))
    Process(spapi, state).poller.poll("acme", None, lambda: 60.0)
    asked = windows(spapi)
    assert asked[0][0] == NOW - timedelta(days=180)
    assert len(asked) == 26 and asked[-1][1] == NOW


def test_a_listing_cut_at_the_page_limit_moves_the_watermark_only_to_the_last_order_seen() -> None:
    spapi, state = FakeSpApi(), FakePollerState()
    state.values[WATERMARK] = _iso(NOW - timedelta(days=10))
    first, second = NOW - timedelta(days=9), NOW - timedelta(days=8)
    spapi.answer(
        "getPurchaseOrders",
        retail_orders(("PO000001", first), next_token="t-2"),
        retail_orders(("PO000002", second), next_token="t-3"),
    )
    process = Process(spapi, state, max_pages=2)
    report = process.poller.poll("acme", None, lambda: 60.0)
    assert (report.truncated, report.pages, report.published) == (True, 2, 2)
    # The second page's token was followed; the third page was never asked for, nor the next slice.
    assert [dict(request.query).get("nextToken") for _, _, request in spapi.calls] == [None, "t-2"]
    assert state.values[WATERMARK] == _iso(second)

    spapi.calls.clear()
    spapi.answer("getPurchaseOrders", retail_orders(("PO000002", second), ("PO000003", second)))
    rest = Process(spapi, state)
    rest.poller.poll("acme", None, lambda: 60.0)
    assert windows(spapi)[0][0] == second - OVERLAP
    assert rest.numbers() == ["PO000003"]


def test_a_retail_order_killed_during_put_events_is_published_by_the_next_run() -> None:
    spapi, state = FakeSpApi(), FakePollerState()
    order = ("PO000001", NOW - timedelta(hours=2))
    spapi.answer("getPurchaseOrders", retail_orders(order), retail_orders(), retail_orders(order))
    with pytest.raises(ProcessKilled):
        Process(spapi, state, kill_on_call=1).poller.poll("acme", None, lambda: 60.0)
    assert WATERMARK not in state.values

    survivor = Process(spapi, state)
    survivor.poller.poll("acme", None, lambda: 60.0)
    assert survivor.numbers() == ["PO000001"]
