"""One order-status vocabulary for both Fulfillment Outbound versions.

Fulfillment Outbound 2026-07-04 renames the statuses of 2020-07-01 (``Complete`` -> ``COMPLETE``,
``CompletePartialled`` -> ``COMPLETE_PARTIAL``) and folds the early ones (``New``, ``Received``,
``Planning``, ``Processing``) into ``PROCESSING``. An outcome event whose answer shows an order's status
carries ``orderStatus``: Amazon's own value beside the normalized one, so a consumer can treat the orders
of both versions alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from domain.paging import dig

# The result field of an outcome event, and its two keys.
ORDER_STATUS_FIELD: Final = "orderStatus"
AMAZON_STATUS: Final = "amazon"
NORMALIZED_STATUS: Final = "normalized"

PROCESSING: Final = "processing"
COMPLETE: Final = "complete"
COMPLETE_PARTIAL: Final = "complete-partial"
CANCELLED: Final = "cancelled"
UNFULFILLABLE: Final = "unfulfillable"
INVALID: Final = "invalid"
UNKNOWN: Final = "unknown"
NORMALIZED_STATUSES: Final = (
    PROCESSING,
    COMPLETE,
    COMPLETE_PARTIAL,
    CANCELLED,
    UNFULFILLABLE,
    INVALID,
    UNKNOWN,
)

_STATUSES: Mapping[str, str] = {
    # 2020-07-01 (FulfillmentOrderStatus)
    "New": PROCESSING,
    "Received": PROCESSING,
    "Planning": PROCESSING,
    "Processing": PROCESSING,
    "Complete": COMPLETE,
    "CompletePartialled": COMPLETE_PARTIAL,
    "Cancelled": CANCELLED,
    "Unfulfillable": UNFULFILLABLE,
    "Invalid": INVALID,
    # 2026-07-04 (OrderStatus)
    "PROCESSING": PROCESSING,
    "COMPLETE": COMPLETE,
    "COMPLETE_PARTIAL": COMPLETE_PARTIAL,
    "CANCELLED": CANCELLED,
    "UNFULFILLABLE": UNFULFILLABLE,
    "INVALID": INVALID,
}


def normalize(status: str) -> str:
    """The version-free status of an Amazon order status of either version (``unknown`` if new)."""
    return _STATUSES.get(status, UNKNOWN)


def order_status(status: str) -> dict[str, str]:
    """The ``orderStatus`` of an event: Amazon's status and the normalized one."""
    return {AMAZON_STATUS: status, NORMALIZED_STATUS: normalize(status)}


@dataclass(frozen=True, slots=True)
class OrderStatusAt:
    """Where a command's answer shows the status of one order (the first path present is used)."""

    paths: Sequence[tuple[str, ...]]

    def of(self, answer: Any) -> dict[str, str] | None:
        for path in self.paths:
            status = dig(answer, path)
            if isinstance(status, str) and status:
                return order_status(status)
        return None


def with_order_status(result: dict[str, Any], where: OrderStatusAt | None) -> dict[str, Any]:
    """``result`` with ``orderStatus`` added when its answer shows the order's status."""
    if where is None:
        return result
    found = where.of(result.get("answer"))
    return result if found is None else {**result, ORDER_STATUS_FIELD: found}


class OrderStatusAnnouncements(Protocol):
    """Which MCF order statuses a FULFILLMENT_ORDER_STATUS notification has already announced.

    Notifications are the first way a status change reaches upstream; the MCF poller is the backup
    Amazon's guide asks for (a notification can be missed). The notifications intake records each
    (account, order, normalized status) it announces before publishing it; the poller publishes a change
    only when no notification announced that status of that order.
    """

    def recall(self, key: str) -> str | None: ...

    def remember(self, key: str, fingerprint: str, ttl_seconds: int) -> None: ...


# As long as the poller remembers an order's fingerprint: an announcement outlives every poll of it.
ANNOUNCEMENT_TTL_SECONDS: Final = 60 * 24 * 3600


def announcement_key(account: str, seller_fulfillment_order_id: str, status: str) -> str:
    """The key of one announced status of an MCF order (``status``: Amazon's, of either version)."""
    return f"announced#mcf#{account}#{seller_fulfillment_order_id}#{normalize(status)}"
