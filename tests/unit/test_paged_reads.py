"""Paged reads streamed into parts: a read throttled or failing on page N goes on at page N, pages
already published are neither read nor published again, a read cut at the page limit says so, and a
poller whose listing was cut keeps its watermark at the orders it saw."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.catalog import RESTRICTED_OPERATIONS
from domain.errors import SpApiUnavailable
from domain.events import READ_PART, READ_PART_EVENT, command_event
from domain.gateway import SpApiGateway
from domain.outcomes import Outcome, OutcomeStatus
from domain.paging import CURSOR_FIELDS, PART_BYTES
from domain.pollers import PollerPorts, PurchaseOrderPoller
from domain.ports import InboundMessage
from domain.relay import Disposition
from domain.requests import SpApiResponse
from tests.fakes import (
    FakeAccounts,
    FakeClock,
    FakeLimiter,
    FakePollerState,
    FakeSpApi,
    KillableEvents,
    Power,
)
from tests.unit.relay_world import World, message, sample

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.unit

LIST = "listAllFulfillmentOrders"


def mcf_page(number: int, last: int, per_page: int = 2, order_bytes: int = 0) -> SpApiResponse:
    """Page ``number`` of ``last``; each order about ``order_bytes`` large (SKUs, distinct strings)."""
    orders = [
        {
            "sellerFulfillmentOrderId": f"O-{number}-{n}",
            "items": [
                {"sellerSku": f"S-{number}-{n}-{k}".ljust(100, "x")} for k in range(order_bytes // 120)
            ],
        }
        for n in range(per_page)
    ]
    body: dict[str, Any] = {"payload": {"fulfillmentOrders": orders}}
    if number < last:
        body["payload"]["nextToken"] = f"t{number + 1}"
    return SpApiResponse(200, body, f"req-{number}")


def script_pages(world: World, first: int, upto: int, *, last: int, **kwargs: Any) -> None:
    """Pages ``first``..``upto`` of a listing of ``last`` pages."""
    world.spapi.answer(LIST, *(mcf_page(n, last, **kwargs) for n in range(first, upto + 1)))


def requested_pages(world: World) -> Counter[int]:
    """How often each page was requested (page 1: no token; page n: token ``t<n>``)."""
    tokens = [dict(r.query).get("nextToken") for _, _, r in world.spapi.calls if r.operation_id == LIST]
    return Counter(1 if token is None else int(str(token)[1:]) for token in tokens)


def the_deferred_copy(world: World, receive_count: int = 1) -> InboundMessage:
    (deferred, _), sealed = world.queue.deferred[-1], world.queue.deferred_contexts[-1]
    return message(deferred.body, receive_count, relay_context=sealed)


def order_ids(outcomes: list[Outcome]) -> list[str]:
    return [
        o["sellerFulfillmentOrderId"]
        for outcome in outcomes
        for o in (outcome.result or {})["answer"]["payload"]["fulfillmentOrders"]
    ]


def all_ids(last: int, per_page: int = 2) -> list[str]:
    return [f"O-{page}-{n}" for page in range(1, last + 1) for n in range(per_page)]


def test_a_read_throttled_on_page_7_goes_on_at_page_7(world: World) -> None:
    script_pages(world, 1, 6, last=10)
    world.spapi.answer(LIST, SpApiResponse(429, {"errors": [{"code": "QuotaExceeded"}]}, "req-429"))

    assert world.process(message(sample("list-fulfillment-orders"))) is Disposition.DONE

    # Pages 1..6 are published before the message waits, as a part that is not the ending.
    [first] = world.outcomes.published
    assert not first.final and first.status is OutcomeStatus.SUCCEEDED
    assert first.detail()["status"] == READ_PART
    assert first.detail_type == READ_PART_EVENT  # not a "command" event: the read has not ended
    assert first.result is not None
    assert (first.result["part"], first.result["firstPage"], first.result["lastPage"]) == (1, 1, 6)
    assert len(world.queue.deferred) == 1 and world.queue.backed_off == []

    script_pages(world, 7, 10, last=10)
    assert world.process(the_deferred_copy(world)) is Disposition.DONE

    assert requested_pages(world) == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 2, 8: 1, 9: 1, 10: 1}
    first, last = world.outcomes.published
    assert last.final and last.detail_type == command_event("succeeded")
    assert last.result is not None
    assert {k: last.result[k] for k in ("part", "parts", "firstPage", "lastPage", "pages", "truncated")} == {
        "part": 2,
        "parts": 2,
        "firstPage": 7,
        "lastPage": 10,
        "pages": 10,
        "truncated": False,
    }
    assert last.result["items"] == 20
    assert order_ids([first, last]) == all_ids(10)  # every order once, none published twice


def test_a_read_failing_after_progress_carries_its_cursor_instead_of_losing_it(world: World) -> None:
    script_pages(world, 1, 3, last=6)
    world.spapi.answer(LIST, SpApiUnavailable("SP-API answered 503", 503))

    assert world.process(message(sample("list-fulfillment-orders"))) is Disposition.DONE
    # The queue's own retry would bring back the message without its cursor: a delayed copy carries it.
    assert world.queue.backed_off == [] and len(world.queue.deferred) == 1

    world.spapi.answer(LIST, SpApiUnavailable("SP-API answered 503", 503))
    assert world.process(the_deferred_copy(world)) is Disposition.RETRY  # no progress: the queue retries
    script_pages(world, 4, 6, last=6)
    assert world.process(the_deferred_copy(world, receive_count=2)) is Disposition.DONE

    assert requested_pages(world) == {1: 1, 2: 1, 3: 1, 4: 3, 5: 1, 6: 1}
    assert order_ids(world.outcomes.published) == all_ids(6)
    assert [o.final for o in world.outcomes.published] == [False, True]


def test_a_read_whose_part_cannot_be_published_reads_those_pages_again(world: World) -> None:
    script_pages(world, 1, 2, last=4)
    world.spapi.answer(LIST, SpApiResponse(429, {}, "req-429"))
    world.outcomes.failures_to_raise.append(SpApiUnavailable("EventBridge is down"))

    assert world.process(message(sample("list-fulfillment-orders"))) is Disposition.DONE

    assert world.outcomes.published == []  # nothing was published, so the copy starts at page 1
    script_pages(world, 1, 4, last=4)
    assert world.process(the_deferred_copy(world)) is Disposition.DONE
    assert order_ids(world.outcomes.published) == all_ids(4)


def test_a_read_cut_at_the_page_limit_says_so_with_the_token_to_go_on(world: World) -> None:
    world.relay.gateway.max_pages = 3
    script_pages(world, 1, 5, last=5)

    assert world.process(message(sample("list-fulfillment-orders"))) is Disposition.DONE

    [outcome] = world.outcomes.published
    assert outcome.result is not None
    assert outcome.final
    assert outcome.result["truncated"] is True
    assert outcome.result["nextToken"] == "t4"
    assert outcome.result["pages"] == 3
    assert requested_pages(world) == {1: 1, 2: 1, 3: 1}


def test_a_large_read_streams_into_parts_numbered_to_the_final_one(world: World) -> None:
    # Each page holds about a third of a part: a part is published every three or four pages.
    script_pages(world, 1, 12, last=12, per_page=4, order_bytes=PART_BYTES // 12)

    assert world.process(message(sample("list-fulfillment-orders"))) is Disposition.DONE

    published = world.outcomes.published
    assert len(published) >= 3
    assert [o.final for o in published] == [False] * (len(published) - 1) + [True]
    results = [o.result or {} for o in published]
    assert [r["part"] for r in results] == list(range(1, len(published) + 1))
    assert results[-1]["parts"] == len(published)
    assert [r["firstPage"] for r in results[1:]] == [r["lastPage"] + 1 for r in results[:-1]]
    assert order_ids(published) == all_ids(12, per_page=4)
    assert all(len(json.dumps(o.detail())) < 2 * PART_BYTES for o in published)


def test_a_dead_lettered_read_does_not_carry_its_cursor_to_the_dlq(world: World) -> None:
    script_pages(world, 1, 2, last=5)
    world.spapi.answer(LIST, SpApiResponse(429, {}, "req-429"))
    world.process(message(sample("list-fulfillment-orders")))
    world.spapi.answer(LIST, SpApiResponse(400, {"errors": [{"code": "InvalidInput"}]}, "req-400"))

    assert world.process(the_deferred_copy(world)) is Disposition.DONE

    [(_, failure)] = world.queue.dead_letters
    assert failure.status is OutcomeStatus.REJECTED
    [sealed] = world.queue.dead_letter_contexts
    body = world.queue.dead_letters[0][0].body
    carried = world.relay.ports.seal.open(body, sealed) if sealed else {}
    assert not CURSOR_FIELDS & set(carried)  # a replay reads from page 1
    assert [o.event_status for o in world.outcomes.published] == [READ_PART, "rejected"]


def paged_read_peak(pages: int) -> int:
    """tracemalloc's peak while one read of ``pages`` pages (each ~60 KB) is relayed and serialized."""
    from tests.unit.relay_world import make_world  # noqa: PLC0415

    world = make_world()

    class Serializing:
        def publish(self, outcome: Outcome) -> None:
            for detail in outcome.event_details(200_000):
                json.dumps(detail)

        def publish_event(self, detail_type: str, detail: Any) -> None:
            json.dumps(detail)

    object.__setattr__(world.relay.ports, "outcomes", Serializing())
    answers = (mcf_page(n, pages, per_page=20, order_bytes=3000) for n in range(1, pages + 1))
    world.spapi.script[LIST] = _Lazy(answers)
    tracemalloc.start()
    try:
        world.process(message(sample("list-fulfillment-orders")))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_of_a_paged_read_does_not_grow_with_its_pages() -> None:
    """tracemalloc peak of one read of 2 pages and of 60 pages: bounded by a part and a page, not by the
    read. (benchmarks/paged_read_memory.py measures 200 DF pages with details.) Measured in a process of
    its own: tracemalloc counts every thread's allocations, and in a full run the session's local stack
    (worker loops, moto server) keeps allocating beside the read (10.8 MB against 0.8 MB seen)."""
    code = (
        "from tests.unit.test_paged_reads import paged_read_peak; "
        # A first read builds the models and caches once, as the session's earlier tests did in-process.
        "paged_read_peak(2); print(paged_read_peak(2), paged_read_peak(60))"
    )
    answer = subprocess.run(  # noqa: S603 - this interpreter, a fixed snippet
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    small, large = (int(n) for n in answer.stdout.split())
    print(f"paged read peak memory: 2 pages {small / 1e6:.2f} MB, 60 pages {large / 1e6:.2f} MB")
    assert large < 2 * small  # held together, 60 pages would take about 30 times as much


class _Lazy(list[Any]):
    """A script that makes each answer when it is asked for (so the pages are not all in memory first)."""

    def __init__(self, answers: Any) -> None:
        super().__init__()
        self._answers = answers
        self._next = next(self._answers, None)

    def __bool__(self) -> bool:
        return self._next is not None

    def pop(self, index: Any = -1) -> Any:
        answer, self._next = self._next, next(self._answers, None)
        return answer


# --- the poller: a listing cut at the page limit ----------------------------------------------------------


def df_page(start: datetime, numbers: range, last: bool) -> SpApiResponse:
    orders = [
        {
            "purchaseOrderNumber": f"PO{n}",
            "orderDetails": {"orderDate": (start + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ")},
        }
        for n in numbers
    ]
    body: dict[str, Any] = {"orders": orders}
    if not last:
        body["pagination"] = {"nextToken": f"after-{numbers[-1]}"}
    return SpApiResponse(200, body, "req-po")


def test_a_poller_whose_listing_was_cut_keeps_its_watermark_at_the_orders_it_saw() -> None:
    spapi, state, clock = FakeSpApi(), FakePollerState(), FakeClock()
    now = datetime.fromtimestamp(clock.now(), UTC)
    start = now - timedelta(days=2)
    rdt = SpApiResponse(200, {"restrictedDataToken": "rdt", "expiresIn": 3600}, "req-rdt")
    spapi.answer("createRestrictedDataToken", rdt)
    # Six orders, one a minute, two a page; the gateway reads at most two pages.
    spapi.answer("getOrders", df_page(start, range(0, 2), False), df_page(start, range(2, 4), False))
    events = KillableEvents(Power())
    gateway = SpApiGateway(
        spapi, FakeLimiter(), clock, restricted_operations=RESTRICTED_OPERATIONS, max_inline_wait_seconds=2
    )
    gateway.max_pages = 2
    poller = PurchaseOrderPoller(PollerPorts(gateway, FakeAccounts(), state, events, clock))

    report = poller.poll("acme", None, lambda: 60.0)

    assert report.truncated and report.pages == 2 and report.seen == 4
    # Not "now": the orders after the cut were not seen. Up to the last one seen (sorted oldest first).
    assert report.watermark == (start + timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    [(_, _, first)] = [c for c in spapi.calls if c[2].operation_id == "getOrders"][:1]
    assert dict(first.query)["sortOrder"] == "ASC"

    # The next run lists from there (with the overlap) and finds the orders it did not see.
    spapi.answer("getOrders", df_page(start, range(2, 6), True))
    again = poller.poll("acme", None, lambda: 60.0)
    last_call = [c for c in spapi.calls if c[2].operation_id == "getOrders"][-1][2]
    since = datetime.fromisoformat(str(dict(last_call.query)["createdAfter"]).replace("Z", "+00:00"))
    assert since <= start + timedelta(minutes=3)
    assert not again.truncated and again.watermark == again.until
    numbers = [detail["purchaseOrderNumber"] for _, detail in events.events]
    assert numbers == [f"PO{n}" for n in range(6)]  # each once, none lost


def test_a_cut_listing_that_is_not_oldest_first_leaves_the_watermark_where_it_was() -> None:
    spapi, state, clock = FakeSpApi(), FakePollerState(), FakeClock()
    start = datetime.fromtimestamp(clock.now(), UTC) - timedelta(days=1)
    spapi.answer(
        "createRestrictedDataToken", SpApiResponse(200, {"restrictedDataToken": "r", "expiresIn": 3600})
    )
    spapi.answer("getOrders", df_page(start, range(5, 7), False), df_page(start, range(0, 2), False))
    gateway = SpApiGateway(
        spapi, FakeLimiter(), clock, restricted_operations=RESTRICTED_OPERATIONS, max_inline_wait_seconds=2
    )
    gateway.max_pages = 2
    state.values["watermark#df-purchase-orders#acme#eu"] = "2026-01-01T00:00:00Z"
    poller = PurchaseOrderPoller(PollerPorts(gateway, FakeAccounts(), state, KillableEvents(Power()), clock))

    report = poller.poll("acme", None, lambda: 60.0)

    assert report.truncated
    assert state.values["watermark#df-purchase-orders#acme#eu"] == "2026-01-01T00:00:00Z"
