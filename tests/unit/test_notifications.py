"""The notifications intake: schemas, duplicates, unknown types, the relay's own creates, redaction."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import jsonschema
import pytest

from adapters.notification_log import load_notification_schemas
from domain.errors import DependencyUnavailable
from domain.events import notification_event
from domain.json_schema import Schema, UnsupportedSchema
from domain.notifications import (
    KINDS,
    NotificationClaim,
    NotificationIntake,
    NotificationPorts,
    compile_schemas,
)
from domain.order_status import OrderStatusAnnouncements
from domain.outcomes import Failure
from domain.ports import InboundMessage
from domain.relay import Disposition

pytestmark = pytest.mark.unit

DOCUMENTS = load_notification_schemas()
SCHEMAS = compile_schemas(DOCUMENTS)


def example(kind: str) -> dict[str, Any]:
    document = DOCUMENTS[KINDS[kind].schema_file]
    return copy.deepcopy(document["examples"][0])


def fulfillment_status(notification_id: str = "n-1", order: str = "ORDER-1") -> dict[str, Any]:
    body = example("FULFILLMENT_ORDER_STATUS")
    body["NotificationMetadata"]["NotificationId"] = notification_id
    body["Payload"]["FulfillmentOrderStatusNotification"]["SellerFulfillmentOrderId"] = order
    body["Payload"]["FulfillmentOrderStatusNotification"]["SellerId"] = "A2SELLER"
    return body


class Log:
    def __init__(self) -> None:
        self.states: dict[str, str] = {}

    def claim(self, notification_id: str, *, now: float, lease_until: float) -> NotificationClaim:
        state = self.states.get(notification_id)
        if state == "PUBLISHED":
            return NotificationClaim(claimed=False, published=True)
        if state == "CLAIMED":
            return NotificationClaim(claimed=False, retry_after_seconds=30)
        self.states[notification_id] = "CLAIMED"
        return NotificationClaim(claimed=True)

    def published(self, notification_id: str) -> None:
        self.states[notification_id] = "PUBLISHED"


class Creators:
    def __init__(self, creates: Mapping[tuple[str, str], str]) -> None:
        self.creates = creates

    def creator_of_order(self, account: str, order_id: str) -> str | None:
        return self.creates.get((account, order_id))


class Bus:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail

    def publish_event(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        if self.fail:
            raise DependencyUnavailable("publishing an event failed: test")
        self.events.append((detail_type, json.loads(json.dumps(detail))))


class Letters:
    def __init__(self) -> None:
        self.letters: list[tuple[str, Failure]] = []

    def dead_letter(self, message: InboundMessage, failure: Failure, relay_context: str | None) -> None:
        self.letters.append((message.body, failure))


class StandingClock:
    def now(self) -> float:
        return 1_000_000.0

    def sleep(self, seconds: float) -> None:
        pass


def intake(
    creates: Mapping[tuple[str, str], str] | None = None,
    bus: Bus | None = None,
    announcements: OrderStatusAnnouncements | None = None,
) -> tuple[NotificationIntake, Log, Bus, Letters]:
    log, bus, letters = Log(), bus or Bus(), Letters()
    ports = NotificationPorts(
        schemas=SCHEMAS,
        log=log,
        creators=Creators(creates or {}),
        events=bus,
        dead_letters=letters,
        clock=StandingClock(),
        seller_accounts={"A2SELLER": "shop-a"},
        announcements=announcements,
    )
    return NotificationIntake(ports), log, bus, letters


def message(body: Any, message_id: str = "m-1") -> InboundMessage:
    text = body if isinstance(body, str) else json.dumps(body)
    return InboundMessage(message_id=message_id, body=text, receive_count=1, receipt_handle="r")


def test_every_vendored_example_passes_its_schema_and_jsonschema_agrees() -> None:
    for kind in KINDS.values():
        document = DOCUMENTS[kind.schema_file]
        for sample in document["examples"]:
            assert SCHEMAS[kind.notification_type].errors(sample) == []


@pytest.mark.parametrize("kind", ["FULFILLMENT_ORDER_STATUS", "FBA_OUTBOUND_SHIPMENT_STATUS", "ORDER_CHANGE"])
def test_broken_notifications_are_refused_as_jsonschema_refuses_them(kind: str) -> None:
    document = DOCUMENTS[KINDS[kind].schema_file]
    good = example(kind)
    payload = good["Payload"][KINDS[kind].payload_key]
    broken = [
        {key: value for key, value in good.items() if key != "NotificationMetadata"},
        {**good, "EventTime": 17},
        {**good, "Payload": {KINDS[kind].payload_key: {k: v for k, v in payload.items() if k != "SellerId"}}},
    ]
    for sample in broken:
        ours = SCHEMAS[kind].errors(sample)
        theirs = list(jsonschema.Draft7Validator(document).iter_errors(sample))
        assert bool(ours) == bool(theirs) is True


def test_an_order_event_without_shipment_or_returned_item_is_taken_as_amazon_documents_it() -> None:
    """The vendored schema lists both as required; Amazon sends them only with Shipment / Return events."""
    relay, _, bus, letters = intake()
    body = fulfillment_status()
    status = body["Payload"]["FulfillmentOrderStatusNotification"]
    status["EventType"] = "Order"
    del status["FulfillmentShipment"], status["FulfillmentReturnItem"]

    result = relay.process(message(body), lambda: 30.0)

    assert (result.disposition, result.what) == (Disposition.DONE, "published")
    assert letters.letters == []
    [(_, detail)] = bus.events
    assert detail["order"] == {"sellerFulfillmentOrderId": "ORDER-1"}
    # Only those two: a message without its order is still refused.
    del status["SellerFulfillmentOrderId"]
    assert SCHEMAS["FULFILLMENT_ORDER_STATUS"].errors(body)


def test_an_unresolvable_ref_or_an_unknown_keyword_is_refused_when_compiled() -> None:
    with pytest.raises(UnsupportedSchema):
        Schema({"$ref": "#/definitions/Notification", "definitions": {}})
    with pytest.raises(UnsupportedSchema):
        Schema({"type": "string", "pattern": "^a$"})
    # Upstream's milestone schema is such a one: its envelope is checked instead.
    milestone = example("SHIPMENT_TRACKING_MILESTONE_CHANGED")
    del milestone["notificationMetadata"]["notificationId"]
    assert SCHEMAS["SHIPMENT_TRACKING_MILESTONE_CHANGED"].errors(milestone)


def test_a_notification_delivered_twice_is_published_once_naming_the_order_and_its_create() -> None:
    relay, _, bus, letters = intake({("shop-a", "ORDER-1"): "oms-1-create"})
    body = fulfillment_status()
    first = relay.process(message(body, "m-1"), lambda: 30.0)
    second = relay.process(message(body, "m-2"), lambda: 30.0)
    assert (first.what, second.what) == ("published", "duplicate")
    assert second.disposition is Disposition.DONE
    assert len(bus.events) == 1
    detail_type, detail = bus.events[0]
    assert detail_type == notification_event("FULFILLMENT_ORDER_STATUS")
    assert detail["order"] == {"sellerFulfillmentOrderId": "ORDER-1"}
    assert detail["account"] == "shop-a"
    assert detail["commandId"] == "oms-1-create"
    assert detail["status"] == "PROCESSED"
    # Not one of the statuses either Fulfillment Outbound version lists: normalized as unknown.
    assert detail["orderStatus"] == {"amazon": "PROCESSED", "normalized": "unknown"}
    assert letters.letters == []


@pytest.mark.parametrize(
    ("status", "normalized"), [("Complete", "complete"), ("COMPLETE_PARTIAL", "complete-partial")]
)
def test_a_fulfillment_order_status_event_carries_the_normalized_order_status(
    status: str, normalized: str
) -> None:
    relay, _, bus, _ = intake()
    body = fulfillment_status()
    body["Payload"]["FulfillmentOrderStatusNotification"]["FulfillmentOrderStatus"] = status
    relay.process(message(body), lambda: 30.0)
    [(_, detail)] = bus.events
    assert detail["orderStatus"] == {"amazon": status, "normalized": normalized}


def test_a_status_that_is_not_an_mcf_order_status_is_not_normalized() -> None:
    relay, _, bus, _ = intake()
    relay.process(message(example("ORDER_CHANGE")), lambda: 30.0)
    [(_, detail)] = bus.events
    assert detail["status"] is not None
    assert detail["orderStatus"] is None


def test_an_order_the_relay_did_not_create_has_no_command_id() -> None:
    relay, _, bus, _ = intake({("shop-a", "OTHER"): "x"})
    relay.process(message(fulfillment_status()), lambda: 30.0)
    assert bus.events[0][1]["commandId"] is None


def test_a_copy_held_by_another_worker_comes_back_later_and_a_failed_publish_is_retried() -> None:
    relay, log, _, _ = intake()
    log.states["n-1"] = "CLAIMED"
    assert relay.process(message(fulfillment_status()), lambda: 30.0).disposition is Disposition.RETRY
    relay, log, _, _ = intake(bus=Bus(fail=True))
    result = relay.process(message(fulfillment_status()), lambda: 30.0)
    assert (result.disposition, result.reason) == (Disposition.RETRY, "DependencyUnavailable")
    assert log.states["n-1"] == "CLAIMED"  # not published: a later copy publishes once the lease ends


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({**fulfillment_status(), "NotificationType": "ANY_OFFER_CHANGED"}, "UnknownNotificationType"),
        ({"hello": "world"}, "UnknownNotificationType"),
        ("not json", "InvalidNotification"),
        (
            {**fulfillment_status(), "Payload": {"FulfillmentOrderStatusNotification": {"SellerId": "x"}}},
            "InvalidNotification",
        ),
    ],
)
def test_unknown_or_invalid_notifications_are_kept_on_the_dlq_with_a_reason(body: Any, reason: str) -> None:
    relay, log, bus, letters = intake()
    result = relay.process(message(body), lambda: 30.0)
    assert (result.disposition, result.what, result.reason) == (Disposition.DONE, "dead-lettered", reason)
    assert bus.events == [] and log.states == {}
    [(kept, failure)] = letters.letters
    assert kept == (body if isinstance(body, str) else json.dumps(body))
    assert failure.code == reason and failure.detail


def test_personal_data_in_a_notification_never_reaches_the_event() -> None:
    relay, _, bus, _ = intake()
    body = example("ORDER_CHANGE")
    summary = body["Payload"]["OrderChangeNotification"]["Summary"]
    summary["DestinationPostalCode"] = "98109-1234"
    summary["BuyerName"] = "Jane Doe"
    relay.process(message(body), lambda: 30.0)
    text = json.dumps(bus.events[0][1])
    assert "98109" not in text and "Jane Doe" not in text
    assert bus.events[0][1]["order"]["amazonOrderId"] in text
