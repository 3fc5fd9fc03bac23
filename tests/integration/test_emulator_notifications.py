"""The emulator sends FULFILLMENT_ORDER_STATUS notifications to an SQS queue when an MCF order's status
changes, in Amazon's envelope, valid against the vendored schema; its duplicate and miss controls.

Real parts: the emulator over HTTP (httpx), a moto server over HTTP, boto3 reading the queue.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from jsonschema import Draft7Validator

from domain.notifications import KINDS, as_documented
from emulator import EmulatorServer
from emulator.notification_delivery import NotificationDestination
from emulator.operations.notifications import TEST_SELLER_ID
from local.moto import aws_client_kwargs, start_moto_server

pytestmark = pytest.mark.integration

SCHEMA = (
    Path(__file__).resolve().parents[2]
    / "adapters/notification_schemas/FulfillmentOrderStatusNotification.json"
)


def documented_validator() -> Draft7Validator:
    """The vendored schema as Amazon documents the messages (an Order event has no shipment)."""
    kind = KINDS["FULFILLMENT_ORDER_STATUS"]
    return Draft7Validator(as_documented(kind, json.loads(SCHEMA.read_text())))


EVENTS = Path(__file__).resolve().parents[2] / "events"
FBA = "/fba/outbound/2020-07-01/fulfillmentOrders"
MCF_2026 = "/fulfillment/outbound/2026-07-04/orders"
TEST_NOTIFICATION = "/notifications/v1/subscriptions"
CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, SELLER = "client-n", "secret-n", "Atzr|refresh-n", "A1NOTIFYSELLER"
ENVELOPE = {
    "NotificationVersion",
    "NotificationType",
    "PayloadVersion",
    "EventTime",
    "Payload",
    "NotificationMetadata",
}
METADATA = {"ApplicationId", "SubscriptionId", "PublishTime", "NotificationId"}


@pytest.fixture(scope="module")
def queue() -> Iterator[tuple[Any, str, str]]:
    with start_moto_server() as moto:
        sqs = boto3.client("sqs", **aws_client_kwargs(moto.endpoint_url))
        url = sqs.create_queue(QueueName="emulator-notifications")["QueueUrl"]
        yield sqs, url, moto.endpoint_url


@pytest.fixture
def emulator(queue: tuple[Any, str, str]) -> Iterator[tuple[EmulatorServer, httpx.Client, dict[str, str]]]:
    _, url, endpoint = queue
    destination = NotificationDestination(url, endpoint_url=endpoint)
    with EmulatorServer(rate_scale=100.0, notification_destination=destination) as server:
        server.register_account(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, SELLER)
        with httpx.Client(base_url=server.url, timeout=5.0) as client:
            token = client.post(
                "/auth/o2/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": REFRESH_TOKEN,
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                },
            ).json()["access_token"]
            yield server, client, {"x-amz-access-token": token}


def received(queue: tuple[Any, str, str]) -> list[dict[str, Any]]:
    """Every message on the queue now (read once, deleted), in the order sent."""
    sqs, url, _ = queue
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not messages:
            return bodies
        bodies += [json.loads(m["Body"]) for m in messages]
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def order_2020(order_id: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EVENTS / "create-fulfillment.json").read_text())["payload"]
    return {**body, "sellerFulfillmentOrderId": order_id, "displayableOrderId": order_id}


def order_2026(order_id: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EVENTS / "create-mcf-order.json").read_text())["payload"]
    body.pop("x-amzn-fulfillment-service-id")  # a header, not a body field
    body["lineItems"][0]["lineItemId"] = f"{order_id}-1"
    return {**body, "orderId": order_id}


def status_of(message: dict[str, Any]) -> tuple[str, str, str]:
    payload = message["Payload"]["FulfillmentOrderStatusNotification"]
    return payload["SellerFulfillmentOrderId"], payload["EventType"], payload["FulfillmentOrderStatus"]


def test_every_status_change_of_both_versions_is_one_valid_notification(
    emulator: tuple[EmulatorServer, httpx.Client, dict[str, str]], queue: tuple[Any, str, str]
) -> None:
    server, client, auth = emulator
    received(queue)
    assert client.post(FBA, json=order_2020("N-1"), headers=auth).status_code == 200
    assert client.post(FBA, json=order_2020("N-2"), headers=auth).status_code == 200
    shipped = client.post("/_emulator/orders/N-1/ship", json={})
    assert shipped.status_code == 200, shipped.text
    assert client.put(f"{FBA}/N-2/cancel", headers=auth).status_code == 200
    assert client.put(f"{FBA}/N-2/cancel", headers=auth).status_code == 400  # no change: no notification
    assert client.post(MCF_2026, json=order_2026("M-1"), headers=auth).status_code == 200
    assert client.put(f"{MCF_2026}/M-1/cancel", headers=auth).status_code == 202

    messages = received(queue)

    assert [status_of(m) for m in messages] == [
        ("N-1", "Order", "Received"),
        ("N-2", "Order", "Received"),
        ("N-1", "Shipment", "Complete"),
        ("N-2", "Order", "Cancelled"),
        ("M-1", "Order", "PROCESSING"),
        ("M-1", "Order", "CANCELLED"),
    ]
    validator = documented_validator()
    for message in messages:
        assert [e.message for e in validator.iter_errors(message)] == []
        assert set(message) == ENVELOPE
        assert set(message["NotificationMetadata"]) == METADATA
        assert message["NotificationType"] == "FULFILLMENT_ORDER_STATUS"
        assert message["Payload"]["FulfillmentOrderStatusNotification"]["SellerId"] == SELLER
    # As Amazon's guide has it: a shipment only on a Shipment event, a returned item only on a Return one.
    assert [
        sorted(
            set(m["Payload"]["FulfillmentOrderStatusNotification"])
            & {"FulfillmentShipment", "FulfillmentReturnItem"}
        )
        for m in messages
    ] == [[], [], ["FulfillmentShipment"], [], [], []]
    assert len({m["NotificationMetadata"]["NotificationId"] for m in messages}) == 6
    shipment = messages[2]["Payload"]["FulfillmentOrderStatusNotification"]["FulfillmentShipment"]
    assert shipment["AmazonShipmentId"] == shipped.json()["amazonShipmentId"]
    assert shipment["FulfillmentShipmentPackages"] == [
        {
            "PackageNumber": shipped.json()["packageNumber"],
            "CarrierCode": "UPS",
            "TrackingNumber": shipped.json()["trackingNumber"],
        }
    ]
    assert server.state.notification_delivery.stats.to_json() == {
        "notified": 6,
        "delivered": 6,
        "duplicated": 0,
        "missed": 0,
        "failed": 0,
    }


def test_send_test_notification_delivers_one_valid_mock_notification_of_that_type(
    emulator: tuple[EmulatorServer, httpx.Client, dict[str, str]], queue: tuple[Any, str, str]
) -> None:
    _, client, _ = emulator
    received(queue)
    grant = client.post(
        "/auth/o2/token",
        data={
            "grant_type": "client_credentials",
            "scope": "sellingpartnerapi::notifications",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert grant.status_code == 200, grant.text
    grantless = {"x-amz-access-token": grant.json()["access_token"]}
    body = {"testNotification": {"payloadVersion": "1.0", "testScenario": "Order"}}

    sent = client.post(
        f"{TEST_NOTIFICATION}/FULFILLMENT_ORDER_STATUS/testNotification", json=body, headers=grantless
    )
    assert sent.status_code == 200, sent.text
    [message] = received(queue)
    # A type the emulator builds no messages of is answered and recorded, and sends nothing.
    other = client.post(f"{TEST_NOTIFICATION}/ORDER_CHANGE/testNotification", json=body, headers=grantless)
    assert other.status_code == 200, other.text

    assert received(queue) == []
    validator = documented_validator()
    assert [e.message for e in validator.iter_errors(message)] == []
    assert message["NotificationType"] == "FULFILLMENT_ORDER_STATUS"
    order_id, event_type, status = status_of(message)
    assert (order_id.startswith("test-notification-"), event_type, status) == (True, "Order", "Received")
    assert message["Payload"]["FulfillmentOrderStatusNotification"]["SellerId"] == TEST_SELLER_ID


def test_the_duplicate_and_miss_controls_are_deterministic(
    emulator: tuple[EmulatorServer, httpx.Client, dict[str, str]], queue: tuple[Any, str, str]
) -> None:
    _, client, auth = emulator
    received(queue)
    control = client.post("/_emulator/notifications", json={"duplicateEvery": 2, "missNext": 1})
    assert control.status_code == 200, control.text

    for number in range(1, 6):  # the 1st is missed; of the rest, the 2nd and 4th are delivered twice
        assert client.post(FBA, json=order_2020(f"D-{number}"), headers=auth).status_code == 200
    messages = received(queue)

    assert [status_of(m)[0] for m in messages] == ["D-2", "D-2", "D-3", "D-4", "D-4", "D-5"]
    assert messages[0] == messages[1]  # the same NotificationId, as Amazon's repeats carry
    assert messages[3] == messages[4]
    assert len({m["NotificationMetadata"]["NotificationId"] for m in messages}) == 4
    state = client.get("/_emulator/notifications").json()
    assert {k: state[k] for k in ("notified", "delivered", "duplicated", "missed", "failed")} == {
        "notified": 5,
        "delivered": 6,
        "duplicated": 2,
        "missed": 1,
        "failed": 0,
    }
    assert client.post("/_emulator/notifications", json={"duplicateEvery": -1}).status_code == 400


def test_without_a_destination_nothing_is_sent_and_reset_keeps_the_destination(
    emulator: tuple[EmulatorServer, httpx.Client, dict[str, str]], queue: tuple[Any, str, str]
) -> None:
    server, client, auth = emulator
    received(queue)
    client.post("/_emulator/notifications", json={"duplicateEvery": 1})
    client.post("/_emulator/reset")
    assert client.post(FBA, json=order_2020("R-1"), headers=auth).status_code == 200
    assert [status_of(m) for m in received(queue)] == [("R-1", "Order", "Received")]  # reset: no duplicates

    assert client.post("/_emulator/notifications", json={"destination": None}).status_code == 200
    assert client.post(FBA, json=order_2020("R-2"), headers=auth).status_code == 200
    assert received(queue) == []
    assert server.state.notification_delivery.stats.notified == 1
