"""Personal data and secrets never leave the relay: one allow-list redaction for events and for the CLI.

SP-API answers carry customers' names, addresses, phones, e-mails, gift messages, tax numbers and
customisation links; commands carry the same on their way in. Outcome events are read by many systems
and kept in archives, and `sp-relay dlq show` prints commands on an operator's screen, so both go
through ``redact`` first. It is an allow-list: a field keeps its value only when its name is one of
``SAFE_FIELDS`` (identifiers, codes, statuses, dates, quantities, money, measures) or one of
``FREE_TEXT_FIELDS`` (SP-API's error messages and descriptions), whose text is kept with e-mail
addresses, phone numbers and secret-looking words masked. Every other string or number is replaced by
the marker, whatever the field is called, so a field nobody thought of (``messageToCustomer``,
``taxRegistrationNumber``, ``customizedUrl``) is hidden by default. An address object keeps only its
country code. Objects and lists are walked; booleans and nulls are kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "<redacted>"

SAFE_FIELDS = frozenset(
    {
        # the command envelope
        "type",
        "commandId",
        "account",
        "region",
        # identifiers
        "acknowledgementCode",
        "amazonFulfillmentTrackingNumber",
        "amazonOrderId",
        "amazonProductIdentifier",
        "amazonReturnReasonCode",
        "amazonRmaId",
        "amazonShipmentId",
        "amazonSku",
        "asin",
        "buyerProductIdentifier",
        "carrierCode",
        "code",
        "customerOrderNumber",
        "dealCode",
        "displayableOrderId",
        "eventCode",
        "featureName",
        "fnSku",
        "fulfillmentCenterId",
        "fulfillmentNetworkSku",
        "giftWrapId",
        "invalidItemReasonCode",
        "invoiceNumber",
        "itemSequenceNumber",
        "lineItemId",
        "manufacturerLotCodes",
        "marketplaceId",
        "merchantSku",
        "nextToken",
        "orderId",
        "orderItemId",
        "orderItemSerialNumbers",
        "overlappingSkus",
        "packageId",
        "packageIdentifier",
        "packageNumber",
        "partyId",
        "path",
        "purchaseOrderNumber",
        "returnAuthorizationId",
        "returnReasonCode",
        "scheduledPackageId",
        "sellerFulfillmentOrderId",
        "sellerFulfillmentOrderItemId",
        "sellerReturnItemId",
        "sellerReturnReasonCode",
        "sellerSku",
        "serialNumber",
        "slotId",
        "trackingId",
        "trackingNumber",
        "transactionId",
        "vendorOrderNumber",
        "vendorProductIdentifier",
        # Notifications API destinations and subscriptions (a queue's ARN and an AWS account id name the
        # integrator's infrastructure, not a customer; a destination's free-form name stays redacted)
        "destinationId",
        "subscriptionId",
        "payloadVersion",
        "notificationType",
        "eventFilterType",
        "arn",
        "accountId",
        # SP-API notifications (their keys in camelCase, domain/notifications.py)
        "aftn",
        "sellerId",
        "shipmentStatus",
        "eventType",
        "statusUpdatedDateTime",
        "estimatedArrivalDateTime",
        "receivedDateTime",
        "returnedQuantity",
        "occurredAt",
        # statuses, enums and codes
        "acknowledgementStatus",
        "action",
        "confirmationStatus",
        "countryCode",
        "currencyCode",
        "currentStatus",
        "deliveryTimeZone",
        "documentType",
        "featureFulfillmentPolicy",
        "fulfillmentAction",
        "fulfillmentOrderStatus",
        "fulfillmentPolicy",
        "fulfillmentShipmentStatus",
        "handoverMethod",
        "ineligibleReasons",
        "internationalCommercialTerms",
        "itemStatus",
        "itemUnfulfillableReasons",
        "labelFormat",
        "locale",
        "method",
        "orderItemDisposition",
        "orderStatus",
        "orderUnfulfillableReasons",
        "packageStatus",
        "paymentMethod",
        "paymentMode",
        "policy",
        "purchaseOrderState",
        "purchaseOrderStatus",
        "purchaseOrderType",
        "receiveStatus",
        "receiveTime",
        "receivingStatus",
        "returnReceivedCondition",
        "scheduledDeliveryServiceType",
        "shipFromCountryCode",
        "shipMethod",
        "shippingSpeedCategories",
        "shippingSpeedCategory",
        "shippingWeightCalculationMethod",
        "status",
        "targetApplication",
        "taxRegistrationType",
        "unit",
        "unitOfMeasure",
        # dates and times
        "acknowledgementDate",
        "displayableOrderDate",
        "earliest",
        "earliestArrivalDate",
        "earliestNominatedDeliveryDate",
        "earliestShipDate",
        "endDate",
        "endTime",
        "estimatedArrivalDate",
        "estimatedShipDate",
        "eventDate",
        "expiresAt",
        "expiresIn",
        "invoiceDate",
        "lastReceiveDate",
        "lastUpdatedDate",
        "latest",
        "latestArrivalDate",
        "latestNominatedDeliveryDate",
        "latestShipDate",
        "orderDate",
        "paymentDate",
        "promisedDeliveryDate",
        "purchaseOrderChangedDate",
        "purchaseOrderDate",
        "purchaseOrderStateChangedDate",
        "receivedDate",
        "requiredShipDate",
        "scheduledDeliveryDate",
        "scheduledShipDate",
        "shipDate",
        # retail purchase orders' windows: two dates ("start--end")
        "shipWindow",
        "deliveryWindow",
        "shippingDate",
        "startDate",
        "startTime",
        "statusChangedDate",
        "statusUpdatedDate",
        "statusUpdateTime",
        "updatedDate",
        # quantities, money and measures
        "acceptedQuantity",
        "acknowledgedQuantity",
        "amount",
        "cancelledQuantity",
        "discountMultiplier",
        "height",
        "length",
        "orderedQuantity",
        "quantity",
        "receivedQuantity",
        "rejectedQuantity",
        "skuCount",
        "taxRate",
        "unfulfillableQuantity",
        "unitSize",
        "value",
        "width",
    }
)
# SP-API's own words (error messages, descriptions, product titles): kept, with what reaches a person
# masked inside.
FREE_TEXT_FIELDS = frozenset(
    {
        "message",
        "details",
        "description",
        "currentStatusDescription",
        "eventDescription",
        "featureDescription",
        "invalidItemReason",
        "rejectionReason",
        "title",
        "translatedDescription",
    }
)
_ADDRESS_KEPT = "countryCode"

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A phone number: seven or more digits in groups, optionally with a country code and an area code.
_PHONE = re.compile(r"(?<![\w-])\+?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\(?\d{2,4}\)?){2,5}(?![\w-])")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SECRET_WORD = re.compile(
    r"Atz[ar]\|\S+|amzn1\.oa2-cs\.\S+|eyJ[\w-]{8,}\.[\w.-]+|-----BEGIN[^-]*-----|(?<![\w/+=-])[A-Za-z0-9+/_=-]{40,}"
)


def redact(document: Any, marker: str = REDACTED) -> Any:
    """A copy of ``document`` (a JSON value) without personal data or secrets."""
    return _redact(document, "", marker)


def redact_text(text: str, marker: str = REDACTED) -> str:
    """``text`` with e-mail addresses, phone numbers and secret-looking words replaced by ``marker``."""
    text = _SECRET_WORD.sub(marker, text)
    text = _EMAIL.sub(marker, text)

    def phone(match: re.Match[str]) -> str:
        found = match.group(0)
        digits = sum(character.isdigit() for character in found)
        return found if digits < 7 or _ISO_DATE.match(found) else marker

    return _PHONE.sub(phone, text)


_JSON_PAIR = re.compile(r'"(?P<key>[^"\\]{1,80})"\s*:\s*"(?P<value>(?:[^"\\]|\\.)*)"?')


def redact_fragment(text: str, marker: str = REDACTED) -> str:
    """A text that is not valid JSON (a truncated body): each ``"key": "value"`` pair whose key is not
    safe is masked, and so is whatever looks like an e-mail, a phone or a secret."""

    def pair(match: re.Match[str]) -> str:
        key = match.group("key")
        if key in SAFE_FIELDS:
            return match.group(0)
        if key in FREE_TEXT_FIELDS:
            return f'"{key}": "{redact_text(match.group("value"), marker)}"'
        return f'"{key}": "{marker}"'

    return redact_text(_JSON_PAIR.sub(pair, text), marker)


def _redact(value: Any, key: str, marker: str) -> Any:
    if isinstance(value, list):
        return [_redact(item, key, marker) for item in value]
    if isinstance(value, Mapping):
        if _is_address(key, value):
            kept = {name: value[name] for name in value if name == _ADDRESS_KEPT}
            return {**kept, "redacted": True}
        return {name: _redact(item, str(name), marker) for name, item in value.items()}
    if value is None or isinstance(value, bool):
        return value
    if key in SAFE_FIELDS:
        return value
    if key in FREE_TEXT_FIELDS and isinstance(value, str):
        return redact_text(value, marker)
    return marker


def _is_address(key: str, value: Mapping[str, Any]) -> bool:
    # Some models put an address under a party name (vendor DF shipToParty is an Address).
    return key.lower().endswith("address") or "addressLine1" in value or "AddressLine1" in value
