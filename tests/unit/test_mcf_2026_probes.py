"""The state probes of Fulfillment Outbound 2026-07-04 writes: getOrder tells applied, missing or conflict."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from domain.catalog import CATALOG
from domain.probes import GET_MCF_ORDER, ProbeContext
from domain.requests import SpApiResponse
from domain.spapi.spec import OperationSpec

pytestmark = pytest.mark.unit

EVENTS = Path(__file__).resolve().parents[2] / "events"


def payload(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    found: dict[str, Any] = document["payload"]
    return found


def order_of(create: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    order = {
        "orderId": create["orderId"],
        "receiveTime": "2026-11-20T09:30:00Z",
        "status": "PROCESSING",
        "lineItems": json.loads(json.dumps(create["lineItems"])),
        "destination": json.loads(json.dumps(create["destination"])),
        "fulfillmentConfiguration": json.loads(json.dumps(create.get("fulfillmentConfiguration", {}))),
    }
    order.update(changes)
    return order


def context(*answers: SpApiResponse) -> tuple[ProbeContext, list[Mapping[str, Any]]]:
    queue, seen = list(answers), []

    def read(operation: OperationSpec, parameters: Mapping[str, Any]) -> SpApiResponse:
        assert operation == GET_MCF_ORDER
        seen.append(parameters)
        return queue.pop(0)

    return ProbeContext(read, now=0.0, attempted_at=None, settle_window_seconds=0.0), seen


def probe(name: str, body: Mapping[str, Any], answer: SpApiResponse) -> tuple[str, list[Mapping[str, Any]]]:
    probe = CATALOG[name].probe
    assert probe is not None
    ctx, seen = context(answer)
    return probe(body, ctx).kind, seen


def test_a_create_is_applied_when_get_order_shows_its_items_and_destination() -> None:
    create = payload("create-mcf-order")
    kind, seen = probe("create-mcf-order", create, SpApiResponse(200, {"order": order_of(create)}))

    assert kind == "applied"
    # The read goes through the same fulfillment service the create named.
    assert seen == [
        {
            "orderId": create["orderId"],
            "shipments": "EXCLUDE",
            "x-amzn-fulfillment-service-id": "FS01-o8vlfw8b1tiu1",
        }
    ]


def test_a_create_is_missing_when_get_order_finds_nothing() -> None:
    create = payload("create-mcf-order")
    not_found = SpApiResponse(404, {"errors": [{"code": "NotFound", "message": "Requested order not found"}]})

    assert probe("create-mcf-order", create, not_found)[0] == "missing"


def test_another_order_under_the_same_order_id_is_a_conflict() -> None:
    create = payload("create-mcf-order")
    other = order_of(create)
    other["lineItems"][0]["product"]["productIdentifier"]["amazonSku"] = "SKU-OTHER"

    assert probe("create-mcf-order", create, SpApiResponse(200, {"order": other}))[0] == "conflict"


def test_a_cancel_is_applied_only_when_the_order_is_cancelled() -> None:
    create = payload("create-mcf-order")
    cancel = payload("cancel-mcf-order")
    cancelled = SpApiResponse(200, {"order": order_of(create, status="CANCELLED")})
    processing = SpApiResponse(200, {"order": order_of(create)})

    assert probe("cancel-mcf-order", cancel, cancelled)[0] == "applied"
    assert probe("cancel-mcf-order", cancel, processing)[0] == "missing"


def test_an_update_is_applied_when_the_requested_action_shows() -> None:
    create = payload("create-mcf-order")
    update = payload("update-mcf-order")
    shipping = order_of(create, fulfillmentConfiguration={"action": "SHIP"})
    held = order_of(create)

    assert probe("update-mcf-order", update, SpApiResponse(200, {"order": shipping}))[0] == "applied"
    assert probe("update-mcf-order", update, SpApiResponse(200, {"order": held}))[0] == "missing"
