"""A FULFILLMENT_ORDER_STATUS notification delivered twice to the local notification queue: one event.

Real parts: the moto server over HTTP (queues, idempotency table, bus and tap from template.yaml), the
real notifications Lambda handler driven by the local stack's notifications event source mapping.
"""

from __future__ import annotations

import copy
import json
import uuid

import pytest

from adapters.notification_log import load_notification_schemas
from domain.events import notification_event
from local.runtime import LocalStack

pytestmark = pytest.mark.integration

DRAIN_TIMEOUT = 30.0


def test_a_notification_delivered_twice_gives_one_event_and_an_unknown_type_is_kept(
    stack: LocalStack,
) -> None:
    # The session stack's own notifications loop handles the queue. A second consumer here would race it
    # for the two copies: the one that finds the other's claim is retried after the queue's visibility
    # timeout (390 s), and every later wait_until_drained of the session timed out.
    assert stack.resources is not None
    sqs = stack.client("sqs")
    queue = stack.resources.notification_queue_url
    dlq = stack.resources.notification_dead_letter_queue_url
    sqs.purge_queue(QueueUrl=dlq)
    body = copy.deepcopy(
        load_notification_schemas()["FulfillmentOrderStatusNotification.json"]["examples"][0]
    )
    # A NotificationId of this run only: the session's idempotency table outlives this test.
    body["NotificationMetadata"]["NotificationId"] = str(uuid.uuid4())
    body["Payload"]["FulfillmentOrderStatusNotification"]["SellerId"] = "A2SELLERDEMO"
    body["Payload"]["FulfillmentOrderStatusNotification"]["SellerFulfillmentOrderId"] = "ORDER-N1"
    for _ in range(2):
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(body))
    unknown = {**body, "NotificationType": "ANY_OFFER_CHANGED"}
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(unknown))
    assert stack.wait_until_drained(DRAIN_TIMEOUT)
    events = [
        detail for kind, detail in stack.events() if kind == notification_event("FULFILLMENT_ORDER_STATUS")
    ]
    assert len(events) == 1
    assert events[0]["order"] == {"sellerFulfillmentOrderId": "ORDER-N1"}
    assert events[0]["account"] == "demo-seller"
    letters = sqs.receive_message(
        QueueUrl=dlq, MessageAttributeNames=["All"], MaxNumberOfMessages=10, WaitTimeSeconds=1
    )
    [letter] = letters["Messages"]
    assert letter["MessageAttributes"]["sp-relay-reason"]["StringValue"] == "UnknownNotificationType"
