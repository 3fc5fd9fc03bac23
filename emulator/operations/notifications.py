"""Notifications API v1: destinations (the application's) and subscriptions (a selling partner's).

Which token each operation takes is the model's word, read by ``emulator.models`` from each description:
the destinations, ``getSubscriptionById``, ``deleteSubscriptionById`` and ``sendTestNotification`` are
grantless (an LWA ``client_credentials`` token of scope ``sellingpartnerapi::notifications``); the pipeline
refuses a seller's token there and a grantless token on ``createSubscription`` / ``getSubscription``.
A grantless call has no seller: its handler works on the calling application (``ctx.client_id``).

Conflicts answer as SP-API does (its answers quoted in amzn/selling-partner-api-docs issues): a second
destination for the same resource is 409 ``Conflict`` "A destination with arn ... already exists for the
application"; a second subscription of a notification type (and payload version) for the same seller and
application is 409 ``StateConflict`` "Subscription already exist for notification type ..."; a destination
that still has subscriptions cannot be deleted. A missing destination or subscription is 404.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Final

from emulator.errors import ApiError
from emulator.notification_delivery import FULFILLMENT_ORDER_STATUS, OrderStatusChange
from emulator.notification_state import NotificationsState, Subscription
from emulator.registry import CallContext, HandlerRegistry, HandlerResult

API = "notifications"
# The mock order of a test notification: a grantless call names no seller, and no real order changed.
TEST_SELLER_ID: Final = "A0TESTNOTIFICATION"
TEST_ORDER_STATUS: Final = "Received"


def _state(ctx: CallContext) -> NotificationsState:
    return ctx.state.notifications


def _not_found(what: str) -> ApiError:
    return ApiError(404, "NotFound", "The resource specified does not exist.", what)


def _resource(specification: dict[str, Any], ctx: CallContext) -> tuple[dict[str, Any], str]:
    """The ``DestinationResource`` made from a ``DestinationResourceSpecification``, and its identity."""
    sqs = specification.get("sqs")
    bridge = specification.get("eventBridge")
    if (sqs is None) == (bridge is None):
        raise ApiError(
            400, "InvalidInput", "Exactly one of resourceSpecification.sqs and .eventBridge is required."
        )
    if sqs is not None:
        return {"sqs": {"arn": sqs["arn"]}}, f"arn {sqs['arn']}"
    assert bridge is not None
    name = f"aws.partner/sellingpartnerapi.amazon.com/{bridge['accountId']}/{ctx.client_id}"
    resource = {"eventBridge": {"name": name, "region": bridge["region"], "accountId": bridge["accountId"]}}
    return resource, f"AWS account {bridge['accountId']}"


def _identity(destination: dict[str, Any]) -> str:
    resource = destination["resource"]
    if "sqs" in resource:
        return f"arn {resource['sqs']['arn']}"
    return f"AWS account {resource['eventBridge']['accountId']}"


def create_destination(ctx: CallContext) -> HandlerResult:
    state = _state(ctx)
    resource, identity = _resource(ctx.body["resourceSpecification"], ctx)
    for (client_id, _), existing in state.destinations.items():
        if client_id == ctx.client_id and _identity(existing) == identity:
            raise ApiError(
                409,
                "Conflict",
                "The requested resource conflict with a resource in the server.",
                f"A destination with {identity} already exists for the application {ctx.client_id}",
            )
    destination_id = str(uuid.uuid4())
    destination = {"name": ctx.body["name"], "destinationId": destination_id, "resource": resource}
    state.destinations[(ctx.client_id, destination_id)] = destination
    ctx.state.record_effect(ctx.operation.name, identity)
    return 200, {"payload": destination}


def get_destinations(ctx: CallContext) -> HandlerResult:
    state = _state(ctx)
    mine = [d for (client_id, _), d in state.destinations.items() if client_id == ctx.client_id]
    return 200, {"payload": mine}


def _destination(ctx: CallContext, destination_id: str) -> dict[str, Any]:
    destination = _state(ctx).destinations.get((ctx.client_id, destination_id))
    if destination is None:
        raise _not_found(f"No destination with id '{destination_id}' for this application")
    return destination


def get_destination(ctx: CallContext) -> HandlerResult:
    return 200, {"payload": _destination(ctx, ctx.path_params["destinationId"])}


def delete_destination(ctx: CallContext) -> HandlerResult:
    destination_id = ctx.path_params["destinationId"]
    _destination(ctx, destination_id)
    state = _state(ctx)
    if any(
        s.client_id == ctx.client_id and s.destination_id == destination_id
        for s in state.subscriptions.values()
    ):
        raise ApiError(
            403, "Unauthorized", "The requested action is forbidden.", "Destination has subscriptions"
        )
    del state.destinations[(ctx.client_id, destination_id)]
    ctx.state.record_effect(ctx.operation.name, destination_id)
    return 200, {}


def _latest(subscriptions: list[Subscription]) -> Subscription | None:
    return max(subscriptions, key=lambda s: s.payload_version, default=None)


def create_subscription(ctx: CallContext) -> HandlerResult:
    state = _state(ctx)
    notification_type = ctx.path_params["notificationType"]
    destination_id = ctx.body["destinationId"]
    version = ctx.body["payloadVersion"]
    if (ctx.client_id, destination_id) not in state.destinations:
        raise ApiError(
            400,
            "InvalidInput",
            f"No destination with id '{destination_id}' for applicationId '{ctx.client_id}'",
        )
    for existing in state.subscriptions.values():
        if (existing.client_id, existing.seller_id, existing.notification_type, existing.payload_version) == (
            ctx.client_id,
            ctx.seller_id,
            notification_type,
            version,
        ):
            raise ApiError(
                409,
                "StateConflict",
                "The resource specified conflicts with the current state.",
                f"Subscription already exist for notification type {notification_type}",
            )
    subscription = Subscription(
        client_id=ctx.client_id,
        seller_id=ctx.seller_id,
        notification_type=notification_type,
        subscription_id=str(uuid.uuid4()),
        payload_version=version,
        destination_id=destination_id,
        processing_directive=ctx.body.get("processingDirective"),
    )
    state.subscriptions[subscription.subscription_id] = subscription
    ctx.state.record_effect(ctx.operation.name, f"{ctx.seller_id}:{notification_type}:{version}")
    return 200, {"payload": subscription.view()}


def get_subscription(ctx: CallContext) -> HandlerResult:
    notification_type = ctx.path_params["notificationType"]
    version = ctx.query.get("payloadVersion")
    found = _latest(
        [
            s
            for s in _state(ctx).subscriptions.values()
            if (s.client_id, s.seller_id, s.notification_type)
            == (ctx.client_id, ctx.seller_id, notification_type)
            and (version is None or s.payload_version == version)
        ]
    )
    if found is None:
        raise _not_found(f"No subscription for notification type {notification_type}")
    return 200, {"payload": found.view()}


def get_subscriptions(ctx: CallContext) -> HandlerResult:
    """Every subscription of the caller (seller and application) of the one type asked for, paged by
    ``pageSize`` (30 to 100, default 30) with an offset as ``nextToken``."""
    (notification_type,) = ctx.query["notificationTypes"]
    version = ctx.query.get("payloadVersion")
    mine = [
        s.view()
        for s in _state(ctx).subscriptions.values()
        if (s.client_id, s.seller_id, s.notification_type)
        == (ctx.client_id, ctx.seller_id, notification_type)
        and (version is None or s.payload_version == version)
    ]
    size = int(ctx.query.get("pageSize", 30))
    token = ctx.query.get("nextToken")
    start = int(token) if isinstance(token, str) and token.isdigit() else 0
    if token is not None and not (isinstance(token, str) and token.isdigit()):
        raise ApiError(400, "InvalidInput", "Invalid nextToken.")
    payload: dict[str, Any] = {"subscriptions": mine[start : start + size]}
    if start + size < len(mine):
        payload["nextToken"] = str(start + size)
    return 200, {"payload": payload}


def _subscription_by_id(ctx: CallContext) -> Subscription:
    notification_type = ctx.path_params["notificationType"]
    subscription_id = ctx.path_params["subscriptionId"]
    found = _state(ctx).subscriptions.get(subscription_id)
    if found is None or found.client_id != ctx.client_id or found.notification_type != notification_type:
        raise _not_found(f"No subscription {subscription_id} for notification type {notification_type}")
    return found


def get_subscription_by_id(ctx: CallContext) -> HandlerResult:
    return 200, {"payload": _subscription_by_id(ctx).view()}


def delete_subscription_by_id(ctx: CallContext) -> HandlerResult:
    found = _subscription_by_id(ctx)
    del _state(ctx).subscriptions[found.subscription_id]
    ctx.state.record_effect(ctx.operation.name, found.subscription_id)
    return 200, {}


def send_test_notification(ctx: CallContext) -> HandlerResult:
    notification_type = ctx.path_params["notificationType"]
    destination_id = ctx.body.get("destinationId")
    test = ctx.body.get("testNotification") or {}
    if destination_id is not None:
        _destination(ctx, str(destination_id))
    if "testNotification" in ctx.body and not test.get("testScenario"):
        # The model: "If testScenario is empty, a 400 response will be returned back to the developer."
        raise ApiError(400, "InvalidInput", "testNotification.testScenario must not be empty.")
    _state(ctx).test_notifications.append(
        (ctx.client_id, notification_type, str(destination_id), test.get("testScenario"))
    )
    ctx.state.record_effect(ctx.operation.name, f"{notification_type}:{destination_id}")
    if notification_type == FULFILLMENT_ORDER_STATUS:
        # "Sends a mock notification of the specified type to your SQS" (the model): through the same
        # delivery as real status changes (the configured queue, whatever destinationId names), sent once
        # the state's lock is released. Other types are only recorded: the emulator builds no messages of
        # them.
        now = datetime.now(UTC)
        ctx.state.notification_delivery.enqueue(
            OrderStatusChange(
                seller_id=TEST_SELLER_ID,
                order_id=f"test-notification-{uuid.uuid4().hex[:12]}",
                status=TEST_ORDER_STATUS,
                status_updated=now,
            ),
            now=now,
        )
    return 200, {}


def register(registry: HandlerRegistry) -> None:
    registry.add(f"{API}.createDestination", create_destination)
    registry.add(f"{API}.getDestinations", get_destinations)
    registry.add(f"{API}.getDestination", get_destination)
    registry.add(f"{API}.deleteDestination", delete_destination)
    registry.add(f"{API}.createSubscription", create_subscription)
    registry.add(f"{API}.getSubscription", get_subscription)
    registry.add(f"{API}.getSubscriptions", get_subscriptions)
    registry.add(f"{API}.getSubscriptionById", get_subscription_by_id)
    registry.add(f"{API}.deleteSubscriptionById", delete_subscription_by_id)
    registry.add(f"{API}.sendTestNotification", send_test_notification)
