"""The operators' tools on the local stack: `sp-relay dlq list/show/replay` and `sp-relay status`,
called in-process through the real CLI with ``--stack-file``."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from cli.dead_letters.scan import read_all
from cli.main import app
from domain.attributes import (
    ATTEMPTS_ATTRIBUTE,
    DETAIL_ATTRIBUTE,
    FAILED_AT_ATTRIBUTE,
    OUTCOME_ATTRIBUTE,
    REASON_ATTRIBUTE,
    RELAY_ATTRIBUTE_PREFIX,
    SOURCE_MESSAGE_ID_ATTRIBUTE,
)
from emulator.state import Fault
from local.runtime import LocalStack
from tests import personal_data
from tests.conftest import sample_command, unique

pytestmark = pytest.mark.e2e

DRAIN_TIMEOUT = 45.0
WIDE = {"COLUMNS": "250"}  # rich tables are not folded, so the output can be searched


@pytest.fixture
def stack_file(stack: LocalStack, tmp_path: Path) -> Path:
    path = tmp_path / "local-stack.json"
    path.write_text(json.dumps(stack.describe()))
    return path


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(arg) for arg in args], env=WIDE)


def run(stack: LocalStack, *commands: dict[str, Any] | str) -> None:
    for command in commands:
        stack.send(command)
    assert stack.wait_until_drained(DRAIN_TIMEOUT), "the command queue did not drain"


def dlq_url(stack: LocalStack) -> str:
    assert stack.resources is not None
    return stack.resources.dead_letter_queue_url


def on_dlq(stack: LocalStack) -> list[dict[str, Any]]:
    """The DLQ's messages as commands (left in place)."""
    return [
        letter.command or {"body": letter.body} for letter in read_all(stack.client("sqs"), dlq_url(stack))
    ]


RETRYABLE_REASONS = {"SpApiUnavailable", "DependencyUnavailable", "Throttled"}


def put_dead_letter(stack: LocalStack, command: dict[str, Any] | str, reason: str = "SpApiRejected") -> None:
    """A message as the worker dead-letters it, with the failure attributes."""
    body = command if isinstance(command, str) else json.dumps(command)
    attributes = {
        # retries ran out (dead-lettered) or a permanent failure (rejected), as the worker says
        OUTCOME_ATTRIBUTE: "dead-lettered" if reason in RETRYABLE_REASONS else "rejected",
        REASON_ATTRIBUTE: reason,
        DETAIL_ATTRIBUTE: f"{reason}: test",
        ATTEMPTS_ATTRIBUTE: "1",
        SOURCE_MESSAGE_ID_ATTRIBUTE: str(uuid.uuid4()),
        FAILED_AT_ATTRIBUTE: "2026-01-01T00:00:00+00:00",
    }
    stack.client("sqs").send_message(
        QueueUrl=dlq_url(stack),
        MessageBody=body,
        MessageAttributes={
            name: {"DataType": "Number" if name == ATTEMPTS_ATTRIBUTE else "String", "StringValue": value}
            for name, value in attributes.items()
        },
    )


def side_queue(stack: LocalStack) -> str:
    """A queue no worker reads: replays sent here can be inspected as they arrived."""
    return str(
        stack.client("sqs").create_queue(QueueName=f"replay-target-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    )


def received(stack: LocalStack, queue_url: str) -> list[dict[str, Any]]:
    sqs = stack.client("sqs")
    messages: list[dict[str, Any]] = []
    for _ in range(3):
        answer = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        )
        messages.extend(answer.get("Messages", []))
    return messages


def outcomes_of(stack: LocalStack, command_id: str) -> list[str]:
    return [o["status"] for o in stack.outcomes() if o["commandId"] == command_id]


# --- the demo: failure → DLQ → fix → replay → success ---------------------------------------------------


def test_a_rejected_command_is_listed_shown_masked_fixed_replayed_and_succeeds(
    stack: LocalStack, stack_file: Path
) -> None:
    assert stack.emulator is not None
    create = unique(sample_command("create-fulfillment"))
    create["payload"]["displayableOrderComment"] = "x" * 1001  # the model allows 1000 characters
    order_id = create["payload"]["sellerFulfillmentOrderId"]
    run(stack, create)
    # invalid commands are rejected before they have a commandId the relay trusts
    assert [o["status"] for o in stack.outcomes()] == ["rejected"]

    listed = cli("dlq", "list", "--stack-file", stack_file)
    assert listed.exit_code == 0, listed.output
    assert "create-fulfillment" in listed.output
    assert "InvalidCommand" in listed.output
    assert "nothing was removed" in listed.output
    assert len(on_dlq(stack)) == 1, "list must leave the message on the DLQ"

    shown = cli("dlq", "show", create["commandId"], "--stack-file", stack_file)
    assert shown.exit_code == 0, shown.output
    assert "payload.displayableOrderComment" in shown.output  # the reason names the field
    for personal in ("Jane Doe", "123 Example Street", "+1-206-555-0100", "orders@example.com", "98101"):
        assert personal not in shown.output
    assert "***" in shown.output
    assert order_id in shown.output
    assert len(on_dlq(stack)) == 1, "show must leave the message on the DLQ"

    replayed = cli(
        "dlq",
        "replay",
        "--stack-file",
        stack_file,
        "--command-id",
        create["commandId"],
        "--set",
        'payload.displayableOrderComment="Thank you!"',
    )
    assert replayed.exit_code == 0, replayed.output
    assert "moved 1" in replayed.output
    assert stack.wait_until_drained(DRAIN_TIMEOUT)

    assert outcomes_of(stack, create["commandId"]) == ["succeeded"]
    assert stack.emulator.state.effect_count("createFulfillmentOrder", order_id) == 1
    assert on_dlq(stack) == []


def test_dlq_show_masks_every_personal_value_in_the_body_and_in_sp_apis_message(
    stack: LocalStack, stack_file: Path
) -> None:
    assert stack.emulator is not None
    # Rejected by SP-API through the worker, whose message names a person's e-mail and phone ...
    stack.emulator.state.add_fault(
        Fault(
            operation="createFulfillmentOrder",
            status=400,
            code="InvalidInput",
            message=personal_data.FREE_TEXT,
        )
    )
    rejected = personal_data.with_create_fields(unique(sample_command("create-fulfillment")))
    run(stack, rejected)
    # ... and a producer's body with every field among the needles (not a valid command).
    carried = personal_data.with_every_field(unique(sample_command("create-fulfillment")))
    put_dead_letter(stack, carried, reason="InvalidCommand")
    # The DLQ holds the bodies as sent: every field's value is there for `show` to mask.
    assert personal_data.leaks(json.dumps(on_dlq(stack))) == list(personal_data.FIELD_VALUES)

    details = {}
    for command in (rejected, carried):
        shown = cli("dlq", "show", command["commandId"], "--stack-file", stack_file)
        as_json = cli("dlq", "show", command["commandId"], "--stack-file", stack_file, "--json")
        assert shown.exit_code == 0 and as_json.exit_code == 0, shown.output + as_json.output
        assert command["payload"]["sellerFulfillmentOrderId"] in shown.output
        assert personal_data.leaks(shown.output, as_json.output) == []
        details[command["commandId"]] = json.loads(as_json.output)["detail"]
    assert personal_data.FREE_TEXT_KEPT in details[rejected["commandId"]]  # SP-API's words stay


def test_a_refused_fix_stays_on_the_dlq_with_the_reason(stack: LocalStack, stack_file: Path) -> None:
    command = unique(sample_command("update-fulfillment"))
    put_dead_letter(stack, command)

    replayed = cli(
        "dlq", "replay", "--stack-file", stack_file, "--set", 'payload.items.0.quantity="3"'
    )  # a string is not a quantity

    assert replayed.exit_code == 1
    assert "refused" in replayed.output
    assert "payload.items.0.quantity" in replayed.output
    assert [c["commandId"] for c in on_dlq(stack)] == [command["commandId"]]


def test_replaying_everything_falls_back_from_the_native_move_and_strips_failure_attributes(
    stack: LocalStack, stack_file: Path
) -> None:
    target = side_queue(stack)
    commands = [unique(sample_command("cancel-fulfillment")) for _ in range(3)]
    for command in commands:
        put_dead_letter(stack, command, reason="SpApiUnavailable")

    replayed = cli("dlq", "replay", "--stack-file", stack_file, "--queue-url", target, "--rate", "50")

    assert replayed.exit_code == 0, replayed.output
    assert "StartMessageMoveTask unavailable" in replayed.output  # moto lacks it
    assert "falling back to receive-send-delete" in replayed.output
    assert "moved 3" in replayed.output
    arrived = received(stack, target)
    assert sorted(json.loads(m["Body"])["commandId"] for m in arrived) == sorted(
        c["commandId"] for c in commands
    )
    for message in arrived:
        names = message.get("MessageAttributes", {})
        assert not [name for name in names if name.startswith(RELAY_ATTRIBUTE_PREFIX)]
    assert on_dlq(stack) == []


def test_replaying_a_command_that_already_succeeded_is_a_no_op_at_sp_api(
    stack: LocalStack, stack_file: Path
) -> None:
    assert stack.emulator is not None
    create = unique(sample_command("create-fulfillment"))
    order_id = create["payload"]["sellerFulfillmentOrderId"]
    run(stack, create)
    assert outcomes_of(stack, create["commandId"]) == ["succeeded"]
    # e.g. the worker crashed after SP-API applied it and SQS redrove the message anyway
    put_dead_letter(stack, create, reason="SpApiUnavailable")

    replayed = cli("dlq", "replay", "--stack-file", stack_file)
    assert replayed.exit_code == 0, replayed.output
    assert "moved 1" in replayed.output
    assert stack.wait_until_drained(DRAIN_TIMEOUT)

    assert outcomes_of(stack, create["commandId"]) == []  # its outcome event is out already
    assert len(stack.emulator.state.calls("createFulfillmentOrder")) == 1
    assert stack.emulator.state.effect_count("createFulfillmentOrder", order_id) == 1
    assert on_dlq(stack) == []


def test_a_filtered_replay_leaves_the_others_in_place(stack: LocalStack, stack_file: Path) -> None:
    target = side_queue(stack)
    cancel = unique(sample_command("cancel-fulfillment"))
    update = unique(sample_command("update-fulfillment"))
    acknowledge = unique(sample_command("acknowledge-po"))
    put_dead_letter(stack, cancel, reason="SpApiRejected")
    put_dead_letter(stack, update, reason="SpApiRejected")
    put_dead_letter(stack, acknowledge, reason="SpApiUnavailable")

    replayed = cli(
        "dlq", "replay", "--stack-file", stack_file, "--queue-url", target,
        "--type", "update-fulfillment", "--reason", "SpApiRejected", "--include-permanent",
    )  # fmt: skip

    assert replayed.exit_code == 0, replayed.output
    assert "scanned 3, matched 1, moved 1" in replayed.output
    assert [json.loads(m["Body"])["commandId"] for m in received(stack, target)] == [update["commandId"]]
    left = sorted(c["commandId"] for c in on_dlq(stack))
    assert left == sorted([cancel["commandId"], acknowledge["commandId"]])

    by_account = cli(
        "dlq", "replay", "--stack-file", stack_file, "--queue-url", target, "--account", "demo-vendor",
        "--older-than", "1h",
    )  # fmt: skip
    assert by_account.exit_code == 0, by_account.output
    assert [c["commandId"] for c in on_dlq(stack)] == [cancel["commandId"]]


def test_a_dry_run_moves_nothing(stack: LocalStack, stack_file: Path) -> None:
    target = side_queue(stack)
    commands = [unique(sample_command("cancel-fulfillment")), unique(sample_command("acknowledge-po"))]
    for command in commands:
        put_dead_letter(stack, command)
    put_dead_letter(stack, "{broken json", reason="InvalidCommand")

    dry = cli(
        "dlq", "replay", "--stack-file", stack_file, "--queue-url", target, "--dry-run", "--include-permanent"
    )

    assert dry.exit_code == 1, dry.output  # the broken one would be refused
    assert "would move 2" in dry.output
    assert "not valid JSON" in dry.output
    assert received(stack, target) == []
    assert len(on_dlq(stack)) == 3


def test_list_groups_by_type_account_and_reason_and_show_finds_by_message_id(
    stack: LocalStack, stack_file: Path
) -> None:
    for _ in range(2):
        put_dead_letter(stack, unique(sample_command("cancel-fulfillment")), reason="SpApiRejected")
    put_dead_letter(stack, unique(sample_command("acknowledge-po")), reason="SpApiUnavailable")

    listed = cli("dlq", "list", "--stack-file", stack_file, "--json")
    assert listed.exit_code == 0, listed.output
    groups = {(g["type"], g["account"], g["reason"]): g["count"] for g in json.loads(listed.output)}
    assert groups == {
        ("cancel-fulfillment", "demo-seller", "SpApiRejected"): 2,
        ("acknowledge-po", "demo-vendor", "SpApiUnavailable"): 1,
    }
    [letter] = [
        x for x in read_all(stack.client("sqs"), dlq_url(stack)) if x.command_type == "acknowledge-po"
    ]
    shown = cli("dlq", "show", letter.message_id, "--stack-file", stack_file)
    assert shown.exit_code == 0, shown.output
    assert "SpApiUnavailable" in shown.output
    missing = cli("dlq", "show", "no-such-message", "--stack-file", stack_file)
    assert missing.exit_code == 1
    assert len(on_dlq(stack)) == 3


def test_status_shows_queue_depths_and_the_accounts_buckets(stack: LocalStack, stack_file: Path) -> None:
    run(stack, unique(sample_command("create-fulfillment")))
    put_dead_letter(stack, unique(sample_command("cancel-fulfillment")))

    shown = cli("status", "--stack-file", stack_file, "--account", "demo-seller")

    assert shown.exit_code == 0, shown.output
    assert "commands" in shown.output
    assert "dead letters" in shown.output
    assert "createFulfillmentOrder" in shown.output
    assert "cancelFulfillmentOrder" in shown.output
    assert "submitAcknowledgement" in shown.output
    every = cli("status", "--stack-file", stack_file)
    assert every.exit_code == 0, every.output
    assert "demo-seller" in every.output


# --- a follow-up keeps its context through the DLQ and a replay ------------------------------------------


def test_a_replayed_status_check_that_reads_failure_publishes_the_transaction_event_once(
    stack: LocalStack, stack_file: Path
) -> None:
    assert stack.emulator is not None
    errors = [{"code": "InvalidData", "message": "bad quantity"}]
    stack.emulator.state.set_transaction_outcome("Failure", errors)
    acknowledgement = unique(sample_command("acknowledge-po"))
    # Every delivery of the first status check fails: it ends on the DLQ (the local stack's queue
    # allows 4 receives).
    stack.emulator.state.add_fault(Fault(operation="getTransactionStatus", status=500, count=4))
    run(stack, acknowledgement)
    [check] = [letter for letter in on_dlq(stack) if letter.get("type") == "get-df-transaction-status"]
    transactions = [k for k, _ in stack.events() if k.startswith("sp-relay transaction")]
    assert transactions == []  # nothing was published while the check was failing

    for replay in range(2):  # the runbook's replay, twice (the second finds the chain's event out already)
        if replay:
            put_dead_letter(stack, check, reason="SpApiUnavailable")  # the same copy, on the DLQ again
        replayed = cli("dlq", "replay", "--stack-file", stack_file, "--command-id", check["commandId"])
        assert replayed.exit_code == 0, replayed.output
        assert "moved 1" in replayed.output
        assert stack.wait_until_drained(DRAIN_TIMEOUT)

    finals = [(k, d) for k, d in stack.events() if k.startswith("sp-relay transaction")]
    assert [kind for kind, _ in finals] == ["sp-relay transaction Failure"]
    [(_, detail)] = finals
    assert (detail["of"], detail["type"]) == (acknowledgement["commandId"], "acknowledge-po")
    assert [error["code"] for error in detail["errors"]] == ["InvalidData"]
    assert (
        stack.emulator.state.effect_count(
            "vendorDirectFulfillmentOrders.submitAcknowledgement",
            acknowledgement["payload"]["orderAcknowledgements"][0]["purchaseOrderNumber"],
        )
        == 1
    )
