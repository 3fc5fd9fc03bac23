"""The normalized order status: both Fulfillment Outbound versions' statuses map onto one vocabulary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from domain.catalog import CATALOG
from domain.order_status import NORMALIZED_STATUSES, UNKNOWN, OrderStatusAt, normalize, with_order_status

pytestmark = pytest.mark.unit

MODELS = Path(__file__).resolve().parents[2] / "spapi-models"


def test_every_status_of_both_models_has_a_normalized_status() -> None:
    old = json.loads((MODELS / "fulfillmentOutbound_2020-07-01.json").read_text())
    new = json.loads((MODELS / "fulfillmentOutbound_2026-07-04.json").read_text())
    old_statuses = old["definitions"]["FulfillmentOrderStatus"]["enum"]
    # 2026-07-04 names its statuses in the description only ("Possible values: `PROCESSING`, ...").
    description = new["definitions"]["OrderStatus"]["description"]
    new_statuses = [part.split("`")[1] for part in description.split(":", 1)[1].split(",")]

    assert new_statuses and old_statuses
    for status in [*old_statuses, *new_statuses]:
        assert normalize(status) in NORMALIZED_STATUSES and normalize(status) != UNKNOWN, status
    assert {normalize(s) for s in old_statuses} == {normalize(s) for s in new_statuses}


def test_the_renamed_statuses_meet() -> None:
    assert normalize("CompletePartialled") == normalize("COMPLETE_PARTIAL") == "complete-partial"
    assert {normalize(s) for s in ("New", "Received", "Planning", "Processing")} == {normalize("PROCESSING")}
    assert normalize("SOMETHING_NEW") == UNKNOWN


def test_a_result_gets_the_status_where_its_answer_shows_one() -> None:
    where = OrderStatusAt((("order", "status"), ("status",)))
    accepted = with_order_status({"answer": {"orderId": "A", "status": "PROCESSING"}}, where)
    plain = with_order_status({"answer": {}}, where)

    assert accepted["orderStatus"] == {"amazon": "PROCESSING", "normalized": "processing"}
    assert "orderStatus" not in plain


def test_the_2026_create_is_read_back_with_a_read() -> None:
    later = CATALOG["create-mcf-order"].accepted_later
    assert later is not None and CATALOG[later.status_command].reads
    assert CATALOG["create-mcf-order"].operation.success_statuses == (200, 202)
