"""The events the relay publishes on the outcome bus: their source and detail types, one home.

The worker, the pollers, the local stack, the demo and the tests all import these; subscribers'
EventBridge rules match on them (``Source: sp-relay``, ``DetailType`` prefix ``sp-relay command``).
"""

from __future__ import annotations

from typing import Final

EVENT_SOURCE: Final = "sp-relay"
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
