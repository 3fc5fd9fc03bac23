from __future__ import annotations

import json

import pytest

from domain.errors import DependencyUnavailable, SpApiUnavailable
from domain.ledger import LedgerState
from domain.outcomes import OutcomeStatus
from domain.relay import Disposition
from domain.requests import SpApiResponse
from tests.unit.relay_world import World, existing_order, message, sample

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("command_type", ["create-fulfillment", "update-fulfillment", "cancel-fulfillment"])
def test_a_valid_command_is_sent_once_with_its_payload_as_the_body(world: World, command_type: str) -> None:
    command = sample(command_type)

    assert world.process(message(command)) is Disposition.DONE

    [(account, region, request)] = world.spapi.calls
    assert (account, region) == ("acme", command.get("region", "eu"))
    expected_body = {k: v for k, v in command["payload"].items() if k != "sellerFulfillmentOrderId"}
    if command_type == "create-fulfillment":
        expected_body = command["payload"]
    assert (request.body or {}) == expected_body
    [outcome] = world.outcomes.published
    assert outcome.status is OutcomeStatus.SUCCEEDED
    assert outcome.command_id == command["commandId"]


def test_acknowledgement_outcome_carries_the_transaction_id(world: World) -> None:
    world.spapi.answer("submitAcknowledgement", SpApiResponse(202, {"transactionId": "tx-42"}, "req-9"))

    world.process(message(sample("acknowledge-po")))

    [outcome] = world.outcomes.published
    assert outcome.result is not None
    assert outcome.result["answer"] == {"transactionId": "tx-42"}
    assert outcome.result["httpStatus"] == 202


def test_the_same_command_id_twice_makes_one_sp_api_call_and_one_outcome_event(world: World) -> None:
    command = sample("create-fulfillment")

    world.process(message(command, message_id="m-1"))
    assert world.process(message(command, message_id="m-2")) is Disposition.DONE

    assert world.spapi.operations() == ["createFulfillmentOrder"]
    assert [o.status for o in world.outcomes.published] == [OutcomeStatus.SUCCEEDED]


def test_a_command_id_reused_with_another_payload_is_rejected(world: World) -> None:
    command = sample("cancel-fulfillment")
    world.process(message(command))
    command["payload"] = {"sellerFulfillmentOrderId": "OTHER-ORDER"}

    assert world.process(message(command)) is Disposition.DONE

    [(_, failure)] = world.queue.dead_letters
    assert failure.code == "CommandIdReused"
    assert "commandId" in failure.detail
    assert len(world.spapi.calls) == 1


@pytest.mark.parametrize(
    ("body", "code", "named"),
    [
        ("not json", "InvalidCommand", "not valid JSON"),
        (
            '{"type": "ship-it", "commandId": "c", "account": "acme", "payload": {}}',
            "UnknownCommandType",
            "ship-it",
        ),
        ('{"type": "cancel-fulfillment", "account": "acme", "payload": {}}', "InvalidCommand", "commandId"),
        (
            json.dumps(sample("cancel-fulfillment", payload={"sellerFulfillmentOrderId": "X" * 41})),
            "InvalidCommand",
            "payload.sellerFulfillmentOrderId",
        ),
    ],
)
def test_bad_input_is_dead_lettered_with_a_reason_naming_the_problem(
    world: World, body: str, code: str, named: str
) -> None:
    assert world.process(message(body)) is Disposition.DONE

    [(_, failure)] = world.queue.dead_letters
    assert failure.code == code
    assert named in failure.detail
    assert world.outcomes.published[0].status is OutcomeStatus.REJECTED
    assert world.spapi.calls == []


def test_an_unknown_account_is_rejected_naming_the_account(world: World) -> None:
    world.process(message(sample("cancel-fulfillment", account="nobody")))

    [(_, failure)] = world.queue.dead_letters
    assert failure.code == "UnknownAccount"
    assert "nobody" in failure.detail


def test_sp_api_400_is_rejected_with_sp_api_errors_and_not_retried(world: World) -> None:
    errors = [{"code": "InvalidInput", "message": "Invalid marketplace", "details": ""}]
    world.spapi.answer("createFulfillmentOrder", SpApiResponse(400, {"errors": errors}, "req-3"))

    assert world.process(message(sample("create-fulfillment"))) is Disposition.DONE

    [outcome] = world.outcomes.published
    assert outcome.status is OutcomeStatus.REJECTED
    assert outcome.failure is not None
    assert outcome.failure.error["errors"] == errors
    assert len(world.queue.dead_letters) == 1


@pytest.mark.parametrize("failure", [SpApiResponse(503, None), SpApiUnavailable("timed out")])
def test_transient_failures_are_retried_with_backoff_then_dead_lettered(
    world: World, failure: SpApiResponse | Exception
) -> None:
    world.spapi.answer("cancelFulfillmentOrder", failure, failure, failure)
    command = sample("cancel-fulfillment")

    assert world.process(message(command, receive_count=1)) is Disposition.RETRY
    assert world.process(message(command, receive_count=2)) is Disposition.RETRY
    assert world.process(message(command, receive_count=3)) is Disposition.DONE

    assert len(world.queue.backed_off) == 2
    assert all(delay >= 1 for _, delay in world.queue.backed_off)
    [(_, dead)] = world.queue.dead_letters
    assert dead.status is OutcomeStatus.DEAD_LETTERED
    assert "retries exhausted after 3 attempts" in dead.detail
    assert [o.status for o in world.outcomes.published] == [OutcomeStatus.DEAD_LETTERED]


def test_a_429_from_sp_api_counts_no_delivery_and_pushes_the_shared_bucket_back(world: World) -> None:
    world.spapi.answer("cancelFulfillmentOrder", SpApiResponse(429, None))
    command = sample("cancel-fulfillment")

    assert world.process(message(command, receive_count=1)) is Disposition.DONE

    [(_, delay)] = world.queue.deferred  # re-sent with a delay: no receive counted
    assert delay >= 1
    assert world.queue.backed_off == [] and world.queue.dead_letters == []
    assert [bucket.operation for bucket in world.limiter.pushed_back] == [
        "fulfillment_outbound_2020_07_01.cancelFulfillmentOrder"
    ]
    assert world.outcomes.published == []


def test_a_retry_after_a_transient_failure_succeeds(world: World) -> None:
    world.spapi.answer("cancelFulfillmentOrder", SpApiResponse(503, None))
    command = sample("cancel-fulfillment")

    assert world.process(message(command, receive_count=1)) is Disposition.RETRY
    assert world.process(message(command, receive_count=2)) is Disposition.DONE

    assert [o.status for o in world.outcomes.published] == [OutcomeStatus.SUCCEEDED]


def test_a_create_that_already_exists_is_confirmed_and_counted_done(world: World) -> None:
    exists = [
        {
            "code": "InvalidInput",
            "message": "A create request already exists for MerchantFulfillmentOrderId : ORDER-10001",
        }
    ]
    command = sample("create-fulfillment")
    world.spapi.answer("createFulfillmentOrder", SpApiResponse(400, {"errors": exists}))
    world.spapi.answer("getFulfillmentOrder", SpApiResponse(200, existing_order(command["payload"])))

    world.process(message(command))

    assert world.spapi.operations() == ["createFulfillmentOrder", "getFulfillmentOrder"]
    assert world.spapi.calls[1][2].path.endswith("/fulfillmentOrders/ORDER-10001")
    [outcome] = world.outcomes.published
    assert outcome.status is OutcomeStatus.SUCCEEDED
    assert outcome.result is not None
    assert "already exists" in outcome.result["alreadyDone"]
    assert (
        outcome.result["answer"] is None
    )  # the confirmation carries the customer's address: never published


def test_an_unconfirmed_already_exists_keeps_the_original_rejection(world: World) -> None:
    exists = [
        {
            "code": "InvalidInput",
            "message": "A create request already exists for MerchantFulfillmentOrderId : X",
        }
    ]
    world.spapi.answer("createFulfillmentOrder", SpApiResponse(400, {"errors": exists}))
    world.spapi.answer("getFulfillmentOrder", SpApiResponse(404, {"errors": [{"code": "NotFound"}]}))

    world.process(message(sample("create-fulfillment")))

    [(_, failure)] = world.queue.dead_letters
    assert failure.error["errors"] == exists


def test_a_duplicate_cancel_is_done(world: World) -> None:
    duplicate = [{"code": "InvalidInput", "message": "Invalid request", "details": "DuplicateCancelRequest"}]
    world.spapi.answer("cancelFulfillmentOrder", SpApiResponse(400, {"errors": duplicate}))

    world.process(message(sample("cancel-fulfillment")))

    assert [o.status for o in world.outcomes.published] == [OutcomeStatus.SUCCEEDED]
    assert world.queue.dead_letters == []


def test_a_short_token_wait_is_waited_inline(world: World) -> None:
    world.limiter.waits = [0.5, 0.0]

    world.process(message(sample("cancel-fulfillment")))

    assert world.clock.slept == [0.5]
    assert len(world.spapi.calls) == 1


def test_a_long_token_wait_defers_the_message_without_calling_sp_api(world: World) -> None:
    world.limiter.waits = [12.3]

    assert world.process(message(sample("cancel-fulfillment"))) is Disposition.DONE

    [(_, delay)] = world.queue.deferred
    assert delay == 13
    assert world.spapi.calls == []
    assert world.outcomes.published == []
    # Nothing happened: the ledger says so, and the deferred copy runs it later without a probe.
    assert world.ledger.state_of("oms-order-10001-cancel") is LedgerState.NOT_APPLIED


def test_the_bucket_is_per_account_region_and_operation(world: World) -> None:
    world.process(message(sample("cancel-fulfillment")))

    [(bucket, plan)] = world.limiter.taken
    assert bucket.key == "acme#eu#fulfillment_outbound_2020_07_01.cancelFulfillmentOrder"
    assert (plan.rate, plan.burst) == (2.0, 30)


def test_a_granted_rate_header_changes_the_plan_of_the_bucket(world: World) -> None:
    world.spapi.answer("cancelFulfillmentOrder", SpApiResponse(200, {}, granted_rate=0.5))
    world.process(message(sample("cancel-fulfillment")))
    world.process(message(sample("cancel-fulfillment", commandId="second")))

    assert [plan.rate for _, plan in world.limiter.taken] == [2.0, 0.5]


def test_a_failed_outcome_publish_is_retried_without_a_second_sp_api_call(world: World) -> None:
    world.outcomes.failures_to_raise = [SpApiUnavailable("bus down")]
    command = sample("cancel-fulfillment")

    assert world.process(message(command, receive_count=1)) is Disposition.RETRY
    assert world.process(message(command, receive_count=2)) is Disposition.DONE

    assert len(world.spapi.calls) == 1
    assert [o.status for o in world.outcomes.published] == [OutcomeStatus.SUCCEEDED]


def test_a_bucket_known_to_be_empty_defers_before_the_write_ledger_is_touched(world: World) -> None:
    world.limiter.known_waits["acme#eu#fulfillment_outbound_2020_07_01.cancelFulfillmentOrder"] = 7.5

    assert world.process(message(sample("cancel-fulfillment"))) is Disposition.DONE

    [(_, delay)] = world.queue.deferred
    assert delay == 8
    assert world.ledger.writes == [] and world.limiter.taken == [] and world.spapi.calls == []


def test_a_failing_secrets_store_is_retried_not_raised(world: World) -> None:
    def unavailable(account: str) -> str:
        raise DependencyUnavailable("reading secret sp-relay/accounts/acme failed: ThrottlingException")

    world.relay.ports.accounts.default_region = unavailable  # type: ignore[method-assign]
    world.relay.ports.accounts.is_sandbox = unavailable  # type: ignore[method-assign,assignment]

    assert world.process(message(sample("cancel-fulfillment"))) is Disposition.RETRY
    assert world.process(message(sample("submit-fulfillment-order-status-update"))) is Disposition.RETRY
    assert len(world.queue.backed_off) == 2


def test_a_misspelt_type_gets_a_suggestion(world: World) -> None:
    world.process(message(sample("create-fulfillment", type="create-fulfilment")))

    [(_, failure)] = world.queue.dead_letters
    assert failure.code == "UnknownCommandType"
    assert "did you mean 'create-fulfillment'?" in failure.detail
