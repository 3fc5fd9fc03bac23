"""A FULFILLMENT_ORDER_STATUS notification delivered twice to the local notification queue: one event.

Real parts: the moto server over HTTP (queues, idempotency table, bus and tap from template.yaml), the
real notifications Lambda handler driven by the local event source mapping.
"""

from __future__ import annotations

import copy
import json
import uuid

import pytest

from adapters.notification_log import load_notification_schemas
from domain.events import notification_event
from handlers.notifications import lambda_handler
from local.runtime import LocalStack
from local.worker_loop import LocalEventSourceMapping

pytestmark = pytest.mark.integration


def test_a_notification_delivered_twice_gives_one_event_and_an_unknown_type_is_kept(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The session's stack: a stack of its own would redeploy the same names in moto's shared backends
    # and its teardown would take the session's queues with it.
    sqs = stack.client("sqs")
    [queue] = sqs.list_queues(QueueNamePrefix="sp-relay-local-NotificationQueue")["QueueUrls"]
    [dlq] = sqs.list_queues(QueueNamePrefix="sp-relay-local-NotificationDeadLetterQueue")["QueueUrls"]
    monkeypatch.setenv("NOTIFICATION_DEAD_LETTER_QUEUE_URL", dlq)
    monkeypatch.setenv("NOTIFICATION_SELLER_ACCOUNTS", "A2SELLERDEMO=demo-seller")
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
    mapping = LocalEventSourceMapping(
        sqs,
        queue,
        lambda_handler,
        batch_size=1,
        concurrency=1,
        function_name="sp-relay-notifications",
    )
    for _ in range(6):
        mapping.poll_once()
    events = [
        detail for kind, detail in stack.events() if kind == notification_event("FULFILLMENT_ORDER_STATUS")
    ]
    assert len(events) == 1
    assert events[0]["order"] == {"sellerFulfillmentOrderId": "ORDER-N1"}
    assert events[0]["account"] == "demo-seller"
    letters = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"], WaitTimeSeconds=1)
    [letter] = letters["Messages"]
    assert letter["MessageAttributes"]["sp-relay-reason"]["StringValue"] == "UnknownNotificationType"
