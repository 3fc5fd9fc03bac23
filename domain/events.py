"""The events the relay publishes on the outcome bus: their source and detail types, one home.

The worker, the pollers, the local stack, the demo and the tests all import these; subscribers'
EventBridge rules match on them (``Source: sp-relay``, ``DetailType`` prefix ``sp-relay command``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any, Final

EVENT_SOURCE: Final = "sp-relay"
# In every event's detail: the same for the same event published again (a crash between publishing and
# recording it repeats the saved event), different for any other. Subscribers deduplicate on it.
EVENT_ID: Final = "eventId"
_EVENT_ID_NAMESPACE: Final = uuid.UUID("6f1d7c2e-4b8a-5e3f-9a61-2c0d5b7e8f14")
# "sp-relay command succeeded" / "rejected" / "dead-lettered": every command ends in one of them.
COMMAND_EVENT: Final = "sp-relay command"
# A part of a paged read's answer, published as its pages arrive: not an ending, so not a "command" event
# (the read's last part is its "sp-relay command succeeded" event, with ``result.final``).
READ_PART: Final = "read-part"
READ_PART_EVENT: Final = f"{EVENT_SOURCE} {READ_PART}"
# "sp-relay transaction Success" / "Failure" / "TreatedAsAccepted": a followed acknowledgement's end.
TRANSACTION_EVENT: Final = "sp-relay transaction"
# The pollers' findings.
PURCHASE_ORDER_RECEIVED: Final = "sp-relay purchase-order-received"
FULFILLMENT_ORDER_CHANGED: Final = "sp-relay fulfillment-order-changed"
RETAIL_PURCHASE_ORDER_RECEIVED: Final = "sp-relay retail-purchase-order-received"


def command_event(status: str) -> str:
    return f"{COMMAND_EVENT} {status}"


def transaction_event(status: str) -> str:
    return f"{TRANSACTION_EVENT} {status}"


# "sp-relay notification FULFILLMENT_ORDER_STATUS" / ...: one per SP-API notification, deduplicated.
NOTIFICATION_EVENT: Final = "sp-relay notification"


def notification_event(notification_type: str) -> str:
    return f"{NOTIFICATION_EVENT} {notification_type}"


def with_event_id(detail_type: str, detail: Mapping[str, Any]) -> dict[str, Any]:
    """The detail with its ``eventId``: a name-based UUID of the detail type and the detail's content, so
    a repeat of the same event carries the same id without any record of the first."""
    content = {name: value for name, value in detail.items() if name != EVENT_ID}
    canonical = json.dumps([detail_type, content], sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return {**content, EVENT_ID: str(uuid.uuid5(_EVENT_ID_NAMESPACE, digest))}
