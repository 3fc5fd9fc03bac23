"""The deadline checked again once the rate-limit token is granted, with the real handler called as
Lambda calls it, boto3 over HTTP to the moto server and httpx over HTTP to the SP-API emulator.

The feared failure: the write's token is a conditional write to DynamoDB, and DynamoDB stalls on it for
seconds. The write had its full timeout ahead when it asked for the token, not when the token came:
sent then, its timeout is cut, SP-API's slow answer is not awaited, and the outcome is unknown (a state
probe on the next delivery, or a Lambda timeout). Checked again after the grant, the write is not sent:
the message is deferred at once and the next delivery sends it, without a probe.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest

from adapters.metrics import InMemoryMetrics
from adapters.settings import Settings
from domain.catalog import CATALOG
from domain.relay import STATE_PROBES
from emulator.state import Fault
from handlers.bootstrap import AFTER_CALL_SECONDS, Worker, build_worker
from local.runtime import LocalStack
from tests.conftest import sample_command, unique
from tests.integration.test_deadline import Lambda

pytestmark = pytest.mark.integration

CANCEL = "cancelFulfillmentOrder"
# How long DynamoDB holds the cancel's rate-limit write before it goes through (the token is granted).
STALL_SECONDS = 2.0
# The cancel's invocation has this much beyond its worst case: enough to start, not to wait out the stall.
SPARE_SECONDS = 0.5
# SP-API applies the cancel at once and answers after this long: within a full read timeout (2 s
# here), beyond the read timeout that what is left after the stall would leave it.
ANSWER_SECONDS = 1.5
VISIBILITY_SECONDS = 20
DRAIN_SECONDS = 60.0


@dataclass
class TokenWriteStall:
    """Holds the first rate-limit write of one operation's bucket for ``seconds``, then lets it through."""

    table_name: str
    operation_id: str
    seconds: float
    stalled: int = 0

    def before_send(self, request: Any, **_: Any) -> None:
        body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
        target = str(request.headers.get("X-Amz-Target", b""), "utf-8", "replace")
        if (
            self.stalled == 0
            and target.endswith(".UpdateItem")
            and json.dumps(self.table_name).encode() in body
            and self.operation_id.encode() in body
        ):
            self.stalled += 1
            time.sleep(self.seconds)


@dataclass(frozen=True)
class Rig:
    stack: LocalStack
    runtime: Lambda
    worker: Worker
    metrics: InMemoryMetrics
    stall: TokenWriteStall


@pytest.fixture
def rig(stack: LocalStack) -> Iterator[Rig]:
    assert stack.worker is not None and stack.resources is not None
    stack.worker.stop()  # this test is the event source mapping
    runtime = Lambda()
    stall = TokenWriteStall(stack.resources.rate_limit_table_name, CANCEL, STALL_SECONDS)
    session = boto3.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name=stack.resources.region
    )
    session.events.register("before-send", runtime.before_aws_send)
    session.events.register("before-send", stall.before_send)
    settings = Settings.from_env()
    http = httpx.Client(
        timeout=httpx.Timeout(settings.http_timeout_seconds, connect=min(5.0, settings.http_timeout_seconds)),
        event_hooks={"request": [runtime.on_http_request], "response": [runtime.on_http_response]},
    )
    metrics = InMemoryMetrics()
    try:
        worker = build_worker(settings, session=session, http=http, metrics=metrics)
        yield Rig(stack, runtime, worker, metrics, stall)
    finally:
        http.close()
        stack.worker.start()


def _receive(stack: LocalStack) -> list[dict[str, Any]]:
    assert stack.resources is not None
    answer = stack.client("sqs").receive_message(
        QueueUrl=stack.resources.command_queue_url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=1,
        VisibilityTimeout=VISIBILITY_SECONDS,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    messages: list[dict[str, Any]] = answer.get("Messages", [])
    return messages


def _invoke(rig: Rig, messages: list[dict[str, Any]], seconds: float) -> None:
    """One invocation of the batch; what it ended is deleted, as the event source mapping does."""
    assert rig.stack.resources is not None
    ended = rig.runtime.invoke(rig.worker, messages, seconds, rig.stack)
    done = [m for m in messages if m["MessageId"] in ended]
    if done:
        rig.stack.client("sqs").delete_message_batch(
            QueueUrl=rig.stack.resources.command_queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
        )


def _command_id(message: dict[str, Any]) -> str | None:
    command_id = json.loads(message["body"] if "body" in message else message["Body"]).get("commandId")
    return command_id if isinstance(command_id, str) else None


def _run_until_ended(rig: Rig, command_id: str, outcomes: list[dict[str, Any]]) -> None:
    """Invoke whatever comes (with the time a message needs) until ``command_id`` has an outcome and the
    queue has nothing more for this rig. Other tests' leftovers go through the same worker."""
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline:
        batch = _receive(rig.stack)
        if batch:
            _invoke(rig, batch, 60.0)
            continue
        outcomes += [o for o in rig.stack.outcomes(max_rounds=1) if o.get("commandId") == command_id]
        if outcomes:
            return


def test_a_write_whose_token_is_granted_too_late_is_deferred_and_applied_once_without_a_probe(
    rig: Rig,
) -> None:
    stack, runtime = rig.stack, rig.runtime
    assert stack.emulator is not None
    state = stack.emulator.state
    create = unique(sample_command("create-fulfillment"))
    order_id = create["payload"]["sellerFulfillmentOrderId"]
    cancel = unique(sample_command("cancel-fulfillment"), order_id=order_id)

    stack.send(create)
    create_outcomes: list[dict[str, Any]] = []
    _run_until_ended(rig, create["commandId"], create_outcomes)
    assert [o["status"] for o in create_outcomes] == ["succeeded"]

    state.add_fault(
        Fault(operation=CANCEL, kind="slow", delay_seconds=ANSWER_SECONDS, apply_before_fault=True, count=1)
    )
    probes_before = rig.metrics.counts.get(STATE_PROBES, 0)
    stack.send(cancel)
    batch: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10.0
    while not batch and time.monotonic() < deadline:
        batch = [m for m in _receive(stack) if _command_id(m) == cancel["commandId"]]
    assert len(batch) == 1
    guard = rig.worker.relay.gateway.worst_case_seconds(CATALOG["cancel-fulfillment"].operation)
    _invoke(rig, batch, guard + AFTER_CALL_SECONDS + SPARE_SECONDS)
    assert rig.stall.stalled == 1, "the cancel's rate-limit write was never held"

    outcomes: list[dict[str, Any]] = []
    _run_until_ended(rig, cancel["commandId"], outcomes)
    # A duplicate outcome would be published by a later delivery: give one the time to come.
    time.sleep(2.0)
    outcomes += [o for o in stack.outcomes(max_rounds=1) if o.get("commandId") == cancel["commandId"]]
    ids = (create["commandId"], cancel["commandId"])
    dead = [m for m in stack.dead_letters(max_rounds=1) if _command_id(m) in ids]
    cancels = [call.status for call in state.calls(CANCEL) if order_id in call.path]
    probes = rig.metrics.counts.get(STATE_PROBES, 0) - probes_before

    report = {"cancel calls": cancels, "probes": probes, "outcomes": outcomes, "killed": runtime.killed}
    assert runtime.killed == 0, report
    assert state.effect_count(CANCEL, order_id) == 1, report
    # Sent once, answered: the write that came too late was never sent, so nothing had to be probed.
    assert cancels == [200], report
    assert probes == 0, report
    assert [o["status"] for o in outcomes] == ["succeeded"], report
    assert dead == [], report
