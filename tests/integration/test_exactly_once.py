"""Every write type against every fault that leaves its outcome unknown: applied exactly once.

The real handler runs as Lambda calls it, with boto3 over HTTP to the moto server (the write ledger in
the template's table) and httpx over HTTP to the SP-API emulator, which counts every effect it applies
(``record_effect``). For each (write type, fault) the command is delivered, then delivered again until
the ledger says SUCCEEDED (leases and acknowledgement windows are run out by moving the relay's clock),
then replayed twice: the emulator must have applied each of its effects exactly once.
"""

from __future__ import annotations

import json
import random
import string
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from adapters.clock import SystemClock
from adapters.ledger import DynamoDbWriteLedger
from adapters.settings import Settings
from chaos import harness
from domain.attributes import DETAIL_ATTRIBUTE, REASON_ATTRIBUTE
from domain.commands import parse_command
from domain.events import EVENT_ID
from emulator.operations.easy_ship import handover_slots
from emulator.state import Fault
from handlers.bootstrap import Worker, build_worker
from handlers.worker import handle_batch
from local.runtime import DEMO_ACCOUNTS, LocalStack
from local.worker_loop import LocalLambdaContext
from tests.conftest import sample_command, unique

pytestmark = pytest.mark.integration

SELLER = DEMO_ACCOUNTS[0]
VENDOR = DEMO_ACCOUNTS[1]
# The emulator's name of each write type's operation, as its effects are counted (the chaos harness's,
# and the Notifications API's writes, which the chaos mix leaves out).
EFFECT_OPERATION = {
    **harness.EFFECT_OPERATION,
    "create-destination": "createDestination",
    "delete-destination": "deleteDestination",
    "create-subscription": "createSubscription",
    "delete-subscription-by-id": "deleteSubscriptionById",
}
FAULTS = (
    "500-after-apply",
    "timeout-after-apply",
    "failed-save",
    "kill-before-save",
    "lease-expires",
    "kill-after-event",
    "save-refused-after-event",
)
# After these the ledger cannot know whether its outcome event went out: a later delivery publishes the
# saved event again, the same event (identical detail), never one of its own making.
EVENT_MAY_REPEAT = ("kill-after-event", "save-refused-after-event")
SAVE_TRIES_AFTER_EVENT = 3
FUNCTION_TIMEOUT_SECONDS = 20.0
# Far past any lease (function timeout + margin) and the local acknowledgement window.
CLOCK_STEP_SECONDS = 600.0


class Killed(BaseException):
    """The process dies here: nothing after this point of the invocation runs (like SIGKILL)."""


@dataclass
class MovableClock(SystemClock):
    """The system clock, moved forward by the test so that leases run out without waiting for them."""

    offset: float = 0.0

    def now(self) -> float:
        return super().now() + self.offset


@dataclass
class AwsTrap:
    """A botocore hook: fails the ledger's SUCCEEDED write once, kills the invocation at its first AWS
    request after SP-API answered the write, or, once the command's outcome event went out, kills it at
    its next AWS request or refuses its next ledger writes."""

    mode: str | None = None
    sprung: bool = False
    applied: Callable[[], bool] = field(default=lambda: False)
    command_id: str = ""
    event_out: bool = False
    refused: int = 0

    def arm(self, mode: str, command_id: str, applied: Callable[[], bool]) -> None:
        self.mode, self.sprung, self.applied, self.command_id = mode, False, applied, command_id
        self.event_out, self.refused = False, 0

    def before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        if self.sprung or self.mode is None:
            return None
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        if self.mode == "failed-save" and '"#result"' in body:
            self.sprung = True
            return _refusal(request)
        if self.mode == "kill-before-save" and self.applied():
            self.sprung = True
            raise Killed
        if self.mode in EVENT_MAY_REPEAT and not self.event_out:
            target = _target(request)
            self.event_out = target.endswith("PutEvents") and self.command_id in body and "succeeded" in body
            return None
        if self.mode == "kill-after-event" and self.event_out:
            self.sprung = True
            raise Killed
        if (
            self.mode == "save-refused-after-event"
            and self.event_out
            and "UpdateItem" in str(request.headers.get("X-Amz-Target", b"").decode())
        ):
            self.refused += 1
            self.sprung = self.refused == SAVE_TRIES_AFTER_EVENT
            return _refusal(request)
        return None


def sqs_record(
    body: str, region: str, message_id: str | None = None, receive_count: int = 1
) -> dict[str, Any]:
    """An SQS record as Lambda's event source mapping hands it to the handler (``message_id`` repeats a
    message; the receipt handle is not on any queue, so the handler's own deletes are no-ops)."""
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "not-on-the-queue",
        "body": body,
        "attributes": {"ApproximateReceiveCount": str(receive_count)},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:commands",
        "awsRegion": region,
    }


def _target(request: Any) -> str:
    """The AWS JSON protocol's operation, e.g. ``AWSEvents.PutEvents``, ``DynamoDB_20120810.UpdateItem``."""
    target = request.headers.get("X-Amz-Target", "")
    return target.decode() if isinstance(target, bytes) else str(target)


def _refusal(request: Any) -> AWSResponse:
    headers = HTTPHeaders()
    headers["x-amzn-ErrorType"] = "AccessDeniedException"
    headers["content-type"] = "application/x-amz-json-1.0"
    error = json.dumps({"__type": "AccessDeniedException", "message": "injected"}).encode()
    return AWSResponse(request.url, 400, headers, _Body(error))


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@dataclass
class Rig:
    stack: LocalStack
    worker: Worker
    clock: MovableClock
    trap: AwsTrap

    @property
    def state(self) -> Any:
        assert self.stack.emulator is not None
        return self.stack.emulator.state

    def deliver(
        self, command: dict[str, Any] | str, message_id: str | None = None, receive_count: int = 1
    ) -> dict[str, Any]:
        """One delivery of ``command`` (a raw body as it is); ``message_id`` repeats an SQS message."""
        assert self.stack.resources is not None
        body = command if isinstance(command, str) else json.dumps(command)
        record = sqs_record(body, self.stack.resources.region, message_id, receive_count)
        context = LocalLambdaContext("sp-relay-worker", FUNCTION_TIMEOUT_SECONDS)
        return handle_batch({"Records": [record]}, context, self.worker)  # type: ignore[arg-type]

    def ledger_state(self, command: dict[str, Any]) -> str | None:
        assert self.stack.resources is not None
        item = (
            self.stack.client("dynamodb")
            .get_item(
                TableName=self.stack.resources.idempotency_table_name,
                Key={"id": {"S": DynamoDbWriteLedger.key(parse_command(json.dumps(command)))}},
            )
            .get("Item")
        )
        return None if item is None else str(item["state"]["S"])

    def applied(self, command_type: str) -> dict[str, int]:
        return dict(self.state.effects().get(EFFECT_OPERATION[command_type], {}))


@pytest.fixture(scope="module")
def rig(local_stack: LocalStack) -> Iterator[Rig]:
    assert local_stack.worker is not None and local_stack.resources is not None
    local_stack.worker.stop()  # this module delivers every message itself
    session = boto3.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name=local_stack.resources.region
    )
    trap = AwsTrap()
    session.events.register("before-send", trap.before_send)  # type: ignore[arg-type]
    clock = MovableClock()
    try:
        yield Rig(local_stack, build_worker(Settings.from_env(), session=session, clock=clock), clock, trap)
    finally:
        _forget_buckets_booked_ahead(local_stack)
        local_stack.worker.start()


def _forget_buckets_booked_ahead(stack: LocalStack) -> None:
    """The rate-limit table is the session stack's: this module's moved clock booked its buckets hours
    ahead, and the session worker (on the real clock) would wait up to 15 minutes for a token of them
    (test_notifications_api's grantless createDestination did not drain after this module in make test).
    Forgetting a bucket the real clock booked is harmless: its next call goes out at once, and SP-API
    (the emulator) answers 429 if that was early."""
    assert stack.resources is not None
    dynamodb = stack.client("dynamodb")
    table = stack.resources.rate_limit_table_name
    ahead = time.time() + CLOCK_STEP_SECONDS / 2
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            if float(item.get("tat", {}).get("N", "0")) > ahead:
                dynamodb.delete_item(TableName=table, Key={"bucket": item["bucket"]})


# --- one command of each write type, with what it needs to exist first --------------------------------


def _token(length: int, alphabet: str = string.ascii_uppercase + string.digits) -> str:
    return "".join(random.choices(alphabet, k=length))


def _amazon_order_id() -> str:
    return f"903-{_token(7, string.digits)}-{_token(7, string.digits)}"


def _created_order(rig: Rig) -> dict[str, Any]:
    create = unique(sample_command("create-fulfillment"))
    rig.deliver(create)
    assert rig.ledger_state(create) == "SUCCEEDED"
    return create


def _created_mcf_order(rig: Rig) -> str:
    create = unique(sample_command("create-mcf-order"))
    rig.deliver(create)
    assert rig.ledger_state(create) == "SUCCEEDED"
    return str(create["payload"]["orderId"])


def _scheduled(rig: Rig, order_id: str) -> None:
    create = _scheduled_package_command(order_id, handover_slots()[0]["slotId"])
    rig.deliver(create)
    assert rig.ledger_state(create) == "SUCCEEDED"


def _scheduled_package_command(order_id: str, slot_id: str) -> dict[str, Any]:
    command = unique(sample_command("create-scheduled-package"))
    command["payload"]["amazonOrderId"] = order_id
    command["payload"]["packageDetails"]["packageTimeSlot"] = {"slotId": slot_id}
    return command


def _destination_command() -> dict[str, Any]:
    command = unique(sample_command("create-destination"))
    arn = f"arn:aws:sqs:us-east-1:123456789012:exactly-once-{_token(8)}"
    command["payload"]["resourceSpecification"] = {"sqs": {"arn": arn}}
    return command


def _created_destination(rig: Rig) -> str:
    create = _destination_command()
    rig.deliver(create)
    assert rig.ledger_state(create) == "SUCCEEDED"
    arn = create["payload"]["resourceSpecification"]["sqs"]["arn"]
    with rig.state.lock:
        [found] = [
            d["destinationId"]
            for d in rig.state.notifications.destinations.values()
            if d["resource"].get("sqs", {}).get("arn") == arn
        ]
    return str(found)


def _subscription_command(rig: Rig) -> dict[str, Any]:
    command = unique(sample_command("create-subscription"))
    command["payload"]["destinationId"] = _created_destination(rig)
    return command


def _created_subscription(rig: Rig) -> str:
    create = _subscription_command(rig)
    rig.deliver(create)
    assert rig.ledger_state(create) == "SUCCEEDED"
    with rig.state.lock:
        [found] = list(rig.state.notifications.subscriptions)
    return str(found)


def write_command(rig: Rig, command_type: str) -> dict[str, Any]:
    if command_type == "create-destination":
        return _destination_command()
    if command_type == "delete-destination":
        command = unique(sample_command(command_type))
        command["payload"]["destinationId"] = _created_destination(rig)
        return command
    if command_type == "create-subscription":
        return _subscription_command(rig)
    if command_type == "delete-subscription-by-id":
        command = unique(sample_command(command_type))
        command["payload"]["subscriptionId"] = _created_subscription(rig)
        return command
    if command_type == "create-fulfillment":
        return unique(sample_command(command_type))
    if command_type in ("update-fulfillment", "cancel-fulfillment"):
        order_id = _created_order(rig)["payload"]["sellerFulfillmentOrderId"]
        command = unique(sample_command(command_type), order_id=order_id)
        if command_type == "update-fulfillment":
            command["payload"]["displayableOrderComment"] = f"Moved to the back door {_token(6)}"
        return command
    if command_type == "create-mcf-order":
        return unique(sample_command(command_type))
    if command_type in ("update-mcf-order", "cancel-mcf-order"):
        return unique(sample_command(command_type), order_id=_created_mcf_order(rig))
    if command_type == "create-fulfillment-return":
        create = _created_order(rig)
        order_id = create["payload"]["sellerFulfillmentOrderId"]
        shipped = rig.state.ship_order(order_id, SELLER.seller_id)
        command = unique(sample_command(command_type), order_id=order_id)
        command["payload"]["items"] = [
            {
                "sellerReturnItemId": f"R-{_token(8)}",
                "sellerFulfillmentOrderItemId": create["payload"]["items"][0]["sellerFulfillmentOrderItemId"],
                "amazonShipmentId": shipped["amazonShipmentId"],
                "returnReasonCode": "NOT_AS_DESCRIBED",
            }
        ]
        return command
    if command_type == "acknowledge-po":
        command = unique(sample_command(command_type))
        number = _token(1, string.digits) + _token(7)
        command["payload"]["orderAcknowledgements"][0]["purchaseOrderNumber"] = number
        return command
    if command_type == "acknowledge-retail-po":
        command = unique(sample_command(command_type))
        command["account"] = VENDOR.name
        command["payload"]["acknowledgements"][0]["purchaseOrderNumber"] = _token(8)
        return command
    if command_type == "create-scheduled-package":
        return _scheduled_package_command(_amazon_order_id(), handover_slots()[0]["slotId"])
    if command_type == "update-scheduled-packages":
        order_id = _amazon_order_id()
        _scheduled(rig, order_id)
        command = unique(sample_command(command_type))
        command["payload"]["updatePackageDetailsList"] = [
            {
                "scheduledPackageId": {"amazonOrderId": order_id},
                "packageTimeSlot": {"slotId": handover_slots()[1]["slotId"]},
            }
        ]
        return command
    assert command_type == "create-scheduled-package-bulk"
    command = unique(sample_command(command_type))
    command["payload"]["orderScheduleDetailsList"] = [
        {"amazonOrderId": _amazon_order_id()},
        {
            "amazonOrderId": _amazon_order_id(),
            "packageDetails": {"packageTimeSlot": {"slotId": handover_slots()[2]["slotId"]}},
        },
    ]
    return command


# --- the faults -------------------------------------------------------------------------------------------


def _first_delivery(rig: Rig, command: dict[str, Any], fault: str) -> None:
    command_type = str(command["type"])
    operation = EFFECT_OPERATION[command_type]
    http_timeout = Settings.from_env().http_timeout_seconds
    if fault == "500-after-apply":
        rig.state.add_fault(Fault(operation=operation, status=500, count=1, apply_before_fault=True))
    elif fault == "timeout-after-apply":
        rig.state.add_fault(
            Fault(
                operation=operation,
                kind="timeout",
                delay_seconds=http_timeout + 0.5,
                count=1,
                apply_before_fault=True,
            )
        )
    elif fault in ("failed-save", "kill-before-save", *EVENT_MAY_REPEAT):
        rig.trap.arm(fault, str(command["commandId"]), lambda: bool(rig.applied(command_type)))
    if fault in ("kill-before-save", "kill-after-event"):
        with pytest.raises(Killed):
            rig.deliver(command)
        assert rig.trap.sprung
        return
    if fault != "lease-expires":
        rig.deliver(command)
        assert rig.trap.sprung or fault not in ("failed-save", *EVENT_MAY_REPEAT)
        return
    # The first worker's call is applied at once but answered late; meanwhile its lease runs out and a
    # second delivery takes the command over. The late worker's own save is then refused.
    rig.state.add_fault(
        Fault(operation=operation, kind="slow", delay_seconds=2.0, count=1, apply_before_fault=True)
    )
    late = threading.Thread(target=rig.deliver, args=(command,))
    late.start()
    deadline = time.monotonic() + 10
    while not rig.applied(command_type) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert rig.applied(command_type), "the slow call was not applied"
    rig.clock.offset += CLOCK_STEP_SECONDS
    rig.deliver(command)
    late.join(15)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("command_type", sorted(EFFECT_OPERATION))
def test_an_unknown_outcome_is_probed_and_the_write_applied_exactly_once(
    stack: LocalStack, rig: Rig, command_type: str, fault: str
) -> None:
    command = write_command(rig, command_type)
    try:
        _first_delivery(rig, command, fault)
    finally:
        rig.trap.mode = None
    for _ in range(6):
        if rig.ledger_state(command) == "SUCCEEDED":
            break
        rig.clock.offset += CLOCK_STEP_SECONDS  # leases and acknowledgement windows run out
        rig.deliver(command)
    for _ in range(2):  # the runbook's replay, twice
        rig.clock.offset += CLOCK_STEP_SECONDS
        rig.deliver(command)

    effects = rig.applied(command_type)
    applied_twice = sum(count - 1 for count in effects.values() if count > 1)
    outcomes = [o for o in stack.outcomes() if o.get("commandId") == command["commandId"]]
    dead = [m for m in stack.dead_letters() if json.loads(m["body"]).get("commandId") == command["commandId"]]

    assert effects, f"{command_type} was never applied"
    assert applied_twice == 0, effects
    assert rig.ledger_state(command) == "SUCCEEDED"
    assert dead == []
    # One outcome event: the result is saved with its event before the event is published (an outbox,
    # on the fencing token), so a failed save, a kill before it and a worker that outlived its lease
    # publish once. After a kill or 3 refused marks *after* the event, the record cannot tell whether
    # the event went out: the replay publishes the saved event again, identical (same messageId and
    # result), never a second outcome of its own.
    copies = 2 if fault in EVENT_MAY_REPEAT else 1
    assert [o["status"] for o in outcomes] == ["succeeded"] * copies, outcomes
    assert len({json.dumps(o, sort_keys=True) for o in outcomes}) == 1, outcomes
    assert len({o[EVENT_ID] for o in outcomes}) == 1, outcomes


def test_a_retail_acknowledgement_still_new_but_with_its_lines_confirmed_is_applied_once(
    stack: LocalStack, rig: Rig
) -> None:
    """Amazon may confirm an acknowledgement's lines before the order's purchaseOrderState leaves New: the
    probe reads the lines then, and a delivery after the processing window does not acknowledge again."""
    lag = f"{stack.spapi_endpoint}/_emulator/retail-orders/state-lag"
    assert httpx.post(lag, json={"seconds": 3600}).status_code == 200
    try:
        command = write_command(rig, "acknowledge-retail-po")
        _first_delivery(rig, command, "500-after-apply")
        for _ in range(3):
            rig.clock.offset += CLOCK_STEP_SECONDS  # past the acknowledgement window every time
            rig.deliver(command)
    finally:
        httpx.post(lag, json={"seconds": 0})

    number = command["payload"]["acknowledgements"][0]["purchaseOrderNumber"]
    outcomes = [o for o in stack.outcomes() if o.get("commandId") == command["commandId"]]
    assert rig.state.retail_orders[(VENDOR.seller_id, number)].order["purchaseOrderState"] == "New"
    assert rig.applied("acknowledge-retail-po") == {number: 1}
    assert rig.ledger_state(command) == "SUCCEEDED"
    assert [o["status"] for o in outcomes] == ["succeeded"], outcomes
    assert "every acknowledged line confirmed" in outcomes[0]["result"]["alreadyDone"]


# --- one rejected event per command ------------------------------------------------------------------------


def _invalid_create() -> dict[str, Any]:
    command = unique(sample_command("create-fulfillment"))
    command["payload"]["displayableOrderId"] = 12
    return command


@pytest.mark.parametrize(
    "body",
    [lambda: json.dumps(_invalid_create()), lambda: f"not a command {uuid.uuid4().hex}"],
    ids=["invalid-payload", "not-json"],
)
def test_a_refused_command_sent_twice_and_redelivered_publishes_one_rejected_event(
    stack: LocalStack, rig: Rig, body: Callable[[], str]
) -> None:
    text = body()
    first, duplicate = str(uuid.uuid4()), str(uuid.uuid4())

    rig.deliver(text, message_id=first)
    rig.deliver(text, message_id=duplicate)  # the producer sent it twice
    rig.deliver(text, message_id=first, receive_count=2)  # SQS delivered the first again

    ids = {first, duplicate}
    outcomes = [o for o in stack.outcomes() if o.get("messageId") in ids]
    dead = [m for m in stack.dead_letters() if m["body"] == text]
    assert [(o["status"], o["messageId"]) for o in outcomes] == [("rejected", first)]
    # Nothing an operator may replay vanishes: every copy is on the DLQ, the duplicate says so.
    assert len(dead) == 3
    details = sorted(str(m["attributes"][DETAIL_ATTRIBUTE]) for m in dead)
    assert [d.startswith("a duplicate: ") for d in details] == [True, False, False]


def test_a_write_sp_api_refused_is_final_a_duplicate_neither_calls_it_nor_publishes(
    stack: LocalStack, rig: Rig
) -> None:
    command = unique(sample_command("create-fulfillment"))
    rig.state.add_fault(
        Fault(operation="createFulfillmentOrder", status=400, count=1, code="InvalidInput", message="bad")
    )

    rig.deliver(command)
    rig.clock.offset += CLOCK_STEP_SECONDS
    rig.deliver(command)  # the producer's duplicate: SP-API would accept it now

    outcomes = [o for o in stack.outcomes() if o.get("commandId") == command["commandId"]]
    dead = [m for m in stack.dead_letters() if json.loads(m["body"]).get("commandId") == command["commandId"]]
    assert len(rig.state.calls("createFulfillmentOrder")) == 1
    assert rig.applied("create-fulfillment") == {}
    assert rig.ledger_state(command) == "REJECTED"
    assert [(o["status"], o["reason"]["code"]) for o in outcomes] == [("rejected", "SpApiRejected")]
    reasons = [m["attributes"][REASON_ATTRIBUTE] for m in dead]
    assert sorted(reasons) == ["AlreadyRejected", "SpApiRejected"]


# --- a second command of a done Notifications write: SP-API's "already" answer settles it ---------------


def _done_write(rig: Rig, command_type: str) -> dict[str, Any]:
    """A command of ``command_type`` delivered and SUCCEEDED: what a second command repeats."""
    command = write_command(rig, command_type)
    rig.deliver(command)
    assert rig.ledger_state(command) == "SUCCEEDED"
    return command


@pytest.mark.parametrize(
    ("command_type", "answer"),
    [
        ("create-destination", 409),
        ("create-subscription", 409),
        ("delete-destination", 404),
        ("delete-subscription-by-id", 404),
    ],
)
def test_a_second_command_of_a_done_notifications_write_is_done_not_rejected(
    stack: LocalStack, rig: Rig, command_type: str, answer: int
) -> None:
    first = _done_write(rig, command_type)
    applied = rig.applied(command_type)
    second = {**json.loads(json.dumps(first)), "commandId": f"{first['commandId']}-again"}

    rig.deliver(second)

    outcomes = [o for o in stack.outcomes() if o.get("commandId") == second["commandId"]]
    dead = [m for m in stack.dead_letters() if json.loads(m["body"]).get("commandId") == second["commandId"]]
    calls = rig.state.calls(EFFECT_OPERATION[command_type])
    assert [c.status for c in calls] == [200, answer]  # the first command's call, then the second's
    assert rig.applied(command_type) == applied  # the second command applied nothing
    assert rig.ledger_state(second) == "SUCCEEDED"
    assert dead == []
    assert [(o["status"], bool(o["result"].get("alreadyDone"))) for o in outcomes] == [("succeeded", True)]


@pytest.mark.parametrize("command_type", ["create-destination", "create-subscription"])
def test_a_second_create_that_differs_from_what_exists_is_rejected_naming_it(
    stack: LocalStack, rig: Rig, command_type: str
) -> None:
    first = _done_write(rig, command_type)
    second = {**json.loads(json.dumps(first)), "commandId": f"{first['commandId']}-other"}
    if command_type == "create-destination":
        second["payload"]["name"] = "another-name"  # the same queue under another name
    else:
        second["payload"]["destinationId"] = _created_destination(rig)  # the same type elsewhere

    rig.deliver(second)

    outcomes = [o for o in stack.outcomes() if o.get("commandId") == second["commandId"]]
    assert rig.ledger_state(second) == "REJECTED"
    assert [(o["status"], o["reason"]["code"]) for o in outcomes] == [("rejected", "ExistingOrderDiffers")]
    assert sum(rig.applied(command_type).values()) == 1
