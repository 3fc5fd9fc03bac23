"""A relay wired to in-memory fakes, for unit tests of the use case."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.attributes import RELAY_CONTEXT_ATTRIBUTE
from domain.authorization import AccountAuthorization
from domain.catalog import CATALOG, RESTRICTED_OPERATIONS
from domain.gateway import SpApiGateway
from domain.ports import InboundMessage, Meter, NoMeter
from domain.rate_limits import FailureHolds, UsagePlanBook, bucket_for
from domain.relay import Disposition, Relay, RelayPorts, RetryPolicy
from domain.relay_context import RelayContextSeal
from tests.fakes import (
    FakeAccounts,
    FakeClock,
    FakeLedger,
    FakeLimiter,
    FakeOutcomes,
    FakeQueue,
    FakeSpApi,
)

TEST_KEY = b"unit-tests-relay-context-key-0123456789"
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


def message(
    body: dict[str, Any] | str,
    receive_count: int = 1,
    message_id: str = "m-1",
    *,
    relay_context: str | None = None,
    attributes: dict[str, str] | None = None,
    sender_id: str | None = None,
) -> InboundMessage:
    text = body if isinstance(body, str) else json.dumps(body)
    received = dict(attributes or {})
    if relay_context is not None:
        received[RELAY_CONTEXT_ATTRIBUTE] = relay_context
    return InboundMessage(
        message_id=message_id,
        body=text,
        receive_count=receive_count,
        receipt_handle="rh",
        attributes=received,
        sender_id=sender_id,
    )


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


def make_world(
    *,
    queue: FakeQueue | None = None,
    policy: RetryPolicy | None = None,
    authorization: AccountAuthorization | None = None,
    seal: RelayContextSeal | None = None,
    request_seconds: float = 0.0,
    failure_hold_seconds: float = 0.0,
    meter: Meter | None = None,
) -> World:
    spapi, limiter, ledger = FakeSpApi(), FakeLimiter(), FakeLedger()
    outcomes, clock, plans = FakeOutcomes(), FakeClock(), UsagePlanBook()
    queue = queue or FakeQueue()
    ports = RelayPorts(
        spapi,
        FakeAccounts(),
        limiter,
        ledger,
        outcomes,
        queue,
        clock,
        seal or RelayContextSeal(TEST_KEY),
        meter or NoMeter(),
    )
    policy = policy or RetryPolicy(max_receive_count=3, max_inline_wait_seconds=2.0)
    gateway = SpApiGateway(
        spapi,
        limiter,
        clock,
        restricted_operations=RESTRICTED_OPERATIONS,
        max_inline_wait_seconds=policy.max_inline_wait_seconds,
        plans=plans,
        request_seconds=request_seconds,
        failing=FailureHolds(clock.now, failure_hold_seconds),
    )
    relay = Relay(ports, gateway, policy, authorization)
    return World(spapi, limiter, ledger, outcomes, queue, clock, plans, relay)


def throttle(world: World, command_type: str, seconds: float = 30.0) -> None:
    """Make the worker know that the bucket of ``command_type`` is empty for ``seconds``."""
    operation = CATALOG[command_type].operation
    region = world.relay.ports.accounts.default_region("acme")
    world.limiter.known_waits[bucket_for("acme", region, operation).key] = seconds
