"""Every message ends in one truthful outcome: a refused command keeps the identity its body carries,
and a failure nobody foresaw is dead-lettered with a reason instead of escaping the relay."""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.commands import readable_identity
from domain.outcomes import OutcomeStatus
from domain.relay import Disposition
from tests.unit.relay_world import World, message, sample

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
