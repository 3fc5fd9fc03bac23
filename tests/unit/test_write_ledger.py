"""The relay's write path against the ledger's rules: what a delivery does after each kind of ending."""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.catalog import CATALOG
from domain.commands import parse_command
from domain.errors import DependencyUnavailable, SpApiUnavailable
from domain.ledger import LedgerState
from domain.outcomes import OutcomeStatus
from domain.rate_limits import bucket_for
from domain.relay import (
    CREATE_AWAITED_SINCE,
    CREATE_AWAITED_TRIES,
    STATE_PROBE_READS,
    STATE_PROBES,
    Disposition,
    RetryPolicy,
)
from domain.relay_context import RelayContextSeal
from domain.requests import SpApiResponse
from tests.fakes import ProcessKilled
from tests.unit.relay_world import (
    TEST_KEY,
    World,
    existing_order,
    make_world,
    message,
    sample,
)

pytestmark = pytest.mark.unit

LONG_AFTER = 3600.0  # past any lease and acknowledgement window


def _order_id(command: dict[str, Any]) -> str:
    return str(command["payload"]["sellerFulfillmentOrderId"])


def test_the_happy_path_is_one_claim_one_token_the_outbox_one_mark_and_one_call(world: World) -> None:
    assert world.process(message(sample("create-fulfillment"))) is Disposition.DONE

    # The result is saved with its outcome event before the event is published, then marked published.
    assert world.ledger.writes == ["claim", "succeed", "effects_published"]
    assert len(world.limiter.taken) == 1
    assert world.spapi.operations() == ["createFulfillmentOrder"]


def test_a_500_leaves_the_outcome_unknown_and_the_next_delivery_probes_instead_of_resending(
    world: World,
) -> None:
    command = sample("update-fulfillment")
    world.spapi.answer("updateFulfillmentOrder", SpApiResponse(500, {"errors": []}))
    assert world.process(message(command)) is Disposition.RETRY
    assert world.ledger.state_of(command["commandId"]) is LedgerState.UNKNOWN
    order = {
        "sellerFulfillmentOrderId": _order_id(command),
        "displayableOrderComment": command["payload"]["displayableOrderComment"],
        "shippingSpeedCategory": command["payload"]["shippingSpeedCategory"],
    }
    items = [{"sellerFulfillmentOrderItemId": "ORDER-10001-1", "sellerSku": "SKU", "quantity": 3}]
    world.spapi.answer(
        "getFulfillmentOrder",
        SpApiResponse(200, {"payload": {"fulfillmentOrder": order, "fulfillmentOrderItems": items}}),
    )

    assert world.process(message(command, receive_count=2)) is Disposition.DONE

    assert world.spapi.operations() == ["updateFulfillmentOrder", "getFulfillmentOrder"]
    assert world.ledger.state_of(command["commandId"]) is LedgerState.SUCCEEDED
    [outcome] = world.outcomes.published
    assert outcome.result is not None and "every requested field" in outcome.result["alreadyDone"]


def test_a_probe_that_finds_the_update_missing_sends_it(world: World) -> None:
    command = sample("update-fulfillment")
    world.spapi.answer("updateFulfillmentOrder", SpApiUnavailable("read timeout"))
    world.process(message(command))
    order = {"displayableOrderComment": "before", "shippingSpeedCategory": "Standard"}
    world.spapi.answer("getFulfillmentOrder", SpApiResponse(200, {"payload": {"fulfillmentOrder": order}}))

    assert world.process(message(command, receive_count=2)) is Disposition.DONE

    assert world.spapi.operations() == [
        "updateFulfillmentOrder",
        "getFulfillmentOrder",
        "updateFulfillmentOrder",
    ]


def test_a_request_that_never_left_is_sent_again_without_a_probe(world: World) -> None:
    command = sample("cancel-fulfillment")
    world.spapi.answer("cancelFulfillmentOrder", SpApiUnavailable("connect failed", may_have_applied=False))
    world.process(message(command))
    assert world.ledger.state_of(command["commandId"]) is LedgerState.NOT_APPLIED

    world.process(message(command, receive_count=2))

    assert world.spapi.operations() == ["cancelFulfillmentOrder", "cancelFulfillmentOrder"]


def test_a_429_is_not_applied(world: World) -> None:
    command = sample("cancel-fulfillment")
    world.spapi.answer("cancelFulfillmentOrder", SpApiResponse(429, {"errors": []}))

    world.process(message(command))

    assert world.ledger.state_of(command["commandId"]) is LedgerState.NOT_APPLIED


def test_a_live_lease_defers_the_duplicate_until_it_runs_out(world: World) -> None:
    command = sample("cancel-fulfillment")
    # A first worker claimed it and is still calling (its lease is live).
    world.ledger.claim(
        parse_command(json.dumps(command)), now=world.clock.now(), lease_until=world.clock.now() + 40
    )

    assert world.process(message(command, message_id="duplicate")) is Disposition.DONE

    [(_, delay)] = world.queue.deferred
    assert delay == 5  # it looks again soon: the holder usually finishes long before its lease ends
    assert world.spapi.calls == [] and world.outcomes.published == []


def test_a_save_refused_after_sp_api_accepted_publishes_nothing_and_the_retry_probes_and_speaks_once(
    world: World,
) -> None:
    command = sample("create-fulfillment")
    original_succeed = world.ledger.succeed
    calls: list[int] = []

    def failing_succeed(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) <= 3:  # every try of the first delivery fails
            raise DependencyUnavailable("write ledger update failed: ThrottlingException")
        original_succeed(*args, **kwargs)

    world.ledger.succeed = failing_succeed  # type: ignore[method-assign]
    assert world.process(message(command)) is Disposition.RETRY  # nothing is out yet: not dead-lettered
    assert world.ledger.state_of(command["commandId"]) is LedgerState.UNKNOWN
    assert world.outcomes.published == []
    world.spapi.answer("getFulfillmentOrder", SpApiResponse(200, existing_order(command["payload"])))

    assert world.process(message(command, receive_count=2)) is Disposition.DONE
    world.clock.current += LONG_AFTER
    assert world.process(message(command, message_id="replay")) is Disposition.DONE

    assert world.spapi.operations() == ["createFulfillmentOrder", "getFulfillmentOrder"]
    assert world.ledger.state_of(command["commandId"]) is LedgerState.SUCCEEDED
    assert [o.status for o in world.outcomes.published] == [OutcomeStatus.SUCCEEDED]
    assert world.queue.dead_letters == []


def test_already_exists_for_another_order_is_a_rejection_with_the_reason(world: World) -> None:
    command = sample("create-fulfillment")
    exists = [{"code": "InvalidInput", "message": "A create request already exists for X"}]
    world.spapi.answer("createFulfillmentOrder", SpApiResponse(400, {"errors": exists}))
    other = existing_order(command["payload"])
    other["payload"]["fulfillmentOrderItems"][0]["sellerSku"] = "SKU-OTHER"
    world.spapi.answer("getFulfillmentOrder", SpApiResponse(200, other))

    world.process(message(command))

    [(_, failure)] = world.queue.dead_letters
    assert failure.code == "ExistingOrderDiffers"
    assert "already belongs to another order" in failure.detail and "sellerSku" in failure.detail
    assert world.outcomes.published[0].status is OutcomeStatus.REJECTED


def test_already_exists_for_an_order_to_another_address_is_a_rejection_naming_the_field_not_the_address(
    world: World,
) -> None:
    command = sample("create-fulfillment")
    exists = [{"code": "InvalidInput", "message": "A create request already exists for X"}]
    world.spapi.answer("createFulfillmentOrder", SpApiResponse(400, {"errors": exists}))
    elsewhere = {
        **command["payload"]["destinationAddress"],
        "addressLine1": "1 Other Street",
        "city": "Elsewhere",
    }
    world.spapi.answer(
        "getFulfillmentOrder",
        SpApiResponse(200, existing_order(command["payload"], destinationAddress=elsewhere)),
    )

    world.process(message(command))

    [(_, failure)] = world.queue.dead_letters
    assert failure.code == "ExistingOrderDiffers"
    assert "destinationAddress" in failure.detail
    published = json.dumps(world.outcomes.published[0].detail())
    assert world.outcomes.published[0].status is OutcomeStatus.REJECTED
    for value in ("1 Other Street", "Elsewhere", command["payload"]["destinationAddress"]["addressLine1"]):
        assert value not in failure.detail and value not in published


def test_an_acknowledgement_still_new_waits_out_the_window_then_resends_only_what_is_missing(
    world: World,
) -> None:
    command = sample("acknowledge-po")
    world.spapi.answer("submitAcknowledgement", SpApiResponse(503, {"errors": []}))
    world.process(message(command))
    world.spapi.answer("createRestrictedDataToken", rdt(), rdt())
    new = SpApiResponse(200, {"orderDetails": {"orderStatus": "NEW"}})
    world.spapi.answer("getOrder", new, new)

    assert world.process(message(command, receive_count=2)) is Disposition.DONE
    [(_, delay)] = world.queue.deferred
    assert delay == 5  # looks again until the first attempt's window is over, then re-sends
    world.clock.current += LONG_AFTER
    world.spapi.answer("submitAcknowledgement", SpApiResponse(202, {"transactionId": "tx-2"}))
    assert world.process(message(command, receive_count=1, message_id="deferred")) is Disposition.DONE

    assert world.spapi.operations().count("submitAcknowledgement") == 2
    assert world.ledger.state_of(command["commandId"], "acme") is LedgerState.SUCCEEDED


def test_a_write_no_probe_can_settle_goes_to_the_dlq_as_outcome_unknown(world: World) -> None:
    command = sample("submit-fulfillment-order-status-update", account="play")
    world.spapi.answer("submitFulfillmentOrderStatusUpdate", SpApiResponse(502, {"errors": []}))
    world.process(message(command))

    world.process(message(command, receive_count=2))

    [(_, failure)] = world.queue.dead_letters
    assert failure.code == "OutcomeUnknown"
    assert "no state that a read can see" in failure.detail
    assert not failure.detail.startswith("retries exhausted")
    assert world.spapi.operations() == ["submitFulfillmentOrderStatusUpdate"]
    assert world.ledger.state_of(command["commandId"], "play") is LedgerState.UNKNOWN


def test_a_failed_outcome_publish_saves_the_result_and_the_retry_publishes_without_calling(
    world: World,
) -> None:
    command = sample("acknowledge-po")
    world.spapi.answer("submitAcknowledgement", SpApiResponse(202, {"transactionId": "tx-1"}))
    world.outcomes.failures_to_raise = [DependencyUnavailable("bus down")]

    assert world.process(message(command)) is Disposition.RETRY
    assert world.process(message(command, receive_count=2)) is Disposition.DONE
    assert world.process(message(command, message_id="duplicate")) is Disposition.DONE

    assert world.spapi.operations() == ["submitAcknowledgement"]
    assert [o.status for o in world.outcomes.published] == [OutcomeStatus.SUCCEEDED]
    # One follow-up chain per transaction: the retry that published the outcome and the duplicate
    # find the chain the first try started in the ledger and schedule nothing.
    assert len(world.queue.scheduled) == 1
    assert list(world.ledger.follow_ups) == [("acme", "tx-1")]


def test_a_follow_up_that_could_not_be_scheduled_is_started_by_the_retry(world: World) -> None:
    command = sample("acknowledge-po")
    world.spapi.answer("submitAcknowledgement", SpApiResponse(202, {"transactionId": "tx-1"}))
    world.queue.failures_to_raise = [DependencyUnavailable("sqs down")]

    assert world.process(message(command)) is Disposition.RETRY
    assert world.ledger.follow_ups == {}
    assert world.process(message(command, receive_count=2)) is Disposition.DONE

    assert world.spapi.operations() == ["submitAcknowledgement"]
    assert len(world.queue.scheduled) == 1
    assert [o.status for o in world.outcomes.published] == [OutcomeStatus.SUCCEEDED]


def test_a_status_check_replayed_from_the_dlq_publishes_the_failure_once(world: World) -> None:
    """The DLQ copy and the replay carry the sealed follow-up context; the ledger's record of the chain
    says its final event is out, so the second replay publishes nothing."""
    world.spapi.answer("submitAcknowledgement", SpApiResponse(202, {"transactionId": "tx-1"}))
    world.process(message(sample("acknowledge-po")))
    [(check, _, context)] = world.queue.scheduled
    errors = [{"code": "InvalidData", "message": "Bad quantity"}]
    failure = {
        "transactionStatus": {"transactionId": "tx-1", "status": "Failure", "errors": {"errors": errors}}
    }
    world.spapi.answer(
        "getTransactionStatus",
        SpApiResponse(500, {"errors": []}),
        SpApiResponse(200, failure),
        SpApiResponse(200, failure),
    )

    first = message(check, receive_count=3, message_id="check", relay_context=context)
    assert world.process(first) is Disposition.DONE
    [(dead, _)] = world.queue.dead_letters
    [dead_context] = world.queue.dead_letter_contexts
    assert world.outcomes.events == []
    for replay in ("replay-1", "replay-2"):  # the runbook's replay, twice: the sealed context comes along
        world.process(message(dead.body, message_id=replay, relay_context=dead_context))

    [(detail_type, detail)] = world.outcomes.events
    assert detail_type == "sp-relay transaction Failure"
    assert (detail["of"], detail["type"], detail["errors"]) == (
        sample("acknowledge-po")["commandId"],
        "acknowledge-po",
        errors,
    )
    # The second replay reads the status once more, finds the chain's event out, and publishes nothing.
    assert world.spapi.operations().count("getTransactionStatus") == 3
    assert len(world.queue.scheduled) == 1


def rdt() -> SpApiResponse:
    return SpApiResponse(200, {"restrictedDataToken": "Atz.sprdt|x", "expiresIn": 3600})


# --- per-order sequence: a write that overtook its order's create waits for it ----------------------------

NOT_FOUND = SpApiResponse(404, {"errors": [{"code": "NotFound", "message": "Requested order not found"}]})


def _claim_create(world: World, create: dict[str, Any]) -> None:
    """A first worker claimed the create and is still calling SP-API (its lease is live)."""
    world.ledger.claim(
        parse_command(json.dumps(create)),
        now=world.clock.now(),
        lease_until=world.clock.now() + 40,
        creates_order=_order_id(create),
    )


@pytest.mark.parametrize("command_type", ["update-fulfillment", "cancel-fulfillment"])
def test_a_write_that_overtook_its_create_waits_for_it_then_applies(world: World, command_type: str) -> None:
    create = sample("create-fulfillment")
    later = sample(command_type)
    assert _order_id(later) == _order_id(create)
    _claim_create(world, create)
    operation = "updateFulfillmentOrder" if command_type == "update-fulfillment" else "cancelFulfillmentOrder"
    world.spapi.answer(operation, NOT_FOUND)

    assert world.process(message(later)) is Disposition.DONE

    [(deferred, delay)] = world.queue.deferred
    assert delay == 5 and deferred.receive_count == 1
    assert world.queue.dead_letters == [] and world.outcomes.published == []
    assert world.ledger.state_of(later["commandId"]) is LedgerState.NOT_APPLIED
    assert world.ledger.reads == [f"create of {_order_id(create)}"]

    # The create's worker gets its answer and saves it; then the deferred copy comes back.
    world.ledger.succeed(parse_command(json.dumps(create)), 1, {"answer": None}, message_id="create")
    assert world.process(message(later, message_id="deferred copy")) is Disposition.DONE

    assert [o.status for o in world.outcomes.published] == [OutcomeStatus.SUCCEEDED]
    assert world.spapi.operations() == [operation, operation]
    assert world.ledger.state_of(later["commandId"]) is LedgerState.SUCCEEDED
    assert world.queue.dead_letters == []


def test_a_write_waits_for_a_create_that_was_not_applied_yet_and_its_retry_applies(world: World) -> None:
    create, update = sample("create-fulfillment"), sample("update-fulfillment")
    world.spapi.answer("createFulfillmentOrder", SpApiUnavailable("connect failed", may_have_applied=False))
    assert world.process(message(create)) is Disposition.RETRY
    world.spapi.answer("updateFulfillmentOrder", NOT_FOUND)

    assert world.process(message(update, message_id="m-2")) is Disposition.DONE
    assert len(world.queue.deferred) == 1
    assert world.process(message(create, receive_count=2)) is Disposition.DONE
    assert world.process(message(update, message_id="m-3")) is Disposition.DONE

    assert world.spapi.operations() == [
        "createFulfillmentOrder",
        "updateFulfillmentOrder",
        "createFulfillmentOrder",
        "updateFulfillmentOrder",
    ]
    assert [o.status for o in world.outcomes.published] == [OutcomeStatus.SUCCEEDED, OutcomeStatus.SUCCEEDED]
    assert world.queue.dead_letters == []


def test_a_not_found_order_the_relay_never_created_stays_a_rejection(world: World) -> None:
    update = sample("update-fulfillment")
    world.spapi.answer("updateFulfillmentOrder", NOT_FOUND)

    assert world.process(message(update)) is Disposition.DONE

    assert world.queue.deferred == []
    [(_, failure)] = world.queue.dead_letters
    assert failure.status is OutcomeStatus.REJECTED and failure.code == "SpApiRejected"


def test_a_not_found_order_whose_create_was_rejected_stays_a_rejection(world: World) -> None:
    create, update = sample("create-fulfillment"), sample("update-fulfillment")
    world.spapi.answer("createFulfillmentOrder", SpApiResponse(400, {"errors": [{"code": "InvalidInput"}]}))
    world.process(message(create))
    assert world.ledger.state_of(create["commandId"]) is LedgerState.REJECTED
    world.spapi.answer("updateFulfillmentOrder", NOT_FOUND)

    world.process(message(update, message_id="m-2"))

    assert world.queue.deferred == []
    assert [f.status for _, f in world.queue.dead_letters] == [OutcomeStatus.REJECTED, OutcomeStatus.REJECTED]


def _create_bucket(create: dict[str, Any]) -> str:
    return bucket_for(create["account"], create["region"], CATALOG["create-fulfillment"].operation).key


@pytest.mark.parametrize("held_by", ["token", "failing SP-API"])
def test_a_write_of_an_order_whose_create_waits_before_its_claim_waits_for_it_too(held_by: str) -> None:
    world = make_world(failure_hold_seconds=30.0)
    create, update = sample("create-fulfillment"), sample("update-fulfillment")
    if held_by == "token":
        world.limiter.known_waits[_create_bucket(create)] = 30.0
    else:
        other = sample("create-fulfillment", commandId="another-create")
        other["payload"] = {**other["payload"], "sellerFulfillmentOrderId": "ORDER-OTHER"}
        world.spapi.answer("createFulfillmentOrder", SpApiResponse(503, {"errors": []}))
        world.process(message(other, message_id="another create"))
        world.ledger.writes.clear()
    assert world.process(message(create)) is Disposition.DONE  # a delayed copy, no receive counted
    assert world.ledger.writes == ["announce create"]  # no claim: it waits before one
    assert world.ledger.state_of(create["commandId"]) is LedgerState.NOT_APPLIED
    world.spapi.answer("updateFulfillmentOrder", NOT_FOUND)

    assert world.process(message(update, message_id="m-2")) is Disposition.DONE

    assert world.queue.dead_letters == [] and world.outcomes.published == []
    assert world.ledger.state_of(update["commandId"]) is LedgerState.NOT_APPLIED
    # The create goes, once its bucket or SP-API lets it; then the update's waiting copy applies.
    world.limiter.known_waits.clear()
    world.clock.current += 60
    world.spapi.answer("createFulfillmentOrder", SpApiResponse(200, {}))
    assert world.process(message(create, message_id="create again", receive_count=2)) is Disposition.DONE
    world.spapi.answer("updateFulfillmentOrder", SpApiResponse(200, {}))
    assert _waiting_copy(world, 0) is Disposition.DONE

    assert world.ledger.state_of(create["commandId"]) is LedgerState.SUCCEEDED
    assert world.ledger.state_of(update["commandId"]) is LedgerState.SUCCEEDED
    assert world.queue.dead_letters == []


def test_a_create_is_announced_once_not_on_each_of_its_delayed_copies(world: World) -> None:
    create = sample("create-fulfillment")
    world.limiter.known_waits[_create_bucket(create)] = 30.0
    world.process(message(create))
    [(copy, _)] = world.queue.deferred
    [context] = world.queue.deferred_contexts

    world.process(message(copy.body, message_id="copy", relay_context=context))

    assert world.ledger.writes == ["announce create"]
    assert len(world.queue.deferred) == 2


def _waiting_copy(world: World, copy: int) -> Disposition:
    """The newest delayed copy comes back once its delay is over."""
    deferred, delay = world.queue.deferred[-1]
    world.clock.current += delay
    context = world.queue.deferred_contexts[-1]
    return world.process(message(deferred.body, message_id=f"copy-{copy}", relay_context=context))


def test_a_waiting_copy_reads_the_creates_ledger_record_instead_of_sp_api_and_waits_longer_each_time(
    world: World,
) -> None:
    create, update = sample("create-fulfillment"), sample("update-fulfillment")
    _claim_create(world, create)
    world.spapi.answer("updateFulfillmentOrder", NOT_FOUND)
    assert world.process(message(update)) is Disposition.DONE
    for copy in range(3):
        assert _waiting_copy(world, copy) is Disposition.DONE

    assert [delay for _, delay in world.queue.deferred] == [5, 10, 20, 40]
    assert world.queue.deferred_reasons == ["AwaitingCreate"] * 4  # the deferral's log line names it
    assert world.spapi.operations() == ["updateFulfillmentOrder"]  # only the first try asked SP-API
    assert world.queue.dead_letters == [] and world.outcomes.published == []

    world.ledger.succeed(parse_command(json.dumps(create)), 1, {"answer": None}, message_id="create")
    world.spapi.answer("updateFulfillmentOrder", SpApiResponse(200, {}))
    assert _waiting_copy(world, 3) is Disposition.DONE

    assert world.spapi.operations() == ["updateFulfillmentOrder", "updateFulfillmentOrder"]
    assert [o.status for o in world.outcomes.published] == [OutcomeStatus.SUCCEEDED]
    assert world.ledger.state_of(update["commandId"]) is LedgerState.SUCCEEDED


def test_a_write_waits_as_long_as_its_create_may_be_retried_then_says_what_to_replay() -> None:
    world = make_world(policy=RetryPolicy(max_receive_count=3, retry_budget_seconds=1800))
    create, update = sample("create-fulfillment"), sample("update-fulfillment")
    _claim_create(world, create)
    world.spapi.answer("updateFulfillmentOrder", NOT_FOUND)
    assert world.process(message(update)) is Disposition.DONE
    for copy in range(20):
        if world.queue.dead_letters:
            break
        assert _waiting_copy(world, copy) is Disposition.DONE

    # Twice as long each time, the last wait cut to the 30 min the create may still be retried.
    assert [delay for _, delay in world.queue.deferred] == [5, 10, 20, 40, 80, 160, 320, 640, 525]
    [(dead, failure)] = world.queue.dead_letters
    assert failure.status is OutcomeStatus.DEAD_LETTERED and failure.code == "AwaitingCreate"
    assert failure.attempts == 10
    assert failure.detail.startswith(
        "gave up waiting for the order's create after 10 tries (about 30 min): nothing of this "
        "update-fulfillment was applied; replay it once that create has succeeded"
    )
    assert [o.status for o in world.outcomes.published] == [OutcomeStatus.DEAD_LETTERED]
    assert world.ledger.state_of(update["commandId"]) is LedgerState.NOT_APPLIED
    assert world.spapi.operations() == ["updateFulfillmentOrder"]
    # A replay starts a wait of its own: the counters of this one stay behind.
    [sealed] = world.queue.dead_letter_contexts
    dead_context = RelayContextSeal(TEST_KEY).open(dead.body, sealed) if sealed else {}
    assert CREATE_AWAITED_SINCE not in dead_context and CREATE_AWAITED_TRIES not in dead_context

    world.ledger.succeed(parse_command(json.dumps(create)), 1, {"answer": None}, message_id="create")
    world.spapi.answer("updateFulfillmentOrder", SpApiResponse(200, {}))
    assert world.process(message(dead.body, message_id="replay")) is Disposition.DONE

    assert world.spapi.operations() == ["updateFulfillmentOrder", "updateFulfillmentOrder"]
    assert [o.status for o in world.outcomes.published][-1] is OutcomeStatus.SUCCEEDED
    assert world.ledger.state_of(update["commandId"]) is LedgerState.SUCCEEDED


# --- one outcome event per command: a late worker and a failed save publish nothing twice --------------


def test_a_worker_that_outlived_its_lease_publishes_nothing_after_the_worker_that_took_over(
    world: World,
) -> None:
    """The first worker's call is applied but answered after its lease ran out; meanwhile a redelivery
    took the command over, probed, found it applied and published its outcome."""
    command = sample("create-fulfillment")
    original_call = world.spapi.call
    took_over: list[Disposition] = []

    def slow_call(*args: Any, **kwargs: Any) -> SpApiResponse:
        answer = original_call(*args, **kwargs)
        if not took_over and args[2].operation_id == "createFulfillmentOrder":
            world.clock.current += LONG_AFTER  # the lease (60 s + margin) runs out during the call
            world.spapi.answer("getFulfillmentOrder", SpApiResponse(200, existing_order(command["payload"])))
            took_over.append(world.process(message(command, receive_count=2, message_id="redelivery")))
        return answer

    world.spapi.call = slow_call  # type: ignore[method-assign]

    assert world.process(message(command)) is Disposition.DONE

    assert took_over == [Disposition.DONE]
    assert [o.status for o in world.outcomes.published] == [OutcomeStatus.SUCCEEDED]
    assert world.spapi.operations() == ["createFulfillmentOrder", "getFulfillmentOrder"]
    assert world.ledger.state_of(command["commandId"]) is LedgerState.SUCCEEDED


def test_a_mark_that_fails_after_the_outcome_went_out_is_tried_again_and_a_replay_publishes_nothing(
    world: World,
) -> None:
    command = sample("update-fulfillment")
    original = world.ledger.effects_published
    failed: list[int] = []

    def mark_failing_twice(*args: Any, **kwargs: Any) -> None:
        if len(failed) < 2:
            failed.append(1)
            raise DependencyUnavailable("write ledger update failed: ProvisionedThroughputExceeded")
        original(*args, **kwargs)

    world.ledger.effects_published = mark_failing_twice  # type: ignore[method-assign]
    assert world.process(message(command)) is Disposition.DONE
    assert world.ledger.state_of(command["commandId"]) is LedgerState.SUCCEEDED

    world.clock.current += LONG_AFTER
    for replay in ("duplicate", "replay-1", "replay-2"):
        assert world.process(message(command, message_id=replay)) is Disposition.DONE

    assert [o.status for o in world.outcomes.published] == [OutcomeStatus.SUCCEEDED]
    assert world.spapi.operations() == ["updateFulfillmentOrder"]  # no probe either


# --- the outbox: a kill or a refused mark after the outcome event -------------------------------------------


def _fail_marks(world: World, how: BaseException, times: int) -> None:
    original = world.ledger.effects_published
    left = [times]

    def mark(*args: Any, **kwargs: Any) -> None:
        if left[0] > 0:
            left[0] -= 1
            raise how
        original(*args, **kwargs)

    world.ledger.effects_published = mark  # type: ignore[method-assign]


@pytest.mark.parametrize("fault", ["kill-after-event", "mark-refused-3-times"])
def test_after_the_outcome_event_a_replay_repeats_that_same_event_never_a_probed_one(
    world: World, fault: str
) -> None:
    """Before the outbox, the record stayed ATTEMPTED: the replay probed, found the effect and published
    a second, different outcome (its own messageId, the probe's result)."""
    command = sample("update-fulfillment")
    if fault == "kill-after-event":
        _fail_marks(world, ProcessKilled(), 1)
        with pytest.raises(ProcessKilled):
            world.process(message(command))
    else:
        _fail_marks(world, DependencyUnavailable("write ledger update failed: AccessDenied"), 3)
        assert world.process(message(command)) is Disposition.DONE
    [first] = world.outcomes.published

    # While the applying worker's lease is live a duplicate waits: it would publish beside that worker.
    assert world.process(message(command, message_id="duplicate")) is Disposition.DONE
    assert len(world.queue.deferred) == 1 and len(world.outcomes.published) == 1
    world.clock.current += LONG_AFTER
    for replay in ("replay-1", "replay-2"):
        assert world.process(message(command, message_id=replay)) is Disposition.DONE

    # The saved event once more (the record cannot tell whether it went out), identical, then nothing.
    assert world.outcomes.published == [first, first]
    assert first.message_id == "m-1" and first.result is not None and first.result["httpStatus"] == 200
    assert world.spapi.operations() == ["updateFulfillmentOrder"]  # no probe, no second call


def test_a_kill_between_recording_the_chain_and_sending_its_first_check_is_restarted_once(
    world: World,
) -> None:
    command = sample("acknowledge-po")
    world.spapi.answer("submitAcknowledgement", SpApiResponse(202, {"transactionId": "tx-1"}))
    world.queue.failures_to_raise = [ProcessKilled()]  # type: ignore[list-item]
    with pytest.raises(ProcessKilled):
        world.process(message(command))
    assert list(world.ledger.follow_ups) == [("acme", "tx-1")] and world.queue.scheduled == []

    world.clock.current += LONG_AFTER
    for replay in ("redelivery", "replay-1", "replay-2"):
        assert world.process(message(command, message_id=replay)) is Disposition.DONE

    # The ack's own record kept the transactionId: the redelivery restarted the chain, once.
    [(check, _, _)] = world.queue.scheduled
    assert json.loads(check)["payload"] == {"transactionId": "tx-1"}
    assert [o.status for o in world.outcomes.published] == [OutcomeStatus.SUCCEEDED]
    assert world.spapi.operations() == ["submitAcknowledgement"]


def test_a_kill_after_the_first_check_went_out_restarts_at_most_one_more_chain_and_one_final_event(
    world: World,
) -> None:
    command = sample("acknowledge-po")
    world.spapi.answer("submitAcknowledgement", SpApiResponse(202, {"transactionId": "tx-1"}))
    _fail_marks(world, ProcessKilled(), 1)
    with pytest.raises(ProcessKilled):
        world.process(message(command))
    world.clock.current += LONG_AFTER
    for replay in ("replay-1", "replay-2"):
        world.process(message(command, message_id=replay))
    assert len(world.queue.scheduled) == 2  # the record cannot tell the first went out: one restart

    success = {"transactionStatus": {"transactionId": "tx-1", "status": "Success"}}
    world.spapi.answer("getTransactionStatus", SpApiResponse(200, success), SpApiResponse(200, success))
    for number, (check, _, context) in enumerate(world.queue.scheduled):
        world.process(message(check, message_id=f"check-{number}", relay_context=context))

    assert [kind for kind, _ in world.outcomes.events] == ["sp-relay transaction Success"]


def test_two_copies_of_a_status_check_at_once_publish_one_final_event(world: World) -> None:
    world.spapi.answer("submitAcknowledgement", SpApiResponse(202, {"transactionId": "tx-1"}))
    world.process(message(sample("acknowledge-po")))
    [(check, _, context)] = world.queue.scheduled
    failure = {"transactionStatus": {"transactionId": "tx-1", "status": "Failure", "errors": None}}
    world.spapi.answer("getTransactionStatus", *[SpApiResponse(200, failure)] * 3)
    original = world.outcomes.publish_event
    copies: list[Disposition] = []

    def publish_while_a_copy_runs(detail_type: str, detail: Any) -> None:
        if not copies:  # the second copy reads the same final status while the first is publishing
            copies.append(world.process(message(check, message_id="copy", relay_context=context)))
        original(detail_type, detail)

    world.outcomes.publish_event = publish_while_a_copy_runs  # type: ignore[method-assign]
    assert world.process(message(check, message_id="check", relay_context=context)) is Disposition.DONE

    assert copies == [Disposition.DONE] and len(world.queue.deferred) == 1  # it waits on the hold
    world.clock.current += LONG_AFTER
    [(deferred, _)] = world.queue.deferred
    [deferred_context] = world.queue.deferred_contexts
    again = message(deferred.body, message_id="copy-later", relay_context=deferred_context)
    assert world.process(again) is Disposition.DONE
    assert [kind for kind, _ in world.outcomes.events] == ["sp-relay transaction Failure"]


@pytest.mark.parametrize("command_type", ["acknowledge-po", "acknowledge-retail-po"])
def test_an_acknowledgement_settled_by_a_probe_says_no_transaction_is_followed_and_what_the_probe_saw(
    world: World, command_type: str
) -> None:
    command = sample(command_type)
    world.spapi.answer("submitAcknowledgement", SpApiResponse(500, {"errors": []}))
    assert world.process(message(command)) is Disposition.RETRY
    if command_type == "acknowledge-po":
        [acknowledgement] = command["payload"]["orderAcknowledgements"]
        world.spapi.answer("createRestrictedDataToken", rdt())
        world.spapi.answer("getOrder", SpApiResponse(200, {"orderDetails": {"orderStatus": "ACCEPTED"}}))
        state = "ACCEPTED"
    else:
        [acknowledgement] = command["payload"]["acknowledgements"]
        world.spapi.answer(
            "getPurchaseOrder", SpApiResponse(200, {"payload": {"purchaseOrderState": "Acknowledged"}})
        )
        state = "Acknowledged"

    assert world.process(message(command, receive_count=2)) is Disposition.DONE

    [outcome] = world.outcomes.published
    assert outcome.result is not None
    follow_up = outcome.result["transactionFollowUp"]
    assert follow_up["status"] == "settledByProbe"
    assert follow_up["orderStates"] == {acknowledgement["purchaseOrderNumber"]: state}
    assert world.queue.scheduled == []  # no transactionId is known: no chain pretends to follow one


def test_a_probe_and_its_reads_are_counted_through_the_metrics_port() -> None:
    """The chaos suite prints these: probes run and the read tokens they spent (one per read)."""
    counts: dict[str, float] = {}

    class CountingMeter:
        def count(self, name: str, value: float = 1) -> None:
            counts[name] = counts.get(name, 0) + value

    world = make_world(meter=CountingMeter())
    command = sample("update-fulfillment")
    world.spapi.answer("updateFulfillmentOrder", SpApiUnavailable("read timeout"))
    world.process(message(command))
    assert counts == {}  # a first attempt probes nothing
    order = {"displayableOrderComment": "before", "shippingSpeedCategory": "Standard"}
    world.spapi.answer("getFulfillmentOrder", SpApiResponse(200, {"payload": {"fulfillmentOrder": order}}))

    assert world.process(message(command, receive_count=2)) is Disposition.DONE

    assert counts == {STATE_PROBES: 1, STATE_PROBE_READS: 1}
