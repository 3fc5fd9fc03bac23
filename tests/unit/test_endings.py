"""Every message ends in one truthful outcome: a refused command keeps the identity its body carries,
and a failure nobody foresaw is dead-lettered with a reason instead of escaping the relay."""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.authorization import AccountAuthorization
from domain.commands import readable_identity
from domain.errors import CredentialsRejected, DependencyUnavailable
from domain.ledger import LedgerState
from domain.outcomes import OutcomeStatus
from domain.relay import Disposition
from domain.requests import SpApiResponse
from tests.unit.relay_world import World, existing_order, make_world, message, sample

pytestmark = pytest.mark.unit


def _broken(field: str, value: Any) -> dict[str, Any]:
    command = sample("create-fulfillment")
    command["payload"] = {**command["payload"], field: value}
    return command


@pytest.mark.parametrize(
    ("command", "named"),
    [
        (_broken("displayableOrderId", 12), "payload.displayableOrderId"),
        (_broken("noSuchField", "x"), "payload.noSuchField"),
        ({**sample("cancel-fulfillment"), "region": "mars"}, "region"),
        ({**sample("cancel-fulfillment"), "payload": {}}, "payload.sellerFulfillmentOrderId"),
        ({**sample("cancel-fulfillment"), "extra": 1}, "extra"),
    ],
)
def test_a_rejected_command_keeps_its_readable_identity_and_names_the_field(
    world: World, command: dict[str, Any], named: str
) -> None:
    assert world.process(message(command)) is Disposition.DONE

    [outcome] = world.outcomes.published
    assert outcome.status is OutcomeStatus.REJECTED
    assert (outcome.command_type, outcome.command_id, outcome.account) == (
        command["type"],
        command["commandId"],
        "acme",
    )
    detail = outcome.detail()
    assert (detail["type"], detail["commandId"], detail["account"]) == (
        command["type"],
        command["commandId"],
        "acme",
    )
    assert outcome.failure is not None and named in outcome.failure.detail


def test_an_identity_field_that_breaks_its_own_rule_is_left_out_not_echoed() -> None:
    body = json.dumps({"type": "cancel-fulfillment", "commandId": "has spaces\n", "account": "a" * 65})
    assert readable_identity(body).command_type == "cancel-fulfillment"
    assert readable_identity(body).command_id is None
    assert readable_identity(body).account is None
    assert readable_identity("[1, 2]").command_id is None
    assert readable_identity("{not json").command_id is None


def test_an_unknown_type_keeps_the_command_id_and_account(world: World) -> None:
    world.process(message({**sample("cancel-fulfillment"), "type": "cancel-fulfilment"}))

    [outcome] = world.outcomes.published
    assert (outcome.command_id, outcome.account) == (sample("cancel-fulfillment")["commandId"], "acme")
    assert outcome.failure is not None and outcome.failure.code == "UnknownCommandType"


class Surprise(Exception):
    pass


def test_an_unexpected_failure_of_a_write_is_dead_lettered_as_outcome_unknown(world: World) -> None:
    world.spapi.answer("createFulfillmentOrder", Surprise("customer jane@example.com said hi"))
    command = sample("create-fulfillment")

    assert world.process(message(command)) is Disposition.DONE

    [outcome] = world.outcomes.published
    [(_, failure)] = world.queue.dead_letters
    assert outcome.status is OutcomeStatus.DEAD_LETTERED
    assert outcome.command_id == command["commandId"]
    assert failure.code == "UnexpectedFailure"
    assert "Surprise" in failure.detail and "outcome unknown" in failure.detail
    assert failure.error["outcomeUnknown"] is True
    assert failure.error["retryable"] is False
    assert "retries exhausted" not in failure.detail
    # The exception's own text may quote data: it is not carried.
    assert "jane@example.com" not in json.dumps(outcome.detail())


@pytest.mark.parametrize("applied", [True, False])
def test_the_replay_of_an_unexpected_failure_of_a_write_probes_before_it_sends_again(
    world: World, applied: bool
) -> None:
    """The failure struck after the request may have left: the ledger keeps the claim, and the replay
    past its lease asks SP-API what happened before it sends anything."""
    world.spapi.answer("createFulfillmentOrder", Surprise("the connection pool fell over"))
    command = sample("create-fulfillment")
    world.process(message(command))
    [(dead, _)] = world.queue.dead_letters
    assert world.ledger.state_of(command["commandId"]) is not LedgerState.NOT_APPLIED
    world.clock.current += 3600.0  # past the claim's lease
    if applied:
        world.spapi.answer("getFulfillmentOrder", SpApiResponse(200, existing_order(command["payload"])))
    else:
        world.spapi.answer("getFulfillmentOrder", SpApiResponse(404, {"errors": [{"code": "NotFound"}]}))
    world.spapi.answer("createFulfillmentOrder", SpApiResponse(200, {}))

    assert world.process(message(dead.body, message_id="replay")) is Disposition.DONE

    sent_again = [] if applied else ["createFulfillmentOrder"]
    assert world.spapi.operations() == ["createFulfillmentOrder", "getFulfillmentOrder", *sent_again]
    assert [o.status for o in world.outcomes.published] == [
        OutcomeStatus.DEAD_LETTERED,
        OutcomeStatus.SUCCEEDED,
    ]
    assert world.ledger.state_of(command["commandId"]) is LedgerState.SUCCEEDED


def test_an_unexpected_failure_of_a_read_says_nothing_was_applied(world: World) -> None:
    world.spapi.answer("getFulfillmentOrder", Surprise("boom"))

    world.process(message(sample("get-fulfillment-order")))

    [(_, failure)] = world.queue.dead_letters
    assert failure.error["outcomeUnknown"] is False
    assert "outcome unknown" not in failure.detail


def test_a_deferral_count_in_odd_digits_defers_instead_of_raising(world: World) -> None:
    world.limiter.known_waits = {bucket: 30.0 for bucket in _all_buckets(world)}
    odd = message(sample("cancel-fulfillment"), attributes={"sp-relay-deferrals": "²"})

    assert world.process(odd) is Disposition.DONE

    [(deferred, delay)] = world.queue.deferred
    [context] = world.queue.deferred_contexts
    assert world.relay.context_of(message(deferred.body, relay_context=context))["deferrals"] == 1
    assert delay >= 30
    assert world.queue.dead_letters == []


def _all_buckets(world: World) -> list[str]:
    from domain.catalog import CATALOG  # noqa: PLC0415
    from domain.rate_limits import bucket_for  # noqa: PLC0415

    return [bucket_for("acme", "eu", entry.operation).key for entry in CATALOG.values()]


# --- one rejected event per command -------------------------------------------------------------------------

INVALID = _broken("displayableOrderId", 12)
REFUSED = SpApiResponse(400, {"errors": [{"code": "InvalidInput", "message": "bad sku"}]}, "req-400")


def _rejected(world: World) -> list[str | None]:
    return [o.command_id for o in world.outcomes.published if o.status is OutcomeStatus.REJECTED]


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(INVALID),
        "{not json at all",
        json.dumps({"type": "cancel-fulfillment", "payload": {}}),  # no commandId, no account
    ],
    ids=["invalid-payload", "not-json", "no-identity"],
)
def test_a_command_refused_before_the_ledger_and_sent_twice_is_rejected_once(world: World, body: str) -> None:
    assert world.process(message(body, message_id="m-1")) is Disposition.DONE
    assert world.process(message(body, message_id="m-2")) is Disposition.DONE

    assert len(_rejected(world)) == 1
    # Both copies stay on the DLQ, the duplicate saying whose event speaks for it.
    [(first, _), (second, duplicate)] = world.queue.dead_letters
    assert (first.message_id, second.message_id) == ("m-1", "m-2")
    assert duplicate.detail.startswith("a duplicate: ")


def test_a_producer_the_relay_does_not_act_for_is_rejected_once_per_command() -> None:
    world = make_world(authorization=AccountAuthorization(allowed_accounts=frozenset({"other"})))
    command = sample("cancel-fulfillment")

    world.process(message(command, message_id="m-1"))
    world.process(message(command, message_id="m-2"))

    assert _rejected(world) == [command["commandId"]]
    assert [f.code for _, f in world.queue.dead_letters] == ["AccountNotAllowed", "AccountNotAllowed"]


def test_a_redelivery_whose_event_failed_publishes_it_and_one_whose_dlq_send_failed_does_not(
    world: World,
) -> None:
    body = json.dumps(INVALID)
    world.outcomes.failures_to_raise.append(DependencyUnavailable("publishing an event failed: test"))
    assert world.process(message(body, message_id="m-1")) is Disposition.RETRY
    world.queue.dead_letter_failures.append(DependencyUnavailable("sending to the DLQ failed: test"))
    assert world.process(message(body, receive_count=2, message_id="m-1")) is Disposition.RETRY
    assert world.process(message(body, receive_count=3, message_id="m-1")) is Disposition.DONE

    assert len(_rejected(world)) == 1
    [(copy, failure)] = world.queue.dead_letters
    assert copy.message_id == "m-1" and not failure.detail.startswith("a duplicate")


def test_another_body_under_the_same_command_id_is_an_ending_of_its_own(world: World) -> None:
    fixed_but_still_wrong = _broken("displayableOrderId", 13)

    world.process(message(INVALID, message_id="m-1"))
    world.process(message(INVALID, message_id="m-2"))  # a duplicate: nothing
    world.process(message(fixed_but_still_wrong, message_id="m-3"))  # a fix-up replay, refused again

    assert _rejected(world) == [INVALID["commandId"], INVALID["commandId"]]


def test_a_write_sp_api_refused_stays_refused_and_a_duplicate_neither_calls_nor_publishes(
    world: World,
) -> None:
    command = sample("create-fulfillment")
    world.spapi.answer("createFulfillmentOrder", REFUSED)

    world.process(message(command, message_id="m-1"))
    world.process(message(command, message_id="m-2"))

    assert world.spapi.operations().count("createFulfillmentOrder") == 1
    assert world.ledger.state_of(command["commandId"]) is LedgerState.REJECTED
    [outcome] = world.outcomes.published
    assert outcome.status is OutcomeStatus.REJECTED and outcome.failure is not None
    assert outcome.failure.code == "SpApiRejected"
    assert [f.code for _, f in world.queue.dead_letters] == ["SpApiRejected", "AlreadyRejected"]


def test_a_redelivered_refused_write_publishes_the_refusal_its_first_delivery_recorded(world: World) -> None:
    command = sample("create-fulfillment")
    world.spapi.answer("createFulfillmentOrder", REFUSED)
    world.outcomes.failures_to_raise.append(DependencyUnavailable("publishing an event failed: test"))

    assert world.process(message(command, message_id="m-1")) is Disposition.RETRY
    assert world.process(message(command, receive_count=2, message_id="m-1")) is Disposition.DONE

    assert world.spapi.operations().count("createFulfillmentOrder") == 1
    [outcome] = world.outcomes.published
    assert outcome.failure is not None and outcome.failure.code == "SpApiRejected"
    assert "bad sku" in outcome.failure.detail


def test_a_refused_write_id_with_another_payload_is_still_refused_as_a_reuse(world: World) -> None:
    command = sample("create-fulfillment")
    world.spapi.answer("createFulfillmentOrder", REFUSED)
    world.process(message(command, message_id="m-1"))
    world.process(message(command, message_id="m-2"))  # a duplicate: refused without a call
    other = {**command, "payload": {**command["payload"], "displayableOrderComment": "another"}}

    world.process(message(other, message_id="m-3"))

    assert world.spapi.operations().count("createFulfillmentOrder") == 1
    assert [o.failure.code for o in world.outcomes.published if o.failure] == [
        "SpApiRejected",
        "CommandIdReused",
    ]


def test_refused_credentials_judged_nothing_so_the_fixed_command_may_go_again(world: World) -> None:
    command = sample("create-fulfillment")
    world.spapi.answer("createFulfillmentOrder", CredentialsRejected("LWA refused the refresh token"))

    world.process(message(command, message_id="m-1"))
    assert world.ledger.state_of(command["commandId"]) is LedgerState.NOT_APPLIED
    world.process(message(command, message_id="m-2"))  # the secret fixed, the DLQ replayed

    assert [o.status for o in world.outcomes.published] == [OutcomeStatus.REJECTED, OutcomeStatus.SUCCEEDED]
    assert world.spapi.operations().count("createFulfillmentOrder") == 2
