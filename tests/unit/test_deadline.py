"""The deadline guard: a message starts only when the invocation has time for its worst case, the rest
of the batch goes back at once as delayed copies (no receive counted), calls never run past the time
left, and a paged read stops between pages and goes on at the next page."""

from __future__ import annotations

import json
from collections import Counter

import httpx
import pytest

from adapters.spapi import request_seconds, timeout_within
from domain.gateway import DEADLINE_MARGIN_SECONDS
from domain.outcomes import OutcomeStatus
from domain.ports import InboundMessage
from domain.rate_limits import Bucket
from domain.relay import COMMANDS_NEVER_FIT, DEFERRALS, Disposition, RetryPolicy
from domain.relay_context import RelayContextSeal
from domain.requests import SpApiRequest
from tests.unit.relay_world import TEST_KEY, World, make_world, message, sample
from tests.unit.test_paged_reads import requested_pages, script_pages

pytestmark = pytest.mark.unit

REQUEST_SECONDS = 10.0  # connect + read timeout of one request
AFTER_CALL_SECONDS = 1.0
# A write to a bucket of its own (no Restricted Data Token): its request, the margin, what follows.
WRITE_WORST_CASE = REQUEST_SECONDS + DEADLINE_MARGIN_SECONDS + AFTER_CALL_SECONDS


@pytest.fixture
def world() -> World:
    return make_world(
        policy=RetryPolicy(max_receive_count=3, after_call_seconds=AFTER_CALL_SECONDS),
        request_seconds=REQUEST_SECONDS,
    )


class Invocation:
    """One Lambda invocation: its deadline on the world's clock, and when each SP-API request started."""

    def __init__(self, world: World, seconds: float, call_seconds: float = 0.0) -> None:
        self.world = world
        self.deadline = world.clock.current + seconds
        self.started_with: list[tuple[str, float]] = []

        def during_call(request: SpApiRequest) -> None:
            self.started_with.append((request.operation_id, self.remaining()))
            world.clock.current += call_seconds

        world.spapi.during_call = during_call

    def remaining(self) -> float:
        return max(0.0, self.deadline - self.world.clock.current)

    def run(self, batch: list[InboundMessage]) -> list[Disposition]:
        return [self.world.relay.process(m, self.remaining) for m in batch]


def creates(count: int) -> list[InboundMessage]:
    return [
        message(
            sample(
                "create-fulfillment",
                commandId=f"c-{n}",
                payload={**sample("create-fulfillment")["payload"], "sellerFulfillmentOrderId": f"O-{n}"},
            ),
            message_id=f"m-{n}",
        )
        for n in range(count)
    ]


def deferred_copies(world: World, since: int = 0) -> list[InboundMessage]:
    return [
        message(m.body, 1, message_id=f"copy-{i}-{m.message_id}", relay_context=sealed)
        for i, ((m, _), sealed) in enumerate(
            zip(world.queue.deferred[since:], world.queue.deferred_contexts[since:], strict=True)
        )
    ]


def test_a_write_with_less_than_its_worst_case_left_is_deferred_before_anything_is_spent(
    world: World,
) -> None:
    [create] = creates(1)
    invocation = Invocation(world, WRITE_WORST_CASE - 0.01)
    assert invocation.run([create]) == [Disposition.DONE]
    # Nothing sent, nothing claimed, no token taken, no receive counted: a delayed copy, 1 s.
    assert world.spapi.calls == [] and world.ledger.writes == [] and world.limiter.taken == []
    assert world.queue.backed_off == [] and world.queue.dead_letters == []
    assert [delay for _, delay in world.queue.deferred] == [1]
    assert RelayContextSeal(TEST_KEY).open(create.body, world.queue.deferred_contexts[0])[DEFERRALS] == 1
    assert world.outcomes.published == []

    # The copy, in an invocation with time for it: applied once, one outcome.
    assert Invocation(world, 60.0).run(deferred_copies(world)) == [Disposition.DONE]
    assert world.spapi.operations() == ["createFulfillmentOrder"]
    assert [o.status for o in world.outcomes.published] == [OutcomeStatus.SUCCEEDED]


class CountingMeter:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def count(self, name: str, value: float = 1) -> None:
        self.counts[name] += int(value)


def metered_world(max_receive_count: int) -> tuple[World, CountingMeter]:
    meter = CountingMeter()
    policy = RetryPolicy(max_receive_count=max_receive_count, after_call_seconds=AFTER_CALL_SECONDS)
    return make_world(policy=policy, request_seconds=REQUEST_SECONDS, meter=meter), meter


def test_a_write_longer_than_an_invocation_is_retried_as_a_failure_and_ends_saying_raise_timeout() -> None:
    world, meter = metered_world(max_receive_count=2)
    [create] = creates(1)
    whole = WRITE_WORST_CASE - 0.5  # the function's timeout: every invocation starts with this much
    with world.relay.batch(invocation_seconds=whole):
        assert Invocation(world, whole).run([create]) == [Disposition.RETRY]
    # Not a wait (no deferral would ever fit it): the queue brings it back, a receive counted. Nothing
    # claimed; the create only announces itself, as any create that could not go yet does.
    assert world.spapi.calls == [] and world.ledger.writes == ["announce create"]
    assert world.queue.deferred == []
    assert len(world.queue.backed_off) == 1 and world.queue.dead_letters == []
    assert meter.counts[COMMANDS_NEVER_FIT] == 1

    with world.relay.batch(invocation_seconds=whole):
        assert Invocation(world, whole).run([message(create.body, 2)]) == [Disposition.DONE]
    [(_, failure)] = world.queue.dead_letters
    assert failure.status is OutcomeStatus.DEAD_LETTERED and failure.code == "LongerThanAnInvocation"
    assert "raise the function's Timeout" in failure.detail and "11.00s in all" in failure.detail
    assert [o.status for o in world.outcomes.published] == [OutcomeStatus.DEAD_LETTERED]
    assert world.spapi.calls == [] and meter.counts[COMMANDS_NEVER_FIT] == 2

    # The timeout raised, the replay is applied once.
    with world.relay.batch(invocation_seconds=60.0):
        assert Invocation(world, 60.0).run([message(create.body, 1)]) == [Disposition.DONE]
    assert world.spapi.operations() == ["createFulfillmentOrder"]
    assert world.outcomes.published[-1].status is OutcomeStatus.SUCCEEDED


def test_a_write_that_came_late_in_a_batch_is_no_write_that_never_fits() -> None:
    world, meter = metered_world(max_receive_count=3)
    [create] = creates(1)
    with world.relay.batch(invocation_seconds=60.0):
        assert Invocation(world, WRITE_WORST_CASE - 0.5).run([create]) == [Disposition.DONE]
    assert world.queue.deferred_reasons == ["DeadlineReached"]
    assert meter.counts[COMMANDS_NEVER_FIT] == 0


def test_the_rest_of_a_batch_goes_back_once_the_time_left_is_short_of_a_write(world: World) -> None:
    # Each create takes 2 s; the invocation has time for 5 of them to start with their worst case ahead.
    batch = creates(10)
    invocation = Invocation(world, WRITE_WORST_CASE + 8.5, call_seconds=2.0)
    assert invocation.run(batch) == [Disposition.DONE] * 10
    assert len(world.spapi.calls) == 5
    assert all(left >= REQUEST_SECONDS + DEADLINE_MARGIN_SECONDS for _, left in invocation.started_with)
    assert min(left for _, left in invocation.started_with) >= WRITE_WORST_CASE - AFTER_CALL_SECONDS
    assert [json.loads(m.body)["commandId"] for m, _ in world.queue.deferred] == [
        f"c-{n}" for n in range(5, 10)
    ]
    assert world.queue.backed_off == [] and world.queue.dead_letters == []

    Invocation(world, 60.0).run(deferred_copies(world))
    applied = Counter(str((r.body or {})["sellerFulfillmentOrderId"]) for _, _, r in world.spapi.calls)
    assert applied == Counter({f"O-{n}": 1 for n in range(10)})
    published = Counter(o.command_id for o in world.outcomes.published)
    assert published == Counter({f"c-{n}": 1 for n in range(10)})


def test_every_call_is_cut_to_the_time_left_less_what_follows_it(world: World) -> None:
    batch = creates(3)
    Invocation(world, 40.0, call_seconds=3.0).run(batch)
    # The call may use the invocation's time less the ledger's and outcome's share and the margin.
    assert world.spapi.timeouts == pytest.approx(
        [40.0 - AFTER_CALL_SECONDS - DEADLINE_MARGIN_SECONDS - 3.0 * n for n in range(3)]
    )


def test_a_token_wait_spends_only_the_time_beyond_the_writes_worst_case(world: World) -> None:
    [create] = creates(1)
    world.limiter.waits = [1.5]  # the shared bucket has a token in 1.5 s (inline wait is 2 s)
    # 0.5 s beyond the write's worst case: waiting 1.5 s would leave the write less than its timeout.
    assert Invocation(world, WRITE_WORST_CASE + 0.5).run([create]) == [Disposition.DONE]
    assert world.spapi.calls == [] and world.clock.slept == []
    assert len(world.queue.deferred) == 1
    ledger = world.ledger.records[("acme", "c-0")]
    assert ledger.state.value == "NOT_APPLIED"  # claimed, never sent: the copy sends it, no probe


def test_a_token_wait_leaves_the_tokens_own_decision_its_time_so_no_granted_token_is_lost(
    world: World,
) -> None:
    [create] = creates(1)
    world.limiter.waits = [1.5]  # the shared bucket has a token in 1.5 s

    def second_decision_takes_a_moment(_bucket: Bucket) -> None:
        if world.limiter.taken:  # the decision after the wait: a conditional write of 0.2 s
            world.clock.current += 0.2

    world.limiter.during_acquire = second_decision_takes_a_moment
    # 1.5 s beyond the write's worst case: waiting all of it would leave the decision after it no time.
    assert Invocation(world, WRITE_WORST_CASE + 1.5).run([create]) == [Disposition.DONE]

    assert len(world.limiter.taken) == 1  # only the decision that said "wait": no token granted and lost
    assert world.clock.slept == [] and world.spapi.calls == []
    assert [delay for _, delay in world.queue.deferred] == [2]  # the copy comes when the token does
    assert world.queue.deferred_reasons == ["Throttled"]
    assert world.queue.backed_off == [] and world.outcomes.published == []


def _slow_token_writes(world: World, seconds: float) -> None:
    """Every rate-limit decision takes ``seconds`` (DynamoDB's conditional write stalled), then grants."""

    def stall(_bucket: Bucket) -> None:
        world.clock.current += seconds

    world.limiter.during_acquire = stall


def test_a_write_whose_token_came_too_late_is_not_sent_and_goes_again_without_a_probe(
    world: World,
) -> None:
    [create] = creates(1)
    # Time for the write when its token is asked for; 3 s later, when it is granted, no longer.
    _slow_token_writes(world, 3.0)
    assert Invocation(world, WRITE_WORST_CASE + 1.0).run([create]) == [Disposition.DONE]
    assert len(world.limiter.taken) == 1  # the token was granted, and is lost
    assert world.spapi.calls == []
    assert world.ledger.records[("acme", "c-0")].state.value == "NOT_APPLIED"
    # Deferred at once, no receive counted, nothing published.
    assert [delay for _, delay in world.queue.deferred] == [1]
    assert world.queue.backed_off == [] and world.queue.dead_letters == []
    assert world.outcomes.published == []

    world.limiter.during_acquire = None
    assert Invocation(world, 60.0).run(deferred_copies(world)) == [Disposition.DONE]
    # Sent once, and without a state probe (getFulfillmentOrder) before it: nothing had gone out.
    assert world.spapi.operations() == ["createFulfillmentOrder"]
    assert [o.status for o in world.outcomes.published] == [OutcomeStatus.SUCCEEDED]


def test_a_slow_token_that_still_leaves_the_write_its_time_lets_it_go(world: World) -> None:
    [create] = creates(1)
    _slow_token_writes(world, 0.9)
    invocation = Invocation(world, WRITE_WORST_CASE + 1.0)
    assert invocation.run([create]) == [Disposition.DONE]
    [(operation, left)] = invocation.started_with
    assert operation == "createFulfillmentOrder"
    assert left >= REQUEST_SECONDS + DEADLINE_MARGIN_SECONDS + AFTER_CALL_SECONDS
    assert [o.status for o in world.outcomes.published] == [OutcomeStatus.SUCCEEDED]


def test_a_paged_read_stops_between_pages_at_the_deadline_and_goes_on_at_the_next_page(world: World) -> None:
    script_pages(world, 1, 9, last=9)
    read = message(sample("list-fulfillment-orders"))
    # Each page takes 4 s; pages need their full timeout (10 s) plus the margin and what follows them.
    invocation = Invocation(world, 25.0, call_seconds=4.0)
    assert invocation.run([read]) == [Disposition.DONE]
    first = requested_pages(world)
    assert first == Counter({1: 1, 2: 1, 3: 1, 4: 1})
    assert [o.status for o in world.outcomes.published] == [OutcomeStatus.SUCCEEDED]  # the part read
    assert world.outcomes.published[0].final is False
    assert (world.outcomes.published[0].result or {})["lastPage"] == 4
    assert world.queue.backed_off == [] and len(world.queue.deferred) == 1

    assert Invocation(world, 600.0).run(deferred_copies(world)) == [Disposition.DONE]
    assert requested_pages(world) == Counter({n: 1 for n in range(1, 10)})  # each page read once
    final = world.outcomes.published[-1]
    assert final.final is True and (final.result or {})["pages"] == 9


def test_the_adapter_cuts_connect_and_read_in_proportion_to_end_within_the_time_given() -> None:
    default = httpx.Timeout(10.0, connect=5.0)
    assert request_seconds(default) == 15.0
    assert timeout_within(default, 20.0) is default
    cut = timeout_within(default, 6.0)
    assert (cut.connect, cut.read) == pytest.approx((2.0, 4.0))
    assert request_seconds(cut) == pytest.approx(6.0)
