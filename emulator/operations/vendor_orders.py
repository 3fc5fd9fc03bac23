"""Retail Procurement Orders v1 (``vendorOrders``): getPurchaseOrders, getPurchaseOrder,
getPurchaseOrdersStatus and submitAcknowledgement, and the v1 transaction status API
(``vendorTransactionStatus``) getTransaction. v1 answers wrap their result in ``payload``.

Purchase orders are seeded with ``state.seed_retail_orders``; an acknowledgement of one the emulator has
not seen makes it (with the acknowledged lines). An acknowledgement sets each line's confirmation status
at once (ACCEPTED, PARTIALLY_ACCEPTED or REJECTED from the acknowledged quantities), which
getPurchaseOrdersStatus answers, and moves the order's purchaseOrderState from New to Acknowledged after
``state.retail_state_lag_seconds`` (0 unless ``POST /_emulator/retail-orders/state-lag {"seconds": N}``
set it), as Amazon processes an acknowledgement asynchronously.
Listings take a window of at most 7 days, as the model's descriptions say.

A transaction reads ``Processing``, then what it settles into after ``transaction_settle_seconds``
(``Success`` unless ``state.set_transaction_outcome`` said otherwise); the control API can force any status
(``POST /_emulator/transactions/<id>/status``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from emulator.errors import ApiError
from emulator.generators import format_timestamp
from emulator.registry import CallContext, HandlerRegistry, HandlerResult
from emulator.state import RetailOrderRecord, StateError, parse_timestamp

SUBMIT_ACKNOWLEDGEMENT = "vendorOrders.submitAcknowledgement"
V1_TRANSACTION_OPERATIONS = frozenset({SUBMIT_ACKNOWLEDGEMENT})
DEFAULT_LIMIT = 100
MAX_WINDOW = timedelta(days=7)
ACCEPTING_CODES = ("Accepted", "Backordered")


def submit_acknowledgement(ctx: CallContext) -> HandlerResult:
    # The sandbox answers an empty body with a transaction too.
    acknowledgements: list[dict[str, Any]] = (ctx.body or {}).get("acknowledgements") or []
    transaction = ctx.state.new_transaction(ctx.seller_id, ctx.operation.name)
    for acknowledgement in acknowledgements:
        number = acknowledgement["purchaseOrderNumber"]
        ctx.state.acknowledgements.append(
            {
                "transactionId": transaction.transaction_id,
                "seller": ctx.seller_id,
                "purchaseOrderNumber": number,
                "acknowledgement": copy.deepcopy(acknowledgement),
            }
        )
        ctx.state.record_effect(ctx.operation.name, number)
        _apply_acknowledgement(ctx, number, acknowledgement)
    return 202, {"payload": {"transactionId": transaction.transaction_id}}


def _line_key(item: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(
        str(item[k])
        for k in ("itemSequenceNumber", "vendorProductIdentifier", "amazonProductIdentifier")
        if item.get(k)
    )


def _apply_acknowledgement(ctx: CallContext, number: str, acknowledgement: Mapping[str, Any]) -> None:
    items = [dict(item) for item in acknowledgement.get("items") or []]
    record = ctx.state.retail_order(ctx.seller_id, number, items)
    now = datetime.now(UTC).replace(microsecond=0)
    lines = record.order["orderDetails"]["items"]
    for item in items:
        keys = set(_line_key(item))
        line = next((line for line in lines if keys & set(_line_key(line))), None)
        if line is not None:
            record.acknowledged[line["itemSequenceNumber"]] = {
                **copy.deepcopy(item),
                "acknowledgementDate": acknowledgement.get("acknowledgementDate") or format_timestamp(now),
            }
    if record.order["purchaseOrderState"] == "New" and record.state_shows_at is None:
        # From the unrounded moment: a lag under a second must not be eaten by the rounding.
        exact = datetime.now(UTC)
        record.state_shows_at = exact + timedelta(seconds=ctx.state.retail_state_lag_seconds)
        record.show_state_if_due(exact)
    record.updated = now


def _show_due_states(ctx: CallContext) -> None:
    now = datetime.now(UTC)
    for record in ctx.state.retail_orders.values():
        if record.seller_id == ctx.seller_id:
            record.show_state_if_due(now)


def _known_order(ctx: CallContext, number: str) -> RetailOrderRecord:
    # As for DF orders, any number names an order (a New one, made now, when the emulator has not seen it).
    return ctx.state.retail_order(ctx.seller_id, number)


def get_purchase_order(ctx: CallContext) -> HandlerResult:
    """The order with details: New until an acknowledgement of it is processed, then Acknowledged."""
    _show_due_states(ctx)
    record = _known_order(ctx, ctx.path_params["purchaseOrderNumber"])
    return 200, {"payload": copy.deepcopy(record.order)}


def _moment(query: Mapping[str, Any], name: str) -> datetime | None:
    value = query.get(name)
    if value is None:
        return None
    try:
        return parse_timestamp(str(value))
    except ValueError as exc:
        raise ApiError(400, "InvalidInput", f"{name} must be an ISO-8601 date-time.") from exc


def _window(query: Mapping[str, Any], after_name: str, before_name: str) -> tuple[datetime, datetime] | None:
    after, before = _moment(query, after_name), _moment(query, before_name)
    if after is None and before is None:
        return None
    now = datetime.now(UTC)
    after = after or (before or now) - MAX_WINDOW
    before = before or min(now, after + MAX_WINDOW)
    if after > before:
        raise ApiError(400, "InvalidInput", f"{after_name} must be earlier than {before_name}.")
    if before - after > MAX_WINDOW:
        raise ApiError(400, "InvalidInput", f"The {after_name}/{before_name} range must not exceed 7 days.")
    return after, before


def _last_week() -> tuple[datetime, datetime]:
    """The creation window of a listing that names none: the 7 days before now."""
    now = datetime.now(UTC)
    return now - MAX_WINDOW, now


def _within(moment: datetime | None, window: tuple[datetime, datetime] | None) -> bool:
    return window is None or (moment is not None and window[0] <= moment <= window[1])


def _paged(
    ctx: CallContext, matching: list[RetailOrderRecord], render: Any, items_name: str
) -> HandlerResult:
    query = ctx.query
    limit = int(query.get("limit") or DEFAULT_LIMIT)
    reverse = query.get("sortOrder") == "DESC"

    def keys() -> list[Any]:
        ordered = sorted(matching, key=lambda r: (r.created, r.purchase_order_number), reverse=reverse)
        return [(r.seller_id, r.purchase_order_number) for r in ordered]

    try:
        page, next_token, _ = ctx.state.page(
            ctx.operation.name, ctx.seller_id, size=limit, token=query.get("nextToken"), keys=keys
        )
    except StateError as exc:
        raise ApiError(400, "InvalidInput", str(exc)) from exc
    rendered = [render(ctx.state.retail_orders[key]) for key in page if key in ctx.state.retail_orders]
    payload: dict[str, Any] = {items_name: rendered}
    if next_token:
        payload["pagination"] = {"nextToken": next_token}
    return 200, {"payload": payload}


def _changed(record: RetailOrderRecord) -> datetime | None:
    changed = record.order["orderDetails"].get("purchaseOrderChangedDate")
    return parse_timestamp(changed) if changed else None


def get_purchase_orders(ctx: CallContext) -> HandlerResult:
    """Orders created (or changed) in a window of at most 7 days, filtered as the model describes,
    sorted by creation (sortOrder), ``limit`` (default 100) a page, ``payload.pagination.nextToken``."""
    _show_due_states(ctx)
    query = ctx.query
    created = _window(query, "createdAfter", "createdBefore")
    changed = _window(query, "changedAfter", "changedBefore")
    if not ctx.query.get("nextToken") and created is None and changed is None:
        created = _last_week()
    state, vendor = query.get("purchaseOrderState"), query.get("orderingVendorCode")
    is_changed = query.get("isPOChanged")
    cancelled_only = query.get("poItemState") == "Cancelled"
    matching = [
        record
        for (seller, _), record in ctx.state.retail_orders.items()
        if seller == ctx.seller_id
        and _within(record.created, created)
        and _within(_changed(record), changed)
        and (state is None or record.order["purchaseOrderState"] == state)
        and (vendor is None or record.order["orderDetails"]["sellingParty"]["partyId"] == vendor)
        and (is_changed is None or (str(is_changed).lower() == "true") == (_changed(record) is not None))
        and (
            not cancelled_only
            or any(i["orderedQuantity"].get("amount") == 0 for i in record.order["orderDetails"]["items"])
        )
    ]
    include_details = str(query.get("includeDetails", "true")).lower() != "false"

    def render(record: RetailOrderRecord) -> dict[str, Any]:
        if include_details:
            return copy.deepcopy(record.order)
        return {k: record.order[k] for k in ("purchaseOrderNumber", "purchaseOrderState")}

    return _paged(ctx, matching, render, "orders")


def _quantity(amount: int, like: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "amount": amount,
        "unitOfMeasure": like.get("unitOfMeasure", "Eaches"),
        **({"unitSize": like["unitSize"]} if "unitSize" in like else {}),
    }


def _item_status(line: Mapping[str, Any], acknowledged: Mapping[str, Any] | None) -> dict[str, Any]:
    ordered = line["orderedQuantity"]
    status: dict[str, Any] = {
        "itemSequenceNumber": line["itemSequenceNumber"],
        "orderedQuantity": {"orderedQuantity": copy.deepcopy(ordered)},
        "receivingStatus": {"receiveStatus": "NOT_RECEIVED", "receivedQuantity": _quantity(0, ordered)},
    }
    if "amazonProductIdentifier" in line:
        status["buyerProductIdentifier"] = line["amazonProductIdentifier"]
    for key in ("vendorProductIdentifier", "netCost", "listPrice"):
        if key in line:
            status[key] = copy.deepcopy(line[key])
    if acknowledged is None:
        status["acknowledgementStatus"] = {"confirmationStatus": "UNCONFIRMED"}
        return status
    accepted = rejected = 0
    for part in acknowledged.get("itemAcknowledgements") or []:
        amount = int(part.get("acknowledgedQuantity", {}).get("amount") or 0)
        if part.get("acknowledgementCode") in ACCEPTING_CODES:
            accepted += amount
        else:
            rejected += amount
    confirmation = "REJECTED" if accepted == 0 else "ACCEPTED" if rejected == 0 else "PARTIALLY_ACCEPTED"
    status["acknowledgementStatus"] = {
        "confirmationStatus": confirmation,
        "acceptedQuantity": _quantity(accepted, ordered),
        "rejectedQuantity": _quantity(rejected, ordered),
        "acknowledgementStatusDetails": [
            {
                "acknowledgementDate": acknowledged["acknowledgementDate"],
                "acceptedQuantity": _quantity(accepted, ordered),
                "rejectedQuantity": _quantity(rejected, ordered),
            }
        ],
    }
    return status


def _order_status(record: RetailOrderRecord) -> dict[str, Any]:
    details = record.order["orderDetails"]
    return {
        "purchaseOrderNumber": record.purchase_order_number,
        "purchaseOrderStatus": "CLOSED" if record.order["purchaseOrderState"] == "Closed" else "OPEN",
        "purchaseOrderDate": details["purchaseOrderDate"],
        "lastUpdatedDate": format_timestamp(record.updated),
        "sellingParty": copy.deepcopy(details["sellingParty"]),
        "shipToParty": copy.deepcopy(details["shipToParty"]),
        "itemStatus": [
            _item_status(line, record.acknowledged.get(line["itemSequenceNumber"]))
            for line in details["items"]
        ],
    }


def get_purchase_orders_status(ctx: CallContext) -> HandlerResult:
    """Each order's status and its lines' confirmation and receive status, filtered as the model
    describes (a window of at most 7 days), paged like getPurchaseOrders."""
    _show_due_states(ctx)
    query = ctx.query
    created = _window(query, "createdAfter", "createdBefore")
    updated = _window(query, "updatedAfter", "updatedBefore")
    number = query.get("purchaseOrderNumber")
    if not query.get("nextToken") and created is None and updated is None and number is None:
        created = _last_week()
    wanted = {
        "purchaseOrderStatus": query.get("purchaseOrderStatus"),
        "itemConfirmationStatus": query.get("itemConfirmationStatus"),
        "itemReceiveStatus": query.get("itemReceiveStatus"),
        "orderingVendorCode": query.get("orderingVendorCode"),
        "shipToPartyId": query.get("shipToPartyId"),
    }

    def matches(record: RetailOrderRecord) -> bool:
        status = _order_status(record)
        items = status["itemStatus"]
        checks = {
            "purchaseOrderStatus": status["purchaseOrderStatus"],
            "orderingVendorCode": status["sellingParty"]["partyId"],
            "shipToPartyId": status["shipToParty"]["partyId"],
        }
        if any(wanted[k] is not None and wanted[k] != v for k, v in checks.items()):
            return False
        confirmation, receive = wanted["itemConfirmationStatus"], wanted["itemReceiveStatus"]
        if confirmation and not any(
            i["acknowledgementStatus"]["confirmationStatus"] == confirmation for i in items
        ):
            return False
        return not receive or any(i["receivingStatus"]["receiveStatus"] == receive for i in items)

    matching = [
        record
        for (seller, po), record in ctx.state.retail_orders.items()
        if seller == ctx.seller_id
        and (number is None or po == number)
        and _within(record.created, created)
        and _within(record.updated, updated)
        and matches(record)
    ]
    return _paged(ctx, matching, _order_status, "ordersStatus")


def get_transaction(ctx: CallContext) -> HandlerResult:
    transaction_id = ctx.path_params["transactionId"]
    record = ctx.state.transactions.get(transaction_id)
    if (
        record is None
        or record.seller_id != ctx.seller_id
        or record.operation not in V1_TRANSACTION_OPERATIONS
    ):
        raise ApiError(404, "NotFound", f"Transaction {transaction_id} not found")
    status = ctx.state.transaction_status(record)
    transaction: dict[str, Any] = {"transactionId": transaction_id, "status": status}
    if status == "Failure" and record.errors:
        transaction["errors"] = copy.deepcopy(record.errors)
    return 200, {"payload": {"transactionStatus": transaction}}


def register(registry: HandlerRegistry) -> None:
    registry.add(SUBMIT_ACKNOWLEDGEMENT, submit_acknowledgement)
    registry.add("vendorOrders.getPurchaseOrder", get_purchase_order)
    registry.add("vendorOrders.getPurchaseOrders", get_purchase_orders)
    registry.add("vendorOrders.getPurchaseOrdersStatus", get_purchase_orders_status)
    registry.add("getTransaction", get_transaction)
