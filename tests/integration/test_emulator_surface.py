"""The emulator's wider SP-API surface over real HTTP: paging, restricted data tokens, MCF shipments and
tracking, returns, features, vendor transactions and Easy Ship. Every 2xx answer is checked against the
model's response schema, read here independently of the emulator."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft4Validator, FormatChecker

from emulator import EmulatorServer

pytestmark = pytest.mark.integration

MODELS = Path(__file__).resolve().parents[2] / "spapi-models"
CLIENT_ID = "amzn1.application-oa2-client.surface"
CLIENT_SECRET = "surface-secret"
SELLERS = {"A1SELLER": "Atzr|refresh-a", "A2SELLER": "Atzr|refresh-b"}
SELLER, OTHER_SELLER = "A1SELLER", "A2SELLER"
SETTLE_SECONDS = 0.3
MARKETPLACE = "ATVPDKIKX0DER"
FBA = "/fba/outbound/2020-07-01"
DF_ORDERS = "/vendor/directFulfillment/orders/2021-12-28/purchaseOrders"
DF_ORDER = DF_ORDERS + "/{purchaseOrderNumber}"
EASY_SHIP = "/easyShip/2022-03-23"
RDT_PATH = "/tokens/2021-03-01/restrictedDataToken"


# -- the model, read independently ------------------------------------------------------------------------


@cache
def _model(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((MODELS / name).read_text(encoding="utf-8"))
    return data


def _template(document: dict[str, Any], method: str, path: str) -> str:
    paths: dict[str, dict[str, Any]] = document["paths"]
    for template, item in paths.items():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + r"\Z"
        if method.lower() in item and re.match(pattern, path):
            return template
    raise AssertionError(f"no {method} {path} in the model")


def assert_model(model: str, response: httpx.Response) -> Any:
    """The answer is 2xx and matches the model's response schema for its status; returns the JSON."""
    assert 200 <= response.status_code < 300, response.text
    document = _model(model)
    template = _template(document, response.request.method, response.request.url.path)
    operation = document["paths"][template][response.request.method.lower()]
    schema = operation["responses"][str(response.status_code)]["schema"]
    validator = Draft4Validator({**document, "allOf": [schema]}, format_checker=FormatChecker())
    body = response.json()
    problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert problems == [], problems
    return body


FBA_MODEL = "fulfillmentOutbound_2020-07-01.json"
DF_MODEL = "vendorDirectFulfillmentOrders_2021-12-28.json"
DF_TX_MODEL = "vendorDirectFulfillmentTransactions_2021-12-28.json"
EASY_SHIP_MODEL = "easyShip_2022-03-23.json"
TOKENS_MODEL = "tokens_2021-03-01.json"


# -- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def surface_server() -> Iterator[EmulatorServer]:
    with EmulatorServer(rate_scale=100.0, transaction_settle_seconds=SETTLE_SECONDS) as server:
        for seller, refresh_token in SELLERS.items():
            server.register_account(CLIENT_ID, CLIENT_SECRET, refresh_token, seller)
        yield server


@pytest.fixture
def emulator(surface_server: EmulatorServer) -> EmulatorServer:
    surface_server.state.reset()
    return surface_server


@pytest.fixture
def http(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, timeout=5.0) as client:
        yield client


def access_token(client: httpx.Client, seller: str = SELLER) -> dict[str, str]:
    response = client.post(
        "/auth/o2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": SELLERS[seller],
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert response.status_code == 200, response.text
    return {"x-amz-access-token": response.json()["access_token"]}


@pytest.fixture
def auth(http: httpx.Client) -> dict[str, str]:
    return access_token(http)


def rdt(client: httpx.Client, headers: dict[str, str], *resources: tuple[str, str]) -> dict[str, str]:
    body = {"restrictedResources": [{"method": method, "path": path} for method, path in resources]}
    response = client.post(RDT_PATH, json=body, headers=headers)
    answer = assert_model(TOKENS_MODEL, response)
    assert answer["expiresIn"] == 3600
    token: str = answer["restrictedDataToken"]
    assert token.startswith("Atz.sprdt|")
    return {"x-amz-access-token": token}


def order_body(order_id: str, *items: tuple[str, str, int]) -> dict[str, Any]:
    return {
        "marketplaceId": MARKETPLACE,
        "sellerFulfillmentOrderId": order_id,
        "displayableOrderId": order_id,
        "displayableOrderDate": "2024-05-01T10:00:00Z",
        "displayableOrderComment": "Thank you",
        "shippingSpeedCategory": "Standard",
        "destinationAddress": {
            "name": "Jane Doe",
            "addressLine1": "1 Main St",
            "city": "Troy",
            "stateOrRegion": "MI",
            "postalCode": "48084",
            "countryCode": "US",
        },
        "items": [
            {"sellerSku": sku, "sellerFulfillmentOrderItemId": item_id, "quantity": quantity}
            for item_id, sku, quantity in (items or (("item-1", "SKU-1", 2),))
        ],
    }


def create_order(
    client: httpx.Client, headers: dict[str, str], order_id: str, *items: tuple[str, str, int]
) -> None:
    response = client.post(f"{FBA}/fulfillmentOrders", json=order_body(order_id, *items), headers=headers)
    assert response.status_code == 200, response.text


# -- LWA --------------------------------------------------------------------------------------------------


def test_grantless_tokens_are_counted_per_client_and_scope(
    emulator: EmulatorServer, http: httpx.Client
) -> None:
    for scope in (
        "sellingpartnerapi::notifications",
        "sellingpartnerapi::notifications",
        "sellingpartnerapi::x",
    ):
        response = http.post(
            "/auth/o2/token",
            data={
                "grant_type": "client_credentials",
                "scope": scope,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
        )
        assert response.status_code == 200
    state = emulator.state
    assert state.grantless_token_request_count(CLIENT_ID, "sellingpartnerapi::notifications") == 2
    assert state.grantless_token_request_count(CLIENT_ID, "sellingpartnerapi::x") == 1
    assert state.grantless_token_request_count("other-client", "sellingpartnerapi::x") == 0
    listed = http.get("/_emulator/grantless-token-requests").json()
    assert {"clientId": CLIENT_ID, "scope": "sellingpartnerapi::x", "count": 1} in listed


# -- Fulfillment Outbound ---------------------------------------------------------------------------------


def _list_all(client: httpx.Client, headers: dict[str, str], query_start: str) -> tuple[list[str], int]:
    """Every order id over all pages, and the number of pages."""
    seen: list[str] = []
    params: dict[str, str] = {"queryStartDate": query_start}
    pages = 0
    while True:
        response = client.get(f"{FBA}/fulfillmentOrders", params=params, headers=headers)
        payload = assert_model(FBA_MODEL, response)["payload"]
        pages += 1
        assert len(payload["fulfillmentOrders"]) <= 2
        seen.extend(o["sellerFulfillmentOrderId"] for o in payload["fulfillmentOrders"])
        if "nextToken" not in payload:
            return seen, pages
        params = {"nextToken": payload["nextToken"]}


def test_list_all_fulfillment_orders_pages_and_finds_changed_orders(
    emulator: EmulatorServer, http: httpx.Client, auth: dict[str, str]
) -> None:
    before = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ids = [f"page-{n}" for n in range(5)]
    for order_id in ids:
        create_order(http, auth, order_id)
    create_order(http, access_token(http, OTHER_SELLER), "other-seller-order")
    seen, pages = _list_all(http, auth, before)
    assert sorted(seen) == ids  # each exactly once, none of the other seller
    assert pages == 3

    time.sleep(1.05)  # statusUpdatedDate has one-second resolution
    changed_since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    shipped = http.post("/_emulator/orders/page-3/ship", json={"sellerId": SELLER})
    assert shipped.status_code == 200, shipped.text
    cancelled = http.put(f"{FBA}/fulfillmentOrders/page-1/cancel", headers=auth)
    assert cancelled.status_code == 200
    seen, _ = _list_all(http, auth, changed_since)
    assert sorted(seen) == ["page-1", "page-3"]

    bad_token = http.get(f"{FBA}/fulfillmentOrders", params={"nextToken": "nope"}, headers=auth)
    assert bad_token.status_code == 400
    assert bad_token.json()["errors"][0]["code"] == "InvalidInput"


def test_ship_control_makes_tracking_and_returns_available(
    emulator: EmulatorServer, http: httpx.Client, auth: dict[str, str]
) -> None:
    create_order(http, auth, "ship-1", ("item-1", "SKU-1", 2), ("item-2", "SKU-2", 1))
    unshipped_return = http.put(
        f"{FBA}/fulfillmentOrders/ship-1/return",
        json={
            "items": [
                {
                    "sellerReturnItemId": "r-0",
                    "sellerFulfillmentOrderItemId": "item-1",
                    "amazonShipmentId": "T000",
                    "returnReasonCode": "DEFECTIVE",
                }
            ]
        },
        headers=auth,
    )
    assert unshipped_return.status_code == 400

    shipped = http.post(
        "/_emulator/orders/ship-1/ship",
        json={"items": [{"sellerFulfillmentOrderItemId": "item-1", "quantity": 2}], "carrierCode": "UPS"},
    )
    assert shipped.status_code == 200, shipped.text
    info = shipped.json()
    assert info["status"] == "CompletePartialled"  # item-2 did not ship
    assert isinstance(info["packageNumber"], int)
    assert info["trackingNumber"].startswith("1Z")

    order = assert_model(FBA_MODEL, http.get(f"{FBA}/fulfillmentOrders/ship-1", headers=auth))["payload"]
    assert order["fulfillmentOrder"]["fulfillmentOrderStatus"] == "CompletePartialled"
    [shipment] = order["fulfillmentShipments"]
    [package] = shipment["fulfillmentShipmentPackage"]
    assert package == {
        "packageNumber": info["packageNumber"],
        "carrierCode": "UPS",
        "trackingNumber": info["trackingNumber"],
        "estimatedArrivalDate": package["estimatedArrivalDate"],
    }
    quantities = {
        i["sellerFulfillmentOrderItemId"]: i["unfulfillableQuantity"] for i in order["fulfillmentOrderItems"]
    }
    assert quantities == {"item-1": 0, "item-2": 1}

    tracking_url = f"{FBA}/tracking"
    tracking = assert_model(
        FBA_MODEL, http.get(tracking_url, params={"packageNumber": info["packageNumber"]}, headers=auth)
    )["payload"]
    assert tracking["trackingNumber"] == info["trackingNumber"]
    assert tracking["currentStatus"] == "IN_TRANSIT"
    assert tracking["shipToAddress"] == {"city": "Troy", "state": "MI", "country": "US"}
    delivered = http.post(
        f"/_emulator/packages/{info['packageNumber']}/status", json={"currentStatus": "DELIVERED"}
    )
    assert delivered.status_code == 200
    tracking = assert_model(
        FBA_MODEL, http.get(tracking_url, params={"packageNumber": info["packageNumber"]}, headers=auth)
    )["payload"]
    assert tracking["currentStatus"] == "DELIVERED"
    assert tracking["trackingEvents"][-1]["eventCode"] == "EVENT_301"
    other = access_token(http, OTHER_SELLER)
    assert (
        http.get(tracking_url, params={"packageNumber": info["packageNumber"]}, headers=other).status_code
        == 400
    )

    reasons = assert_model(
        FBA_MODEL, http.get(f"{FBA}/returnReasonCodes", params={"sellerSku": "SKU-1"}, headers=auth)
    )["payload"]["reasonCodeDetails"]
    code = reasons[0]["returnReasonCode"]
    returned = http.put(
        f"{FBA}/fulfillmentOrders/ship-1/return",
        json={
            "items": [
                {
                    "sellerReturnItemId": f"r-{n}",
                    "sellerFulfillmentOrderItemId": "item-1",
                    "amazonShipmentId": shipment["amazonShipmentId"],
                    "returnReasonCode": code,
                }
                for n in (1, 2, 3)
            ]
        },
        headers=auth,
    )
    result = assert_model(FBA_MODEL, returned)["payload"]
    assert [i["sellerReturnItemId"] for i in result["returnItems"]] == ["r-1", "r-2"]
    assert [i["invalidItemReason"]["invalidItemReasonCode"] for i in result["invalidReturnItems"]] == [
        "NoReturnableQuantity"
    ]
    assert len(result["returnAuthorizations"]) == 1
    assert emulator.state.effects()["createFulfillmentReturn"] == {"ship-1/r-1": 1, "ship-1/r-2": 1}
    after = assert_model(FBA_MODEL, http.get(f"{FBA}/fulfillmentOrders/ship-1", headers=auth))["payload"]
    assert len(after["returnItems"]) == 2

    again = http.post("/_emulator/orders/ship-1/ship", json={})
    assert again.status_code == 400  # a completed order does not ship twice


def test_preview_offers_and_features_follow_the_inventory(
    emulator: EmulatorServer, http: httpx.Client, auth: dict[str, str]
) -> None:
    stocked = http.post(
        "/_emulator/inventory",
        json={
            "sellerId": SELLER,
            "items": [
                {"sellerSku": "SKU-1", "quantity": 10},
                {"sellerSku": "SKU-2", "quantity": 1},
                {"sellerSku": "SKU-3", "quantity": 4, "asin": "B000TEST03"},
                {"sellerSku": "SKU-0", "quantity": 0},
            ],
        },
    )
    assert stocked.status_code == 200, stocked.text
    address = {"name": "Jane Doe", "addressLine1": "1 Main St", "postalCode": "48084", "countryCode": "US"}
    preview = http.post(
        f"{FBA}/fulfillmentOrders/preview",
        json={
            "marketplaceId": MARKETPLACE,
            "address": address,
            "items": [{"sellerSku": "SKU-1", "sellerFulfillmentOrderItemId": "i1", "quantity": 2}],
        },
        headers=auth,
    )
    previews = assert_model(FBA_MODEL, preview)["payload"]["fulfillmentPreviews"]
    assert [p["shippingSpeedCategory"] for p in previews] == ["Standard", "Expedited", "Priority"]
    assert all(p["isFulfillable"] for p in previews)
    partial = http.post(
        f"{FBA}/fulfillmentOrders/preview",
        json={
            "address": address,
            "shippingSpeedCategories": ["ScheduledDelivery"],
            "includeDeliveryWindows": True,
            "items": [
                {"sellerSku": "SKU-2", "sellerFulfillmentOrderItemId": "i1", "quantity": 3},
                {"sellerSku": "SKU-1", "sellerFulfillmentOrderItemId": "i2", "quantity": 1},
            ],
        },
        headers=auth,
    )
    [scheduled] = assert_model(FBA_MODEL, partial)["payload"]["fulfillmentPreviews"]
    assert scheduled["isFulfillable"] is False
    assert scheduled["unfulfillablePreviewItems"][0]["itemUnfulfillableReasons"] == ["InventoryUnavailable"]
    assert scheduled["scheduledDeliveryInfo"]["deliveryWindows"]

    offers_body: dict[str, Any] = {
        "product": {
            "productIdentifier": {"merchantSku": "SKU-1"},
            "amount": {"unitOfMeasure": "Eaches", "value": "1"},
        },
        "terms": {
            "origin": {"countryCode": "US"},
            "destination": {"deliveryAddress": {"countryCode": "US", "postalCode": "48084"}},
        },
    }
    offers = assert_model(FBA_MODEL, http.post(f"{FBA}/deliveryOffers", json=offers_body, headers=auth))
    assert len(offers["payload"]["deliveryOffers"]) == 1

    features = assert_model(
        FBA_MODEL, http.get(f"{FBA}/features", params={"marketplaceId": MARKETPLACE}, headers=auth)
    )
    names = [f["featureName"] for f in features["payload"]["features"]]
    assert "BLANK_BOX" in names
    skus: list[str] = []
    params = {"marketplaceId": MARKETPLACE}
    while True:
        page = assert_model(
            FBA_MODEL, http.get(f"{FBA}/features/inventory/BLANK_BOX", params=params, headers=auth)
        )
        skus.extend(s["sellerSku"] for s in page["payload"]["featureSkus"])
        if "nextToken" not in page["payload"]:
            break
        params = {"marketplaceId": MARKETPLACE, "nextToken": page["payload"]["nextToken"]}
    assert skus == ["SKU-1", "SKU-2", "SKU-3"]
    sku = assert_model(
        FBA_MODEL,
        http.get(
            f"{FBA}/features/inventory/BLANK_BOX/SKU-3", params={"marketplaceId": MARKETPLACE}, headers=auth
        ),
    )["payload"]
    assert (sku["isEligible"], sku["asin"], sku["skuCount"]) == (True, "B000TEST03", 4)
    unknown = assert_model(
        FBA_MODEL,
        http.get(
            f"{FBA}/features/inventory/BLANK_BOX/NOPE", params={"marketplaceId": MARKETPLACE}, headers=auth
        ),
    )["payload"]
    assert (unknown["isEligible"], unknown["ineligibleReasons"]) == (False, ["INVALID_SKU"])
    bad_feature = http.get(
        f"{FBA}/features/inventory/NOPE", params={"marketplaceId": MARKETPLACE}, headers=auth
    )
    assert bad_feature.status_code == 400


# -- restricted data tokens and vendor DF orders ----------------------------------------------------------

DENIED = "Access to requested resource is denied."


def _df_window() -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "createdAfter": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "createdBefore": (now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def test_df_orders_need_an_rdt_for_the_right_path_and_seller(
    emulator: EmulatorServer, http: httpx.Client, auth: dict[str, str]
) -> None:
    seeded = http.post("/_emulator/df-orders", json={"sellerId": SELLER, "count": 5})
    assert seeded.status_code == 201, seeded.text
    numbers: list[str] = seeded.json()["purchaseOrderNumbers"]
    [foreign] = emulator.state.seed_df_orders(OTHER_SELLER, 1)

    plain = http.get(DF_ORDERS, params=_df_window(), headers=auth)
    assert plain.status_code == 403
    [error] = plain.json()["errors"]
    assert (error["code"], error["message"]) == ("Unauthorized", DENIED)
    assert "Restricted Data Token" in error["details"]

    list_token = rdt(http, auth, ("GET", DF_ORDERS))
    seen: list[str] = []
    params = {**_df_window(), "limit": "2"}
    pages = 0
    while True:
        answer = assert_model(DF_MODEL, http.get(DF_ORDERS, params=params, headers=list_token))
        pages += 1
        for order in answer["orders"]:
            seen.append(order["purchaseOrderNumber"])
            ship_to = order["orderDetails"]["shipToParty"]
            assert ship_to["name"] and ship_to["phone"] and ship_to["addressLine1"]
        token = answer.get("pagination", {}).get("nextToken")
        if not token:
            break
        params = {**_df_window(), "limit": "2", "nextToken": token}
    assert seen == numbers  # ascending creation, each once, none of the other seller
    assert pages == 3
    numbers_only = assert_model(
        DF_MODEL, http.get(DF_ORDERS, params={**_df_window(), "includeDetails": "false"}, headers=list_token)
    )
    assert numbers_only["orders"][0] == {"purchaseOrderNumber": numbers[0]}
    assert http.get(DF_ORDERS, params={**_df_window(), "status": "SHIPPED"}, headers=list_token).json() == {
        "orders": []
    }

    # The getOrders RDT is not good for getOrder, nor for unrestricted operations.
    wrong_path = http.get(f"{DF_ORDERS}/{numbers[0]}", headers=list_token)
    assert wrong_path.status_code == 403
    assert wrong_path.json()["errors"][0]["message"] == DENIED
    assert http.get(f"{FBA}/fulfillmentOrders/x", headers=list_token).status_code == 403

    one_order = rdt(http, auth, ("GET", f"{DF_ORDERS}/{numbers[0]}"))
    order = assert_model(DF_MODEL, http.get(f"{DF_ORDERS}/{numbers[0]}", headers=one_order))
    assert order["purchaseOrderNumber"] == numbers[0]
    assert http.get(f"{DF_ORDERS}/{numbers[1]}", headers=one_order).status_code == 403
    any_order = rdt(http, auth, ("GET", DF_ORDER))
    assert assert_model(DF_MODEL, http.get(f"{DF_ORDERS}/{numbers[1]}", headers=any_order))
    assert http.get(f"{DF_ORDERS}/{foreign}", headers=any_order).status_code == 403  # another seller's order

    other_auth = access_token(http, OTHER_SELLER)
    other_token = rdt(http, other_auth, ("GET", f"{DF_ORDERS}/{numbers[0]}"))
    refused = http.get(f"{DF_ORDERS}/{numbers[0]}", headers=other_token)
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == "Unauthorized"
    assert assert_model(
        DF_MODEL, http.get(f"{DF_ORDERS}/{foreign}", headers=rdt(http, other_auth, ("GET", DF_ORDER)))
    )

    assert emulator.state.rdt_issue_count(SELLER) == 3
    assert emulator.state.rdt_issue_count(OTHER_SELLER) == 2
    assert http.get("/_emulator/restricted-tokens").json() == {"issued": {SELLER: 3, OTHER_SELLER: 2}}
    not_restricted = http.post(
        RDT_PATH,
        json={"restrictedResources": [{"method": "GET", "path": f"{FBA}/fulfillmentOrders"}]},
        headers=auth,
    )
    assert not_restricted.status_code == 400
    assert (
        http.post(
            RDT_PATH, json={"restrictedResources": [{"method": "GET", "path": DF_ORDERS}]}, headers=list_token
        ).status_code
        == 403
    )

    emulator.state.expire_tokens()
    expired = http.get(f"{DF_ORDERS}/{numbers[1]}", headers=any_order)
    assert expired.status_code == 403
    assert "expired" in expired.json()["errors"][0]["details"]


def test_df_acknowledgement_outcome_controls(
    emulator: EmulatorServer, http: httpx.Client, auth: dict[str, str]
) -> None:
    [number] = emulator.state.seed_df_orders(SELLER, 1)
    ack = {
        "orderAcknowledgements": [
            {
                "purchaseOrderNumber": number,
                "vendorOrderNumber": "V-1",
                "acknowledgementDate": "2024-05-01T10:00:00Z",
                "acknowledgementStatus": {
                    "code": "00",
                    "description": "Shipping 100 percent of ordered product",
                },
                "sellingParty": {"partyId": "VENDOR1"},
                "shipFromParty": {"partyId": "WH1"},
                "itemAcknowledgements": [
                    {
                        "itemSequenceNumber": "1",
                        "acknowledgedQuantity": {"amount": 1, "unitOfMeasure": "Each"},
                    }
                ],
            }
        ]
    }
    url = "/vendor/directFulfillment/orders/2021-12-28/acknowledgements"
    errors = [{"code": "InvalidInput", "message": "Bad acknowledgement", "details": ""}]
    assert (
        http.post("/_emulator/transaction-outcome", json={"status": "Failure", "errors": errors}).status_code
        == 200
    )
    failing = http.post(url, json=ack, headers=auth).json()["transactionId"]
    http.post("/_emulator/transaction-outcome", json={"status": "Processing"})
    stuck = http.post(url, json=ack, headers=auth).json()["transactionId"]
    time.sleep(SETTLE_SECONDS + 0.1)
    tx = "/vendor/directFulfillment/transactions/2021-12-28/transactions"
    failed = assert_model(DF_TX_MODEL, http.get(f"{tx}/{failing}", headers=auth))
    assert failed["transactionStatus"] == {
        "transactionId": failing,
        "status": "Failure",
        "errors": {"errors": errors},
    }
    assert (
        assert_model(DF_TX_MODEL, http.get(f"{tx}/{stuck}", headers=auth))["transactionStatus"]["status"]
        == "Processing"
    )
    assert emulator.state.df_orders[(SELLER, number)].order["orderDetails"]["orderStatus"] == "ACCEPTED"


# -- Retail Procurement v1 --------------------------------------------------------------------------------


def test_retail_purchase_order_reads_follow_acknowledgements_and_page(
    emulator: EmulatorServer, http: httpx.Client, auth: dict[str, str]
) -> None:
    numbers = emulator.state.seed_retail_orders(SELLER, 3)
    now = datetime.now(UTC)
    window = {
        "createdAfter": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "createdBefore": (now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    listing = "/vendor/orders/v1/purchaseOrders"
    first = assert_model("vendorOrders.json", http.get(listing, params={**window, "limit": 2}, headers=auth))
    token = first["payload"]["pagination"]["nextToken"]
    rest = assert_model(
        "vendorOrders.json", http.get(listing, params={"nextToken": token, "limit": 2}, headers=auth)
    )
    seen = [o["purchaseOrderNumber"] for o in first["payload"]["orders"] + rest["payload"]["orders"]]
    assert seen == numbers and "pagination" not in rest["payload"]
    too_long = {"createdAfter": "2026-01-01T00:00:00Z", "createdBefore": "2026-01-09T00:00:00Z"}
    assert http.get(listing, params=too_long, headers=auth).status_code == 400
    assert http.get(listing, params={"limit": 101}, headers=auth).status_code == 400

    number = numbers[0]
    line = emulator.state.retail_orders[(SELLER, number)].order["orderDetails"]["items"][0]
    ordered = line["orderedQuantity"]["amount"]
    acknowledgement = {
        "purchaseOrderNumber": number,
        "sellingParty": {"partyId": "VENDOR1"},
        "acknowledgementDate": window["createdBefore"],
        "items": [
            {
                "itemSequenceNumber": line["itemSequenceNumber"],
                "orderedQuantity": line["orderedQuantity"],
                "itemAcknowledgements": [
                    {"acknowledgementCode": "Accepted", "acknowledgedQuantity": {"amount": ordered - 1}},
                    {
                        "acknowledgementCode": "Rejected",
                        "acknowledgedQuantity": {"amount": 1},
                        "rejectionReason": "TemporarilyUnavailable",
                    },
                ],
            }
        ],
    }
    assert (
        http.post(
            "/vendor/orders/v1/acknowledgements", json={"acknowledgements": [acknowledgement]}, headers=auth
        ).status_code
        == 202
    )
    order = assert_model("vendorOrders.json", http.get(f"{listing}/{number}", headers=auth))["payload"]
    assert order["purchaseOrderState"] == "Acknowledged"
    new = assert_model(
        "vendorOrders.json", http.get(listing, params={**window, "purchaseOrderState": "New"}, headers=auth)
    )
    assert [o["purchaseOrderNumber"] for o in new["payload"]["orders"]] == numbers[1:]

    statuses = assert_model(
        "vendorOrders.json",
        http.get(
            "/vendor/orders/v1/purchaseOrdersStatus", params={"purchaseOrderNumber": number}, headers=auth
        ),
    )["payload"]["ordersStatus"]
    assert len(statuses) == 1
    item = statuses[0]["itemStatus"][0]["acknowledgementStatus"]
    assert item["confirmationStatus"] == "PARTIALLY_ACCEPTED"
    assert (item["acceptedQuantity"]["amount"], item["rejectedQuantity"]["amount"]) == (ordered - 1, 1)
    unconfirmed = assert_model(
        "vendorOrders.json",
        http.get(
            "/vendor/orders/v1/purchaseOrdersStatus",
            params={**window, "itemConfirmationStatus": "UNCONFIRMED"},
            headers=auth,
        ),
    )["payload"]["ordersStatus"]
    # The acknowledged order's other lines (if any) are still unconfirmed; the other orders' all are.
    more_lines = len(emulator.state.retail_orders[(SELLER, number)].order["orderDetails"]["items"]) > 1
    assert [s["purchaseOrderNumber"] for s in unconfirmed] == (numbers if more_lines else numbers[1:])


def test_a_retail_order_state_lags_its_acknowledgement_while_its_lines_confirm_at_once(
    emulator: EmulatorServer, http: httpx.Client, auth: dict[str, str]
) -> None:
    for refused in ({"seconds": -1}, {"seconds": "soon"}, {"seconds": True}, {}):
        assert http.post("/_emulator/retail-orders/state-lag", json=refused).status_code == 400
    lag = http.post("/_emulator/retail-orders/state-lag", json={"seconds": 0.6})
    assert lag.status_code == 200 and lag.json() == {"seconds": 0.6}
    (number,) = emulator.state.seed_retail_orders(SELLER, 1)
    line = emulator.state.retail_orders[(SELLER, number)].order["orderDetails"]["items"][0]
    acknowledgement = {
        "purchaseOrderNumber": number,
        "sellingParty": {"partyId": "VENDOR1"},
        "acknowledgementDate": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "items": [
            {
                "itemSequenceNumber": line["itemSequenceNumber"],
                "orderedQuantity": line["orderedQuantity"],
                "itemAcknowledgements": [
                    {"acknowledgementCode": "Accepted", "acknowledgedQuantity": line["orderedQuantity"]}
                ],
            }
        ],
    }
    submitted = http.post(
        "/vendor/orders/v1/acknowledgements", json={"acknowledgements": [acknowledgement]}, headers=auth
    )
    assert submitted.status_code == 202

    def state() -> str:
        order = http.get(f"/vendor/orders/v1/purchaseOrders/{number}", headers=auth)
        return str(assert_model("vendorOrders.json", order)["payload"]["purchaseOrderState"])

    statuses = http.get(
        "/vendor/orders/v1/purchaseOrdersStatus", params={"purchaseOrderNumber": number}, headers=auth
    )
    (status,) = assert_model("vendorOrders.json", statuses)["payload"]["ordersStatus"]
    assert status["itemStatus"][0]["acknowledgementStatus"]["confirmationStatus"] == "ACCEPTED"
    assert state() == "New"
    time.sleep(0.7)
    assert state() == "Acknowledged"
    emulator.state.reset()
    assert emulator.state.retail_state_lag_seconds == 0.0


def test_retail_acknowledgement_transaction_processing_then_success(
    emulator: EmulatorServer, http: httpx.Client, auth: dict[str, str]
) -> None:
    body = {
        "acknowledgements": [
            {
                "purchaseOrderNumber": "4Z32PABC",
                "sellingParty": {"partyId": "API01"},
                "acknowledgementDate": "2024-05-01T10:00:00Z",
                "items": [
                    {
                        "vendorProductIdentifier": "028877454078",
                        "orderedQuantity": {"amount": 10},
                        "itemAcknowledgements": [
                            {"acknowledgementCode": "Accepted", "acknowledgedQuantity": {"amount": 10}}
                        ],
                    }
                ],
            }
        ]
    }
    submitted = http.post("/vendor/orders/v1/acknowledgements", json=body, headers=auth)
    assert submitted.status_code == 202
    transaction_id = assert_model("vendorOrders.json", submitted)["payload"]["transactionId"]
    url = f"/vendor/transactions/v1/transactions/{transaction_id}"
    first = assert_model("vendorTransactionStatus.json", http.get(url, headers=auth))
    assert first == {
        "payload": {"transactionStatus": {"transactionId": transaction_id, "status": "Processing"}}
    }
    time.sleep(SETTLE_SECONDS + 0.1)
    settled = assert_model("vendorTransactionStatus.json", http.get(url, headers=auth))
    assert settled["payload"]["transactionStatus"]["status"] == "Success"
    assert emulator.state.effects()["vendorOrders.submitAcknowledgement"] == {"4Z32PABC": 1}

    second = http.post("/vendor/orders/v1/acknowledgements", json=body, headers=auth).json()["payload"][
        "transactionId"
    ]
    errors = [{"code": "InvalidInput", "message": "PO closed", "details": ""}]
    http.post(f"/_emulator/transactions/{second}/status", json={"status": "Failure", "errors": errors})
    failed = assert_model(
        "vendorTransactionStatus.json",
        http.get(f"/vendor/transactions/v1/transactions/{second}", headers=auth),
    )
    assert failed["payload"]["transactionStatus"] == {
        "transactionId": second,
        "status": "Failure",
        "errors": errors,
    }
    assert (
        http.get(
            f"/vendor/transactions/v1/transactions/{second}", headers=access_token(http, OTHER_SELLER)
        ).status_code
        == 404
    )


# -- Easy Ship --------------------------------------------------------------------------------------------


def test_easy_ship_create_get_update_moves_the_slot(
    emulator: EmulatorServer, http: httpx.Client, auth: dict[str, str]
) -> None:
    order_id = "903-1713775-3598252"
    slots_body = {
        "amazonOrderId": order_id,
        "marketplaceId": "A21TJRUUN4KGV",
        "packageDimensions": {"length": 15.0, "width": 10.0, "height": 12.0, "unit": "cm"},
        "packageWeight": {"value": 50.0, "unit": "g"},
    }
    slots = assert_model(EASY_SHIP_MODEL, http.post(f"{EASY_SHIP}/timeSlot", json=slots_body, headers=auth))[
        "timeSlots"
    ]
    assert len(slots) >= 2
    create = {
        "amazonOrderId": order_id,
        "marketplaceId": "A21TJRUUN4KGV",
        "packageDetails": {"packageTimeSlot": {"slotId": slots[0]["slotId"]}},
    }
    created = assert_model(EASY_SHIP_MODEL, http.post(f"{EASY_SHIP}/package", json=create, headers=auth))
    assert created["packageTimeSlot"]["slotId"] == slots[0]["slotId"]
    duplicate = http.post(f"{EASY_SHIP}/package", json=create, headers=auth)
    assert duplicate.status_code == 400
    assert duplicate.json()["errors"][0]["code"] == "InvalidInput"

    query = {"amazonOrderId": order_id, "marketplaceId": "A21TJRUUN4KGV"}
    fetched = assert_model(EASY_SHIP_MODEL, http.get(f"{EASY_SHIP}/package", params=query, headers=auth))
    assert fetched == created
    missing = http.get(
        f"{EASY_SHIP}/package", params={**query, "amazonOrderId": "903-1713775-1111111"}, headers=auth
    )
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["code"] == "ResourceNotFound"

    update = {
        "marketplaceId": "A21TJRUUN4KGV",
        "updatePackageDetailsList": [
            {
                "scheduledPackageId": created["scheduledPackageId"],
                "packageTimeSlot": {"slotId": slots[1]["slotId"]},
            }
        ],
    }
    moved = assert_model(EASY_SHIP_MODEL, http.patch(f"{EASY_SHIP}/package", json=update, headers=auth))
    assert moved["packages"][0]["packageTimeSlot"]["startTime"] == slots[1]["startTime"]
    fetched = assert_model(EASY_SHIP_MODEL, http.get(f"{EASY_SHIP}/package", params=query, headers=auth))
    assert fetched["packageTimeSlot"]["slotId"] == slots[1]["slotId"]
    unknown = {
        **update,
        "updatePackageDetailsList": [
            {
                "scheduledPackageId": {"amazonOrderId": "905-1713775-3598252"},
                "packageTimeSlot": {"slotId": slots[0]["slotId"]},
            }
        ],
    }
    refused = http.patch(f"{EASY_SHIP}/package", json=unknown, headers=auth)
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["code"] == "ResourceNotFound"
    expired = {
        **update,
        "updatePackageDetailsList": [
            {
                "scheduledPackageId": created["scheduledPackageId"],
                "packageTimeSlot": {
                    "slotId": "AQc48yxSAAAAADZG0qQAAAAA6kkAAAAAAAA=",
                    "startTime": "2022-03-09T10:00:00+09:00",
                    "endTime": "2022-03-10T10:00:00+09:00",
                },
            }
        ],
    }
    assert http.patch(f"{EASY_SHIP}/package", json=expired, headers=auth).json()["errors"][0]["code"] == (
        "ScheduleWindowExpired"
    )
    assert emulator.state.effects()["updateScheduledPackages"] == {order_id: 1}
    assert emulator.state.effects()["createScheduledPackage"] == {order_id: 1}


def test_easy_ship_bulk_is_restricted(
    emulator: EmulatorServer, http: httpx.Client, auth: dict[str, str]
) -> None:
    bulk_path = f"{EASY_SHIP}/packages/bulk"
    body = {
        "marketplaceId": "A2XZLSVIQ0F4JT",
        "labelFormat": "ZPL",
        "orderScheduleDetailsList": [
            {"amazonOrderId": "903-1713775-3598252"},
            {"amazonOrderId": "903-5645781-4567521"},
            {"amazonOrderId": "not-an-order"},
        ],
    }
    plain = http.post(bulk_path, json=body, headers=auth)
    assert plain.status_code == 403
    assert plain.json()["errors"][0]["message"] == DENIED
    token = rdt(http, auth, ("POST", bulk_path))
    answer = assert_model(EASY_SHIP_MODEL, http.post(bulk_path, json=body, headers=token))
    assert [p["scheduledPackageId"]["amazonOrderId"] for p in answer["scheduledPackages"]] == [
        "903-1713775-3598252",
        "903-5645781-4567521",
    ]
    assert [r["amazonOrderId"] for r in answer["rejectedOrders"]] == ["not-an-order"]
    assert answer["printableDocumentsUrl"].endswith(".zip")
    query = {"amazonOrderId": "903-5645781-4567521", "marketplaceId": "A2XZLSVIQ0F4JT"}
    assert assert_model(EASY_SHIP_MODEL, http.get(f"{EASY_SHIP}/package", params=query, headers=auth))
    again = assert_model(EASY_SHIP_MODEL, http.post(bulk_path, json=body, headers=token))
    assert again["scheduledPackages"] == []
    assert len(again["rejectedOrders"]) == 3


# -- usage plans ------------------------------------------------------------------------------------------


def test_every_served_operation_has_its_own_usage_plan(emulator: EmulatorServer, http: httpx.Client) -> None:
    operations = http.get("/_emulator/operations").json()
    served = {op["name"] for op in operations if op["implemented"]}
    for name in (
        "getFulfillmentPreview",
        "deliveryOffers",
        "listAllFulfillmentOrders",
        "getPackageTrackingDetails",
        "listReturnReasonCodes",
        "createFulfillmentReturn",
        "getFeatures",
        "getFeatureInventory",
        "getFeatureSKU",
        "getOrders",
        # getOrder is in two models (vendor DF orders, Fulfillment Outbound 2026-07-04): named by API.
        "vendorDirectFulfillmentOrders.getOrder",
        "fulfillmentOutbound.getOrder",
        "createOrder",
        "listOrders",
        "vendorOrders.submitAcknowledgement",
        "getTransaction",
        "listHandoverSlots",
        "getScheduledPackage",
        "createScheduledPackage",
        "updateScheduledPackages",
        "createScheduledPackageBulk",
    ):
        assert name in served
        plan = emulator.catalog.operation(name).usage_plan
        assert plan is not None, name
    by_name = {op["name"]: op for op in operations}
    assert (by_name["deliveryOffers"]["rate"], by_name["deliveryOffers"]["burst"]) == (500.0, 30)
    assert (by_name["getTransaction"]["rate"], by_name["getTransaction"]["burst"]) == (1000.0, 20)
    assert (by_name["listHandoverSlots"]["rate"], by_name["listHandoverSlots"]["burst"]) == (100.0, 5)


def test_easy_ship_buckets_are_per_operation() -> None:
    with (
        EmulatorServer(rate_scale=0.001) as server,
        httpx.Client(base_url=server.url, timeout=5.0) as client,
    ):
        server.register_account(CLIENT_ID, CLIENT_SECRET, SELLERS[SELLER], SELLER)
        headers = access_token(client)
        query = {"amazonOrderId": "903-1713775-3598252", "marketplaceId": "A21TJRUUN4KGV"}
        answers = [
            client.get(f"{EASY_SHIP}/package", params=query, headers=headers).status_code for _ in range(6)
        ]
        assert answers == [400] * 5 + [429]
        slots_body = {
            "amazonOrderId": "903-1713775-3598252",
            "marketplaceId": "A21TJRUUN4KGV",
            "packageDimensions": {"length": 15.0, "width": 10.0, "height": 12.0, "unit": "cm"},
            "packageWeight": {"value": 50.0, "unit": "g"},
        }
        slots = client.post(f"{EASY_SHIP}/timeSlot", json=slots_body, headers=headers)
        assert slots.status_code == 200
        assert float(slots.headers["x-amzn-RateLimit-Limit"]) == pytest.approx(0.001)
        features = client.get(f"{FBA}/features", params={"marketplaceId": MARKETPLACE}, headers=headers)
        assert features.status_code == 200


# -- Fulfillment Outbound 2026-07-04 ----------------------------------------------------------------------

MCF = "/fulfillment/outbound/2026-07-04"
MCF_MODEL = "fulfillmentOutbound_2026-07-04.json"
SERVICE_ID = "x-amzn-fulfillment-service-id"


def _mcf_create_body(order_id: str) -> dict[str, Any]:
    return {
        "orderId": order_id,
        "destination": {
            "deliveryAddress": {
                "name": "A",
                "addressLine1": "1 B St",
                "postalCode": "98101",
                "countryCode": "US",
            }
        },
        "lineItems": [
            {
                "lineItemId": "1",
                "product": {"productIdentifier": {"amazonSku": "SKU-1"}},
                "amount": {"value": "1"},
            }
        ],
    }


def test_mcf_2026_orders_answer_as_the_model_says(
    emulator: EmulatorServer, http: httpx.Client, auth: dict[str, str]
) -> None:
    created = http.post(f"{MCF}/orders", json=_mcf_create_body("mcf-a"), headers={**auth, SERVICE_ID: "FS01"})
    assert created.status_code == 200
    assert assert_model(MCF_MODEL, created)["order"]["status"] == "PROCESSING"
    assert created.headers[SERVICE_ID] == "FS01"  # declared in the answer's headers too
    duplicate = http.post(f"{MCF}/orders", json=_mcf_create_body("mcf-a"), headers=auth)
    assert duplicate.status_code == 400 and "already exists" in duplicate.text

    http.post("/_emulator/mcf-2026/accept-later", json={"enabled": True})
    try:
        later = http.post(f"{MCF}/orders", json=_mcf_create_body("mcf-b"), headers=auth)
    finally:
        http.post("/_emulator/mcf-2026/accept-later", json={"enabled": False})
    assert later.status_code == 202
    assert assert_model(MCF_MODEL, later) == {"orderId": "mcf-b", "status": "PROCESSING"}

    updated = http.put(
        f"{MCF}/orders/mcf-a", json={"fulfillmentConfiguration": {"action": "SHIP"}}, headers=auth
    )
    assert updated.status_code == 202
    cancelled = http.put(f"{MCF}/orders/mcf-a/cancel", headers=auth)
    assert cancelled.status_code == 202
    again = http.put(f"{MCF}/orders/mcf-a/cancel", headers=auth)
    assert again.status_code == 400 and "DuplicateCancelRequest" in again.text
    read = assert_model(MCF_MODEL, http.get(f"{MCF}/orders/mcf-a", headers=auth))
    assert read["order"]["status"] == "CANCELLED"
    assert read["order"]["fulfillmentConfiguration"]["action"] == "SHIP"
    assert http.get(f"{MCF}/orders/nope", headers=auth).status_code == 404


def test_mcf_2026_requests_are_checked_against_the_model(http: httpx.Client, auth: dict[str, str]) -> None:
    no_items = {k: v for k, v in _mcf_create_body("mcf-c").items() if k != "lineItems"}
    assert http.post(f"{MCF}/orders", json=no_items, headers=auth).status_code == 400
    too_long = http.post(
        f"{MCF}/orders", json=_mcf_create_body("mcf-c"), headers={**auth, SERVICE_ID: "F" * 41}
    )
    assert too_long.status_code == 400 and SERVICE_ID in too_long.text
    bad_enum = http.get(f"{MCF}/orders", params={"shipments": "SOMETIMES"}, headers=auth)
    assert bad_enum.status_code == 400


def test_mcf_2026_list_orders_pages_with_page_token(
    emulator: EmulatorServer, http: httpx.Client, auth: dict[str, str]
) -> None:
    ids = [f"mcf-page-{n}" for n in range(5)]
    for order_id in ids:
        assert http.post(f"{MCF}/orders", json=_mcf_create_body(order_id), headers=auth).status_code == 200
    seen: list[str] = []
    params: dict[str, str] = {"shipments": "EXCLUDE"}
    for _ in range(10):
        page = assert_model(MCF_MODEL, http.get(f"{MCF}/orders", params=params, headers=auth))
        seen += [order["orderId"] for order in page["orders"]]
        token = (page.get("pagination") or {}).get("nextToken")
        if not token:
            break
        params = {"shipments": "EXCLUDE", "pageToken": token}
    assert [order_id for order_id in seen if order_id in ids] == ids


def test_mcf_2026_previews_offers_and_packages_answer_as_the_model_says(
    emulator: EmulatorServer, http: httpx.Client, auth: dict[str, str]
) -> None:
    tiers = {"serviceLevel": {"serviceTiers": ["STANDARD", "EXPEDITED"]}}
    address = _mcf_create_body("x")["destination"]
    line = {"product": {"productIdentifier": {"amazonSku": "SKU-1"}}, "amount": {"value": "2"}}
    preview_body = {"fulfillmentConfiguration": tiers, "destination": address, "lineItems": [line]}
    preview = assert_model(MCF_MODEL, http.post(f"{MCF}/previews", json=preview_body, headers=auth))
    offers = [
        o["fulfillmentConfiguration"]["serviceLevel"]["serviceTier"]
        for o in preview["plannedShipments"][0]["offers"]
    ]
    assert offers == ["STANDARD", "EXPEDITED"]
    offers_body = {"origin": {"countryCode": "US"}, "items": [{"productIdentifier": {"amazonSku": "SKU-1"}}]}
    answer = assert_model(MCF_MODEL, http.post(f"{MCF}/offers", json=offers_body, headers=auth))
    assert len(answer["offerResults"][0]["offers"]) == 1  # STANDARD when no tier is asked for

    assert http.post(f"{MCF}/orders", json=_mcf_create_body("mcf-p"), headers=auth).status_code == 200
    package = http.put(f"{MCF}/orders/mcf-p/packages/PKG-1", json={"status": "DELIVERED"}, headers=auth)
    assert package.status_code == 204 and package.content == b""
    order = assert_model(MCF_MODEL, http.get(f"{MCF}/orders/mcf-p", headers=auth))["order"]
    assert order["shipments"][0]["packages"] == [{"packageId": "PKG-1", "status": "DELIVERED"}]
