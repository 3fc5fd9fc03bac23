"""Memory of a paged read: a vendor DF getOrders read with details, 100 orders a page, of 2 and of 200
pages, relayed through the real relay (in memory: pages are generated as SP-API would send them, events
are serialized as EventBridge's adapter does, then dropped). Prints the tracemalloc peak of each and
their ratio; exits 1 when 200 pages take more than twice what 2 pages take (held together, they would
take about 100 times as much).

    .venv/bin/python -m benchmarks.paged_read_memory
"""

from __future__ import annotations

import json
import sys
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.catalog import RESTRICTED_OPERATIONS
from domain.gateway import SpApiGateway
from domain.outcomes import Outcome
from domain.ports import Admission
from domain.relay import Relay, RelayPorts, RetryPolicy
from domain.relay_context import RelayContextSeal
from domain.requests import SpApiRequest, SpApiResponse
from emulator.generators import generate_df_order
from tests.fakes import FakeAccounts, FakeClock, FakeLedger, FakeLimiter, FakeQueue
from tests.unit.relay_world import TEST_KEY, message

ORDERS_PER_PAGE = 100
MAX_RATIO = 2.0


class GeneratedPages:
    """SP-API's answers, each page made (and parsed from JSON, as httpx would) when it is asked for."""

    def __init__(self, pages: int) -> None:
        self.pages = pages
        self._start = datetime(2026, 1, 1, tzinfo=UTC)

    def call(
        self,
        account: str,
        region: str,
        request: SpApiRequest,
        *,
        admit: Admission | None = None,
        timeout_seconds: float | None = None,
    ) -> SpApiResponse:
        if admit is not None:
            admit()
        if request.operation_id == "createRestrictedDataToken":
            return SpApiResponse(200, {"restrictedDataToken": "rdt", "expiresIn": 3600}, "req-rdt")
        token = dict(request.query).get("nextToken")
        page = int(str(token)) if token else 1
        orders = [
            generate_df_order(
                f"PO{page:03d}{n:03d}", self._start + timedelta(minutes=page * 1000 + n), "NEW", "WH1"
            )
            for n in range(ORDERS_PER_PAGE)
        ]
        body: dict[str, Any] = {"orders": orders}
        if page < self.pages:
            body["pagination"] = {"nextToken": str(page + 1)}
        return SpApiResponse(200, json.loads(json.dumps(body)), f"req-{page}")


class SerializedEvents:
    def __init__(self) -> None:
        self.parts = 0
        self.bytes = 0

    def publish(self, outcome: Outcome) -> None:
        self.parts += 1
        for detail in outcome.event_details(200_000):
            self.bytes += len(json.dumps(detail, default=str))

    def publish_event(self, detail_type: str, detail: Any) -> None:
        self.bytes += len(json.dumps(detail, default=str))


def peak_bytes(pages: int) -> tuple[int, SerializedEvents]:
    spapi, events, clock, limiter = GeneratedPages(pages), SerializedEvents(), FakeClock(), FakeLimiter()
    ports = RelayPorts(
        spapi,
        FakeAccounts(),
        limiter,
        FakeLedger(),
        events,
        FakeQueue(),
        clock,
        RelayContextSeal(TEST_KEY),
    )
    gateway = SpApiGateway(
        spapi, limiter, clock, restricted_operations=RESTRICTED_OPERATIONS, max_inline_wait_seconds=2.0
    )
    relay = Relay(ports, gateway, RetryPolicy())
    command = {
        "type": "list-df-purchase-orders",
        "commandId": f"memory-{pages}",
        "account": "acme",
        "payload": {
            "createdAfter": "2026-01-01T00:00:00Z",
            "createdBefore": "2026-12-01T00:00:00Z",
            "limit": ORDERS_PER_PAGE,
            "includeDetails": "true",
        },
    }
    tracemalloc.start()
    try:
        relay.process(message(command), lambda: 900.0)
        return tracemalloc.get_traced_memory()[1], events
    finally:
        tracemalloc.stop()


def page_bytes() -> int:
    """The Python memory of one parsed page (what a read holding every page pays per page)."""
    tracemalloc.start()
    try:
        page = GeneratedPages(2).call("acme", "eu", _first_page_request())
        size = tracemalloc.get_traced_memory()[0]
        del page
        return size
    finally:
        tracemalloc.stop()


def _first_page_request() -> SpApiRequest:
    from domain.catalog import CATALOG  # noqa: PLC0415
    from domain.requests import build_request  # noqa: PLC0415

    payload = {"createdAfter": "2026-01-01T00:00:00Z", "createdBefore": "2026-12-01T00:00:00Z"}
    return build_request(CATALOG["list-df-purchase-orders"].operation, payload)


def main() -> int:
    results: dict[int, tuple[int, SerializedEvents]] = {pages: peak_bytes(pages) for pages in (2, 200)}
    one_page = page_bytes()
    for pages, (peak, events) in results.items():
        print(
            f"{pages:>4} pages x {ORDERS_PER_PAGE} DF orders with details: peak {peak / 2**20:7.1f} MiB, "
            f"{events.parts} parts, {events.bytes / 2**20:.1f} MiB of events"
        )
    ratio = results[200][0] / results[2][0]
    print(
        f"one parsed page: {one_page / 2**20:.2f} MiB; "
        f"200 pages held together: ~{200 * one_page / 2**20:.0f} MiB"
    )
    print(f"ratio of peaks 200 / 2 pages: {ratio:.2f} (target <= {MAX_RATIO})")
    return 0 if ratio <= MAX_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
