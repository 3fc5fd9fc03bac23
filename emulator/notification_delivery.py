"""SP-API's side of notifications: a FULFILLMENT_ORDER_STATUS message to a destination queue whenever an
MCF order's status changes.

The emulator sends what Amazon sends, to the SQS queue it is given (``NotificationDestination``; the local
stack gives it ``NotificationQueue`` of template.yaml): the envelope of the vendored
``notification-schemas/FulfillmentOrderStatusNotification.json`` (``NotificationVersion``,
``NotificationType``, ``PayloadVersion``, ``EventTime``, ``Payload``, ``NotificationMetadata`` with
``ApplicationId``, ``SubscriptionId``, ``PublishTime`` and ``NotificationId``), one message per change.

Amazon delivers some notifications more than once and misses some. Both are controls here, counted, never
random, so tests and the demo stay deterministic: ``duplicate_every`` (every Nth notification is delivered
twice, same ``NotificationId``) and ``miss_next`` (the next N notifications are not delivered at all).

Messages are collected while the state's lock is held (``enqueue``) and sent after it is released
(``deliver_pending``), so a slow queue never holds up the emulator's other callers. A failed send is logged
and counted; the SP-API call that caused it still answers, as Amazon's would.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

logger = logging.getLogger("emulator")

FULFILLMENT_ORDER_STATUS: Final = "FULFILLMENT_ORDER_STATUS"
# EventType of a FULFILLMENT_ORDER_STATUS payload: what changed (Amazon's guide: Order, Shipment, Return).
ORDER_EVENT: Final = "Order"
SHIPMENT_EVENT: Final = "Shipment"
# The emulator's application, as SP-API names a solution in NotificationMetadata.ApplicationId.
DEFAULT_APPLICATION_ID: Final = "amzn1.sp.solution.00000000-0000-4000-8000-0000000e4a70"


def notification_time(moment: datetime) -> str:
    """The way notifications write a time: ``2020-07-13T19:42:04.284Z`` (milliseconds, UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def subscription_id(seller_id: str, notification_type: str) -> str:
    """One subscription per (seller, notification type), stable across runs."""
    return str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"sp-api-emulator/subscription/{seller_id}/{notification_type}")
    )


@dataclass(frozen=True, slots=True)
class OrderStatusChange:
    """What changed, as the emulator's order records hold it (either Fulfillment Outbound version)."""

    seller_id: str
    order_id: str
    status: str
    status_updated: datetime
    event_type: str = ORDER_EVENT
    # The order's latest shipment, in the notification's shape (see ``shipment_of_2020``), if it has one.
    shipment: Mapping[str, Any] | None = None


def fulfillment_order_status(
    change: OrderStatusChange, *, now: datetime, application_id: str = DEFAULT_APPLICATION_ID
) -> dict[str, Any]:
    """One FULFILLMENT_ORDER_STATUS notification, as Amazon's guide describes it.

    The shipment comes only with a Shipment event (the emulator has no Return events: its returns change
    no order status). The vendored schema, generated from one example, lists ``FulfillmentShipment`` and
    ``FulfillmentReturnItem`` as required on every message; an Order event without them is what Amazon
    sends, and what the relay must take (domain/notifications.py ``sometimes_absent``).
    """
    when = notification_time(now)
    status: dict[str, Any] = {
        "SellerId": change.seller_id,
        "EventType": change.event_type,
        "StatusUpdatedDateTime": notification_time(change.status_updated),
        "SellerFulfillmentOrderId": change.order_id,
        "FulfillmentOrderStatus": change.status,
    }
    if change.event_type == SHIPMENT_EVENT:
        status["FulfillmentShipment"] = (
            dict(change.shipment) if change.shipment is not None else _no_shipment(change.status)
        )
    return {
        "NotificationVersion": "1.0",
        "NotificationType": FULFILLMENT_ORDER_STATUS,
        "PayloadVersion": "1.0",
        "EventTime": when,
        "Payload": {"FulfillmentOrderStatusNotification": status},
        "NotificationMetadata": {
            "ApplicationId": application_id,
            "SubscriptionId": subscription_id(change.seller_id, FULFILLMENT_ORDER_STATUS),
            "PublishTime": when,
            "NotificationId": str(uuid.uuid4()),
        },
    }


def _no_shipment(status: str) -> dict[str, Any]:
    cancelled = status in {"Cancelled", "CANCELLED"}
    return {
        # FulfillmentShipmentStatus of fulfillmentOutbound_2020-07-01: nothing has shipped yet.
        "FulfillmentShipmentStatus": "CANCELLED_BY_SELLER" if cancelled else "PENDING",
        "AmazonShipmentId": "",
        "EstimatedArrivalDateTime": "",
        "info": {},
        "FulfillmentShipmentPackages": [],
    }


def shipment_of_2020(shipment: Mapping[str, Any]) -> dict[str, Any]:
    """A ``FulfillmentShipment`` of getFulfillmentOrder (2020-07-01), in the notification's shape."""
    packages = [
        {
            "PackageNumber": int(package["packageNumber"]),
            "CarrierCode": str(package["carrierCode"]),
            "TrackingNumber": str(package.get("trackingNumber", "")),
        }
        for package in shipment.get("fulfillmentShipmentPackage", [])
    ]
    return {
        "FulfillmentShipmentStatus": str(shipment.get("fulfillmentShipmentStatus", "")),
        "AmazonShipmentId": str(shipment.get("amazonShipmentId", "")),
        "EstimatedArrivalDateTime": _notification_time_of(str(shipment.get("estimatedArrivalDate", ""))),
        "info": dict(packages[0]) if packages else {},
        "FulfillmentShipmentPackages": packages,
    }


def _notification_time_of(value: str) -> str:
    if not value:
        return ""
    return notification_time(datetime.fromisoformat(value.replace("Z", "+00:00")))


# --- sending -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NotificationDestination:
    """The SQS queue notifications go to (``createDestination``'s ``sqs.arn``, as a URL here)."""

    queue_url: str
    # None: AWS itself (boto3's own endpoint and credentials); a URL: a local stand-in such as moto.
    endpoint_url: str | None = None
    region: str = "us-east-1"
    application_id: str = DEFAULT_APPLICATION_ID

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NotificationDestination:
        queue_url = data.get("queueUrl")
        if not isinstance(queue_url, str) or not queue_url:
            raise ValueError("queueUrl is required")
        endpoint = data.get("endpointUrl")
        return cls(
            queue_url=queue_url,
            endpoint_url=str(endpoint) if endpoint else None,
            region=str(data.get("region") or "us-east-1"),
            application_id=str(data.get("applicationId") or DEFAULT_APPLICATION_ID),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "queueUrl": self.queue_url,
            "endpointUrl": self.endpoint_url,
            "region": self.region,
            "applicationId": self.application_id,
        }


Sender = Callable[[str], None]


def sqs_sender(destination: NotificationDestination) -> Sender:
    """``send(body)`` to the destination queue through boto3 (SQS over HTTP); made when configured."""
    import boto3  # noqa: PLC0415 - only an emulator that delivers notifications needs it

    if destination.endpoint_url is not None:
        # A local endpoint: fixed fake credentials, never the caller's AWS profile.
        client = boto3.client(
            "sqs",
            endpoint_url=destination.endpoint_url,
            region_name=destination.region,
            aws_access_key_id="emulator",
            aws_secret_access_key="emulator",  # noqa: S106 - not a secret: a local endpoint's fake key
        )
    else:
        client = boto3.client("sqs", region_name=destination.region)

    def send(body: str) -> None:
        client.send_message(QueueUrl=destination.queue_url, MessageBody=body)

    return send


@dataclass
class DeliveryStats:
    notified: int = 0  # notifications made (one per status change)
    delivered: int = 0  # messages sent (a duplicated notification counts twice)
    duplicated: int = 0
    missed: int = 0
    failed: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "notified": self.notified,
            "delivered": self.delivered,
            "duplicated": self.duplicated,
            "missed": self.missed,
            "failed": self.failed,
        }


@dataclass
class NotificationDelivery:
    """The destination, the duplicate and miss controls, the messages waiting to go and what went.

    Thread-safe on its own lock. Without a destination nothing is collected: the emulator then behaves as
    an application with no subscription.
    """

    make_sender: Callable[[NotificationDestination], Sender] = sqs_sender
    destination: NotificationDestination | None = None
    duplicate_every: int = 0
    miss_next: int = 0
    stats: DeliveryStats = field(default_factory=DeliveryStats)
    # Every message delivered, in order (a duplicate appears twice), for tests and the control API.
    sent: list[dict[str, Any]] = field(default_factory=list)
    _sender: Sender | None = field(default=None, repr=False)
    _pending: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def configure(self, destination: NotificationDestination | None) -> None:
        sender = self.make_sender(destination) if destination is not None else None
        with self._lock:
            self.destination = destination
            self._sender = sender

    def set_controls(self, *, duplicate_every: int | None = None, miss_next: int | None = None) -> None:
        if duplicate_every is not None and duplicate_every < 0:
            raise ValueError("duplicateEvery must not be negative (0: never)")
        if miss_next is not None and miss_next < 0:
            raise ValueError("missNext must not be negative")
        with self._lock:
            if duplicate_every is not None:
                self.duplicate_every = duplicate_every
            if miss_next is not None:
                self.miss_next = miss_next

    def enqueue(self, change: OrderStatusChange, now: datetime | None = None) -> None:
        with self._lock:
            if self.destination is None:
                return
            message = fulfillment_order_status(
                change, now=now or datetime.now(UTC), application_id=self.destination.application_id
            )
            self._pending.append(message)

    def deliver_pending(self) -> int:
        """Send what is waiting; returns the number of messages sent."""
        with self._lock:
            batch, self._pending = self._pending, []
            sender = self._sender
            plan: list[tuple[dict[str, Any], int]] = []
            for message in batch:
                self.stats.notified += 1
                if self.miss_next > 0:
                    self.miss_next -= 1
                    self.stats.missed += 1
                    continue
                twice = self.duplicate_every > 0 and self.stats.notified % self.duplicate_every == 0
                plan.append((message, 2 if twice else 1))
        sent = 0
        for message, copies in plan:
            body = json.dumps(message)
            went = 0
            while went < copies and sender is not None and self._send(sender, body):
                went += 1
                with self._lock:
                    self.stats.delivered += 1
                    self.sent.append(message)
            if went == 2:
                with self._lock:
                    self.stats.duplicated += 1
            sent += went
        return sent

    def _send(self, sender: Sender, body: str) -> bool:
        try:
            sender(body)
        except Exception as error:  # noqa: BLE001 - a lost notification must not fail the SP-API call
            logger.warning("notification not delivered: %s", type(error).__name__)
            with self._lock:
                self.stats.failed += 1
            return False
        return True

    def messages(self, notification_type: str | None = None) -> Sequence[dict[str, Any]]:
        with self._lock:
            return [m for m in self.sent if notification_type in (None, m["NotificationType"])]

    def reset(self) -> None:
        """Forget controls, counters and messages; keep the destination (like accounts)."""
        with self._lock:
            self.duplicate_every = 0
            self.miss_next = 0
            self.stats = DeliveryStats()
            self.sent.clear()
            self._pending.clear()

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "destination": self.destination.to_json() if self.destination is not None else None,
                "duplicateEvery": self.duplicate_every,
                "missNext": self.miss_next,
                **self.stats.to_json(),
            }
