"""Fulfillment Outbound 2026-07-04 (Multi-Channel Fulfillment, the newer version): the order operations.

createOrder (200 with the order; 202 "accepted, processed later" while ``state.mcf_accept_later`` is set,
the control API's ``POST /_emulator/mcf-2026/accept-later``), getOrder, listOrders (paged: request
``pageToken``, answer ``pagination.nextToken``), updateOrder and cancelOrder (202, as the model says) and
the sandbox-only updateOrderStatus. Orders are kept apart from the 2020-07-01 ones, keyed by the seller's
``orderId``. A duplicate create answers 400 ``InvalidInput`` "already exists", as 2020-07-01 does.

Not implemented here (the pipeline answers 501): getOrderPreview, getOffers, updatePackage.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from emulator.errors import ApiError
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


def _touch(record: Mcf2026OrderRecord, status: str | None = None) -> None:
    if status is not None:
        record.status = status
    record.status_update_time = timestamp()


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
        order["shipments"] = []
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
    _touch(record)
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
    _touch(record, "CANCELLED")
    ctx.state.record_effect(ctx.operation.name, record.order_id)
    return 202, {}


def update_order_status(ctx: CallContext) -> HandlerResult:
    """The sandbox-only operation that moves an order to another status."""
    record = _order(ctx)
    status = str(ctx.body["status"])
    if status not in ORDER_STATUSES:
        raise ApiError(400, "InvalidInput", f"status must be one of {', '.join(ORDER_STATUSES)}")
    _touch(record, status)
    return 204, None


def register(registry: HandlerRegistry) -> None:
    registry.add(f"{API}.createOrder", create_order)
    registry.add(f"{API}.getOrder", get_order)
    registry.add(f"{API}.listOrders", list_orders)
    registry.add(f"{API}.updateOrder", update_order)
    registry.add(f"{API}.cancelOrder", cancel_order)
    registry.add(f"{API}.updateOrderStatus", update_order_status)
