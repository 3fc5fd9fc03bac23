"""Retries by time budget: a failing SP-API or dependency is retried with delayed copies (no receive
counted) until the budget since the first attempt is spent; only then the dead-letter queue."""

from __future__ import annotations

import json

import pytest

from domain.attributes import RELAY_CONTEXT_ATTRIBUTE
from domain.outcomes import OutcomeStatus
from domain.relay import FIRST_ATTEMPT, MAX_SQS_DELAY_SECONDS, RETRIES, Disposition, RetryPolicy
from domain.relay_context import RelayContextSeal
from domain.requests import SpApiResponse
from tests.unit.relay_world import TEST_KEY, World, make_world, message, sample

pytestmark = pytest.mark.unit

BUDGET_SECONDS = 4 * 3600.0


@pytest.fixture
def budget_world() -> World:
    return make_world(policy=RetryPolicy(max_receive_count=3, retry_budget_seconds=BUDGET_SECONDS))


def _next_copy(world: World) -> tuple[str, int]:
    """The last delayed copy's sealed context and delay, as the next receive sees them."""
    [*_, (_, delay)] = world.queue.deferred
    return world.queue.deferred_contexts[-1], delay


def test_an_outage_longer_than_the_receive_count_is_ridden_out_without_counting_receives(
    budget_world: World,
) -> None:
    world = budget_world
    command = sample("cancel-fulfillment")
    body = json.dumps(command)
    world.spapi.answer("cancelFulfillmentOrder", *[SpApiResponse(503, None)] * 12)
    context: str | None = None
    delays = []
    for _ in range(12):  # four times the receive count, every attempt answered 503
        assert world.process(message(body, receive_count=1, relay_context=context)) is Disposition.DONE
        context, delay = _next_copy(world)
        delays.append(delay)
        world.clock.current += delay
    assert world.queue.dead_letters == [] and world.queue.backed_off == []
    assert world.outcomes.published == []
    assert all(1 <= d <= MAX_SQS_DELAY_SECONDS for d in delays)
    assert delays[-1] > delays[0]  # exponential backoff
    opened = RelayContextSeal(TEST_KEY).open(body, context)
    assert opened[RETRIES] == 12
    assert opened[FIRST_ATTEMPT] == pytest.approx(1_700_000_000.0)

    # The script is empty: SP-API is back.
    assert world.process(message(body, relay_context=context)) is Disposition.DONE
    assert [o.status for o in world.outcomes.published] == [OutcomeStatus.SUCCEEDED]


def test_the_spent_budget_dead_letters_with_the_reason_and_how_long_it_tried(budget_world: World) -> None:
    world = budget_world
    command = sample("cancel-fulfillment")
    body = json.dumps(command)
    world.spapi.answer("cancelFulfillmentOrder", *[SpApiResponse(503, None)] * 200)
    context: str | None = None
    for _ in range(200):
        world.process(message(body, relay_context=context))
        if world.queue.dead_letters:
            break
        context, delay = _next_copy(world)
        world.clock.current += delay
    [(_, failure)] = world.queue.dead_letters
    spent = world.clock.current - 1_700_000_000.0
    assert BUDGET_SECONDS <= spent < BUDGET_SECONDS + MAX_SQS_DELAY_SECONDS
    assert failure.code == "SpApiUnavailable"
    assert "retry budget of 4 h spent: retried for 24" in failure.detail
    assert "503" in failure.detail
    [outcome] = world.outcomes.published
    assert outcome.status is OutcomeStatus.DEAD_LETTERED
    # A replay from the dead-letter queue starts a budget of its own.
    [carried] = world.queue.dead_letter_contexts
    assert carried is None or FIRST_ATTEMPT not in RelayContextSeal(TEST_KEY).open(body, carried)


def test_a_producer_cannot_forge_the_first_attempt(budget_world: World) -> None:
    world = budget_world
    world.spapi.answer("cancelFulfillmentOrder", SpApiResponse(503, None))
    body = json.dumps(sample("cancel-fulfillment"))
    forged = RelayContextSeal(b"k" * 32).seal(body, {FIRST_ATTEMPT: 0.0, RETRIES: 99})

    assert world.process(message(body, attributes={RELAY_CONTEXT_ATTRIBUTE: forged})) is Disposition.DONE

    assert world.queue.dead_letters == []
    opened = RelayContextSeal(TEST_KEY).open(body, world.queue.deferred_contexts[-1])
    assert opened[RETRIES] == 1


def test_the_receive_count_still_catches_a_crash_loop(budget_world: World) -> None:
    world = budget_world
    world.spapi.answer("cancelFulfillmentOrder", SpApiResponse(503, None))

    world.process(message(sample("cancel-fulfillment"), receive_count=3))

    assert len(world.queue.dead_letters) == 1 and world.queue.deferred == []


def test_without_a_budget_retries_count_receives(world: World) -> None:
    world.spapi.answer("cancelFulfillmentOrder", SpApiResponse(503, None))

    assert world.process(message(sample("cancel-fulfillment"))) is Disposition.RETRY

    assert world.queue.deferred == [] and len(world.queue.backed_off) == 1
