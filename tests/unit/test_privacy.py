"""One allow-list redaction for events and `dlq show`: a field nobody listed is hidden by default."""

from __future__ import annotations

import json

import pytest

from cli.dead_letters.masking import MASK, mask_text, mask_value
from domain.errors import SpApiRejected
from domain.outcomes import Failure, Outcome, OutcomeStatus
from domain.privacy import REDACTED, redact, redact_text
from domain.requests import SpApiResponse
from tests import personal_data
from tests.unit.relay_world import World, message, sample

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("marker", [REDACTED, MASK])
def test_fields_nobody_listed_are_hidden_in_events_and_in_dlq_show(marker: str) -> None:
    document = personal_data.with_every_field(sample("create-fulfillment"))
    document["payload"]["errors"] = [{"code": "InvalidInput", "message": personal_data.FREE_TEXT}]

    clean = json.dumps(redact(document, marker) if marker == REDACTED else mask_value(document))

    assert personal_data.leaks(json.dumps(document)) == list(personal_data.NEEDLES)  # all were there
    assert personal_data.leaks(clean) == []
    assert personal_data.FREE_TEXT_KEPT in clean
    for kept in (
        "create-fulfillment",
        "SKU-1",
        document["commandId"],
        document["payload"]["sellerFulfillmentOrderId"],
    ):
        assert kept in clean


def test_identifiers_statuses_dates_and_quantities_are_kept() -> None:
    answer = {
        "payload": {
            "fulfillmentOrder": {
                "sellerFulfillmentOrderId": "ORDER-1",
                "fulfillmentOrderStatus": "COMPLETE",
                "statusUpdatedDate": "2026-01-02T03:04:05Z",
            },
            "fulfillmentShipments": [
                {
                    "amazonShipmentId": "S-1",
                    "fulfillmentShipmentPackage": [
                        {"packageNumber": 1, "carrierCode": "UPS", "trackingNumber": "1Z9"}
                    ],
                }
            ],
            "items": [{"quantity": 2, "perUnitPrice": {"currencyCode": "USD", "value": "9.99"}}],
            "isGift": True,
        }
    }
    assert redact(answer) == answer


def test_e_mails_phones_and_secrets_inside_free_text_are_masked() -> None:
    text = (
        "Invalid phone +1 206-555-0100 for jane.doe@example.com on 2026-11-20, "
        "token Atzr|IwEBIAexample and 3 items"
    )
    clean = redact_text(text)

    assert "206-555-0100" not in clean and "jane.doe@example.com" not in clean and "Atzr|" not in clean
    assert "2026-11-20" in clean and "3 items" in clean


def test_sp_api_error_messages_in_events_are_redacted(world: World) -> None:
    errors = [
        {
            "code": "InvalidInput",
            "message": "Address of jane.doe@example.com with phone (206) 555-0100 is invalid",
            "details": "street '1 Secret Lane'",
        }
    ]
    world.spapi.answer("createFulfillmentOrder", SpApiResponse(400, {"errors": errors}, "req-3"))

    world.process(message(sample("create-fulfillment")))

    [outcome] = world.outcomes.published
    published = json.dumps(outcome.detail())
    assert "jane.doe@example.com" not in published and "555-0100" not in published
    assert "InvalidInput" in published and "is invalid" in published


def test_the_error_of_a_rejection_is_redacted_wherever_it_is_put() -> None:
    rejected = SpApiRejected("op", 400, [{"code": "X", "message": "mail me at a@b.example", "extra": "Jane"}])
    failure = Failure.from_error(OutcomeStatus.REJECTED, rejected, 1)
    detail = json.dumps(Outcome(OutcomeStatus.REJECTED, "t", "c", "a", "m", failure=failure).detail())
    assert "a@b.example" not in detail and "Jane" not in detail


def test_a_body_that_is_not_json_is_masked_pair_by_pair_and_word_by_word() -> None:
    text = mask_text(
        '{"type": "create-fulfillment", "messageToCustomer": "Hi Quillon", "x": "call +44 20 7946 0958'
    )
    assert "Quillon" not in text and "7946" not in text
    assert "create-fulfillment" in text
