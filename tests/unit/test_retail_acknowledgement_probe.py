"""The retail acknowledgement's state probe: purchaseOrderState past New, or, while the order is still New,
every acknowledged line confirmed in getPurchaseOrdersStatus (Amazon may confirm lines first)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from domain.catalog import CATALOG
from domain.probes import GET_RETAIL_ORDERS_STATUS, GET_RETAIL_PURCHASE_ORDER, ProbeContext, Verdict
from domain.requests import SpApiResponse
from domain.spapi.spec import OperationSpec

pytestmark = pytest.mark.unit

EVENTS = Path(__file__).resolve().parents[2] / "events"
WINDOW = 300.0
NUMBER = "4Z32PABC"
VENDOR_ID = "028877454078"


def acknowledgement_payload() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EVENTS / "acknowledge-retail-po.json").read_text())
    payload: dict[str, Any] = document["payload"]
    assert [a["purchaseOrderNumber"] for a in payload["acknowledgements"]] == [NUMBER]
    return payload


def order(state: str) -> SpApiResponse:
    return SpApiResponse(200, {"payload": {"purchaseOrderNumber": NUMBER, "purchaseOrderState": state}})


def line(confirmation: str | None, **ids: str) -> dict[str, Any]:
    found: dict[str, Any] = {"itemSequenceNumber": ids.pop("itemSequenceNumber", "1"), **ids}
    if confirmation is not None:
        found["acknowledgementStatus"] = {"confirmationStatus": confirmation}
    return found


def statuses(*orders: tuple[str, list[dict[str, Any]]]) -> SpApiResponse:
    return SpApiResponse(
        200,
        {
            "payload": {
                "ordersStatus": [
                    {"purchaseOrderNumber": number, "purchaseOrderStatus": "OPEN", "itemStatus": lines}
                    for number, lines in orders
                ]
            }
        },
    )


def run(
    payload: Mapping[str, Any], *answers: SpApiResponse, now: float = 1000.0
) -> tuple[Verdict, list[tuple[str, Mapping[str, Any]]]]:
    queue, reads = list(answers), []

    def read(operation: OperationSpec, parameters: Mapping[str, Any]) -> SpApiResponse:
        reads.append((operation.operation_id, parameters))
        return queue.pop(0)

    probe = CATALOG["acknowledge-retail-po"].probe
    assert probe is not None
    verdict = probe(payload, ProbeContext(read, now, attempted_at=0.0, settle_window_seconds=WINDOW))
    assert not queue, "the probe left answers unread"
    return verdict, reads


def test_an_order_past_new_is_applied_without_reading_its_lines() -> None:
    verdict, reads = run(acknowledgement_payload(), order("Acknowledged"))

    assert verdict.kind == "applied"
    assert reads == [("getPurchaseOrder", {"purchaseOrderNumber": NUMBER})]
    assert verdict.states == {NUMBER: "Acknowledged"}


def test_an_order_still_new_with_its_acknowledged_line_confirmed_is_applied() -> None:
    verdict, reads = run(
        acknowledgement_payload(),
        order("New"),
        statuses((NUMBER, [line("ACCEPTED", vendorProductIdentifier=VENDOR_ID)])),
    )

    assert verdict.kind == "applied"
    assert "every acknowledged line confirmed" in verdict.saw
    assert reads[1] == ("getPurchaseOrdersStatus", {"purchaseOrderNumber": NUMBER})


@pytest.mark.parametrize("confirmation", ["REJECTED", "PARTIALLY_ACCEPTED"])
def test_a_rejected_or_partly_accepted_line_is_confirmed_too(confirmation: str) -> None:
    verdict, _ = run(
        acknowledgement_payload(),
        order("New"),
        statuses((NUMBER, [line(confirmation, vendorProductIdentifier=VENDOR_ID)])),
    )

    assert verdict.kind == "applied"


def test_an_unconfirmed_line_past_the_window_is_missing_and_is_sent_again() -> None:
    payload = acknowledgement_payload()
    verdict, _ = run(
        payload,
        order("New"),
        statuses((NUMBER, [line("UNCONFIRMED", vendorProductIdentifier=VENDOR_ID)])),
        now=WINDOW + 1,
    )

    assert verdict.kind == "missing"
    assert verdict.payload == payload


def test_an_unconfirmed_line_within_the_window_waits_out_the_rest_of_it() -> None:
    verdict, _ = run(
        acknowledgement_payload(),
        order("New"),
        statuses((NUMBER, [line(None, vendorProductIdentifier=VENDOR_ID)])),
        now=10.0,
    )

    assert verdict.kind == "wait"
    assert verdict.wait_seconds == WINDOW - 10.0


def test_a_confirmed_line_that_is_not_the_acknowledged_one_does_not_count() -> None:
    verdict, _ = run(
        acknowledgement_payload(),
        order("New"),
        statuses((NUMBER, [line("ACCEPTED", itemSequenceNumber="2", vendorProductIdentifier="other")])),
        now=WINDOW + 1,
    )

    assert verdict.kind == "missing"


def test_another_purchase_orders_confirmed_lines_do_not_count() -> None:
    verdict, _ = run(
        acknowledgement_payload(),
        order("New"),
        statuses(
            ("OTHER001", [line("ACCEPTED", vendorProductIdentifier=VENDOR_ID)]),
            (NUMBER, [line("UNCONFIRMED", vendorProductIdentifier=VENDOR_ID)]),
        ),
        now=WINDOW + 1,
    )

    assert verdict.kind == "missing"


def test_a_line_acknowledged_by_asin_matches_the_status_buyer_product_identifier() -> None:
    payload = acknowledgement_payload()
    item = payload["acknowledgements"][0]["items"][0]
    del item["vendorProductIdentifier"]
    item["amazonProductIdentifier"] = "B07DFVDRAB"
    verdict, _ = run(
        payload,
        order("New"),
        statuses((NUMBER, [line("ACCEPTED", itemSequenceNumber="3", buyerProductIdentifier="B07DFVDRAB")])),
        now=WINDOW + 1,
    )

    assert verdict.kind == "applied"


def test_an_acknowledgement_naming_no_lines_is_judged_by_the_state_alone() -> None:
    payload = acknowledgement_payload()
    payload["acknowledgements"][0]["items"] = []
    verdict, reads = run(payload, order("New"), now=WINDOW + 1)

    assert verdict.kind == "missing"
    assert [operation for operation, _ in reads] == ["getPurchaseOrder"]


def test_the_probe_declares_both_reads_it_spends_tokens_of() -> None:
    probe = CATALOG["acknowledge-retail-po"].probe
    assert probe is not None

    assert probe.reads == (GET_RETAIL_PURCHASE_ORDER, GET_RETAIL_ORDERS_STATUS)
