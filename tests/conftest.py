"""Shared fixtures: one embedded local stack (moto server + template resources + SP-API emulator +
worker loop) per test session, reset between tests."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.runtime import LocalStack, LocalStackOptions

EVENTS = Path(__file__).resolve().parent.parent / "events"


def sample_command(name: str) -> dict[str, Any]:
    command: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return command


def unique(command: dict[str, Any], order_id: str | None = None) -> dict[str, Any]:
    """The same command with a fresh commandId (and order id), so tests never share idempotency keys."""
    suffix = uuid.uuid4().hex[:10]
    copy: dict[str, Any] = json.loads(json.dumps(command))
    copy["commandId"] = f"{command['commandId']}-{suffix}"
    payload = copy["payload"]
    if "sellerFulfillmentOrderId" in payload:
        payload["sellerFulfillmentOrderId"] = order_id or f"T-{suffix}"
        if "displayableOrderId" in payload:
            payload["displayableOrderId"] = payload["sellerFulfillmentOrderId"]
    if "orderId" in payload:  # Fulfillment Outbound 2026-07-04
        payload["orderId"] = order_id or f"T-{suffix}"
    return copy


@pytest.fixture(scope="session")
def local_stack() -> Iterator[LocalStack]:
    options = LocalStackOptions(
        workers=2,
        max_receive_count=4,
        http_timeout_seconds=2.0,
        retry_backoff_base_seconds=0.5,
        # The session's tests of retries that run out count receives; tests/chaos/test_outage.py rides
        # out an outage under the deployed budget.
        retry_budget_hours=0.0,
        # Tests must not wait on real usage plans unless they mean to.
        emulator_rate_scale=20.0,
        # Tests run the pollers themselves (stack.run_poller) and must not race the schedule.
        poll_interval_seconds=24 * 3600.0,
        # A transaction still Processing after 6 s is given up on ("treated as accepted").
        follow_up_interval_seconds=1,
        follow_up_max_minutes=0.1,
    )
    with LocalStack(options) as stack:
        yield stack


@pytest.fixture
def stack(local_stack: LocalStack) -> Iterator[LocalStack]:
    """The session's local stack with a clean emulator and empty outcome and dead-letter queues."""
    assert local_stack.emulator is not None
    local_stack.emulator.state.reset()
    local_stack.outcomes(max_rounds=1)
    local_stack.dead_letters(max_rounds=1)
    yield local_stack
    local_stack.emulator.state.clear_faults()


class RecordingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        extra = {
            k: v
            for k, v in record.__dict__.items()
            if k not in logging.LogRecord("", 0, "", 0, "", (), None).__dict__
        }
        text = record.getMessage() + " " + json.dumps(extra, default=str)
        if record.exc_info:
            text += " " + logging.Formatter().formatException(record.exc_info)
        self.texts.append(text)


@pytest.fixture
def captured_logs() -> Iterator[RecordingHandler]:
    """Every log record of the relay, the local stack and the libraries, at DEBUG."""
    handler = RecordingHandler()
    loggers = [logging.getLogger(), logging.getLogger("sp-relay"), logging.getLogger("sp-relay-local")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield handler
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


# These modules deploy stacks of their own into moto's in-process backends, which every moto server of
# this process shares: redeploying the same names and tearing them down takes the session stack's
# queues with it. They run after every test that uses the session stack.
STACK_REDEPLOYING_MODULES = frozenset({"test_local_stack.py"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name in STACK_REDEPLOYING_MODULES)
