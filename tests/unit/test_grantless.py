"""Grantless operations: the model says which, the catalog names the scope, the gateway asks for it."""

from __future__ import annotations

from typing import Any

import pytest

from domain.catalog import CATALOG, GRANTLESS_SCOPES, RESTRICTED_OPERATIONS
from domain.gateway import SpApiGateway
from domain.spapi import ALL_OPERATIONS
from tests.fakes import FakeClock, FakeLimiter, FakeSpApi

NOTIFICATIONS_SCOPE = "sellingpartnerapi::notifications"


def test_the_generated_operations_mark_as_grantless_what_the_model_descriptions_say() -> None:
    grantless = sorted(spec.key for spec in ALL_OPERATIONS.values() if spec.grantless)

    assert grantless == [
        "notifications_v1.createDestination",
        "notifications_v1.deleteDestination",
        "notifications_v1.deleteSubscriptionById",
        "notifications_v1.getDestination",
        "notifications_v1.getDestinations",
        "notifications_v1.getSubscriptionById",
        "notifications_v1.sendTestNotification",
    ]
    assert dict.fromkeys(grantless, NOTIFICATIONS_SCOPE) == GRANTLESS_SCOPES
    for entry in CATALOG.values():
        assert (entry.grantless is not None) == entry.operation.grantless, entry.name


def gateway(spapi: FakeSpApi) -> SpApiGateway:
    return SpApiGateway(
        spapi,
        FakeLimiter(),
        FakeClock(),
        restricted_operations=RESTRICTED_OPERATIONS,
        grantless_scopes=GRANTLESS_SCOPES,
        max_inline_wait_seconds=2,
    )


@pytest.mark.parametrize(
    ("command_type", "scope"),
    [
        ("create-destination", NOTIFICATIONS_SCOPE),
        ("get-subscription-by-id", NOTIFICATIONS_SCOPE),
        ("create-subscription", None),
        ("get-subscription", None),
    ],
)
def test_the_gateway_asks_for_the_scope_of_a_grantless_operation_and_for_nothing_else(
    command_type: str, scope: str | None
) -> None:
    spapi = FakeSpApi()
    payloads: dict[str, dict[str, Any]] = {
        "create-destination": {"name": "n", "resourceSpecification": {"sqs": {"arn": "arn:aws:sqs:r:1:q"}}},
        "get-subscription-by-id": {"notificationType": "ORDER_CHANGE", "subscriptionId": "s"},
        "create-subscription": {
            "notificationType": "ORDER_CHANGE",
            "payloadVersion": "1.0",
            "destinationId": "d",
        },
        "get-subscription": {"notificationType": "ORDER_CHANGE"},
    }
    payload = payloads[command_type]

    gateway(spapi).send("acme", "na", CATALOG[command_type].operation, payload, lambda: 60.0)

    [(_, _, request)] = spapi.calls
    assert request.grantless_scope == scope
    assert request.access_token is None
    assert "grantless_scope" in repr(request) and "access_token" not in repr(request)


def test_a_grantless_operation_without_a_scope_is_never_sent_with_the_sellers_token() -> None:
    spapi = FakeSpApi()
    bare = SpApiGateway(
        spapi, FakeLimiter(), FakeClock(), restricted_operations=frozenset(), max_inline_wait_seconds=2
    )

    with pytest.raises(ValueError, match=r"notifications_v1\.getDestinations is grantless"):
        bare.send("acme", "na", CATALOG["list-destinations"].operation, {}, lambda: 60.0)
    assert spapi.calls == []
