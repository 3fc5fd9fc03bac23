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
    FakeIdempotency,
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


def message(body: dict[str, Any] | str, receive_count: int = 1, message_id: str = "m-1") -> InboundMessage:
    text = body if isinstance(body, str) else json.dumps(body)
    return InboundMessage(message_id=message_id, body=text, receive_count=receive_count, receipt_handle="rh")


@dataclass
class World:
    spapi: FakeSpApi
    limiter: FakeLimiter
    idempotency: FakeIdempotency
    outcomes: FakeOutcomes
    queue: FakeQueue
    clock: FakeClock
    plans: UsagePlanBook
    relay: Relay

    def process(self, msg: InboundMessage) -> Disposition:
        return self.relay.process(msg, lambda: 60.0)


def make_world() -> World:
    spapi, limiter, idem = FakeSpApi(), FakeLimiter(), FakeIdempotency()
    outcomes, queue, clock, plans = FakeOutcomes(), FakeQueue(), FakeClock(), UsagePlanBook()
    ports = RelayPorts(spapi, FakeAccounts(), limiter, idem, outcomes, queue, clock)
    relay = Relay(ports, RetryPolicy(max_receive_count=3, max_inline_wait_seconds=2.0), plans)
    return World(spapi, limiter, idem, outcomes, queue, clock, plans, relay)
