"""The personal data every privacy scan looks for (unit, e2e, `dlq show`): the fields a deny-list once
let through, and an e-mail address and a phone number inside SP-API's free text. Each value is unusual
enough that finding it in a log line, an event or the CLI's output is a leak, not a coincidence."""

from __future__ import annotations

import copy
from typing import Any

MESSAGE_TO_CUSTOMER = "Happy birthday Quillon, love from Aunt Edwina"
TAX_REGISTRATION_NUMBER = "DE-VAT-998877665"
CUSTOMIZED_URL = "https://custom.example.com/engraving/quillon-zebedee"
DISPLAYABLE_ORDER_COMMENT = "Leave it with Mrs Pemberton-Smythe next door"
NOTIFICATION_EMAIL = "quillon.zebedee@example.org"
# Inside SP-API's own words (an error message), which redaction keeps with these masked.
FREE_TEXT_EMAIL = "edwina.pemberton@example.net"
FREE_TEXT_PHONE = "+1 206-555-0143"
FREE_TEXT = f"Address of {FREE_TEXT_EMAIL} with phone {FREE_TEXT_PHONE} is invalid"
FREE_TEXT_KEPT = "is invalid"  # what must survive: the rest of SP-API's message

FIELD_VALUES = (
    MESSAGE_TO_CUSTOMER,
    TAX_REGISTRATION_NUMBER,
    CUSTOMIZED_URL,
    DISPLAYABLE_ORDER_COMMENT,
    NOTIFICATION_EMAIL,
)
# A partial mask that keeps the phone's digits is a leak too.
FREE_TEXT_NEEDLES = (FREE_TEXT_EMAIL, FREE_TEXT_PHONE.removeprefix("+1 "))
NEEDLES = FIELD_VALUES + FREE_TEXT_NEEDLES


def leaks(*texts: str) -> list[str]:
    """The needles found in any of ``texts``."""
    return [needle for needle in NEEDLES if any(needle in text for text in texts)]


def with_create_fields(create: dict[str, Any]) -> dict[str, Any]:
    """A create-fulfillment command carrying the two fields of its model among the needles."""
    command = copy.deepcopy(create)
    command["payload"]["displayableOrderComment"] = DISPLAYABLE_ORDER_COMMENT
    command["payload"]["notificationEmails"] = [NOTIFICATION_EMAIL]
    return command


def with_every_field(command: dict[str, Any]) -> dict[str, Any]:
    """A command body (as a producer may send one, valid or not) carrying every field among the needles,
    nested where SP-API's models put them."""
    body = with_create_fields(command)
    body["payload"]["messageToCustomer"] = MESSAGE_TO_CUSTOMER
    body["payload"].setdefault("items", []).append(
        {"sellerSku": "SKU-1", "quantity": 1, "customizedUrl": CUSTOMIZED_URL}
    )
    body["payload"]["taxInfo"] = {
        "taxRegistrationType": "VAT",
        "taxRegistrationNumber": TAX_REGISTRATION_NUMBER,
    }
    return body


def add_to_df_order(order: dict[str, Any]) -> None:
    """Puts the vendor DF fields among the needles where vendorDirectFulfillmentOrders_2021-12-28 has them."""
    details = order["orderDetails"]
    details["shipmentDetails"]["messageToCustomer"] = MESSAGE_TO_CUSTOMER
    details["sellingParty"]["taxInfo"] = {
        "taxRegistrationType": "VAT",
        "taxRegistrationNumber": TAX_REGISTRATION_NUMBER,
    }
    details["hasCustomizableItems"] = True
    details["items"][0]["buyerCustomizedInfo"] = {"customizedUrl": CUSTOMIZED_URL}
