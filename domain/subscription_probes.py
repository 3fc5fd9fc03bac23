"""State probes of the Notifications API writes (destinations and subscriptions), as in ``domain.probes``.

Each reads what the write leaves behind: a destination for the requested resource (getDestinations), the
seller's subscription of the notification type (getSubscription), or nothing where a delete was asked
(getDestination, getSubscriptionById answer 404). Nothing here is personal data; ``saw`` names ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.paging import dig
from domain.probes import ProbeContext, StateProbe, Verdict, _answer, _not_found
from domain.spapi import find_operation

NOTIFICATIONS = "notifications_v1"
GET_DESTINATIONS = find_operation(NOTIFICATIONS, "getDestinations")
GET_DESTINATION = find_operation(NOTIFICATIONS, "getDestination")
GET_SUBSCRIPTION = find_operation(NOTIFICATIONS, "getSubscription")
GET_SUBSCRIPTION_BY_ID = find_operation(NOTIFICATIONS, "getSubscriptionById")


def _resource_matches(specification: Any, resource: Any) -> bool:
    """Whether a destination's ``resource`` is the one a ``resourceSpecification`` asks for."""
    arn = dig(specification, ("sqs", "arn"))
    if arn is not None:
        return bool(dig(resource, ("sqs", "arn")) == arn)
    wanted = (dig(specification, ("eventBridge", "accountId")), dig(specification, ("eventBridge", "region")))
    found = (dig(resource, ("eventBridge", "accountId")), dig(resource, ("eventBridge", "region")))
    return wanted[0] is not None and wanted == found


def _resource_text(specification: Any) -> str:
    arn = dig(specification, ("sqs", "arn"))
    if arn is not None:
        return f"queue {arn}"
    return f"EventBridge in AWS account {dig(specification, ('eventBridge', 'accountId'))}"


def _probe_create_destination(payload: Mapping[str, Any], context: ProbeContext) -> Verdict:
    specification = payload.get("resourceSpecification")
    body = _answer(GET_DESTINATIONS, context.read(GET_DESTINATIONS, {}))
    destinations = dig(body, ("payload",))
    for destination in destinations if isinstance(destinations, list) else []:
        if not isinstance(destination, Mapping) or not _resource_matches(
            specification, destination.get("resource")
        ):
            continue
        destination_id = destination.get("destinationId")
        if destination.get("name") != payload.get("name"):
            return Verdict(
                "conflict",
                f"the {_resource_text(specification)} is already destination {destination_id}, named "
                f"{destination.get('name')!r}",
            )
        return Verdict(
            "applied", f"destination {destination_id} exists for the {_resource_text(specification)}"
        )
    return Verdict("missing", f"no destination for the {_resource_text(specification)}")


def _probe_delete_destination(payload: Mapping[str, Any], context: ProbeContext) -> Verdict:
    destination_id = payload.get("destinationId")
    response = context.read(GET_DESTINATION, {"destinationId": destination_id})
    if _not_found(response):
        return Verdict("applied", f"destination {destination_id} is gone")
    _answer(GET_DESTINATION, response)
    return Verdict("missing", f"destination {destination_id} is still there")


def _probe_create_subscription(payload: Mapping[str, Any], context: ProbeContext) -> Verdict:
    notification_type = payload.get("notificationType")
    version = payload.get("payloadVersion")
    response = context.read(
        GET_SUBSCRIPTION, {"notificationType": notification_type, "payloadVersion": version}
    )
    if _not_found(response):
        return Verdict("missing", f"no {notification_type} subscription (payload version {version})")
    found = dig(_answer(GET_SUBSCRIPTION, response), ("payload",))
    subscription_id = dig(found, ("subscriptionId",))
    destination_id = dig(found, ("destinationId",))
    if destination_id != payload.get("destinationId"):
        return Verdict(
            "conflict",
            f"the {notification_type} subscription {subscription_id} delivers to destination "
            f"{destination_id}",
        )
    return Verdict(
        "applied",
        f"{notification_type} subscription {subscription_id} delivers to destination {destination_id}",
    )


def _probe_delete_subscription(payload: Mapping[str, Any], context: ProbeContext) -> Verdict:
    subscription_id = payload.get("subscriptionId")
    response = context.read(
        GET_SUBSCRIPTION_BY_ID,
        {"notificationType": payload.get("notificationType"), "subscriptionId": subscription_id},
    )
    if _not_found(response):
        return Verdict("applied", f"subscription {subscription_id} is gone")
    _answer(GET_SUBSCRIPTION_BY_ID, response)
    return Verdict("missing", f"subscription {subscription_id} is still there")


CREATE_DESTINATION_PROBE = StateProbe(
    "getDestinations: a destination of the requested name for the requested resource",
    (GET_DESTINATIONS,),
    _probe_create_destination,
)
DELETE_DESTINATION_PROBE = StateProbe(
    "getDestination: the destination answers 404", (GET_DESTINATION,), _probe_delete_destination
)
CREATE_SUBSCRIPTION_PROBE = StateProbe(
    "getSubscription: the seller's subscription of the type and payload version delivers to the destination",
    (GET_SUBSCRIPTION,),
    _probe_create_subscription,
)
DELETE_SUBSCRIPTION_PROBE = StateProbe(
    "getSubscriptionById: the subscription answers 404", (GET_SUBSCRIPTION_BY_ID,), _probe_delete_subscription
)
