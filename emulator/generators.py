"""Realistic made-up data for seeded resources (vendor direct-fulfillment purchase orders).

Everything here is fake, but shaped like SP-API answers: the DF ``Order`` of
``vendorDirectFulfillmentOrders_2021-12-28`` including the customer's name, phone and address (PII, the
reason getOrders/getOrder need a restricted data token).
"""

from __future__ import annotations

import copy
import random
import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

DF_ORDER_STATUSES = ("NEW", "SHIPPED", "ACCEPTED", "CANCELLED")

_CUSTOMERS = (
    ("Jane Doe", "1 Main St", "Troy", "MI", "48084"),
    ("John Smith", "742 Evergreen Terrace", "Springfield", "OR", "97477"),
    ("Maria Garcia", "350 Fifth Avenue", "New York", "NY", "10118"),
    ("Wei Chen", "1600 Amphitheatre Pkwy", "Mountain View", "CA", "94043"),
    ("Aisha Khan", "233 S Wacker Dr", "Chicago", "IL", "60606"),
    ("Lukas Weber", "400 Broad St", "Seattle", "WA", "98109"),
)
_PRODUCTS = (
    ("Stainless Steel Water Bottle, 750 ml", "19.99"),
    ("Wireless Ergonomic Mouse", "24.50"),
    ("Cotton Bath Towel Set (4 pieces)", "34.00"),
    ("LED Desk Lamp with USB Port", "29.95"),
    ("Cast Iron Skillet, 10 inch", "22.49"),
)
_SHIP_METHODS = ("UPS_GR_RES", "FEDEX_HOME_DELIVERY", "USPS_PRIORITY")
TAX_RATE = Decimal("0.0700")


def format_timestamp(moment: datetime) -> str:
    """A moment the way SP-API writes it: ``2020-02-07T01:23:30Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _money(amount: Decimal) -> dict[str, str]:
    return {"currencyCode": "USD", "amount": str(amount.quantize(Decimal("0.01")))}


def generate_purchase_order_number(taken: Callable[[str], bool]) -> str:
    """An 8-character DF purchase order number (like ``2JK3S9VC``) for which ``taken`` is false."""
    alphabet = string.ascii_uppercase + string.digits
    while True:
        number = random.choice(string.digits) + "".join(random.choices(alphabet, k=7))
        if not taken(number):
            return number


def generate_df_order(number: str, created: datetime, status: str, ship_from_party_id: str) -> dict[str, Any]:
    """A DF ``Order`` (model shape, with ``orderDetails``) created at ``created``."""
    name, street, city, state, postal_code = random.choice(_CUSTOMERS)
    phone = (
        "+1 "
        + "".join(random.choices(string.digits, k=3))
        + "-555-"
        + "".join(random.choices(string.digits, k=4))
    )
    items: list[dict[str, Any]] = []
    net_total = Decimal("0")
    for sequence, (title, price) in enumerate(random.sample(_PRODUCTS, k=random.randint(1, 3)), start=1):
        quantity = random.randint(1, 3)
        net = Decimal(price)
        total = net * quantity
        net_total += total
        items.append(
            {
                "itemSequenceNumber": str(sequence),
                "buyerProductIdentifier": "B0"
                + "".join(random.choices(string.ascii_uppercase + string.digits, k=8)),
                "vendorProductIdentifier": "".join(random.choices(string.digits, k=13)),
                "title": title,
                "orderedQuantity": {"amount": quantity, "unitOfMeasure": "Each"},
                "netPrice": _money(net),
                "totalPrice": _money(total),
                "taxDetails": {
                    "taxLineItem": [
                        {
                            "taxRate": str(TAX_RATE),
                            "taxAmount": _money(total * TAX_RATE),
                            "taxableAmount": _money(total),
                            "type": "TOTAL",
                        }
                    ]
                },
            }
        )
    customer_order = "-".join(
        (
            "11" + random.choice(string.digits),
            "".join(random.choices(string.digits, k=7)),
            "".join(random.choices(string.digits, k=7)),
        )
    )
    return {
        "purchaseOrderNumber": number,
        "orderDetails": {
            "customerOrderNumber": customer_order,
            "orderDate": format_timestamp(created),
            "orderStatus": status,
            "shipmentDetails": {
                "isPriorityShipment": False,
                "isScheduledDeliveryShipment": False,
                "isPslipRequired": True,
                "isGift": False,
                "shipMethod": random.choice(_SHIP_METHODS),
                "shipmentDates": {
                    "requiredShipDate": format_timestamp(created + timedelta(days=2)),
                    "promisedDeliveryDate": format_timestamp(created + timedelta(days=5)),
                },
                "messageToCustomer": "Thank you for your order.",
            },
            "taxTotal": {
                "taxLineItem": [
                    {
                        "taxRate": str(TAX_RATE),
                        "taxAmount": _money(net_total * TAX_RATE),
                        "taxableAmount": _money(net_total),
                        "type": "TOTAL",
                    }
                ]
            },
            "sellingParty": {"partyId": "VENDOR1"},
            "shipFromParty": {"partyId": ship_from_party_id},
            "shipToParty": {
                "name": name,
                "addressLine1": street,
                "city": city,
                "stateOrRegion": state,
                "postalCode": postal_code,
                "countryCode": "US",
                "phone": phone,
            },
            "billToParty": {"partyId": "AMZN_US"},
            "hasCustomizableItems": False,
            "items": items,
        },
    }


RETAIL_ORDER_STATES = ("New", "Acknowledged", "Closed")
_FULFILLMENT_CENTERS = ("ABE2", "PHX6", "SDF8", "RIC2")


def generate_retail_order(
    number: str, created: datetime, items: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A Retail Procurement ``Order`` (vendorOrders v1, with ``orderDetails``) created at ``created``, in
    state New. ``items`` (an acknowledgement's items) sets the lines; otherwise they are made up. Retail
    orders ship to an Amazon fulfillment center: they carry no customer data."""
    lines: list[dict[str, Any]] = []
    if items:
        for sequence, item in enumerate(items, start=1):
            line: dict[str, Any] = {
                "itemSequenceNumber": str(item.get("itemSequenceNumber") or sequence),
                "orderedQuantity": copy.deepcopy(item["orderedQuantity"]),
                "isBackOrderAllowed": True,
            }
            for key in ("amazonProductIdentifier", "vendorProductIdentifier", "netCost", "listPrice"):
                if key in item:
                    line[key] = copy.deepcopy(item[key])
            lines.append(line)
    else:
        for sequence, (_, price) in enumerate(random.sample(_PRODUCTS, k=random.randint(1, 3)), start=1):
            lines.append(
                {
                    "itemSequenceNumber": str(sequence),
                    "amazonProductIdentifier": "B0"
                    + "".join(random.choices(string.ascii_uppercase + string.digits, k=8)),
                    "vendorProductIdentifier": "".join(random.choices(string.digits, k=12)),
                    "orderedQuantity": {
                        "amount": random.randint(5, 50),
                        "unitOfMeasure": "Eaches",
                        "unitSize": 1,
                    },
                    "isBackOrderAllowed": True,
                    "netCost": _money(Decimal(price) * Decimal("0.6")),
                    "listPrice": _money(Decimal(price)),
                }
            )
    return {
        "purchaseOrderNumber": number,
        "purchaseOrderState": "New",
        "orderDetails": {
            "purchaseOrderDate": format_timestamp(created),
            "purchaseOrderStateChangedDate": format_timestamp(created),
            "purchaseOrderType": "RegularOrder",
            "paymentMethod": "Invoice",
            "buyingParty": {"partyId": "AMZN_US"},
            "sellingParty": {"partyId": "VENDOR1"},
            "shipToParty": {"partyId": random.choice(_FULFILLMENT_CENTERS)},
            "billToParty": {"partyId": "AMZN_US"},
            "shipWindow": "--".join(format_timestamp(created + timedelta(days=d)) for d in (3, 7)),
            "items": lines,
        },
    }
