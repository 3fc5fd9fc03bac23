"""SP-API failing for an (account, operation) in a batch: the rest of the batch for it is deferred
without calling, as for a bucket known to be empty, and a metric counts those messages."""

from __future__ import annotations

import contextlib
import json
from collections import Counter

import pytest

from adapters.metrics import SPAPI_FAILURE_DEFERRALS, InMemoryMetrics, metered_failing_buckets
from domain.catalog import CATALOG
from domain.errors import SpApiUnavailable
from domain.ledger import LedgerState
from domain.outcomes import OutcomeStatus
from domain.ports import InboundMessage
from domain.rate_limits import bucket_for
from domain.relay import Disposition
from domain.requests import SpApiResponse
from tests.unit.relay_world import World, make_world, message, sample

pytestmark = pytest.mark.unit

HOLD_SECONDS = 1.0
NOT_FOUND = SpApiResponse(404, {"errors": [{"code": "NotFound", "message": "not found"}]}, "req-404")


@pytest.fixture
def metrics() -> InMemoryMetrics:
    return InMemoryMetrics()


@pytest.fixture
def world(metrics: InMemoryMetrics) -> World:
    world = make_world(failure_hold_seconds=HOLD_SECONDS)
    gateway = world.relay.gateway
    gateway.failing = metered_failing_buckets(gateway.failing, metrics)
    return world


def creates(count: int, account: str = "acme") -> list[InboundMessage]:
    payload = sample("create-fulfillment")["payload"]
    return [
        message(
            sample(
                "create-fulfillment",
                account=account,
                commandId=f"{account}-{n}",
                payload={**payload, "sellerFulfillmentOrderId": f"{account}-O-{n}"},
            ),
            message_id=f"{account}-m-{n}",
        )
        for n in range(count)
    ]


def creates_sent(world: World) -> Counter[str]:
    return Counter(
        str((r.body or {})["sellerFulfillmentOrderId"])
        for _, _, r in world.spapi.calls
        if r.operation_id == "createFulfillmentOrder"
    )


def test_a_503_defers_the_rest_of_the_batch_without_calling_and_all_ten_are_applied_once_later(
    world: World, metrics: InMemoryMetrics
) -> None:
    world.spapi.answer("createFulfillmentOrder", SpApiResponse(503, None, "req-503"))
    batch = creates(10)
    dispositions = [world.process(m) for m in batch]

    assert len(world.spapi.calls) == 1  # exactly one SP-API call
    assert dispositions == [Disposition.RETRY] + [Disposition.DONE] * 9
    assert [json.loads(m.body)["commandId"] for m, _ in world.queue.deferred] == [
        f"acme-{n}" for n in range(1, 10)
    ]
    assert all(delay == 1 for _, delay in world.queue.deferred)
    assert metrics.counts[SPAPI_FAILURE_DEFERRALS] == 9
    # The deferred ones were never claimed, only announced (so a later write of their order waits for
    # them): nothing to probe when they come back.
    assert {key[1]: record.state for key, record in world.ledger.records.items()} == {
        "acme-0": LedgerState.UNKNOWN,
        **{f"acme-{n}": LedgerState.NOT_APPLIED for n in range(1, 10)},
    }

    # Later (the hold and the backoff are over): the failed one probes (a 503 may have applied), finds
    # the order missing and sends it; the deferred copies are sent; every order once.
    world.clock.current += 5.0
    world.spapi.answer("getFulfillmentOrder", NOT_FOUND)
    later = [message(batch[0].body, 2, message_id="acme-m-0")] + [
        message(m.body, 1, message_id=f"copy-{m.message_id}", relay_context=sealed)
        for (m, _), sealed in zip(world.queue.deferred, world.queue.deferred_contexts, strict=True)
    ]
    assert [world.process(m) for m in later] == [Disposition.DONE] * 10
    assert creates_sent(world) == Counter({f"acme-O-{n}": 2 if n == 0 else 1 for n in range(10)})
    published = Counter(o.command_id for o in world.outcomes.published if o.status is OutcomeStatus.SUCCEEDED)
    assert published == Counter({f"acme-{n}": 1 for n in range(10)})
    assert metrics.counts[SPAPI_FAILURE_DEFERRALS] == 9


@pytest.mark.parametrize("in_one_batch", [True, False], ids=["batch", "no-batch"])
def test_a_failure_holds_its_bucket_for_the_rest_of_the_batch_however_long_the_batch_takes(
    world: World, in_one_batch: bool
) -> None:
    world.spapi.answer("createFulfillmentOrder", SpApiResponse(503, None, "req-503"))
    world.spapi.answer("createFulfillmentOrder", SpApiResponse(503, None, "req-503"))
    with world.relay.batch() if in_one_batch else contextlib.nullcontext():
        for m in creates(4):
            world.process(m)
            world.clock.current += 2 * HOLD_SECONDS  # each message outlasts the time-based hold

    # In a batch: one call, three deferred. Outside one the time-based hold alone decides: the hold runs
    # out after every message, so each one calls (and the third and fourth get through).
    assert len(world.spapi.calls) == (1 if in_one_batch else 4)
    assert len(world.queue.deferred) == (3 if in_one_batch else 0)
    assert all(delay == 1 for _, delay in world.queue.deferred)
    if in_one_batch:  # the batch's hold ends with it: the next batch calls to see whether SP-API is back
        with world.relay.batch():
            world.process(creates(5)[4])
        assert len(world.spapi.calls) == 2


@pytest.mark.parametrize(
    "failure",
    [
        SpApiResponse(500, None, "req-500"),
        SpApiUnavailable("SP-API createFulfillmentOrder timed out (ReadTimeout)"),
        SpApiUnavailable(
            "SP-API createFulfillmentOrder was not reached (ConnectError)", may_have_applied=False
        ),
    ],
    ids=["5xx", "timeout", "connection-error"],
)
def test_every_kind_of_sp_api_failure_holds_its_account_and_operation_only(
    world: World, metrics: InMemoryMetrics, failure: SpApiResponse | Exception
) -> None:
    world.spapi.answer("createFulfillmentOrder", failure)
    world.relay.ports.accounts.regions["other"] = "eu"  # type: ignore[attr-defined]
    [first, second] = creates(2)
    [elsewhere] = creates(1, account="other")
    cancel = message(sample("cancel-fulfillment"), message_id="cancel")
    for m in (first, second, elsewhere, cancel):
        world.process(m)
    # Only the second create of the same account was held; another account and operation were called.
    assert world.spapi.operations() == [
        "createFulfillmentOrder",
        "createFulfillmentOrder",
        "cancelFulfillmentOrder",
    ]
    assert metrics.counts[SPAPI_FAILURE_DEFERRALS] == 1


def test_a_hold_doubles_while_sp_api_keeps_failing_and_an_answer_releases_it(world: World) -> None:
    holds = world.relay.gateway.failing
    bucket = bucket_for("acme", "eu", CATALOG["create-fulfillment"].operation)
    for expected in (1.0, 2.0, 4.0):
        holds.failed(bucket)
        assert holds.held_for(bucket) == pytest.approx(expected)
        world.clock.current += expected
    holds.answered(bucket)
    assert holds.held_for(bucket) == 0.0


def test_a_run_of_429s_holds_nothing_and_releases_a_hold_the_shared_bucket_paces_instead(
    world: World, metrics: InMemoryMetrics
) -> None:
    """SP-API answering 429 is SP-API up: a hold doubling on each 429 held a follow-up's messages 30 s
    at a time in the chaos suite (8 x 429 in a row), behind a bucket empty for one interval."""
    holds = world.relay.gateway.failing
    bucket = bucket_for("acme", "eu", CATALOG["create-fulfillment"].operation)
    holds.failed(bucket)  # a 5xx just before: the 429 that follows is an answer, it releases the hold
    world.clock.current += HOLD_SECONDS
    throttled = SpApiResponse(429, {"errors": [{"code": "QuotaExceeded"}]}, "req-429")
    world.spapi.answer("createFulfillmentOrder", *[throttled] * 8)
    for create in creates(8):
        assert world.process(create) is Disposition.DONE  # deferred: no receive counted
        assert holds.held_for(bucket) == 0.0
        world.clock.current += 1.0
    assert len(world.spapi.calls) == 8
    assert metrics.counts.get(SPAPI_FAILURE_DEFERRALS, 0) == 0
