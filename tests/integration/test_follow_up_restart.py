"""A lost follow-up chain is restarted once: exactly one transaction-status chain, one final event.

An acknowledgement is applied and its success saved (the ledger's outbox: SUCCEEDED, outcome not yet
published) and its chain recorded, but the chain's first status check never reaches the queue: the
worker is killed just before sending it, or the send is refused (and so is forgetting the chain). The
acknowledgement is delivered again (the queue's redelivery, then a producer duplicate and a replay). The
real handler runs as Lambda calls it, boto3 over HTTP to the moto server, httpx over HTTP to the SP-API
emulator; the restarted chain's checks go through the real command queue and the local stack's worker
loop. The emulator counts every getTransactionStatus call of the transaction.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from adapters.ledger import DynamoDbWriteLedger
from adapters.settings import Settings
from domain.commands import parse_command
from domain.events import COMMAND_EVENT, EVENT_ID, TRANSACTION_EVENT
from handlers.bootstrap import Worker, build_worker
from handlers.worker import handle_batch
from local.runtime import LocalStack
from local.worker_loop import LocalLambdaContext
from tests.conftest import sample_command, unique
from tests.integration.test_exactly_once import (
    CLOCK_STEP_SECONDS,
    Killed,
    MovableClock,
    _refusal,
    _target,
    sqs_record,
)

pytestmark = pytest.mark.integration

FUNCTION_TIMEOUT_SECONDS = 20.0
CHAIN_SECONDS = 30.0  # the local stack checks every second and gives a chain up after 6 s


@dataclass
class ChainTrap:
    """botocore hook on the test's own worker: stops the first status check of ``status_command_id``
    from reaching the queue (``kill``: the process dies there; ``refuse``: SQS refuses it, and DynamoDB
    refuses forgetting the chain), and counts the checks that did reach it."""

    mode: str | None = None
    status_command_id: str = ""
    sprung: bool = False
    sent: int = 0

    def before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        if not self.status_command_id or self.status_command_id not in body:
            return None
        target = _target(request)
        if target.endswith("SendMessage"):
            if self.mode == "kill" and not self.sprung:
                self.sprung = True
                raise Killed
            if self.mode == "refuse" and not self.sprung:
                self.sprung = True
                return _refusal(request)
            self.sent += 1
        return None

    def refuse_forgetting(self, request: Any, **_: Any) -> AWSResponse | None:
        if self.mode == "refuse" and _target(request).endswith("DeleteItem"):
            body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
            if "#follow-up#" in body:
                return _refusal(request)
        return None


@dataclass
class Rig:
    stack: LocalStack
    worker: Worker
    clock: MovableClock
    trap: ChainTrap

    def deliver(
        self, command: dict[str, Any], message_id: str | None = None, receive_count: int = 1
    ) -> dict[str, Any]:
        assert self.stack.resources is not None
        record = sqs_record(json.dumps(command), self.stack.resources.region, message_id, receive_count)
        context = LocalLambdaContext("sp-relay-worker", FUNCTION_TIMEOUT_SECONDS)
        return handle_batch({"Records": [record]}, context, self.worker)  # type: ignore[arg-type]

    def ledger_item(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.stack.resources is not None
        answer = self.stack.client("dynamodb").get_item(
            TableName=self.stack.resources.idempotency_table_name,
            Key={"id": {"S": DynamoDbWriteLedger.key(parse_command(json.dumps(command)))}},
            ConsistentRead=True,
        )
        item: dict[str, Any] = answer.get("Item") or {}
        return item


@pytest.fixture
def rig(stack: LocalStack) -> Iterator[Rig]:
    assert stack.worker is not None and stack.resources is not None
    # The session's worker loop runs the restarted chain's checks from the queue (an earlier module may
    # have stopped it).
    stack.worker.stop()
    stack.worker.start()
    session = boto3.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name=stack.resources.region
    )
    trap = ChainTrap()
    session.events.register("before-send.sqs", trap.before_send)  # type: ignore[arg-type]
    session.events.register("before-send.dynamodb", trap.refuse_forgetting)  # type: ignore[arg-type]
    clock = MovableClock()
    yield Rig(stack, build_worker(Settings.from_env(), session=session, clock=clock), clock, trap)


@pytest.mark.parametrize("lost", ["kill", "refuse"])
def test_a_saved_acknowledgement_whose_chain_was_lost_runs_one_chain_and_one_final_event(
    rig: Rig, lost: str
) -> None:
    stack = rig.stack
    state = stack.emulator.state  # type: ignore[union-attr]
    command = unique(sample_command("acknowledge-po"))
    message_id = str(uuid.uuid4())
    rig.trap.mode, rig.trap.status_command_id = lost, f"{command['commandId']}.status"

    if lost == "kill":
        with pytest.raises(Killed):
            rig.deliver(command, message_id)
    else:
        answer = rig.deliver(command, message_id)
        assert answer["batchItemFailures"] == [{"itemIdentifier": message_id}]
    assert rig.trap.sprung and rig.trap.sent == 0
    item = rig.ledger_item(command)
    assert item["state"]["S"] == "SUCCEEDED" and item["effectsPending"]["BOOL"] is True
    transaction_id = item["transactionId"]["S"]
    # The transaction has its final status at once: each check the relay makes reads it, so every chain
    # that runs is one getTransactionStatus call.
    state.set_transaction_result(transaction_id, "Success")

    if lost == "kill":
        rig.clock.offset += CLOCK_STEP_SECONDS  # the dead worker's lease runs out
    rig.deliver(command, message_id, receive_count=2)  # the queue's redelivery: restarts the chain
    rig.deliver(command)  # a producer duplicate
    rig.clock.offset += CLOCK_STEP_SECONDS
    rig.deliver(command)  # the runbook's replay
    assert rig.trap.sent == 1

    events: list[tuple[str, dict[str, Any]]] = []

    def finals() -> list[tuple[str, dict[str, Any]]]:
        return [
            (kind, detail)
            for kind, detail in events
            if kind.startswith(TRANSACTION_EVENT) and detail.get("transactionId") == transaction_id
        ]

    deadline = time.monotonic() + CHAIN_SECONDS
    while not finals() and time.monotonic() < deadline:
        events += stack.events(max_rounds=1)
    time.sleep(3.0)  # a second chain, had one started, would check within the local 1 s interval
    events += stack.events()

    checks = [c for c in state.calls("getTransactionStatus") if transaction_id in c.path]
    outcomes = [
        d for k, d in events if k.startswith(COMMAND_EVENT) and d.get("commandId") == command["commandId"]
    ]
    event_ids = Counter(str(detail[EVENT_ID]) for _, detail in finals())
    report = {"finals": finals(), "checks": [c.status for c in checks], "outcomes": outcomes}
    assert len(checks) == 1, report  # exactly one chain ran
    assert len(finals()) == 1, report  # exactly one final transaction event...
    assert sum(n - 1 for n in event_ids.values()) == 0, report  # ...and 0 duplicates of it
    [(kind, final)] = finals()
    assert kind == f"{TRANSACTION_EVENT} Success"
    assert (final["of"], final["type"]) == (command["commandId"], "acknowledge-po")
    # The acknowledgement's own outcome: one succeeded event (the kill came before it was published).
    assert [o["status"] for o in outcomes] == ["succeeded"], report
    assert rig.ledger_item(command)["effectsPending"]["BOOL"] is False
    # Other modules' leftovers may be on the shared dead-letter queue: only this command's count.
    own = command["commandId"]
    dead = [m for m in stack.dead_letters(max_rounds=1) if own in str(m["body"])]
    assert dead == [], report
