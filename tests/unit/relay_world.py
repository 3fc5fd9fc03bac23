"""A relay wired to in-memory fakes, for unit tests of the use case."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.ports import InboundMessage
from domain.rate_limits import UsagePlanBook
from domain.relay import Disposition, Relay, RelayPorts, RetryPolicy
from tests.fakes import (
    FakeAccounts,
    FakeClock,
    FakeLedger,
    FakeLimiter,
    FakeOutcomes,
    FakeQueue,
    FakeSpApi,
)

EVENTS = Path(__file__).resolve().parents[2] / "events"


def sample(command_type: str, **overrides: Any) -> dict[str, Any]:
    command: dict[str, Any] = json.loads((EVENTS / f"{command_type}.json").read_text())
    command["account"] = "acme"
    command.update(overrides)
    return command


def existing_order(create_payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A getFulfillmentOrder answer for the order a create payload asked for (``changes``: its fields)."""
    order = {
        "sellerFulfillmentOrderId": create_payload["sellerFulfillmentOrderId"],
        "destinationAddress": create_payload["destinationAddress"],
        "fulfillmentOrderStatus": "Received",
        "statusUpdatedDate": "2026-01-01T00:00:00Z",
        **changes,
    }
    items = [{**item} for item in create_payload["items"]]
    return {"payload": {"fulfillmentOrder": order, "fulfillmentOrderItems": items, "returnItems": []}}


def message(body: dict[str, Any] | str, receive_count: int = 1, message_id: str = "m-1") -> InboundMessage:
    text = body if isinstance(body, str) else json.dumps(body)
    return InboundMessage(message_id=message_id, body=text, receive_count=receive_count, receipt_handle="rh")


@dataclass
class World:
    spapi: FakeSpApi
    limiter: FakeLimiter
    ledger: FakeLedger
    outcomes: FakeOutcomes
    queue: FakeQueue
    clock: FakeClock
    plans: UsagePlanBook
    relay: Relay

    def process(self, msg: InboundMessage) -> Disposition:
        return self.relay.process(msg, lambda: 60.0)


def make_world() -> World:
    spapi, limiter, ledger = FakeSpApi(), FakeLimiter(), FakeLedger()
    outcomes, queue, clock, plans = FakeOutcomes(), FakeQueue(), FakeClock(), UsagePlanBook()
    ports = RelayPorts(spapi, FakeAccounts(), limiter, ledger, outcomes, queue, clock)
    relay = Relay(ports, RetryPolicy(max_receive_count=3, max_inline_wait_seconds=2.0), plans)
    return World(spapi, limiter, ledger, outcomes, queue, clock, plans, relay)
