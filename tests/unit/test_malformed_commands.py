"""Malformed messages: every one is refused with a permanent error whose reason names the field.

Hypothesis generates the bulk (at least 300 examples across the strategies below, derandomized so CI
is reproducible); a hand-written list covers the classic shapes. The batch-level run through the real
handler is in tests/chaos/test_malformed_batches.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.commands import MAX_BODY_BYTES, parse_command
from domain.errors import PermanentError

pytestmark = pytest.mark.unit

EXAMPLES = 80  # per strategy; 5 strategies -> 400 generated messages
SETTINGS = settings(
    max_examples=EXAMPLES, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

VALID: dict[str, Any] = {
    "type": "cancel-fulfillment",
    "commandId": "oms-1-cancel",
    "account": "demo-seller",
    "payload": {"sellerFulfillmentOrderId": "ORDER-1"},
}
ENVELOPE_FIELDS = ("type", "commandId", "account", "payload")
ODD_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", categories=["Lu", "Ll", "Nd", "Po", "Zs", "So", "Mn", "Cf", "Co"]),
    min_size=1,
    max_size=60,
)


def reason_of(body: str | bytes) -> str:
    with pytest.raises(PermanentError) as refused:
        parse_command(body)
    return refused.value.message


def body(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False)


# --- hypothesis ---------------------------------------------------------------------------------------------

WRONG_TYPES = st.one_of(
    st.integers(), st.floats(allow_nan=False), st.booleans(), st.none(), st.lists(st.integers(), max_size=3)
)


@SETTINGS
@given(field=st.sampled_from(ENVELOPE_FIELDS), value=WRONG_TYPES)
def test_a_field_of_the_wrong_type_is_named(field: str, value: Any) -> None:
    document = {**VALID, field: value}
    assert field in reason_of(body(document))


@SETTINGS
@given(field=st.sampled_from(ENVELOPE_FIELDS), extra=st.dictionaries(ODD_TEXT, WRONG_TYPES, max_size=2))
def test_a_missing_field_is_named(field: str, extra: dict[str, Any]) -> None:
    document = {k: v for k, v in VALID.items() if k != field}
    document.update({k: v for k, v in extra.items() if k not in ENVELOPE_FIELDS})
    reason = reason_of(body(document))
    assert field in reason or any(name in reason for name in extra)


@SETTINGS
@given(
    command_id=st.one_of(
        ODD_TEXT.filter(lambda s: not s.isascii() or not s.isalnum()),
        st.text(alphabet="abc123", min_size=129, max_size=400),
    )
)
def test_a_bad_command_id_is_named(command_id: str) -> None:
    document = {**VALID, "commandId": command_id}
    try:
        parse_command(body(document))
    except PermanentError as refused:
        assert "commandId" in refused.message
    else:
        # Only commandIds that fit the documented pattern may pass.
        assert len(command_id) <= 128 and all(
            c.isascii() and (c.isalnum() or c in "._:-") for c in command_id
        )


@SETTINGS
@given(kind=ODD_TEXT.filter(lambda s: s not in {"cancel-fulfillment"}))
def test_an_unknown_type_is_named(kind: str) -> None:
    reason = reason_of(body({**VALID, "type": kind}))
    assert "type" in reason


@SETTINGS
@given(order_id=st.one_of(st.text(min_size=41, max_size=300), WRONG_TYPES))
def test_a_bad_payload_field_is_named_with_its_path(order_id: Any) -> None:
    document = {**VALID, "payload": {"sellerFulfillmentOrderId": order_id}}
    assert "payload.sellerFulfillmentOrderId" in reason_of(body(document))


# --- hand-written -------------------------------------------------------------------------------------------

HAND_WRITTEN: list[tuple[str, str | bytes, str]] = [
    ("empty body", "", "JSON"),
    ("not JSON", "{broken json", "JSON"),
    ("truncated", body(VALID)[:-3], "JSON"),
    ("a JSON array", "[1, 2, 3]", "JSON object"),
    ("a JSON string", '"create this"', "JSON object"),
    ("null", "null", "JSON object"),
    ("invalid UTF-8", b"\xff\xfe\xfa{", "JSON"),
    ("lone surrogate", '{"type": "\\ud800", "commandId": "x", "account": "a", "payload": {}}', "type"),
    ("unknown type", body({**VALID, "type": "teleport-order"}), "type"),
    ("type in other case", body({**VALID, "type": "CANCEL-FULFILLMENT"}), "type"),
    ("missing commandId", body({k: v for k, v in VALID.items() if k != "commandId"}), "commandId"),
    ("empty commandId", body({**VALID, "commandId": ""}), "commandId"),
    ("commandId with spaces", body({**VALID, "commandId": "a b"}), "commandId"),
    ("commandId of 129 chars", body({**VALID, "commandId": "a" * 129}), "commandId"),
    ("commandId as number", body({**VALID, "commandId": 12345}), "commandId"),
    ("commandId with emoji", body({**VALID, "commandId": "order-\U0001f4e6"}), "commandId"),
    ("commandId with RTL override", body({**VALID, "commandId": "abc\u202edef"}), "commandId"),
    ("account missing", body({k: v for k, v in VALID.items() if k != "account"}), "account"),
    ("account with slash", body({**VALID, "account": "../other"}), "account"),
    ("account too long", body({**VALID, "account": "a" * 65}), "account"),
    ("region unknown", body({**VALID, "region": "mars"}), "region"),
    ("unknown top-level field", body({**VALID, "priority": "high"}), "priority"),
    ("payload not an object", body({**VALID, "payload": "ORDER-1"}), "payload"),
    ("payload missing", body({k: v for k, v in VALID.items() if k != "payload"}), "payload"),
    ("payload field missing", body({**VALID, "payload": {}}), "payload.sellerFulfillmentOrderId"),
    (
        "payload unknown field",
        body({**VALID, "payload": {"sellerFulfillmentOrderId": "O-1", "x": 1}}),
        "payload.x",
    ),
    ("order id too long", body({**VALID, "payload": {"sellerFulfillmentOrderId": "X" * 41}}), "payload."),
    (
        "number as string",
        body(
            {
                "type": "update-fulfillment",
                "commandId": "u-1",
                "account": "a",
                "payload": {
                    "sellerFulfillmentOrderId": "O-1",
                    "marketplaceId": "M",
                    "items": [{"sellerFulfillmentOrderItemId": "i", "quantity": "2"}],
                },
            }
        ),
        "payload.items.0.quantity",
    ),
    (
        "huge body",
        body({**VALID, "payload": {"sellerFulfillmentOrderId": "O" * (MAX_BODY_BYTES + 10)}}),
        "bytes",
    ),
    ("deep nesting in JSON", "[" * 100_000 + "]" * 100_000, "nested"),
    (
        "deep nesting in payload",
        body({**VALID, "payload": {"sellerFulfillmentOrderId": "O-1", "x": [[[[[[[[1]]]]]]]]}}),
        "payload.x",
    ),
    (
        "duplicate keys, last one invalid",
        '{"type":"cancel-fulfillment","commandId":"a","commandId":5,'
        '"account":"a","payload":{"sellerFulfillmentOrderId":"O"}}',
        "commandId",
    ),
    (
        "NaN in payload",
        body({**VALID, "payload": {"sellerFulfillmentOrderId": float("nan")}}),
        "payload.sellerFulfillmentOrderId",
    ),
]


@pytest.mark.parametrize(("case", "raw", "names"), HAND_WRITTEN, ids=[c for c, _, _ in HAND_WRITTEN])
def test_hand_written_malformed_message_is_refused_naming_the_problem(
    case: str, raw: str | bytes, names: str
) -> None:
    reason = reason_of(raw)
    assert names in reason, f"{case}: {reason}"
    assert len(reason) < 2000, "a reason is a sentence, not an echo of the body"


def test_the_generated_and_hand_written_cases_add_up_to_at_least_300() -> None:
    assert 5 * EXAMPLES + len(HAND_WRITTEN) >= 300
