"""SP-API notifications turned into events: validated, deduplicated, redacted, tied to the relay's creates.

Amazon writes each notification of a subscription to the destination queue (``NotificationQueue`` in
template.yaml), some of them more than once. For every message the intake:

1. parses it and validates it against the vendored schema of its ``NotificationType``
   (``adapters/notification_schemas/``); an unknown type or an invalid message goes to the
   notification DLQ with its reason (``UnknownNotificationType`` / ``InvalidNotification``), never dropped;
2. claims its ``NotificationId`` with one conditional write (``NotificationLog``): a notification that
   was published already is a duplicate and is dropped; one another worker holds comes back later;
3. finds the relay's account of the notification's seller and, when the relay created the order it
   names, the ``commandId`` of that create (the write ledger's order pointer);
4. for a FULFILLMENT_ORDER_STATUS of an account it knows, records the order's status as announced
   (``domain.order_status.announcement_key``), so that the MCF poller, its backup, does not publish it;
5. publishes one event ``sp-relay notification <type>`` naming the order, with the payload's keys in
   camelCase and redacted by the allow-list of ``domain/privacy.py``;
6. remembers it as published. A crash between 5 and 6 repeats the event once the claim's lease ran out;
   it never loses one.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from domain.errors import InvalidNotification, RelayError, UnknownNotificationType
from domain.events import notification_event
from domain.json_schema import Schema, UnsupportedSchema
from domain.order_status import (
    ANNOUNCEMENT_TTL_SECONDS,
    ORDER_STATUS_FIELD,
    OrderStatusAnnouncements,
    announcement_key,
    order_status,
)
from domain.outcomes import Failure, OutcomeStatus
from domain.ports import Clock, InboundMessage
from domain.privacy import redact
from domain.relay import Disposition


@dataclass(frozen=True, slots=True)
class NotificationKind:
    """One notification type: its vendored schema and where its message names what."""

    notification_type: str
    schema_file: str
    # The envelope's key style: upstream's older schemas are PascalCase, the newer ones camelCase.
    camel_case: bool
    payload_key: str
    # (path in the payload object, the event's name): the order (or shipment) the notification is about.
    order_fields: tuple[tuple[tuple[str, ...], str], ...]
    status_path: tuple[str, ...] | None
    # The status is an MCF order's: the event carries it normalized too (domain/order_status.py).
    order_status: bool = False
    # Payload members the vendored schema lists as required (it was generated from one example message)
    # that Amazon's documentation says appear only for some events: not required here.
    sometimes_absent: tuple[str, ...] = ()


KINDS: Mapping[str, NotificationKind] = {
    kind.notification_type: kind
    for kind in (
        NotificationKind(
            "FULFILLMENT_ORDER_STATUS",
            "FulfillmentOrderStatusNotification.json",
            camel_case=False,
            payload_key="FulfillmentOrderStatusNotification",
            order_fields=((("SellerFulfillmentOrderId",), "sellerFulfillmentOrderId"),),
            status_path=("FulfillmentOrderStatus",),
            order_status=True,
            # EventType "Order" / "Shipment" / "Return": the shipment comes only with Shipment events and
            # the returned item only with Return events (FulfillmentOrderStatusNotification, Amazon's guide).
            sometimes_absent=("FulfillmentShipment", "FulfillmentReturnItem"),
        ),
        NotificationKind(
            "FBA_OUTBOUND_SHIPMENT_STATUS",
            "FBAOutboundShipmentStatusNotification.json",
            camel_case=False,
            payload_key="FBAOutboundShipmentStatusNotification",
            order_fields=(
                (("AmazonOrderId",), "amazonOrderId"),
                (("AmazonShipmentId",), "amazonShipmentId"),
            ),
            status_path=("ShipmentStatus",),
        ),
        NotificationKind(
            "ORDER_CHANGE",
            "OrderChangeNotification.json",
            camel_case=False,
            payload_key="OrderChangeNotification",
            order_fields=((("AmazonOrderId",), "amazonOrderId"),),
            status_path=("Summary", "OrderStatus"),
        ),
        NotificationKind(
            "SHIPMENT_TRACKING_MILESTONE_CHANGED",
            "ShipmentTrackingMilestoneChangedNotification.json",
            camel_case=True,
            payload_key="shipmentTrackingMilestoneChangedNotification",
            order_fields=((("trackingDetail", "identifier", "aftn"), "amazonFulfillmentTrackingNumber"),),
            status_path=("trackingDetail", "latestMilestone", "status", "code"),
        ),
    )
}


# Upstream's SHIPMENT_TRACKING_MILESTONE_CHANGED schema is "$ref": "#/definitions/Notification" with an
# empty "definitions": it resolves to nothing. Until upstream ships the definition, a schema that does
# not compile is replaced by its type's envelope: what the handler itself reads must be there.
def envelope_schema(kind: NotificationKind) -> dict[str, Any]:
    names = _names(kind.camel_case)
    string = {"type": "string"}
    return {
        "type": "object",
        "required": [names["type"], names["metadata"], names["payload"], names["eventTime"]],
        "properties": {
            names["type"]: string,
            names["eventTime"]: string,
            names["metadata"]: {
                "type": "object",
                "required": [names["notificationId"], names["publishTime"]],
                "properties": {names["notificationId"]: string, names["publishTime"]: string},
            },
            names["payload"]: {
                "type": "object",
                "required": [kind.payload_key],
                "properties": {kind.payload_key: {"type": "object"}},
            },
        },
    }


def _names(camel: bool) -> dict[str, str]:
    pascal = {
        "type": "NotificationType",
        "metadata": "NotificationMetadata",
        "payload": "Payload",
        "eventTime": "EventTime",
        "payloadVersion": "PayloadVersion",
        "notificationId": "NotificationId",
        "publishTime": "PublishTime",
        "subscriptionId": "SubscriptionId",
    }
    return {key: _camel(value) for key, value in pascal.items()} if camel else pascal


def compile_schemas(documents: Mapping[str, Mapping[str, Any]]) -> dict[str, Schema]:
    """Notification type → its compiled schema, from the vendored documents by file name."""
    schemas: dict[str, Schema] = {}
    for kind in KINDS.values():
        try:
            schemas[kind.notification_type] = Schema(as_documented(kind, documents[kind.schema_file]))
        except UnsupportedSchema:
            schemas[kind.notification_type] = Schema(envelope_schema(kind))
    return schemas


def as_documented(kind: NotificationKind, document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The vendored schema without the ``required`` entries of ``kind.sometimes_absent``."""
    if not kind.sometimes_absent:
        return document
    relaxed = copy.deepcopy(dict(document))
    names = _names(kind.camel_case)
    payload = (
        relaxed.get("properties", {}).get(names["payload"], {}).get("properties", {}).get(kind.payload_key)
    )
    if isinstance(payload, dict) and isinstance(payload.get("required"), list):
        payload["required"] = [name for name in payload["required"] if name not in kind.sometimes_absent]
    return relaxed


@dataclass(frozen=True, slots=True)
class Notification:
    notification_type: str
    notification_id: str
    event_time: str
    publish_time: str | None
    subscription_id: str | None
    payload_version: str | None
    seller_id: str | None
    order: dict[str, str]
    status: str | None
    payload: Mapping[str, Any]
    # Amazon's status beside the normalized one, when the status is an MCF order's.
    order_status: dict[str, str] | None = None


def parse_notification(body: str, schemas: Mapping[str, Schema]) -> Notification:
    try:
        document = json.loads(body)
    except ValueError:
        raise InvalidNotification("the message is not JSON") from None
    if not isinstance(document, dict):
        raise InvalidNotification("the message is not a JSON object")
    notification_type = document.get("NotificationType", document.get("notificationType"))
    kind = KINDS.get(notification_type) if isinstance(notification_type, str) else None
    if kind is None:
        shown = notification_type if isinstance(notification_type, str) else None
        raise UnknownNotificationType(
            f"NotificationType {str(shown)[:80]!r} has no schema here; known: {', '.join(KINDS)}"
        )
    errors = schemas[kind.notification_type].errors(document)
    if errors:
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise InvalidNotification(
            f"{kind.notification_type} breaks its schema: {'; '.join(errors[:3])}{more}"
        )
    names = _names(kind.camel_case)
    metadata = document[names["metadata"]]
    payload = document[names["payload"]][kind.payload_key]
    notification_id = metadata.get(names["notificationId"])
    if not isinstance(notification_id, str) or not notification_id:
        raise InvalidNotification(f"{kind.notification_type}: {names['notificationId']} is missing")
    order = {
        name: value
        for path, name in kind.order_fields
        if isinstance(value := _at(payload, path), str) and value
    }
    status = _text(_at(payload, kind.status_path) if kind.status_path else None)
    seller_id = payload.get("SellerId", payload.get("sellerId"))
    return Notification(
        notification_type=kind.notification_type,
        notification_id=notification_id,
        event_time=str(document[names["eventTime"]]),
        publish_time=_text(metadata.get(names["publishTime"])),
        subscription_id=_text(metadata.get(names["subscriptionId"])),
        payload_version=_text(document.get(names["payloadVersion"])),
        seller_id=_text(seller_id),
        order=order,
        status=status,
        payload=payload,
        order_status=order_status(status) if kind.order_status and status else None,
    )


def _at(document: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(document, Mapping):
            return None
        document = document.get(part)
    return document


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _camel(name: str) -> str:
    """``SellerFulfillmentOrderId`` → ``sellerFulfillmentOrderId``; ``SellerSKU`` → ``sellerSku``."""
    if not name or not name[0].isupper():
        return name
    if name.isupper():
        return name.lower()
    head = name[0].lower() + name[1:]
    # A trailing acronym (SKU, ID) reads as a word: sellerSKU → sellerSku, as SP-API's JSON spells it.
    stripped = head.rstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    tail = head[len(stripped) :]
    return stripped + (tail[0] + tail[1:].lower() if len(tail) > 1 else tail)


def camel_keys(document: Any) -> Any:
    """A copy of ``document`` with every object key in camelCase, the spelling the allow-list knows."""
    if isinstance(document, list):
        return [camel_keys(item) for item in document]
    if isinstance(document, Mapping):
        return {_camel(str(key)): camel_keys(value) for key, value in document.items()}
    return document


def event_detail(notification: Notification, account: str | None, command_id: str | None) -> dict[str, Any]:
    """The event of one notification: who, which order, which status, and the redacted payload."""
    return {
        "notificationType": notification.notification_type,
        "notificationId": notification.notification_id,
        "eventTime": notification.event_time,
        "publishTime": notification.publish_time,
        "subscriptionId": notification.subscription_id,
        "payloadVersion": notification.payload_version,
        "sellerId": notification.seller_id,
        "account": account,
        "order": dict(notification.order),
        "status": notification.status,
        ORDER_STATUS_FIELD: notification.order_status,
        "commandId": command_id,
        "payload": redact(camel_keys(notification.payload)),
    }


# --- ports ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NotificationClaim:
    """What claiming a NotificationId found: ``claimed`` (publish it now), or it was ``published``
    already (a duplicate), or another worker holds it for ``retry_after_seconds``."""

    claimed: bool
    published: bool = False
    retry_after_seconds: float = 0.0


class NotificationLog(Protocol):
    def claim(self, notification_id: str, *, now: float, lease_until: float) -> NotificationClaim:
        """One conditional write: new (or held under an expired lease) → claimed."""
        ...

    def published(self, notification_id: str) -> None:
        """The notification's event is out: every later copy is a duplicate."""
        ...


class OrderCreators(Protocol):
    def creator_of_order(self, account: str, order_id: str) -> str | None:
        """The commandId of the relay's create of that order (None: the relay did not create it)."""
        ...


class EventPublisher(Protocol):
    def publish_event(self, detail_type: str, detail: Mapping[str, Any]) -> None: ...


class DeadLetters(Protocol):
    def dead_letter(self, message: InboundMessage, failure: Failure, relay_context: str | None) -> None: ...


@dataclass(frozen=True, slots=True)
class NotificationPorts:
    schemas: Mapping[str, Schema]
    log: NotificationLog
    creators: OrderCreators
    events: EventPublisher
    dead_letters: DeadLetters
    clock: Clock
    # The relay's account name of each SP-API seller id (NOTIFICATION_SELLER_ACCOUNTS).
    seller_accounts: Mapping[str, str] = field(default_factory=dict)
    # Shared with the MCF poller (its state table), which then leaves announced statuses alone.
    announcements: OrderStatusAnnouncements | None = None


@dataclass(frozen=True, slots=True)
class IntakeResult:
    disposition: Disposition
    # published, duplicate, in-flight, dead-lettered, retry
    what: str
    notification_type: str | None = None
    reason: str | None = None


class NotificationIntake:
    """The notifications use case: one SQS message in, at most one event out (see the module doc)."""

    def __init__(self, ports: NotificationPorts, *, max_receive_count: int = 5) -> None:
        self._ports = ports
        self._max_receive_count = max_receive_count

    def process(self, message: InboundMessage, remaining_seconds: Callable[[], float]) -> IntakeResult:
        ports = self._ports
        try:
            notification = parse_notification(message.body, ports.schemas)
        except (UnknownNotificationType, InvalidNotification) as error:
            failure = Failure.from_error(OutcomeStatus.REJECTED, error, message.receive_count)
            try:
                ports.dead_letters.dead_letter(message, failure, None)
            except RelayError as dlq_error:
                return IntakeResult(Disposition.RETRY, "retry", reason=dlq_error.code)
            return IntakeResult(Disposition.DONE, "dead-lettered", reason=error.code)
        try:
            return self._publish_once(notification, remaining_seconds)
        except RelayError as error:
            # Retryable or not, a notification that parsed is never dropped: SQS gives it back, and after
            # the queue's maxReceiveCount its redrive policy keeps it on the notification DLQ.
            return IntakeResult(Disposition.RETRY, "retry", notification.notification_type, error.code)

    def _publish_once(
        self, notification: Notification, remaining_seconds: Callable[[], float]
    ) -> IntakeResult:
        ports = self._ports
        now = ports.clock.now()
        # The claim lasts this invocation (plus a margin): a worker killed mid-publish frees it after that.
        lease_until = now + max(remaining_seconds(), 1.0) + 5.0
        claim = ports.log.claim(notification.notification_id, now=now, lease_until=lease_until)
        kind = notification.notification_type
        if claim.published:
            return IntakeResult(Disposition.DONE, "duplicate", kind)
        if not claim.claimed:
            return IntakeResult(Disposition.RETRY, "in-flight", kind)
        account = ports.seller_accounts.get(notification.seller_id or "")
        command_id = None
        if account is not None:
            for order_id in notification.order.values():
                command_id = ports.creators.creator_of_order(account, order_id)
                if command_id is not None:
                    break
        self._announce(notification, account)
        ports.events.publish_event(notification_event(kind), event_detail(notification, account, command_id))
        ports.log.published(notification.notification_id)
        return IntakeResult(Disposition.DONE, "published", kind)

    def _announce(self, notification: Notification, account: str | None) -> None:
        """Tell the MCF poller this order's status is announced, before the event goes out: should the
        publish fail, the claim brings the notification back (or to its DLQ), so nothing is lost, and the
        poller does not publish the same change beside it."""
        announcements = self._ports.announcements
        order_id = notification.order.get("sellerFulfillmentOrderId")
        if announcements is None or account is None or order_id is None or notification.order_status is None:
            return
        assert notification.status is not None  # order_status is derived from it
        announcements.remember(
            announcement_key(account, order_id, notification.status),
            notification.notification_id,
            ANNOUNCEMENT_TTL_SECONDS,
        )
