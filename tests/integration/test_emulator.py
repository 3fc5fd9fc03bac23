"""The local SP-API emulator over real HTTP (httpx against a started server)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft4Validator, FormatChecker

from emulator import EmulatorServer, Fault
from emulator.state import ORDER_STATUSES

pytestmark = pytest.mark.integration

MODELS = Path(__file__).resolve().parents[2] / "spapi-models"
FBA = "/fba/outbound/2020-07-01/fulfillmentOrders"
DF_ACK = "/vendor/directFulfillment/orders/2021-12-28/acknowledgements"
DF_TX = "/vendor/directFulfillment/transactions/2021-12-28/transactions"
CLIENT_ID = "amzn1.application-oa2-client.test"
CLIENT_SECRET = "client-secret-value"
REFRESH_TOKEN = "Atzr|refresh-token-value"
SELLER = "A1SELLER"
SETTLE_SECONDS = 0.4

UNAUTHORIZED = {
    "errors": [
        {
            "code": "Unauthorized",
            "message": "Access to requested resource is denied.",
            "details": "The access token you provided is revoked, malformed or invalid.",
        }
    ]
}


def _model(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((MODELS / name).read_text(encoding="utf-8"))
    return data


def _response_validator(model: str, path: str, method: str, status: int) -> Draft4Validator:
    """An independent reading of the model: the response schema of (path, method, status)."""
    document = _model(model)
    schema = document["paths"][path][method]["responses"][str(status)]["schema"]
    return Draft4Validator({**document, "allOf": [schema]}, format_checker=FormatChecker())


def assert_matches_model(model: str, path: str, method: str, response: httpx.Response) -> None:
    validator = _response_validator(model, path, method, response.status_code)
    problems = [e.message for e in validator.iter_errors(response.json())]
    assert problems == [], problems


def order_body(order_id: str = "order-1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "marketplaceId": "ATVPDKIKX0DER",
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
        "items": [{"sellerSku": "SKU-1", "sellerFulfillmentOrderItemId": "item-1", "quantity": 2}],
    }
    body.update(overrides)
    return body


def ack_body(*numbers: str) -> dict[str, Any]:
    return {
        "orderAcknowledgements": [
            {
                "purchaseOrderNumber": number,
                "vendorOrderNumber": f"V-{number}",
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
            for number in numbers
        ]
    }


@pytest.fixture(scope="module")
def emulator_server() -> Iterator[EmulatorServer]:
    with EmulatorServer(rate_scale=100.0, transaction_settle_seconds=SETTLE_SECONDS) as server:
        server.register_account(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, SELLER)
        yield server


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> EmulatorServer:
    emulator_server.state.reset()
    return emulator_server


@pytest.fixture
def emulator_http(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, timeout=5.0) as client:
        yield client


def fetch_token(client: httpx.Client, refresh_token: str = REFRESH_TOKEN) -> str:
    response = client.post(
        "/auth/o2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.fixture
def emulator_auth(emulator_http: httpx.Client) -> dict[str, str]:
    return {"x-amz-access-token": fetch_token(emulator_http)}


# -- LWA and access tokens --------------------------------------------------------------------------------


def test_token_flow_counts_requests_per_client(emulator: EmulatorServer, emulator_http: httpx.Client) -> None:
    response = emulator_http.post(
        "/auth/o2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": REFRESH_TOKEN,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["access_token"].startswith("Atza|")
    assert body == {
        "access_token": body["access_token"],
        "token_type": "bearer",
        "expires_in": 3600,
        "refresh_token": REFRESH_TOKEN,
    }
    assert response.headers["x-amzn-RequestId"]
    fetch_token(emulator_http)
    assert emulator.state.token_request_count(CLIENT_ID) == 2
    assert emulator_http.get("/_emulator/token-requests").json() == {CLIENT_ID: 2}

    wrong_client = emulator_http.post(
        "/auth/o2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": REFRESH_TOKEN,
            "client_id": CLIENT_ID,
            "client_secret": "wrong",
        },
    )
    assert wrong_client.status_code == 401
    assert wrong_client.json()["error"] == "invalid_client"
    assert wrong_client.json()["error_description"]
    wrong_grant = emulator_http.post(
        "/auth/o2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "Atzr|unknown",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert wrong_grant.status_code == 400
    assert wrong_grant.json()["error"] == "invalid_grant"
    grantless = emulator_http.post(
        "/auth/o2/token",
        data={
            "grant_type": "client_credentials",
            "scope": "sellingpartnerapi::notifications",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert grantless.status_code == 200
    assert grantless.json()["scope"] == "sellingpartnerapi::notifications"
    assert grantless.json()["expires_in"] == 3600
    assert emulator.state.token_request_count(CLIENT_ID) == 5


def test_account_registration_over_http(emulator_http: httpx.Client) -> None:
    created = emulator_http.post(
        "/_emulator/accounts",
        json={
            "client_id": "other-client",
            "client_secret": "other-secret",
            "refresh_token": "Atzr|other",
            "seller_id": "A2OTHER",
        },
    )
    assert created.status_code == 201
    token = emulator_http.post(
        "/auth/o2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "Atzr|other",
            "client_id": "other-client",
            "client_secret": "other-secret",
        },
    )
    assert token.status_code == 200
    headers = {"x-amz-access-token": token.json()["access_token"]}
    assert emulator_http.post(FBA, json=order_body("other-1"), headers=headers).status_code == 200
    assert emulator_http.get("/_emulator/calls").json()[-1]["seller"] == "A2OTHER"


def test_missing_or_unknown_token_is_403(emulator_http: httpx.Client) -> None:
    missing = emulator_http.get(f"{FBA}/order-1")
    assert missing.status_code == 403
    assert missing.json() == UNAUTHORIZED
    assert missing.headers["x-amzn-RequestId"]
    assert "x-amzn-RateLimit-Limit" not in missing.headers
    unknown = emulator_http.get(f"{FBA}/order-1", headers={"x-amz-access-token": "Atza|forged"})
    assert unknown.status_code == 403
    assert unknown.json() == UNAUTHORIZED


def test_expired_token_then_refresh(emulator_http: httpx.Client, emulator_auth: dict[str, str]) -> None:
    assert emulator_http.post(FBA, json=order_body(), headers=emulator_auth).status_code == 200
    assert emulator_http.post("/_emulator/expire-tokens").status_code == 200
    expired = emulator_http.get(f"{FBA}/order-1", headers=emulator_auth)
    assert expired.status_code == 403
    assert expired.json()["errors"][0]["code"] == "Unauthorized"
    assert expired.json()["errors"][0]["details"] == "The access token you provided has expired."
    fresh = {"x-amz-access-token": fetch_token(emulator_http)}
    assert emulator_http.get(f"{FBA}/order-1", headers=fresh).status_code == 200


# -- validation and routing -------------------------------------------------------------------------------


def test_invalid_body_is_400_naming_the_field(
    emulator_http: httpx.Client, emulator_auth: dict[str, str]
) -> None:
    response = emulator_http.post(FBA, json=order_body("x" * 41), headers=emulator_auth)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "InvalidInput"
    assert "sellerFulfillmentOrderId" in error["message"]
    assert "too long" in error["message"]
    assert error["details"] == ""

    body = order_body()
    del body["items"]
    body["displayableOrderDate"] = "yesterday"
    response = emulator_http.post(FBA, json=body, headers=emulator_auth)
    message = response.json()["errors"][0]["message"]
    assert response.status_code == 400
    assert "'items' is a required property" in message
    assert "displayableOrderDate" in message

    not_json = emulator_http.post(FBA, content=b"{nope", headers=emulator_auth)
    assert not_json.status_code == 400
    assert "not valid JSON" in not_json.json()["errors"][0]["message"]


def test_invalid_path_and_query_parameters(
    emulator_http: httpx.Client, emulator_auth: dict[str, str]
) -> None:
    path_param = emulator_http.get(f"{FBA}/{'y' * 41}", headers=emulator_auth)
    assert path_param.status_code == 400
    assert "sellerFulfillmentOrderId" in path_param.json()["errors"][0]["message"]
    df_orders = "/vendor/directFulfillment/orders/2021-12-28/purchaseOrders"
    rdt = emulator_http.post(
        "/tokens/2021-03-01/restrictedDataToken",
        json={"restrictedResources": [{"method": "GET", "path": df_orders}]},
        headers=emulator_auth,
    )
    assert rdt.status_code == 200, rdt.text
    query = emulator_http.get(
        df_orders,
        params={"createdAfter": "2024-01-01", "limit": "0", "status": "LOST"},
        headers={"x-amz-access-token": rdt.json()["restrictedDataToken"]},
    )
    assert query.status_code == 400
    message = query.json()["errors"][0]["message"]
    for fragment in ("createdBefore", "createdAfter", "limit", "status"):
        assert fragment in message


def test_unknown_path_and_unimplemented_operation(
    emulator: EmulatorServer,
    emulator_http: httpx.Client,
    emulator_auth: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unknown = emulator_http.get("/fba/outbound/2020-07-01/nothing", headers=emulator_auth)
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["code"] == "NotFound"
    # Every operation of the vendored models has a handler now; take one away to see the answer.
    resolve = emulator.registry.resolve
    monkeypatch.setattr(
        emulator.registry,
        "resolve",
        lambda operation: None if operation.name == "getPurchaseOrdersStatus" else resolve(operation),
    )
    unimplemented = emulator_http.get(
        "/vendor/orders/v1/purchaseOrdersStatus", params={"limit": "1"}, headers=emulator_auth
    )
    assert unimplemented.status_code == 501
    assert unimplemented.json()["errors"][0]["code"] == "NotImplemented"
    assert unimplemented.headers["content-type"] == "application/json"


# -- fulfillment orders -----------------------------------------------------------------------------------


def test_order_lifecycle_answers_match_the_model(
    emulator: EmulatorServer, emulator_http: httpx.Client, emulator_auth: dict[str, str]
) -> None:
    model = "fulfillmentOutbound_2020-07-01.json"
    by_id = "/fba/outbound/2020-07-01/fulfillmentOrders/{sellerFulfillmentOrderId}"
    created = emulator_http.post(FBA, json=order_body(), headers=emulator_auth)
    assert created.status_code == 200
    assert created.json() == {}
    assert_matches_model(model, FBA, "post", created)

    got = emulator_http.get(f"{FBA}/order-1", headers=emulator_auth)
    assert got.status_code == 200
    assert_matches_model(model, by_id, "get", got)
    payload = got.json()["payload"]
    assert payload["fulfillmentOrder"]["fulfillmentOrderStatus"] == "Received"
    assert payload["fulfillmentOrderItems"][0]["quantity"] == 2
    for key in ("fulfillmentShipments", "returnItems", "returnAuthorizations", "paymentInformation"):
        assert payload[key] == []

    updated = emulator_http.put(
        f"{FBA}/order-1",
        json={
            "displayableOrderComment": "Updated",
            "items": [{"sellerFulfillmentOrderItemId": "item-1", "quantity": 5}],
        },
        headers=emulator_auth,
    )
    assert updated.status_code == 200
    assert_matches_model(model, by_id, "put", updated)
    payload = emulator_http.get(f"{FBA}/order-1", headers=emulator_auth).json()["payload"]
    assert payload["fulfillmentOrder"]["displayableOrderComment"] == "Updated"
    assert payload["fulfillmentOrderItems"][0]["quantity"] == 5

    cancelled = emulator_http.put(f"{FBA}/order-1/cancel", headers=emulator_auth)
    assert cancelled.status_code == 200
    assert_matches_model(model, f"{by_id}/cancel", "put", cancelled)
    got = emulator_http.get(f"{FBA}/order-1", headers=emulator_auth)
    assert_matches_model(model, by_id, "get", got)
    assert got.json()["payload"]["fulfillmentOrder"]["fulfillmentOrderStatus"] == "Cancelled"
    assert got.json()["payload"]["fulfillmentOrderItems"][0]["cancelledQuantity"] == 5
    assert emulator.state.order("order-1").request == order_body()  # the create body, as received
    assert emulator.state.effects() == {
        "createFulfillmentOrder": {"order-1": 1},
        "updateFulfillmentOrder": {"order-1": 1},
        "cancelFulfillmentOrder": {"order-1": 1},
    }


def test_duplicate_create_answers_sandbox_shape(
    emulator: EmulatorServer, emulator_http: httpx.Client, emulator_auth: dict[str, str]
) -> None:
    assert emulator_http.post(FBA, json=order_body("dup-1"), headers=emulator_auth).status_code == 200
    again = emulator_http.post(FBA, json=order_body("dup-1"), headers=emulator_auth)
    assert again.status_code == 400
    assert again.json() == {
        "errors": [
            {
                "code": "InvalidInput",
                "message": "A create request already exists for MerchantFulfillmentOrderId : dup-1",
                "details": "",
            }
        ]
    }
    assert emulator_http.get("/_emulator/effects").json()["createFulfillmentOrder"] == {"dup-1": 1}


def test_duplicate_cancel_and_unknown_order(
    emulator: EmulatorServer, emulator_http: httpx.Client, emulator_auth: dict[str, str]
) -> None:
    emulator_http.post(FBA, json=order_body("c-1"), headers=emulator_auth)
    assert emulator_http.put(f"{FBA}/c-1/cancel", headers=emulator_auth).status_code == 200
    again = emulator_http.put(f"{FBA}/c-1/cancel", headers=emulator_auth)
    assert again.status_code == 400
    assert again.json() == {
        "errors": [
            {
                "code": "InvalidInput",
                "message": "Value c-1 for parameter SellerFulfillmentOrderId is invalid. "
                "Reason: DuplicateCancelRequest.",
                "details": "",
            }
        ]
    }
    assert emulator.state.effect_count("cancelFulfillmentOrder", "c-1") == 1
    for response in (
        emulator_http.get(f"{FBA}/missing", headers=emulator_auth),
        emulator_http.put(f"{FBA}/missing/cancel", headers=emulator_auth),
        emulator_http.put(f"{FBA}/missing", json={"displayableOrderComment": "x"}, headers=emulator_auth),
    ):
        assert response.status_code == 404
        assert response.json()["errors"][0]["code"] == "NotFound"


def test_update_of_an_order_in_work_is_not_updatable(
    emulator: EmulatorServer, emulator_http: httpx.Client, emulator_auth: dict[str, str]
) -> None:
    emulator_http.post(FBA, json=order_body("u-1"), headers=emulator_auth)
    status = emulator_http.post("/_emulator/orders/u-1/status", json={"status": "Processing"})
    assert status.status_code == 200
    refused = emulator_http.put(f"{FBA}/u-1", json={"displayableOrderComment": "late"}, headers=emulator_auth)
    assert refused.status_code == 400
    error = refused.json()["errors"][0]
    assert error["code"] == "InvalidInput"
    assert error["message"].startswith("Value OrderNotUpdatable for parameter  is invalid.")
    assert "This order is not updatable." in error["message"]
    emulator.state.set_order_status("u-1", "Cancelled")
    assert emulator_http.put(f"{FBA}/u-1", json={}, headers=emulator_auth).status_code == 400
    assert "updateFulfillmentOrder" not in emulator.state.effects()
    bad = emulator_http.post("/_emulator/orders/u-1/status", json={"status": "Shipped?"})
    assert bad.status_code == 400


# -- vendor direct fulfillment ----------------------------------------------------------------------------


def test_acknowledgement_transaction_processing_then_success(
    emulator: EmulatorServer, emulator_http: httpx.Client, emulator_auth: dict[str, str]
) -> None:
    submitted = emulator_http.post(DF_ACK, json=ack_body("PO-1", "PO-2"), headers=emulator_auth)
    assert submitted.status_code == 202
    assert set(submitted.json()) == {"transactionId"}
    assert_matches_model("vendorDirectFulfillmentOrders_2021-12-28.json", DF_ACK, "post", submitted)
    transaction_id = submitted.json()["transactionId"]
    tx_template = "/vendor/directFulfillment/transactions/2021-12-28/transactions/{transactionId}"

    first = emulator_http.get(f"{DF_TX}/{transaction_id}", headers=emulator_auth)
    assert first.status_code == 200
    assert first.json() == {"transactionStatus": {"transactionId": transaction_id, "status": "Processing"}}
    assert_matches_model("vendorDirectFulfillmentTransactions_2021-12-28.json", tx_template, "get", first)
    time.sleep(SETTLE_SECONDS + 0.1)
    settled = emulator_http.get(f"{DF_TX}/{transaction_id}", headers=emulator_auth)
    assert settled.json()["transactionStatus"]["status"] == "Success"
    assert_matches_model("vendorDirectFulfillmentTransactions_2021-12-28.json", tx_template, "get", settled)
    assert emulator.state.effects() == {
        "vendorDirectFulfillmentOrders.submitAcknowledgement": {"PO-1": 1, "PO-2": 1}
    }

    second = emulator_http.post(DF_ACK, json=ack_body("PO-3"), headers=emulator_auth).json()["transactionId"]
    errors = [{"code": "InvalidInput", "message": "PO-3 is not acknowledgeable", "details": ""}]
    forced = emulator_http.post(
        f"/_emulator/transactions/{second}/status", json={"status": "Failure", "errors": errors}
    )
    assert forced.status_code == 200
    failed = emulator_http.get(f"{DF_TX}/{second}", headers=emulator_auth)
    assert failed.json() == {
        "transactionStatus": {"transactionId": second, "status": "Failure", "errors": {"errors": errors}}
    }
    assert_matches_model("vendorDirectFulfillmentTransactions_2021-12-28.json", tx_template, "get", failed)
    assert emulator_http.get(f"{DF_TX}/unknown", headers=emulator_auth).status_code == 404


# -- usage plans ------------------------------------------------------------------------------------------


def test_quota_exceeded_after_the_burst() -> None:
    with (
        EmulatorServer(rate_scale=0.001) as server,
        httpx.Client(base_url=server.url, timeout=5.0) as client,
    ):
        server.register_account(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, SELLER)
        headers = {"x-amz-access-token": fetch_token(client)}
        answers = [client.get(f"{FBA}/none", headers=headers) for _ in range(31)]
        assert [a.status_code for a in answers[:30]] == [404] * 30
        assert answers[30].status_code == 429
        assert answers[30].json() == {
            "errors": [
                {
                    "code": "QuotaExceeded",
                    "message": "You exceeded your quota for the requested resource.",
                    "details": "",
                }
            ]
        }
        assert "x-amzn-RateLimit-Limit" not in answers[30].headers
        assert answers[30].headers["x-amzn-RequestId"]
        # Buckets are per operation: createFulfillmentOrder still has its burst; 2xx carries the applied rate.
        created = client.post(FBA, json=order_body(), headers=headers)
        assert created.status_code == 200
        assert float(created.headers["x-amzn-RateLimit-Limit"]) == pytest.approx(0.002)
        assert [c.status for c in server.state.calls("getFulfillmentOrder")][-1] == 429


def test_usage_plans_parsed_from_the_models(emulator: EmulatorServer) -> None:
    plans = {
        op.name: (op.usage_plan.rate, op.usage_plan.burst)
        for op in emulator.catalog.operations.values()
        if op.usage_plan
    }
    assert plans["createFulfillmentOrder"] == (2.0, 30)
    assert plans["deliveryOffers"] == (5.0, 30)
    assert plans["vendorDirectFulfillmentOrders.submitAcknowledgement"] == (10.0, 10)
    assert plans["getTransactionStatus"] == (10.0, 10)
    assert plans["getTransaction"] == (10.0, 20)
    assert plans["updateScheduledPackages"] == (1.0, 5)
    assert plans["createRestrictedDataToken"] == (1.0, 10)
    with EmulatorServer(sandbox_usage_plan=True) as sandbox:
        plan = sandbox.app.usage_plan(sandbox.catalog.operation("createFulfillmentOrder"))
        assert (plan.rate, plan.burst) == (5.0, 15)
    status_enum = _model("fulfillmentOutbound_2020-07-01.json")["definitions"]["FulfillmentOrderStatus"][
        "enum"
    ]
    assert tuple(status_enum) == ORDER_STATUSES


# -- fault injection --------------------------------------------------------------------------------------


def test_status_faults(
    emulator: EmulatorServer, emulator_http: httpx.Client, emulator_auth: dict[str, str]
) -> None:
    added = emulator_http.post(
        "/_emulator/faults",
        json={"operation": "createFulfillmentOrder", "kind": "status", "status": 503, "count": 1},
    )
    assert added.status_code == 201
    unavailable = emulator_http.post(FBA, json=order_body("f-1"), headers=emulator_auth)
    assert unavailable.status_code == 503
    assert unavailable.json()["errors"][0]["code"] == "ServiceUnavailable"
    assert "x-amzn-RateLimit-Limit" not in unavailable.headers
    assert emulator.state.effects() == {}
    assert emulator_http.post(FBA, json=order_body("f-1"), headers=emulator_auth).status_code == 200

    emulator.state.add_fault(Fault(operation="*", kind="status", status=500, count=1))
    failed = emulator_http.get(f"{FBA}/f-1", headers=emulator_auth)
    assert failed.status_code == 500
    assert failed.json()["errors"][0]["code"] == "InternalFailure"
    emulator_http.post(
        "/_emulator/faults", json={"operation": "getFulfillmentOrder", "status": 429, "probability": 1.0}
    )
    assert emulator_http.get("/_emulator/faults").json()[0]["probability"] == 1.0
    throttled = emulator_http.get(f"{FBA}/f-1", headers=emulator_auth)
    assert throttled.status_code == 429
    assert throttled.json()["errors"][0]["code"] == "QuotaExceeded"
    assert emulator_http.delete("/_emulator/faults").status_code == 200
    assert emulator_http.get(f"{FBA}/f-1", headers=emulator_auth).status_code == 200
    assert emulator_http.post("/_emulator/faults", json={"operation": "noSuchOperation"}).status_code == 400
    assert emulator_http.post("/_emulator/faults", json={"kind": "explode"}).status_code == 400


def test_timeout_fault_applied_before_the_hang(
    emulator: EmulatorServer, emulator_http: httpx.Client, emulator_auth: dict[str, str]
) -> None:
    emulator_http.post(
        "/_emulator/faults",
        json={
            "operation": "createFulfillmentOrder",
            "kind": "timeout",
            "delaySeconds": 1.0,
            "count": 1,
            "applyBeforeFault": True,
        },
    )
    with pytest.raises(httpx.ReadTimeout):
        emulator_http.post(FBA, json=order_body("t-1"), headers=emulator_auth, timeout=0.3)
    # The client saw a timeout, yet the order exists: a retry answers "already exists".
    assert emulator_http.get(f"{FBA}/t-1", headers=emulator_auth).status_code == 200
    retry = emulator_http.post(FBA, json=order_body("t-1"), headers=emulator_auth)
    assert retry.status_code == 400
    assert "already exists" in retry.json()["errors"][0]["message"]
    assert emulator.state.effects()["createFulfillmentOrder"] == {"t-1": 1}

    emulator.state.add_fault(
        Fault(operation="createFulfillmentOrder", kind="timeout", delay_seconds=0.2, count=1)
    )
    hung = emulator_http.post(FBA, json=order_body("t-2"), headers=emulator_auth)
    assert hung.status_code == 504
    assert hung.json()["errors"][0]["code"] == "GatewayTimeout"
    assert emulator_http.get(f"{FBA}/t-2", headers=emulator_auth).status_code == 404
    # The server finishes the abandoned request (and logs its 504) after the client gave up.
    deadline = time.monotonic() + 3.0
    while [c.status for c in emulator.state.calls("createFulfillmentOrder")].count(504) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_slow_fault_answers_normally_after_the_delay(
    emulator_http: httpx.Client, emulator_auth: dict[str, str]
) -> None:
    emulator_http.post(
        "/_emulator/faults", json={"operation": "*", "kind": "slow", "delaySeconds": 0.3, "count": 1}
    )
    started = time.monotonic()
    response = emulator_http.post(FBA, json=order_body("s-1"), headers=emulator_auth)
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200
    assert response.headers["x-amzn-RateLimit-Limit"] == "200.0"


# -- observability ----------------------------------------------------------------------------------------


def test_calls_effects_and_reset(
    emulator: EmulatorServer, emulator_http: httpx.Client, emulator_auth: dict[str, str]
) -> None:
    emulator_http.post(FBA, json=order_body("o-9"), headers=emulator_auth)
    emulator_http.get(f"{FBA}/o-9", headers=emulator_auth, params={"debug": "secret-query"})
    calls = emulator_http.get("/_emulator/calls").json()
    assert [(c["operationId"], c["status"], c["seller"], c["path"]) for c in calls] == [
        ("createFulfillmentOrder", 200, SELLER, FBA),
        ("getFulfillmentOrder", 200, SELLER, f"{FBA}/o-9"),
    ]
    assert all(isinstance(c["time"], float) for c in calls)
    text = json.dumps(calls)
    assert emulator_auth["x-amz-access-token"] in emulator.state.issued_token_values()
    assert emulator_auth["x-amz-access-token"] not in text
    assert "secret-query" not in text
    assert "Jane Doe" not in text
    assert emulator_http.get("/_emulator/effects").json() == {"createFulfillmentOrder": {"o-9": 1}}
    assert emulator_http.post("/_emulator/reset").status_code == 200
    assert emulator.state.calls() == []
    assert emulator.state.effects() == {}
    assert emulator_http.get(f"{FBA}/o-9", headers=emulator_auth).status_code == 404  # tokens survive a reset


def test_request_log_has_no_query_or_token(caplog: pytest.LogCaptureFixture) -> None:
    with (
        EmulatorServer(log_requests=True) as server,
        httpx.Client(base_url=server.url, timeout=5.0) as client,
        caplog.at_level(logging.DEBUG),
    ):
        server.register_account(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, SELLER)
        client.post(
            "/auth/o2/token",
            params={"client_secret": CLIENT_SECRET},
            data={
                "grant_type": "refresh_token",
                "refresh_token": REFRESH_TOKEN,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
        )
        client.get(f"{FBA}/o-1", headers={"x-amz-access-token": "Atza|secret-token"})
    server_log = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith(("emulator", "werkzeug"))
    )
    assert "POST /auth/o2/token 200" in server_log
    for secret in (CLIENT_SECRET, REFRESH_TOKEN, "Atza|secret-token", "Jane Doe"):
        assert secret not in server_log


def test_cli_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert "--port" in result.stdout
    assert "--rate-scale" in result.stdout
