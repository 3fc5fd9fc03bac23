"""Fulfillment Outbound 2020-07-01 (Multi-Channel Fulfillment): create, get, update, cancel, status update.

Error shapes follow the model's static sandbox cases (``x-amzn-api-sandbox`` of the historical model):
duplicate create, duplicate cancel and "not updatable" answer 400 ``InvalidInput`` with the sandbox messages.
"""

from __future__ import annotations

import copy
from typing import Any

from emulator.errors import ApiError
from emulator.registry import CallContext, HandlerRegistry, HandlerResult
from emulator.state import FulfillmentOrderRecord, timestamp

DEFAULT_MARKETPLACE_ID = "ATVPDKIKX0DER"
# Amazon accepts updates until the order is released to the warehouse.
UPDATABLE_STATUSES = frozenset({"New", "Received", "Planning"})
CANCELLABLE_STATUSES = frozenset({"New", "Received", "Planning", "Processing"})

NOT_UPDATABLE_MESSAGE = (
    "Value OrderNotUpdatable for parameter  is invalid. Reason: 1 error:\n"
    "This order is not updatable. Items in the order are already in working or completed shipments. \n."
)


def duplicate_create_error(order_id: str) -> ApiError:
    return ApiError(
        400, "InvalidInput", f"A create request already exists for MerchantFulfillmentOrderId : {order_id}"
    )


def duplicate_cancel_error(order_id: str) -> ApiError:
    return ApiError(
        400,
        "InvalidInput",
        f"Value {order_id} for parameter SellerFulfillmentOrderId is invalid. "
        "Reason: DuplicateCancelRequest.",
    )


def not_cancellable_error(order_id: str, status: str) -> ApiError:
    # Not in the sandbox cases; shaped like the duplicate-cancel answer.
    return ApiError(
        400,
        "InvalidInput",
        f"Value {order_id} for parameter SellerFulfillmentOrderId is invalid. Reason: OrderNotCancellable "
        f"(status {status}).",
    )


def not_updatable_error() -> ApiError:
    return ApiError(400, "InvalidInput", NOT_UPDATABLE_MESSAGE)


def not_found_error(order_id: str) -> ApiError:
    return ApiError(404, "NotFound", f"Requested order '{order_id}' not found")


def _order(ctx: CallContext) -> FulfillmentOrderRecord:
    order_id = ctx.path_params["sellerFulfillmentOrderId"]
    record = ctx.state.orders.get((ctx.seller_id, order_id))
    if record is None:
        raise not_found_error(order_id)
    return record


def _properties(ctx: CallContext, definition: str) -> set[str]:
    return set(ctx.operation.document["definitions"][definition]["properties"])


def _check_item_ids(items: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for item in items:
        item_id = item["sellerFulfillmentOrderItemId"]
        if item_id in seen:
            raise ApiError(400, "InvalidInput", f"Duplicate sellerFulfillmentOrderItemId : {item_id}")
        seen.add(item_id)


def create_fulfillment_order(ctx: CallContext) -> HandlerResult:
    body: dict[str, Any] = ctx.body
    order_id = body["sellerFulfillmentOrderId"]
    if (ctx.seller_id, order_id) in ctx.state.orders:
        raise duplicate_create_error(order_id)
    items = copy.deepcopy(body["items"])
    _check_item_ids(items)
    now = timestamp()
    ctx.state.orders[(ctx.seller_id, order_id)] = FulfillmentOrderRecord(
        seller_id=ctx.seller_id,
        seller_fulfillment_order_id=order_id,
        request=copy.deepcopy(body),
        fields={k: copy.deepcopy(v) for k, v in body.items() if k != "items"},
        items=items,
        status="Received",
        received_date=now,
        status_updated_date=now,
    )
    ctx.state.record_effect(ctx.operation.name, order_id)
    return 200, {}


def get_fulfillment_order(ctx: CallContext) -> HandlerResult:
    record = _order(ctx)
    order_fields = _properties(ctx, "FulfillmentOrder")
    order: dict[str, Any] = {k: copy.deepcopy(v) for k, v in record.fields.items() if k in order_fields}
    order.update(
        sellerFulfillmentOrderId=record.seller_fulfillment_order_id,
        marketplaceId=record.fields.get("marketplaceId", DEFAULT_MARKETPLACE_ID),
        fulfillmentAction=record.fields.get("fulfillmentAction", "Ship"),
        fulfillmentPolicy=record.fields.get("fulfillmentPolicy", "FillOrKill"),
        receivedDate=record.received_date,
        fulfillmentOrderStatus=record.status,
        statusUpdatedDate=record.status_updated_date,
    )
    item_fields = _properties(ctx, "FulfillmentOrderItem")
    cancelled = record.status == "Cancelled"
    items: list[dict[str, Any]] = []
    for item in record.items:
        out = {k: copy.deepcopy(v) for k, v in item.items() if k in item_fields}
        out.setdefault("orderItemDisposition", "Sellable")
        out["cancelledQuantity"] = item["quantity"] if cancelled else 0
        out["unfulfillableQuantity"] = 0
        items.append(out)
    payload: dict[str, Any] = {
        "fulfillmentOrder": order,
        "fulfillmentOrderItems": items,
        "fulfillmentShipments": [],
        "returnItems": [],
        "returnAuthorizations": [],
        "paymentInformation": copy.deepcopy(record.fields.get("paymentInformation", [])),
    }
    return 200, {"payload": payload}


def update_fulfillment_order(ctx: CallContext) -> HandlerResult:
    record = _order(ctx)
    if record.status not in UPDATABLE_STATUSES:
        raise not_updatable_error()
    body: dict[str, Any] = ctx.body
    items = copy.deepcopy(record.items)
    by_id = {item["sellerFulfillmentOrderItemId"]: item for item in items}
    for change in body.get("items", []):
        current = by_id.get(change["sellerFulfillmentOrderItemId"])
        if current is not None:
            current.update(copy.deepcopy(change))
        elif "sellerSku" not in change:
            raise ApiError(
                400,
                "InvalidInput",
                f"sellerSku is required for new item {change['sellerFulfillmentOrderItemId']}",
            )
        else:
            items.append(copy.deepcopy(change))
            by_id[change["sellerFulfillmentOrderItemId"]] = items[-1]
    record.items = items
    record.fields.update({k: copy.deepcopy(v) for k, v in body.items() if k != "items"})
    ctx.state.record_effect(ctx.operation.name, record.seller_fulfillment_order_id)
    return 200, {}


def cancel_fulfillment_order(ctx: CallContext) -> HandlerResult:
    record = _order(ctx)
    if record.status == "Cancelled":
        raise duplicate_cancel_error(record.seller_fulfillment_order_id)
    if record.status not in CANCELLABLE_STATUSES:
        raise not_cancellable_error(record.seller_fulfillment_order_id, record.status)
    record.status = "Cancelled"
    record.status_updated_date = timestamp()
    ctx.state.record_effect(ctx.operation.name, record.seller_fulfillment_order_id)
    return 200, {}


def submit_fulfillment_order_status_update(ctx: CallContext) -> HandlerResult:
    """The sandbox-only operation that moves an order to another status."""
    record = _order(ctx)
    status = ctx.body.get("fulfillmentOrderStatus")
    if status is not None:
        record.status = status
        record.status_updated_date = timestamp()
    return 200, {}


def register(registry: HandlerRegistry) -> None:
    registry.add("createFulfillmentOrder", create_fulfillment_order)
    registry.add("getFulfillmentOrder", get_fulfillment_order)
    registry.add("updateFulfillmentOrder", update_fulfillment_order)
    registry.add("cancelFulfillmentOrder", cancel_fulfillment_order)
    registry.add("submitFulfillmentOrderStatusUpdate", submit_fulfillment_order_status_update)
