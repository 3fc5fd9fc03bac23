"""Per-order sequence over HTTP: an update or cancel that overtakes its create waits for it.

The local stack's worker loop takes the messages from the moto server's queue and calls the real handler;
the SP-API emulator holds the create back (slow, or a 500 that did not apply), so the later write of the
same order reaches SP-API first and is answered 404. The relay's write ledger knows its create of that
order is still open: the later write is deferred (no receive counted) and applied once the order exists.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from adapters.ledger import DynamoDbWriteLedger
from domain.commands import parse_command
from emulator.state import Fault
from local.runtime import LocalStack
from tests.conftest import sample_command, unique

pytestmark = pytest.mark.integration

EFFECT = {"update-fulfillment": "updateFulfillmentOrder", "cancel-fulfillment": "cancelFulfillmentOrder"}


@pytest.fixture(autouse=True)
def polling_worker(stack: LocalStack) -> None:
    """These tests need the session's worker loop polling the queue: earlier modules stop it, or a
    redeploy in the same process can make its pollers give up; a restart is harmless when it runs."""
    assert stack.worker is not None
    stack.worker.stop()
    stack.worker.start()


def _ledger_state(stack: LocalStack, command: dict[str, Any]) -> str | None:
    assert stack.resources is not None
    item = (
        stack.client("dynamodb")
        .get_item(
            TableName=stack.resources.idempotency_table_name,
            Key={"id": {"S": DynamoDbWriteLedger.key(parse_command(json.dumps(command)))}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    return None if item is None else str(item["state"]["S"])


def _wait_for(condition: Any, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _calls_for(stack: LocalStack, operation: str, order_id: str) -> list[int]:
    assert stack.emulator is not None
    return [call.status for call in stack.emulator.state.calls(operation) if order_id in call.path]


@pytest.mark.parametrize(
    ("later_type", "create_fault"),
    [
        ("update-fulfillment", "slow"),  # the create is pending: claimed, its call not answered yet
        ("cancel-fulfillment", "slow"),
        ("update-fulfillment", "500"),  # the create's outcome is unknown until its retry probes
    ],
)
def test_a_write_sent_before_its_create_is_applied_waits_and_both_apply_once(
    stack: LocalStack, later_type: str, create_fault: str
) -> None:
    assert stack.emulator is not None
    state = stack.emulator.state
    create = unique(sample_command("create-fulfillment"))
    order_id = create["payload"]["sellerFulfillmentOrderId"]
    later = unique(sample_command(later_type), order_id=order_id)
    if create_fault == "slow":
        state.add_fault(Fault(operation="createFulfillmentOrder", kind="slow", delay_seconds=1.5, count=1))
        open_states = ("ATTEMPTED",)
    else:
        state.add_fault(Fault(operation="createFulfillmentOrder", status=500, count=1))
        open_states = ("UNKNOWN",)

    stack.send(create)
    assert _wait_for(lambda: _ledger_state(stack, create) in open_states), _ledger_state(stack, create)
    stack.send(later)
    # Waiting on these two commands, not on the whole queue (an earlier module may leave a backlog).
    settled = _wait_for(
        lambda: _ledger_state(stack, create) == "SUCCEEDED" and _ledger_state(stack, later) == "SUCCEEDED",
        timeout=90,
    )
    assert settled, (_ledger_state(stack, create), _ledger_state(stack, later))

    ids = (create["commandId"], later["commandId"])
    outcomes = [o for o in stack.outcomes() if o.get("commandId") in ids]
    dead = [m for m in stack.dead_letters() if json.loads(m["body"]).get("commandId") in ids]
    effects = state.effects()
    later_calls = _calls_for(stack, EFFECT[later_type], order_id)

    assert dead == []
    assert effects.get("createFulfillmentOrder", {}).get(order_id) == 1
    assert sum(effects.get(EFFECT[later_type], {}).values()) == 1
    # It did overtake the create (SP-API answered 404 first); while it waited it asked the ledger, not
    # SP-API, and it was sent again only once the order existed.
    assert later_calls == [404, 200], later_calls
    assert sorted((o["commandId"], o["status"]) for o in outcomes) == sorted(
        (command_id, "succeeded") for command_id in ids
    )
    assert _ledger_state(stack, create) == "SUCCEEDED" and _ledger_state(stack, later) == "SUCCEEDED"


def test_a_not_found_order_the_relay_never_created_is_rejected_at_once(stack: LocalStack) -> None:
    update = unique(sample_command("update-fulfillment"))

    stack.send(update)
    outcomes: list[dict[str, Any]] = []

    def ended() -> bool:
        outcomes.extend(o for o in stack.outcomes(max_rounds=1) if o.get("commandId") == update["commandId"])
        return bool(outcomes)

    assert _wait_for(ended, timeout=60)
    dead = [m for m in stack.dead_letters() if json.loads(m["body"]).get("commandId") == update["commandId"]]
    assert [o["status"] for o in outcomes] == ["rejected"]
    assert len(dead) == 1
    assert _calls_for(stack, "updateFulfillmentOrder", update["payload"]["sellerFulfillmentOrderId"]) == [404]
