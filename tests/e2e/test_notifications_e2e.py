"""Through the local stack: an order's status changes at the emulator become one notification event each.

Real parts: the worker loop and the notifications loop calling the real Lambda handlers, the moto server
over HTTP (NotificationQueue, the idempotency table, the bus and its tap from template.yaml), the emulator
over HTTP sending FULFILLMENT_ORDER_STATUS notifications to NotificationQueue, each delivered twice.
"""

from __future__ import annotations

import httpx
import pytest

from domain.events import notification_event
from local.runtime import LocalStack
from tests.conftest import sample_command, unique

pytestmark = pytest.mark.e2e

DRAIN_TIMEOUT = 60.0


def test_a_create_and_a_ship_give_one_notification_event_each_despite_duplicate_deliveries(
    stack: LocalStack,
) -> None:
    assert stack.emulator is not None
    with httpx.Client(base_url=stack.emulator.url, timeout=5.0) as control:
        assert control.post("/_emulator/notifications", json={"duplicateEvery": 1}).status_code == 200
        create = unique(sample_command("create-fulfillment"))
        order_id = create["payload"]["sellerFulfillmentOrderId"]

        stack.send(create)
        assert stack.wait_until_drained(DRAIN_TIMEOUT)
        shipped = control.post(f"/_emulator/orders/{order_id}/ship", json={})
        assert shipped.status_code == 200, shipped.text
        assert stack.wait_until_drained(DRAIN_TIMEOUT)
        delivery = control.get("/_emulator/notifications").json()

    events = [
        detail for kind, detail in stack.events() if kind == notification_event("FULFILLMENT_ORDER_STATUS")
    ]
    assert [(e["order"], e["status"], e["commandId"], e["account"]) for e in events] == [
        ({"sellerFulfillmentOrderId": order_id}, "Received", create["commandId"], "demo-seller"),
        ({"sellerFulfillmentOrderId": order_id}, "Complete", create["commandId"], "demo-seller"),
    ]
    # Each notification reached the queue twice; the handler published it once.
    assert {k: delivery[k] for k in ("notified", "delivered", "duplicated", "missed", "failed")} == {
        "notified": 2,
        "delivered": 4,
        "duplicated": 2,
        "missed": 0,
        "failed": 0,
    }
    assert len({e["notificationId"] for e in events}) == 2
