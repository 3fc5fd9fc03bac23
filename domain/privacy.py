"""Personal data never leaves the relay in an event: SP-API answers are redacted before publishing.

SP-API answers can carry the customer's address, name, phone and e-mail (MCF orders, vendor Direct
Fulfillment purchase orders). Outcome events are read by many systems and kept in archives, so every
answer goes through ``redact`` first: address objects (a key ending in "address", or any object with
an addressLine1) keep only their country code, and fields that name or reach a person are replaced by
a marker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REDACTED = "<redacted>"
_PERSONAL_KEYS = frozenset(
    {
        "name",
        "phone",
        "phonenumber",
        "email",
        "buyername",
        "recipientname",
        "giftmessage",
        "notificationemails",
    }
)
_ADDRESS_KEPT = frozenset({"countryCode", "countrycode"})


def _is_address_key(key: str) -> bool:
    return key.lower().endswith("address")


def _looks_like_address(value: Any) -> bool:
    # Some models put an address under a party name (vendor DF shipToParty is an Address).
    return isinstance(value, Mapping) and ("addressLine1" in value or "AddressLine1" in value)


def redact(document: Any) -> Any:
    """A copy of ``document`` without personal data."""
    if isinstance(document, list):
        return [redact(item) for item in document]
    if not isinstance(document, Mapping):
        return document
    clean: dict[str, Any] = {}
    for key, value in document.items():
        lowered = str(key).lower()
        if _is_address_key(str(key)) or _looks_like_address(value):
            clean[key] = _redact_address(value)
        elif lowered in _PERSONAL_KEYS:
            clean[key] = REDACTED if value is not None else None
        else:
            clean[key] = redact(value)
    return clean


def _redact_address(value: Any) -> Any:
    if isinstance(value, Mapping):
        kept = {key: value[key] for key in value if key in _ADDRESS_KEPT}
        return {**kept, "redacted": True}
    if isinstance(value, list):
        return [_redact_address(item) for item in value]
    return REDACTED if value is not None else None
