"""SP-API failing in a batch, with the real handler called as Lambda calls it, boto3 over HTTP to the moto
server and httpx over HTTP to the SP-API emulator: a batch of 10 creates for one account whose first
call is answered 503 makes exactly 1 SP-API call, the other 9 are deferred without calling and counted
by the metrics adapter, and later all 10 are applied once with one outcome each."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import boto3
import httpx
import pytest

from adapters.metrics import DEFERRALS, SPAPI_CALLS, SPAPI_FAILURE_DEFERRALS, InMemoryMetrics
from adapters.settings import Settings
from emulator.state import Fault
from handlers.bootstrap import Worker, build_worker
from local.runtime import LocalStack
from tests.conftest import sample_command, unique
from tests.integration.test_deadline import Lambda, _delete, _receive, own_dead_letters

pytestmark = pytest.mark.integration

CREATE = "createFulfillmentOrder"
BATCH = 10
DRAIN_SECONDS = 60.0


@pytest.fixture
def rig(stack: LocalStack) -> Iterator[tuple[LocalStack, Lambda, Worker, InMemoryMetrics]]:
    assert stack.worker is not None and stack.resources is not None
    stack.worker.stop()  # this test is the event source mapping
    runtime = Lambda()
    session = boto3.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name=stack.resources.region
    )
    settings = Settings.from_env()
    http = httpx.Client(
        timeout=httpx.Timeout(settings.http_timeout_seconds, connect=min(5.0, settings.http_timeout_seconds))
    )
    metrics = InMemoryMetrics()
    try:
        yield stack, runtime, build_worker(settings, session=session, http=http, metrics=metrics), metrics
    finally:
        http.close()
        stack.worker.start()


def test_a_503_in_a_batch_of_ten_creates_makes_one_call_defers_nine_and_all_are_applied_once(
    rig: tuple[LocalStack, Lambda, Worker, InMemoryMetrics],
) -> None:
    stack, runtime, worker, metrics = rig
    state = stack.emulator.state  # type: ignore[union-attr]
    state.add_fault(Fault(operation=CREATE, status=503, count=1))
    commands = [unique(sample_command("create-fulfillment")) for _ in range(BATCH)]
    for command in commands:
        stack.send(command)
    order_ids = {c["payload"]["sellerFulfillmentOrderId"] for c in commands}

    batch = _receive(stack, BATCH, seconds=5.0)
    assert len(batch) == BATCH
    _delete(stack, batch, runtime.invoke(worker, batch, 60.0, stack))
    assert len(state.calls(CREATE)) == 1  # exactly one SP-API call for the batch
    assert [c.status for c in state.calls(CREATE)] == [503]
    assert metrics.counts.get(SPAPI_CALLS) == 1
    assert metrics.counts.get(SPAPI_FAILURE_DEFERRALS) == 9
    assert metrics.counts.get(DEFERRALS) == 9  # the nine delayed copies; the failed one backs off

    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline:
        batch = _receive(stack, 10)
        if not batch:
            if order_ids <= set(state.effects().get(CREATE, {})) and stack.worker.queue_is_drained():  # type: ignore[union-attr]
                break
            continue
        _delete(stack, batch, runtime.invoke(worker, batch, 60.0, stack))

    applied = {order_id: state.effect_count(CREATE, order_id) for order_id in order_ids}
    assert applied == {order_id: 1 for order_id in order_ids}
    assert sum(1 for n in applied.values() if n > 1) == 0
    own = {c["commandId"] for c in commands}
    assert Counter(o["commandId"] for o in stack.outcomes() if o["commandId"] in own) == Counter(
        {c["commandId"]: 1 for c in commands}
    )
    assert own_dead_letters(stack, own) == []
    assert runtime.killed == 0
    assert metrics.counts.get(SPAPI_FAILURE_DEFERRALS) == 9  # SP-API was back: nothing held later
