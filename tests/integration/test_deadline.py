"""The deadline guard, with the real handler called as Lambda calls it, boto3 over HTTP to the moto server
and httpx over HTTP to the SP-API emulator.

The reported failure: a write started with 0.3 s left, the Lambda timeout redelivered the whole batch,
the write in flight was repeated and finished ones were published again. Here an invocation that runs
past its context's deadline is killed the way Lambda stops it: its next request (to SP-API or AWS) never
leaves, SP-API's answer to the request in flight is never seen, nothing of the batch is deleted, and
the batch comes back after its visibility timeout with its receive counted.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
import pytest

from adapters.metrics import InMemoryMetrics
from adapters.settings import Settings
from domain.attributes import DETAIL_ATTRIBUTE, REASON_ATTRIBUTE
from domain.catalog import CATALOG
from domain.gateway import DEADLINE_MARGIN_SECONDS, TOKEN_DECISION_RESERVE_SECONDS
from domain.relay import COMMANDS_NEVER_FIT
from emulator.state import Fault
from handlers.bootstrap import AFTER_CALL_SECONDS, Worker, build_worker
from handlers.worker import handle_batch
from local.runtime import LocalStack
from local.worker_loop import LocalLambdaContext, lambda_sqs_record
from tests.conftest import sample_command, unique
from tests.stalled_endpoint import StalledEndpoint

pytestmark = pytest.mark.integration

CREATE = "createFulfillmentOrder"
CALL_SECONDS = 1.0  # every create takes this long at the emulator (within the 2 s read timeout)
BATCH = 10
# The first invocation has time for its first few writes, not for all ten.
SPARE_SECONDS = 2.8
# Longer than any invocation here; a timed-out invocation's batch comes back after it.
VISIBILITY_SECONDS = 20
DRAIN_SECONDS = 90.0


class Killed(BaseException):
    """Lambda stopped the invocation at its deadline: nothing after this point of it runs."""


class Invocation(LocalLambdaContext):
    def __init__(self, seconds: float) -> None:
        super().__init__("sp-relay-worker", seconds)
        self.deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class Stall:
    """AWS requests that match are sent to an endpoint that never answers."""

    endpoint: StalledEndpoint
    matches: Callable[[Any], bool]


@dataclass
class Lambda:
    """Runs batches through the real handler within their deadline, as Lambda does."""

    current: Invocation | None = None
    stall: Stall | None = None
    killed: int = 0
    # (path, seconds left) of every SP-API create as it left, and of every request killed.
    creates_left: list[float] = field(default_factory=list)

    def _past_deadline(self) -> None:
        if self.current is not None and time.monotonic() > self.current.deadline:
            raise Killed

    def on_http_request(self, request: httpx.Request) -> None:
        self._past_deadline()
        if request.method == "POST" and request.url.path == "/fba/outbound/2020-07-01/fulfillmentOrders":
            assert self.current is not None
            self.creates_left.append(self.current.deadline - time.monotonic())

    def on_http_response(self, _response: httpx.Response) -> None:
        self._past_deadline()  # the answer to a request in flight at the deadline is never seen

    def before_aws_send(self, request: Any, **_: Any) -> None:
        self._past_deadline()
        if self.stall is not None and self.stall.matches(request):
            request.url = self.stall.endpoint.url + urlsplit(request.url).path

    def invoke(
        self, worker: Worker, messages: list[dict[str, Any]], seconds: float, stack: LocalStack
    ) -> set[str]:
        """The message ids the invocation ended (deleted by the event source mapping)."""
        assert stack.resources is not None
        queue_arn = f"arn:aws:sqs:{stack.resources.region}:123456789012:commands"
        event = {"Records": [lambda_sqs_record(m, queue_arn, stack.resources.region) for m in messages]}
        self.current = Invocation(seconds)
        try:
            response = handle_batch(event, self.current, worker)  # type: ignore[arg-type]
        except Killed:
            self.killed += 1
            return set()  # a timed-out invocation deletes nothing
        finally:
            self.current = None
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        return {m["MessageId"] for m in messages if m["MessageId"] not in failed}


@pytest.fixture
def rig(stack: LocalStack) -> Iterator[tuple[LocalStack, Lambda, Worker]]:
    assert stack.worker is not None and stack.resources is not None
    stack.worker.stop()  # this test is the event source mapping
    runtime = Lambda()
    session = boto3.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name=stack.resources.region
    )
    session.events.register("before-send", runtime.before_aws_send)
    settings = Settings.from_env()
    http = httpx.Client(
        timeout=httpx.Timeout(settings.http_timeout_seconds, connect=min(5.0, settings.http_timeout_seconds)),
        event_hooks={"request": [runtime.on_http_request], "response": [runtime.on_http_response]},
    )
    try:
        yield stack, runtime, build_worker(settings, session=session, http=http)
    finally:
        http.close()
        stack.worker.start()


def _receive(stack: LocalStack, wanted: int, seconds: float = 0.0) -> list[dict[str, Any]]:
    """One receive, or several for up to ``seconds`` until ``wanted`` messages came (a whole batch)."""
    assert stack.resources is not None
    sqs = stack.client("sqs")
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while not messages or (len(messages) < wanted and time.monotonic() < deadline):
        answer = sqs.receive_message(
            QueueUrl=stack.resources.command_queue_url,
            MaxNumberOfMessages=min(10, wanted - len(messages)),
            WaitTimeSeconds=1,
            VisibilityTimeout=VISIBILITY_SECONDS,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages += answer.get("Messages", [])
        if not messages and seconds == 0.0:
            break
    return messages


def _delete(stack: LocalStack, messages: list[dict[str, Any]], ended: set[str]) -> None:
    assert stack.resources is not None
    done = [m for m in messages if m["MessageId"] in ended]
    if done:
        stack.client("sqs").delete_message_batch(
            QueueUrl=stack.resources.command_queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
        )


def test_a_batch_short_of_time_defers_its_rest_and_every_write_is_applied_and_published_once(
    rig: tuple[LocalStack, Lambda, Worker],
) -> None:
    stack, runtime, worker = rig
    state = stack.emulator.state  # type: ignore[union-attr]
    state.add_fault(Fault(operation=CREATE, kind="slow", delay_seconds=CALL_SECONDS))
    commands = [unique(sample_command("create-fulfillment")) for _ in range(BATCH)]
    for command in commands:
        stack.send(command)
    order_ids = {c["payload"]["sellerFulfillmentOrderId"] for c in commands}
    # The worst case of a create: its request at full timeouts (connect + read), the ledger writes and
    # the outcome event after it. The guard keeps its rate-limit token's decision and a margin on top.
    gateway = worker.relay.gateway
    worst_case = gateway.request_seconds + AFTER_CALL_SECONDS
    guard = gateway.worst_case_seconds(CATALOG["create-fulfillment"].operation) + AFTER_CALL_SECONDS
    assert guard == worst_case + TOKEN_DECISION_RESERVE_SECONDS + DEADLINE_MARGIN_SECONDS

    receive_counts: list[int] = []
    batch = _receive(stack, BATCH, seconds=5.0)
    assert len(batch) == BATCH
    receive_counts += [int(m["Attributes"]["ApproximateReceiveCount"]) for m in batch]
    _delete(stack, batch, runtime.invoke(worker, batch, guard + SPARE_SECONDS, stack))
    first_writes = len(runtime.creates_left)

    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline:
        batch = _receive(stack, 10)
        if not batch:
            if order_ids <= set(state.effects().get(CREATE, {})) and stack.worker.queue_is_drained():  # type: ignore[union-attr]
                break
            continue
        receive_counts += [int(m["Attributes"]["ApproximateReceiveCount"]) for m in batch]
        _delete(stack, batch, runtime.invoke(worker, batch, 60.0, stack))

    own = {c["commandId"] for c in commands}
    outcomes = Counter(o["commandId"] for o in stack.outcomes() if o["commandId"] in own)
    applied = {order_id: state.effect_count(CREATE, order_id) for order_id in order_ids}
    report = {
        "killed invocations": runtime.killed,
        "writes in the first invocation": first_writes,
        "least time left at a create": round(min(runtime.creates_left), 2),
        "worst case": worst_case,
        "receive counts": Counter(receive_counts),
    }
    # The first invocation wrote what fitted and deferred the rest at once: no Lambda timeout.
    assert runtime.killed == 0, report
    assert 1 <= first_writes < BATCH, report
    assert min(runtime.creates_left) >= worst_case, report
    # Deferred copies are new messages: no receive was counted for any of them.
    assert set(receive_counts) == {1}, report
    assert applied == {order_id: 1 for order_id in order_ids}, report
    assert sum(1 for n in applied.values() if n > 1) == 0
    assert outcomes == Counter({c["commandId"]: 1 for c in commands}), report
    assert own_dead_letters(stack, own) == []


def own_dead_letters(stack: LocalStack, command_ids: set[str]) -> list[dict[str, Any]]:
    """The dead letters of these commands only: other modules' leftovers share the stack's DLQ, and so
    do the emulator's effects and the outcome bus (checked per own order and command too)."""
    return [m for m in stack.dead_letters(max_rounds=1) if any(c in str(m["body"]) for c in command_ids)]


def _is_success_save(request: Any) -> bool:
    body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
    target = str(request.headers.get("X-Amz-Target", b""), "utf-8", "replace")
    return target.endswith(".UpdateItem") and b'"SUCCEEDED"' in body and b"effectsPending" in body


def test_a_ledger_save_that_stalls_after_the_answer_ends_before_the_deadline_and_is_settled_once(
    rig: tuple[LocalStack, Lambda, Worker],
) -> None:
    """The failure feared under DynamoDB faults: SP-API has applied the create, and the write ledger's
    save of its success hangs. botocore alone waits out its read timeouts and retries (40 s here) far past
    the invocation's end; bounded by the time left, the invocation ends in time, the outcome stays unknown,
    and the next delivery's probe settles it without a second create."""
    stack, runtime, worker = rig
    state = stack.emulator.state  # type: ignore[union-attr]
    command = unique(sample_command("create-fulfillment"))
    order_id = command["payload"]["sellerFulfillmentOrderId"]
    stack.send(command)
    guard = (
        worker.relay.gateway.worst_case_seconds(CATALOG["create-fulfillment"].operation) + AFTER_CALL_SECONDS
    )
    seconds = guard + 1.0
    endpoint = StalledEndpoint()
    try:
        runtime.stall = Stall(endpoint, _is_success_save)
        batch = _receive(stack, 1, seconds=5.0)
        assert len(batch) == 1
        started = time.monotonic()
        _delete(stack, batch, runtime.invoke(worker, batch, seconds, stack))
        took = time.monotonic() - started
        stalled_saves = endpoint.connections
    finally:
        runtime.stall = None
        endpoint.close()
    assert stalled_saves >= 1, "the success save was never sent to the stalled endpoint"
    assert runtime.killed == 0, f"the invocation ran past its {seconds:.2f}s ({took:.2f}s)"
    assert state.effect_count(CREATE, order_id) == 1

    outcomes: list[dict[str, Any]] = []
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline:
        batch = _receive(stack, 10)
        if batch:
            _delete(stack, batch, runtime.invoke(worker, batch, 60.0, stack))
            continue
        outcomes += [o for o in stack.outcomes(max_rounds=1) if o["commandId"] == command["commandId"]]
        if outcomes and stack.worker.queue_is_drained():  # type: ignore[union-attr]
            break
    outcomes += [o for o in stack.outcomes(max_rounds=1) if o["commandId"] == command["commandId"]]
    assert runtime.killed == 0
    assert state.effect_count(CREATE, order_id) == 1
    assert [o["status"] for o in outcomes] == ["succeeded"], outcomes
    assert own_dead_letters(stack, {command["commandId"]}) == []


def test_a_function_timeout_shorter_than_a_writes_worst_case_ends_on_the_dlq_saying_so_and_a_replay_goes(
    rig: tuple[LocalStack, Lambda, Worker],
) -> None:
    stack, runtime, worker = rig
    state = stack.emulator.state  # type: ignore[union-attr]
    metrics = worker.metrics
    assert isinstance(metrics, InMemoryMetrics)
    command = unique(sample_command("create-fulfillment"))
    order_id = command["payload"]["sellerFulfillmentOrderId"]
    stack.send(command)
    guard = worker.relay.gateway.worst_case_seconds(CATALOG["create-fulfillment"].operation)
    never_fit_before = metrics.counts.get(COMMANDS_NEVER_FIT, 0)

    # A function whose Timeout is shorter than the write's worst case: no invocation can send it. It is
    # retried as a failure (a receive counted each time), not deferred, then dead-lettered saying why.
    receive_counts: list[int] = []
    dead: list[dict[str, Any]] = []
    deadline = time.monotonic() + DRAIN_SECONDS
    while not dead and time.monotonic() < deadline:
        batch = _receive(stack, 1)
        receive_counts += [int(m["Attributes"]["ApproximateReceiveCount"]) for m in batch]
        if batch:
            _delete(stack, batch, runtime.invoke(worker, batch, guard * 0.9, stack))
        dead = own_dead_letters(stack, {command["commandId"]})
    max_receives = Settings.from_env().max_receive_count
    assert receive_counts == list(range(1, max_receives + 1))
    assert metrics.counts.get(COMMANDS_NEVER_FIT, 0) == never_fit_before + max_receives
    assert state.effect_count(CREATE, order_id) == 0
    assert runtime.killed == 0
    [letter] = dead
    assert letter["attributes"][REASON_ATTRIBUTE] == "LongerThanAnInvocation"
    assert "raise the function's Timeout" in letter["attributes"][DETAIL_ATTRIBUTE]

    # The timeout raised, the runbook's replay of the dead letter is applied once.
    stack.send(json.loads(letter["body"]))
    deadline = time.monotonic() + DRAIN_SECONDS
    while state.effect_count(CREATE, order_id) == 0 and time.monotonic() < deadline:
        batch = _receive(stack, 1)
        if batch:
            _delete(stack, batch, runtime.invoke(worker, batch, 60.0, stack))
    outcomes = [o for o in stack.outcomes() if o["commandId"] == command["commandId"]]
    assert state.effect_count(CREATE, order_id) == 1
    assert [o["status"] for o in outcomes] == ["dead-lettered", "succeeded"]
    assert own_dead_letters(stack, {command["commandId"]}) == []
