"""Notifications API v1 commands: grantless and seller tokens where the model says, at the emulator over
real HTTP and through the real handler on the local stack (moto server + emulator)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.events import COMMAND_EVENT
from emulator import EmulatorServer
from local.runtime import DEMO_ACCOUNTS, LocalStack
from tests.conftest import RecordingHandler, sample_command
from tests.integration.test_emulator_surface import assert_model

pytestmark = pytest.mark.integration

MODEL = "notifications.json"
MODELS = Path(__file__).resolve().parents[2] / "spapi-models"
SCOPE = "sellingpartnerapi::notifications"
CLIENT_ID = "amzn1.application-oa2-client.notifications"
CLIENT_SECRET = "notifications-secret"
REFRESH_TOKEN = "Atzr|refresh-notifications"
SELLER = "A1NOTIFY"
DESTINATIONS = "/notifications/v1/destinations"
SUBSCRIPTIONS = "/notifications/v1/subscriptions"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:notifications"
DRAIN_TIMEOUT = 60.0


def grantless_in_model() -> dict[str, bool]:
    """operationId -> grantless, read from the model's descriptions here (not by the emulator's code)."""
    document = json.loads((MODELS / MODEL).read_text(encoding="utf-8"))
    found: dict[str, bool] = {}
    for item in document["paths"].values():
        for method in ("get", "post", "delete"):
            if method in item:
                operation = item[method]
                stated = (
                    f"The `{operation['operationId']}` operation is grantless" in operation["description"]
                )
                stated |= f"The `{operation['operationId']}` API is grantless" in operation["description"]
                found[operation["operationId"]] = stated
    return found


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(rate_scale=100.0) as emulator:
        emulator.register_account(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, SELLER)
        yield emulator


@pytest.fixture
def http(server: EmulatorServer) -> Iterator[httpx.Client]:
    server.state.reset()
    with httpx.Client(base_url=server.url, timeout=5.0) as client:
        yield client


def token(client: httpx.Client, *, scope: str | None = None) -> dict[str, str]:
    form = (
        {"grant_type": "refresh_token", "refresh_token": REFRESH_TOKEN}
        if scope is None
        else {"grant_type": "client_credentials", "scope": scope}
    )
    response = client.post(
        "/auth/o2/token", data={**form, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    )
    assert response.status_code == 200, response.text
    return {"x-amz-access-token": response.json()["access_token"]}


def test_the_model_states_which_operations_are_grantless() -> None:
    assert grantless_in_model() == {
        "getSubscriptions": False,
        "getSubscription": False,
        "createSubscription": False,
        "getSubscriptionById": True,
        "deleteSubscriptionById": True,
        "sendTestNotification": True,
        "getDestinations": True,
        "createDestination": True,
        "getDestination": True,
        "deleteDestination": True,
    }


CALLS = {
    "getSubscriptions": ("GET", f"{SUBSCRIPTIONS}?notificationTypes=ORDER_CHANGE", None),
    "getSubscription": ("GET", f"{SUBSCRIPTIONS}/ORDER_CHANGE", None),
    "createSubscription": (
        "POST",
        f"{SUBSCRIPTIONS}/ORDER_CHANGE",
        {"payloadVersion": "1.0", "destinationId": "d"},
    ),
    "getSubscriptionById": ("GET", f"{SUBSCRIPTIONS}/ORDER_CHANGE/s-1", None),
    "deleteSubscriptionById": ("DELETE", f"{SUBSCRIPTIONS}/ORDER_CHANGE/s-1", None),
    "sendTestNotification": ("POST", f"{SUBSCRIPTIONS}/ORDER_CHANGE/testNotification", {}),
    "getDestinations": ("GET", DESTINATIONS, None),
    "createDestination": (
        "POST",
        DESTINATIONS,
        {"name": "n", "resourceSpecification": {"sqs": {"arn": QUEUE_ARN}}},
    ),
    "getDestination": ("GET", f"{DESTINATIONS}/d-1", None),
    "deleteDestination": ("DELETE", f"{DESTINATIONS}/d-1", None),
}


def call(client: httpx.Client, operation_id: str, headers: dict[str, str]) -> httpx.Response:
    method, path, body = CALLS[operation_id]
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("operation_id", sorted(CALLS))
def test_each_operation_refuses_the_token_kind_the_model_does_not_name(
    http: httpx.Client, operation_id: str
) -> None:
    grantless = grantless_in_model()[operation_id]
    wrong = token(http) if grantless else token(http, scope=SCOPE)
    refused = call(http, operation_id, wrong)

    assert refused.status_code == 403, refused.text
    [error] = refused.json()["errors"]
    assert (error["code"], error["message"]) == ("Unauthorized", "Access to requested resource is denied.")
    expected = (
        f"{operation_id} is a grantless operation: it needs a client_credentials grant of scope {SCOPE}."
        if grantless
        else f"{operation_id} needs a selling partner's authorization; a grantless grant cannot call it."
    )
    assert error["details"] == expected
    # The right kind gets past authorization (to the handler's own answer: 200, 400 or 404).
    right = token(http, scope=SCOPE) if grantless else token(http)
    assert call(http, operation_id, right).status_code in (200, 400, 404)


def test_a_grantless_token_of_another_scope_is_refused(http: httpx.Client) -> None:
    refused = http.get(DESTINATIONS, headers=token(http, scope="sellingpartnerapi::migration"))

    assert refused.status_code == 403
    assert refused.json()["errors"][0]["details"] == (
        f"The grantless grant does not include the scope {SCOPE}."
    )


def test_destinations_and_subscriptions_answer_per_the_model(http: httpx.Client) -> None:
    app, seller = token(http, scope=SCOPE), token(http)
    body = {"name": "relay", "resourceSpecification": {"sqs": {"arn": QUEUE_ARN}}}
    created = assert_model(MODEL, http.post(DESTINATIONS, json=body, headers=app))["payload"]
    destination_id = created["destinationId"]
    assert created == {
        "name": "relay",
        "destinationId": destination_id,
        "resource": {"sqs": {"arn": QUEUE_ARN}},
    }
    again = http.post(DESTINATIONS, json=body, headers=app)
    assert again.status_code == 409
    assert again.json()["errors"][0]["code"] == "Conflict"
    assert f"arn {QUEUE_ARN} already exists" in again.json()["errors"][0]["details"]
    assert assert_model(MODEL, http.get(DESTINATIONS, headers=app))["payload"] == [created]

    subscription = {"payloadVersion": "1.0", "destinationId": destination_id}
    path = f"{SUBSCRIPTIONS}/FULFILLMENT_ORDER_STATUS"
    made = assert_model(MODEL, http.post(path, json=subscription, headers=seller))["payload"]
    assert made == {**subscription, "subscriptionId": made["subscriptionId"]}
    twice = http.post(path, json=subscription, headers=seller)
    assert twice.status_code == 409
    assert twice.json()["errors"][0] == {
        "code": "StateConflict",
        "message": "The resource specified conflicts with the current state.",
        "details": "Subscription already exist for notification type FULFILLMENT_ORDER_STATUS",
    }
    unknown = http.post(path, json={**subscription, "destinationId": "nowhere"}, headers=seller)
    assert unknown.status_code == 400
    assert assert_model(MODEL, http.get(path, headers=seller))["payload"] == made
    by_id = f"{path}/{made['subscriptionId']}"
    assert assert_model(MODEL, http.get(by_id, headers=app))["payload"] == made
    listed = http.get(SUBSCRIPTIONS, params={"notificationTypes": "FULFILLMENT_ORDER_STATUS"}, headers=seller)
    assert assert_model(MODEL, listed)["payload"] == {"subscriptions": [made]}

    busy = http.delete(f"{DESTINATIONS}/{destination_id}", headers=app)
    assert (busy.status_code, busy.json()["errors"][0]["details"]) == (403, "Destination has subscriptions")
    assert assert_model(MODEL, http.delete(by_id, headers=app)) == {}
    assert http.delete(by_id, headers=app).status_code == 404
    assert http.get(path, headers=seller).status_code == 404
    assert assert_model(MODEL, http.delete(f"{DESTINATIONS}/{destination_id}", headers=app)) == {}
    assert http.delete(f"{DESTINATIONS}/{destination_id}", headers=app).status_code == 404
    test = http.post(
        f"{path}/testNotification", json={"testNotification": {"payloadVersion": "1.0"}}, headers=app
    )
    assert test.status_code == 400  # an empty testScenario, as the model's description says


# -- through the relay ------------------------------------------------------------------------------------


def run(stack: LocalStack, *commands: dict[str, Any]) -> list[dict[str, Any]]:
    for item in commands:
        stack.send(item)
    assert stack.wait_until_drained(DRAIN_TIMEOUT), "the command queue did not drain"
    return [detail for kind, detail in stack.events() if kind.startswith(COMMAND_EVENT)]


def fresh(name: str, **payload: Any) -> dict[str, Any]:
    document = sample_command(name)
    document["commandId"] = f"{name}-{uuid.uuid4().hex[:12]}"
    document["payload"] = {**document["payload"], **payload}
    return document


def test_grantless_commands_use_one_client_credentials_token_and_no_token_reaches_logs_or_events(
    stack: LocalStack, captured_logs: RecordingHandler
) -> None:
    assert stack.emulator is not None
    state = stack.emulator.state
    seller = DEMO_ACCOUNTS[0]
    client_id = seller.secret["clientId"]
    arn = f"{QUEUE_ARN}-{uuid.uuid4().hex[:8]}"
    create = fresh("create-destination", resourceSpecification={"sqs": {"arn": arn}})
    [created] = run(stack, create)
    assert created["status"] == "succeeded", created
    destination_id = created["result"]["answer"]["payload"]["destinationId"]
    assert re.fullmatch(r"[0-9a-f-]{36}", destination_id)
    subscribe = fresh("create-subscription", destinationId=destination_id)
    outcomes = run(
        stack, subscribe, fresh("list-destinations"), fresh("get-destination", destinationId=destination_id)
    )

    assert sorted((o["type"], o["status"]) for o in outcomes) == [
        ("create-subscription", "succeeded"),
        ("get-destination", "succeeded"),
        ("list-destinations", "succeeded"),
    ]
    # Three grantless calls, one client_credentials grant of the notifications scope (cached per
    # application and scope); the seller's subscription went with the seller's token.
    # The session's worker may hold the grant from an earlier test (the tour): the cache is per
    # application and scope for the container's life, so at most one grant, never one per call.
    assert state.grantless_token_request_count(client_id, SCOPE) in (0, 1)
    assert state.grantless_token_requests() in ([], [{"clientId": client_id, "scope": SCOPE, "count": 1}])
    assert state.effect_count("createDestination", f"arn {arn}") == 1
    assert state.effect_count("createSubscription", f"{seller.seller_id}:FULFILLMENT_ORDER_STATUS:1.0") == 1

    events = json.dumps([created, *outcomes])
    tokens = state.issued_token_values()
    grantless = [value for value in tokens if value.startswith("Atc|")]
    assert grantless, "the test must have seen a grantless token to look for"
    secrets = [seller.secret["clientSecret"], seller.secret["refreshToken"]]
    assert any(text.startswith("SP-API call") for text in captured_logs.texts), "no relay log to scan"
    for needle in [*tokens, *secrets]:
        leaks = [text[:300] for text in captured_logs.texts if needle in text]
        assert not leaks, leaks
        assert needle not in events


def test_a_seller_token_is_never_sent_to_a_grantless_operation(stack: LocalStack) -> None:
    """The emulator refuses it (403): a command type whose catalog entry forgot ``grantless`` would fail
    here, as it would at Amazon."""
    assert stack.emulator is not None
    outcomes = run(stack, fresh("list-destinations"), fresh("get-subscription"))

    assert sorted((o["type"], o["status"]) for o in outcomes) == [
        ("get-subscription", "rejected"),  # no subscription yet: 404, with the seller's token
        ("list-destinations", "succeeded"),
    ]
    [rejected] = [o for o in outcomes if o["type"] == "get-subscription"]
    assert rejected["error"]["status"] == 404, rejected
    refused = [c for c in stack.emulator.state.calls() if c.status == 403]
    assert refused == []
