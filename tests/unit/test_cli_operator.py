"""The pure parts of the operators' tools: masking, fix-ups, filters, durations, pacing, bucket levels."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cli.dead_letters.filters import Filters, format_age, parse_duration
from cli.dead_letters.fixups import FixUp, FixUpError, fixed_body
from cli.dead_letters.grouping import group
from cli.dead_letters.letter import DeadLetter
from cli.dead_letters.masking import mask_text, mask_value, masked_body
from cli.dead_letters.replay import Pacer
from cli.send import UnreadableSource, read_commands
from cli.status import BucketLevel, catalog_operations, parse_bucket_key
from cli.targets import TargetError, resolve_operator_target
from domain.attributes import FAILED_AT_ATTRIBUTE, REASON_ATTRIBUTE, RELAY_CONTEXT_ATTRIBUTE
from domain.errors import SpApiRejected
from domain.outcomes import Failure, OutcomeStatus
from tests import personal_data
from tests.conftest import sample_command

pytestmark = pytest.mark.unit

NOW = 1_800_000_000.0


def letter(
    body: dict[str, Any] | str,
    *,
    reason: str | None = "SpApiRejected",
    age: float = 60.0,
    attributes: dict[str, str] | None = None,
) -> DeadLetter:
    values = dict(attributes or {})
    if reason is not None:
        values[REASON_ATTRIBUTE] = reason
    return DeadLetter(
        message_id="m-1",
        receipt_handle="r-1",
        body=body if isinstance(body, str) else json.dumps(body),
        message_attributes={k: {"DataType": "String", "StringValue": v} for k, v in values.items()},
        sent_at=NOW - age,
    )


# --- masking -------------------------------------------------------------------------------------------


def test_show_masks_the_customer_and_keeps_what_an_operator_needs() -> None:
    command = personal_data.with_every_field(sample_command("create-fulfillment"))
    text = masked_body(letter(command))
    assert personal_data.leaks(text) == []
    for personal in (
        "Jane Doe",
        "123 Example Street",
        "Seattle",
        "98101",
        "+1-206-555-0100",
        "orders@example.com",
    ):
        assert personal not in text
    for kept in ("ORDER-10001", "SKU-RED-MUG", "create-fulfillment", "oms-order-10001-create", '"US"'):
        assert kept in text


def test_secret_looking_values_and_keys_are_masked_but_long_identifiers_are_not() -> None:
    masked = mask_value(
        {
            "refreshToken": "whatever",
            "note": "Atzr|IwEBIA-example-refresh-token",
            "blob": "A" * 20 + "b" * 20 + "1234",
            "commandId": "oms-order-10001-create-with-a-rather-long-suffix-0123456789",
        }
    )
    assert masked["refreshToken"] == "***"
    assert masked["note"] == "***"
    assert masked["blob"] == "***"
    assert masked["commandId"].startswith("oms-order")


def test_a_body_that_is_not_json_is_masked_pair_by_pair() -> None:
    text = mask_text(
        '{"type": "create-fulfillment", "destinationAddress": {"name": "Jane Doe", "phone": "+1-2'
    )
    assert "Jane Doe" not in text
    assert "+1-2" not in text
    assert "create-fulfillment" in text


# --- fix-ups -------------------------------------------------------------------------------------------


def test_fix_ups_set_and_unset_along_a_dot_path() -> None:
    command = sample_command("update-fulfillment")
    fixes = [
        FixUp.parse_set('payload.displayableOrderComment="Fixed"'),
        FixUp.parse_set("payload.items.0.quantity=1"),
        FixUp.parse_unset("payload.shippingSpeedCategory"),
    ]
    fixed = json.loads(fixed_body(letter(command), fixes))
    assert fixed["payload"]["displayableOrderComment"] == "Fixed"
    assert fixed["payload"]["items"][0]["quantity"] == 1
    assert "shippingSpeedCategory" not in fixed["payload"]
    assert fixed["commandId"] == command["commandId"]


@pytest.mark.parametrize(
    ("text", "message"),
    [("payload.x", "FIELD=JSON"), ("payload.x=not json", "must be JSON"), ("payload..x=1", "bad field path")],
)
def test_bad_set_options_are_refused_before_anything_is_read(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FixUp.parse_set(text)


@pytest.mark.parametrize(
    "fix",
    [
        FixUp.parse_set("payload.nothing.here=1"),
        FixUp.parse_set("payload.items.7.quantity=1"),
        FixUp.parse_unset("payload.nothing"),
    ],
)
def test_a_fix_up_that_does_not_fit_the_message_is_refused(fix: FixUp) -> None:
    with pytest.raises(FixUpError):
        fixed_body(letter(sample_command("update-fulfillment")), [fix])


def test_a_body_that_is_not_json_cannot_be_fixed() -> None:
    with pytest.raises(FixUpError, match="not a JSON object"):
        fixed_body(letter("{broken"), [FixUp.parse_set("type=1")])


# --- filters and groups --------------------------------------------------------------------------------


def test_filters_combine_and_ages_come_from_the_failure_time() -> None:
    old = letter(sample_command("cancel-fulfillment"), age=7200)
    recent = letter(sample_command("acknowledge-po"), reason="SpApiUnavailable", age=30)
    assert Filters().is_empty
    assert Filters(types=("cancel-fulfillment",)).matches(old, NOW)
    assert not Filters(types=("cancel-fulfillment",)).matches(recent, NOW)
    assert Filters(accounts=("demo-vendor",), reasons=("SpApiUnavailable",)).matches(recent, NOW)
    assert Filters(older_than=3600).matches(old, NOW)
    assert not Filters(older_than=3600).matches(recent, NOW)
    assert Filters(newer_than=60).matches(recent, NOW)
    assert Filters(command_ids=("oms-order-10001-cancel",)).matches(old, NOW)
    failed = letter(
        sample_command("cancel-fulfillment"),
        age=0,
        attributes={FAILED_AT_ATTRIBUTE: "2027-01-15T08:00:00+00:00"},
    )
    assert failed.failed_at == datetime(2027, 1, 15, 8, tzinfo=UTC).timestamp()
    assert failed.age(failed.failed_at + 90) == 90


def test_groups_count_by_type_account_and_reason_with_oldest_and_newest() -> None:
    letters = [
        letter(sample_command("cancel-fulfillment"), age=100),
        letter(sample_command("cancel-fulfillment"), age=10),
        letter("{broken", reason=None, age=5),
    ]
    groups = group(letters, NOW)
    assert [(g.command_type, g.account, g.reason, g.count) for g in groups] == [
        ("cancel-fulfillment", "demo-seller", "SpApiRejected", 2),
        ("(unparsable)", "-", "(none)", 1),
    ]
    assert (groups[0].oldest, groups[0].newest) == (100, 10)


def test_replay_attributes_drop_every_relay_attribute() -> None:
    dead = letter(
        sample_command("cancel-fulfillment"), attributes={REASON_ATTRIBUTE: "Throttled", "producer": "oms"}
    )
    assert dead.replay_attributes() == {"producer": {"DataType": "String", "StringValue": "oms"}}


def test_a_replay_carries_the_relay_s_sealed_context_only_with_the_body_unchanged() -> None:
    dead = letter(
        sample_command("get-df-transaction-status"),
        attributes={RELAY_CONTEXT_ATTRIBUTE: "v1.sealed.mac", REASON_ATTRIBUTE: "SpApiUnavailable"},
    )
    assert dead.replay_attributes() == {
        RELAY_CONTEXT_ATTRIBUTE: {"DataType": "String", "StringValue": "v1.sealed.mac"}
    }
    assert dead.replay_attributes(body_unchanged=False) == {}


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("3d", 259200)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_bad_duration_and_age_format() -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration("soon")
    assert [format_age(s) for s in (5, 600, 7300, 200000)] == ["5s", "10m", "2h01m", "2d07h"]


def test_the_pacer_spaces_sends() -> None:
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    pacer = Pacer(4, clock=lambda: clock[0], sleep=sleep)
    for _ in range(3):
        pacer.wait()
    assert slept == [0.25, 0.25]
    unlimited = Pacer(None, clock=lambda: 0.0, sleep=sleep)
    unlimited.wait()
    assert len(slept) == 2


# --- status --------------------------------------------------------------------------------------------


def test_bucket_levels_follow_gcra() -> None:
    level = BucketLevel("a", "na", "x.op", rate=2.0, burst=30, tat=None)
    assert level.available(NOW) == 30
    # After 30 tokens taken at once from a full bucket, tat = now + 30 * T
    drained = BucketLevel("a", "na", "x.op", rate=2.0, burst=30, tat=NOW + 15.0)
    assert drained.available(NOW) == 0
    assert drained.next_token_in(NOW) == pytest.approx(0.5)
    half = BucketLevel("a", "na", "x.op", rate=2.0, burst=30, tat=NOW + 7.0)
    assert half.available(NOW) == 15
    idle = BucketLevel("a", "na", "x.op", rate=2.0, burst=30, tat=NOW - 100)
    assert idle.available(NOW) == 30
    assert idle.full_in(NOW) == 0


def test_the_catalog_operations_and_bucket_keys() -> None:
    operations = catalog_operations()
    assert "fulfillment_outbound_2020_07_01.createFulfillmentOrder" in operations
    assert "fulfillment_outbound_2020_07_01.getFulfillmentOrder" in operations  # confirms duplicates
    assert parse_bucket_key("demo#na#api.op") == ("demo", "na", "api.op")
    assert parse_bucket_key("garbage") is None


# --- targets -------------------------------------------------------------------------------------------


def test_targets_come_from_options_then_the_stack_file_then_the_environment(tmp_path: Path) -> None:
    stack_file = tmp_path / "local-stack.json"
    stack_file.write_text(
        json.dumps(
            {"commandQueueUrl": "http://q/c", "deadLetterQueueUrl": "http://q/d", "region": "eu-west-1"}
        )
    )
    env = {
        "RATE_LIMIT_TABLE_NAME": "limits",
        "DEAD_LETTER_QUEUE_URL": "http://env/d",
        "AWS_ENDPOINT_URL": "http://e",
    }
    target = resolve_operator_target(stack_file, command_queue_url="http://option/c", environ=env)
    assert target.command_queue_url == "http://option/c"
    assert target.dead_letter_queue_url == "http://q/d"
    assert target.rate_limit_table_name == "limits"
    assert (target.endpoint_url, target.region) == ("http://e", "eu-west-1")
    with pytest.raises(TargetError, match="DEAD_LETTER_QUEUE_URL"):
        resolve_operator_target(None, environ={}).require_dead_letter_queue()


# --- the console: fix-ups keep identity, send reads files whole ----------------------------------------


@pytest.mark.parametrize("option", ["commandId", "account", "account.x"])
def test_a_fix_up_may_not_touch_the_commands_identity(option: str) -> None:
    with pytest.raises(ValueError, match="keeps the command's identity"):
        FixUp.parse_set(f'{option}="x"')
    with pytest.raises(ValueError, match="keeps the command's identity"):
        FixUp.parse_unset(option)


def test_send_reads_objects_arrays_and_json_lines_and_refuses_files_without_commands() -> None:
    one = json.dumps(sample_command("cancel-fulfillment"))
    assert [c.where for c in read_commands("a.json", one.encode())] == ["a.json"]
    array = f"[{one}, {one}]".encode()
    assert [c.where for c in read_commands("b.json", array)] == ["b.json[0]", "b.json[1]"]
    lines = f"{one}\n\n{{broken\n{one}\n".encode()
    assert [c.where for c in read_commands("c.jsonl", lines)] == ["c.jsonl:1", "c.jsonl:3", "c.jsonl:4"]
    pretty = json.dumps(sample_command("cancel-fulfillment"), indent=2)[:-1].encode()
    nested = b"[" * 100_000 + b"]" * 100_000
    cases = ((b"", "empty"), (b" [ ]\n", "empty list"), (pretty, "not valid JSON: "), (nested, "too deeply"))
    for data, reason in cases:
        with pytest.raises(UnreadableSource, match=reason):
            read_commands("x.json", data)
    with pytest.raises(UnreadableSource, match="byte 0xe9 on line 2"):
        read_commands("latin1.json", b'\n{"commandId": "caf\xe9"}')


def test_a_failures_detail_carries_sp_apis_message_through_the_redaction() -> None:
    rejected = SpApiRejected(
        "cancelFulfillmentOrder",
        404,
        [{"code": "NotFound", "message": "Requested order 'X-1' not found; contact jane@example.com"}],
    )
    failure = Failure.from_error(OutcomeStatus.REJECTED, rejected, 1)
    assert failure.detail.startswith("SP-API cancelFulfillmentOrder answered 404 (NotFound): Requested order")
    assert "'X-1' not found" in failure.detail
    assert "jane@example.com" not in failure.detail
