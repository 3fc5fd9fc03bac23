"""A write that waited its whole retry budget for its order's create ends truthfully, and its replay applies.

The session's local stack: the real handler in the worker loop, boto3 over HTTP to the moto server, httpx
to the SP-API emulator. The create of the order was claimed by a worker that died in its call (its ledger
record ATTEMPTED, lease running); its update arrives as the relay's own delayed copy that has waited since
longer ago than the retry budget (its sealed context says so, sealed with the stack's key as the relay
seals it). It must end on the dead-letter queue as `AwaitingCreate` with the number of tries, one
dead-lettered event, and no SP-API call; once the create has succeeded, the replay applies the update once.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from adapters.credentials import read_relay_context_key
from adapters.ledger import DynamoDbWriteLedger
from domain.attributes import ATTEMPTS_ATTRIBUTE, DETAIL_ATTRIBUTE, REASON_ATTRIBUTE, RELAY_CONTEXT_ATTRIBUTE
from domain.commands import parse_command
from domain.relay import CREATE_AWAITED_SINCE, CREATE_AWAITED_TRIES
from domain.relay_context import RelayContextSeal
from local.runtime import LocalStack
from tests.conftest import sample_command, unique

pytestmark = pytest.mark.integration

DEAD_WORKERS_LEASE_SECONDS = 3.0


@pytest.fixture(autouse=True)
def polling_worker(stack: LocalStack) -> None:
    """The session's worker loop polls the queue (an earlier module may have stopped it)."""
    assert stack.worker is not None
    stack.worker.stop()
    stack.worker.start()


def _wait_for(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def _attribute(message: dict[str, Any], name: str) -> str:
    return str(message["attributes"][name])


def test_a_write_that_waited_the_whole_budget_for_its_create_says_so_and_its_replay_applies_once(
    stack: LocalStack,
) -> None:
    assert stack.resources is not None and stack.emulator is not None
    state = stack.emulator.state
    create = unique(sample_command("create-fulfillment"))
    order_id = create["payload"]["sellerFulfillmentOrderId"]
    update = unique(sample_command("update-fulfillment"), order_id=order_id)
    ledger = DynamoDbWriteLedger(stack.client("dynamodb"), stack.resources.idempotency_table_name)
    now = time.time()
    ledger.claim(
        parse_command(json.dumps(create)),
        now=now,
        lease_until=now + DEAD_WORKERS_LEASE_SECONDS,
        creates_order=order_id,
    )
    secrets = stack.client("secretsmanager")
    key_secret_id = stack.resources.relay_context_key_secret_id
    seal = RelayContextSeal(lambda: read_relay_context_key(secrets, key_secret_id))
    body = json.dumps(update)
    budget_seconds = 6 * 3600
    waited_since = now - budget_seconds - 60
    sealed = seal.seal(body, {CREATE_AWAITED_SINCE: round(waited_since, 3), CREATE_AWAITED_TRIES: 29})
    stack.client("sqs").send_message(
        QueueUrl=stack.resources.command_queue_url,
        MessageBody=body,
        MessageAttributes={RELAY_CONTEXT_ATTRIBUTE: {"DataType": "String", "StringValue": sealed}},
    )

    dead: list[dict[str, Any]] = []
    outcomes: list[dict[str, Any]] = []

    def ended() -> bool:
        dead.extend(m for m in stack.dead_letters(max_rounds=1) if update["commandId"] in str(m["body"]))
        outcomes.extend(o for o in stack.outcomes(max_rounds=1) if o.get("commandId") == update["commandId"])
        return bool(dead) and bool(outcomes)

    assert _wait_for(ended, timeout=60), (dead, outcomes)
    [entry] = dead
    assert _attribute(entry, REASON_ATTRIBUTE) == "AwaitingCreate"
    assert _attribute(entry, ATTEMPTS_ATTRIBUTE) == "30"
    assert re.match(
        r"gave up waiting for the order's create after 30 tries \(about 36\d min\): nothing of this "
        r"update-fulfillment was applied; replay it once that create has succeeded",
        _attribute(entry, DETAIL_ATTRIBUTE),
    ), _attribute(entry, DETAIL_ATTRIBUTE)
    assert [o["status"] for o in outcomes] == ["dead-lettered"]
    assert [c for c in state.calls("updateFulfillmentOrder") if order_id in c.path] == []

    # The create's delivery after the dead worker's lease: it probes, finds the order missing, creates it.
    time.sleep(DEAD_WORKERS_LEASE_SECONDS)
    stack.send(create)
    assert _wait_for(lambda: state.effect_count("createFulfillmentOrder", order_id) == 1, 60)

    # The runbook's replay: the body with the context the DLQ carried (the wait's counters left behind).
    carried = entry["attributes"].get(RELAY_CONTEXT_ATTRIBUTE)
    if carried is not None:
        assert CREATE_AWAITED_SINCE not in seal.open(entry["body"], carried)
    stack.send(entry["body"])

    assert _wait_for(lambda: state.effect_count("updateFulfillmentOrder", order_id) >= 1, 60)
    time.sleep(1.0)  # a second apply, had one been sent, would show by now
    assert state.effects().get("updateFulfillmentOrder", {}).get(order_id) == 1
    assert [c.status for c in state.calls("updateFulfillmentOrder") if order_id in c.path] == [200]
