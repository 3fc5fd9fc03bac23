"""Fulfillment Outbound 2026-07-04 (Multi-Channel Fulfillment, the newer version): the order operations.

createOrder (200 with the order; 202 "accepted, processed later" while ``state.mcf_accept_later`` is set,
the control API's ``POST /_emulator/mcf-2026/accept-later``), getOrder, listOrders (paged: request
``pageToken``, answer ``pagination.nextToken``), updateOrder and cancelOrder (202, as the model says) and
the sandbox-only updateOrderStatus. Orders are kept apart from the 2020-07-01 ones, keyed by the seller's
``orderId``. A duplicate create answers 400 ``InvalidInput`` "already exists", as 2020-07-01 does.

getOrderPreview and getOffers answer one offer per requested service tier (default ``STANDARD``), with
fees from the seller's declared inventory rules of 2020-07-01 (a SKU the seller has not declared is
unfulfillable: a constraint). The sandbox-only updatePackage adds or changes a package of the order's one
shipment, which makes the order's shipments visible in getOrder.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from emulator.errors import ApiError
from emulator.generators import format_timestamp
from emulator.registry import CallContext, HandlerRegistry, HandlerResult
from emulator.state import Mcf2026OrderRecord, StateError, parse_timestamp, timestamp

API = "fulfillmentOutbound"
# The statuses of the 2026-07-04 model (OrderStatus): every order still being worked on is PROCESSING.
ORDER_STATUSES = ("PROCESSING", "COMPLETE", "COMPLETE_PARTIAL", "CANCELLED", "UNFULFILLABLE", "INVALID")
DEFAULT_LIST_WINDOW = timedelta(days=30)


def duplicate_create_error(order_id: str) -> ApiError:
    return ApiError(400, "InvalidInput", f"A create request already exists for orderId : {order_id}")


def not_found_error(order_id: str) -> ApiError:
    return ApiError(404, "NotFound", f"Requested order '{order_id}' not found")


def _order(ctx: CallContext) -> Mcf2026OrderRecord:
    order_id = ctx.path_params["orderId"]
    record = ctx.state.mcf_orders.get((ctx.seller_id, order_id))
    if record is None:
        raise not_found_error(order_id)
    return record


def _touch(ctx: CallContext, record: Mcf2026OrderRecord, status: str | None = None) -> None:
    changed = status is not None and status != record.status
    if status is not None:
        record.status = status
    record.status_update_time = timestamp()
    if changed:
        ctx.state.order_status_changed(record)


def order_view(record: Mcf2026OrderRecord, *, shipments: bool = True) -> dict[str, Any]:
    """A ``FulfillmentOrder`` of the model."""
    request = record.request
    cancelled = record.status == "CANCELLED"
    line_items = []
    for item in request["lineItems"]:
        out = copy.deepcopy(item)
        if cancelled:
            out["cancelledAmount"] = copy.deepcopy(item["amount"])
        line_items.append(out)
    order: dict[str, Any] = {
        "orderId": record.order_id,
        "receiveTime": record.receive_time,
        "status": record.status,
        "statusUpdateTime": record.status_update_time,
        "lineItems": line_items,
    }
    for name in ("channel", "origin", "destination", "paymentInformation"):
        if name in request:
            order[name] = copy.deepcopy(request[name])
    order["fulfillmentConfiguration"] = copy.deepcopy(record.fulfillment_configuration)
    if shipments:
        order["shipments"] = copy.deepcopy(record.shipments)
    return order


def create_order(ctx: CallContext) -> HandlerResult:
    body: dict[str, Any] = ctx.body
    order_id = body["orderId"]
    if (ctx.seller_id, order_id) in ctx.state.mcf_orders:
        raise duplicate_create_error(order_id)
    seen: set[str] = set()
    for item in body["lineItems"]:
        if item["lineItemId"] in seen:
            raise ApiError(400, "InvalidInput", f"Duplicate lineItemId : {item['lineItemId']}")
        seen.add(item["lineItemId"])
    now = timestamp()
    record = Mcf2026OrderRecord(
        seller_id=ctx.seller_id,
        order_id=order_id,
        request=copy.deepcopy(body),
        fulfillment_configuration=copy.deepcopy(body.get("fulfillmentConfiguration", {})),
        status="PROCESSING",
        receive_time=now,
        status_update_time=now,
    )
    ctx.state.mcf_orders[(ctx.seller_id, order_id)] = record
    ctx.state.record_effect(ctx.operation.name, order_id)
    ctx.state.order_status_changed(record)
    if ctx.state.mcf_accept_later:
        return 202, {"orderId": order_id, "status": record.status}
    return 200, {"order": order_view(record)}


def get_order(ctx: CallContext) -> HandlerResult:
    record = _order(ctx)
    return 200, {"order": order_view(record, shipments=ctx.query.get("shipments") != "EXCLUDE")}


def list_orders(ctx: CallContext) -> HandlerResult:
    """Orders updated after ``updatedAfter`` (default: 30 days), oldest change first, ``page_size`` per
    page; ``pageToken`` continues the snapshot taken at the first page."""
    keys: list[Any] | None = None
    token = ctx.query.get("pageToken")
    if not token:
        raw = ctx.query.get("updatedAfter")
        start = parse_timestamp(raw) if raw else datetime.now(UTC) - DEFAULT_LIST_WINDOW
        matching = [
            record
            for (seller, _), record in ctx.state.mcf_orders.items()
            if seller == ctx.seller_id and parse_timestamp(record.status_update_time) >= start
        ]
        matching.sort(key=lambda r: (parse_timestamp(r.status_update_time), r.order_id))
        keys = [(r.seller_id, r.order_id) for r in matching]
    try:
        page, next_token, _ = ctx.state.page(
            ctx.operation.name,
            ctx.seller_id,
            size=max(1, ctx.state.config.page_size),
            token=token,
            keys=lambda: keys or [],
        )
    except StateError as error:
        raise ApiError(400, "InvalidInput", str(error)) from None
    shipments = ctx.query.get("shipments") != "EXCLUDE"
    orders = [
        order_view(ctx.state.mcf_orders[key], shipments=shipments)
        for key in page
        if key in ctx.state.mcf_orders
    ]
    answer: dict[str, Any] = {"orders": orders}
    if next_token:
        answer["pagination"] = {"nextToken": next_token}
    return 200, answer


def update_order(ctx: CallContext) -> HandlerResult:
    """Only ``fulfillmentConfiguration.action`` can change (the model), and only while PROCESSING."""
    record = _order(ctx)
    if record.status != "PROCESSING":
        raise ApiError(400, "InvalidInput", f"Order {record.order_id} is {record.status}: not updatable")
    action = (ctx.body.get("fulfillmentConfiguration") or {}).get("action")
    if action is not None:
        record.fulfillment_configuration["action"] = action
    _touch(ctx, record)
    ctx.state.record_effect(ctx.operation.name, record.order_id)
    return 202, {}


def cancel_order(ctx: CallContext) -> HandlerResult:
    record = _order(ctx)
    if record.status == "CANCELLED":
        raise ApiError(
            400,
            "InvalidInput",
            f"Value {record.order_id} for parameter orderId is invalid. Reason: DuplicateCancelRequest.",
        )
    if record.status != "PROCESSING":
        raise ApiError(400, "InvalidInput", f"Order {record.order_id} is {record.status}: not cancellable")
    _touch(ctx, record, "CANCELLED")
    ctx.state.record_effect(ctx.operation.name, record.order_id)
    return 202, {}


def update_order_status(ctx: CallContext) -> HandlerResult:
    """The sandbox-only operation that moves an order to another status."""
    record = _order(ctx)
    status = str(ctx.body["status"])
    if status not in ORDER_STATUSES:
        raise ApiError(400, "InvalidInput", f"status must be one of {', '.join(ORDER_STATUSES)}")
    _touch(ctx, record, status)
    return 204, None


def update_package(ctx: CallContext) -> HandlerResult:
    """The sandbox-only operation that sets a package's status (and tracking) on the order's shipment."""
    record = _order(ctx)
    package_id = ctx.path_params["packageId"]
    if not record.shipments:
        record.shipments.append(
            {
                "amazonShipmentId": f"S-{record.order_id}"[:40],
                "amazonFacility": {"facilityId": "PHX3"},
                "status": "SHIPPED",
                "shipTime": timestamp(),
                "items": [
                    {
                        "lineItemId": item["lineItemId"],
                        "shipmentItemId": f"{item['lineItemId']}-1",
                        "productIdentifier": copy.deepcopy(item["product"]["productIdentifier"]),
                        "amount": copy.deepcopy(item["amount"]),
                    }
                    for item in record.request["lineItems"]
                ],
                "packages": [],
            }
        )
    packages: list[dict[str, Any]] = record.shipments[0]["packages"]
    package = next((p for p in packages if p["packageId"] == package_id), None)
    if package is None:
        package = {"packageId": package_id}
        packages.append(package)
    package["status"] = ctx.body["status"]
    for name in ("deliveryTime", "tracking"):
        if name in ctx.body:
            package[name] = copy.deepcopy(ctx.body[name])
    _touch(ctx, record)
    return 204, None


# -- previews and offers ------------------------------------------------------------------------------------

# Business days from order to arrival per service tier (earliest, latest), and the per-unit fee.
TIERS: dict[str, tuple[int, int, str]] = {
    "STANDARD": (3, 5, "3.99"),
    "EXPEDITED": (2, 3, "5.49"),
    "PRIORITY": (1, 2, "8.99"),
    "SCHEDULED": (1, 1, "9.99"),
}
CURRENCIES = {"US": "USD", "CA": "CAD", "MX": "MXN", "GB": "GBP", "DE": "EUR", "FR": "EUR", "JP": "JPY"}
OFFER_LIFETIME = timedelta(hours=4)


def _interval(tier: str, now: datetime) -> dict[str, str]:
    earliest, latest, _ = TIERS[tier]
    return {
        "startTime": format_timestamp(now + timedelta(days=earliest)),
        "endTime": format_timestamp(now + timedelta(days=latest)),
    }


def _tiers(body: dict[str, Any]) -> list[str]:
    asked = ((body.get("fulfillmentConfiguration") or {}).get("serviceLevel") or {}).get("serviceTiers")
    tiers = [tier for tier in (asked or ["STANDARD"]) if tier in TIERS]
    if not tiers:
        raise ApiError(400, "InvalidInput", f"serviceTiers must name one of {', '.join(TIERS)}")
    return tiers


def _unavailable(ctx: CallContext, sku: str) -> bool:
    stock = ctx.state.inventory.get(ctx.seller_id)
    return stock is not None and sku not in stock


def _constraint(sku: str) -> dict[str, Any]:
    return {
        "type": "UNFULFILLABLE",
        "code": "InvalidSKU",
        "message": f"SKU {sku} is not in the seller's inventory",
    }


def get_order_preview(ctx: CallContext) -> HandlerResult:
    body: dict[str, Any] = ctx.body
    now = datetime.now(UTC)
    country = str(body["destination"]["deliveryAddress"]["countryCode"])
    currency = CURRENCIES.get(country, "USD")
    shipped: list[dict[str, Any]] = []
    constraints: list[dict[str, Any]] = []
    units = Decimal(0)
    for item in body["lineItems"]:
        sku = item["product"]["productIdentifier"]["amazonSku"]
        if _unavailable(ctx, sku):
            constraints.append(_constraint(sku))
            continue
        try:
            units += Decimal(str(item["amount"]["value"]))
        except InvalidOperation:
            raise ApiError(400, "InvalidInput", f"amount.value of {sku} is not a decimal") from None
        shipped.append({"productIdentifier": {"amazonSku": sku}, "amount": copy.deepcopy(item["amount"])})
    offers = []
    if shipped:
        for tier in _tiers(body):
            fee = (Decimal(TIERS[tier][2]) * units).quantize(Decimal("0.01"))
            offer: dict[str, Any] = {
                "fulfillmentConfiguration": {
                    "serviceLevel": {"serviceTier": tier, "deliveryInterval": _interval(tier, now)}
                }
            }
            if not body.get("excludeEstimatedFees"):
                money = {"currencyCode": currency, "amount": str(fee)}
                offer["estimatedPrice"] = {
                    "rollupPrices": [{"type": "FULFILLMENT_FEE", "value": money}],
                    "totalPrice": dict(money),
                }
            offers.append(offer)
    answer: dict[str, Any] = {"plannedShipments": [{"items": shipped, "offers": offers}] if shipped else []}
    if constraints:
        answer["constraints"] = constraints
    return 200, answer


def get_offers(ctx: CallContext) -> HandlerResult:
    body: dict[str, Any] = ctx.body
    now = datetime.now(UTC)
    tiers = _tiers(body)
    results = []
    for item in body["items"]:
        sku = (item.get("productIdentifier") or {}).get("amazonSku", "")
        result: dict[str, Any] = {"item": copy.deepcopy(item)}
        if _unavailable(ctx, sku):
            result["offers"] = []
            result["constraints"] = [_constraint(sku)]
        else:
            result["offers"] = [
                {
                    "expiryTime": format_timestamp(now + OFFER_LIFETIME),
                    "fulfillmentConfiguration": {
                        "serviceLevel": {"serviceTier": tier, "deliveryInterval": _interval(tier, now)}
                    },
                }
                for tier in tiers
            ]
        results.append(result)
    return 200, {"offerResults": results}


def register(registry: HandlerRegistry) -> None:
    registry.add(f"{API}.createOrder", create_order)
    registry.add(f"{API}.getOrder", get_order)
    registry.add(f"{API}.listOrders", list_orders)
    registry.add(f"{API}.updateOrder", update_order)
    registry.add(f"{API}.cancelOrder", cancel_order)
    registry.add(f"{API}.updateOrderStatus", update_order_status)
    registry.add(f"{API}.updatePackage", update_package)
    registry.add(f"{API}.getOrderPreview", get_order_preview)
    registry.add(f"{API}.getOffers", get_offers)
