"""Vendor Direct Fulfillment Orders / Transactions 2021-12-28 (answers have no ``payload`` wrapper).

Purchase orders are seeded with ``state.seed_df_orders`` (or ``POST /_emulator/df-orders``); getOrders and
getOrder carry the customer's address, so the pipeline lets them answer only to a restricted data token
(:mod:`emulator.restricted`).
"""

from __future__ import annotations

import copy
from typing import Any

from emulator.errors import UNAUTHORIZED_MESSAGE, ApiError
from emulator.registry import CallContext, HandlerRegistry, HandlerResult
from emulator.state import DfOrderRecord, StateError, parse_timestamp

SUBMIT_ACKNOWLEDGEMENT = "vendorDirectFulfillmentOrders.submitAcknowledgement"
DF_API_PREFIX = "vendorDirectFulfillment"
DEFAULT_LIMIT = 50
# acknowledgementStatus.code "00": "Shipping 100 percent of ordered product" - the order is accepted.
ACCEPTED_CODE = "00"
OTHER_SELLER_DETAILS = "The purchase order does not belong to the selling partner of this token."


def submit_acknowledgement(ctx: CallContext) -> HandlerResult:
    """202 ``{"transactionId"}``; the transaction reads Processing, then Success after the settle time
    (or what the control API forced)."""
    transaction = ctx.state.new_transaction(ctx.seller_id, ctx.operation.name)
    acknowledgements: list[dict[str, Any]] = ctx.body.get("orderAcknowledgements", [])
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
        details = ctx.state.df_order(ctx.seller_id, number).order["orderDetails"]
        code = acknowledgement.get("acknowledgementStatus", {}).get("code")
        if details["orderStatus"] == "NEW":
            # Every other code cancels the order (out of stock, invalid SKU, ...).
            details["orderStatus"] = "ACCEPTED" if code == ACCEPTED_CODE else "CANCELLED"
    return 202, {"transactionId": transaction.transaction_id}


def _order_sort_key(record: DfOrderRecord) -> tuple[Any, str]:
    return record.created, record.purchase_order_number


def get_orders(ctx: CallContext) -> HandlerResult:
    """Orders of the seller created in [createdAfter, createdBefore], filtered by status and ship-from
    warehouse, sorted by creation (sortOrder, default ASC), ``limit`` (default 50) per page; the answer's
    ``pagination.nextToken`` continues the snapshot taken at the first page."""
    query = ctx.query
    try:
        after = parse_timestamp(str(query["createdAfter"]))
        before = parse_timestamp(str(query["createdBefore"]))
    except ValueError as exc:
        raise ApiError(
            400, "InvalidInput", "createdAfter and createdBefore must be ISO-8601 date-times."
        ) from exc
    if after > before:
        raise ApiError(400, "InvalidInput", "createdAfter must be earlier than createdBefore.")
    limit = int(query.get("limit") or DEFAULT_LIMIT)
    status = query.get("status")
    ship_from = query.get("shipFromPartyId")
    token = query.get("nextToken")

    def keys() -> list[Any]:
        matching = [
            record
            for (seller, _), record in ctx.state.df_orders.items()
            if seller == ctx.seller_id
            and after <= record.created <= before
            and (status is None or record.order["orderDetails"]["orderStatus"] == status)
            and (ship_from is None or record.order["orderDetails"]["shipFromParty"]["partyId"] == ship_from)
        ]
        matching.sort(key=_order_sort_key, reverse=query.get("sortOrder") == "DESC")
        return [(r.seller_id, r.purchase_order_number) for r in matching]

    try:
        page, next_token, _ = ctx.state.page(
            ctx.operation.name, ctx.seller_id, size=limit, token=token, keys=keys
        )
    except StateError as exc:
        raise ApiError(400, "InvalidInput", str(exc)) from exc
    include_details = str(query.get("includeDetails", "true")).lower() != "false"
    orders: list[dict[str, Any]] = []
    for key in page:
        record = ctx.state.df_orders.get(key)
        if record is None:
            continue
        orders.append(
            copy.deepcopy(record.order)
            if include_details
            else {"purchaseOrderNumber": record.purchase_order_number}
        )
    answer: dict[str, Any] = {"orders": orders}
    if next_token:
        answer["pagination"] = {"nextToken": next_token}
    return 200, answer


def get_order(ctx: CallContext) -> HandlerResult:
    number = ctx.path_params["purchaseOrderNumber"]
    record = ctx.state.df_orders.get((ctx.seller_id, number))
    if record is None and any(n == number for (_, n) in ctx.state.df_orders):
        raise ApiError(403, "Unauthorized", UNAUTHORIZED_MESSAGE, OTHER_SELLER_DETAILS)
    if record is None:
        record = ctx.state.df_order(ctx.seller_id, number)
    return 200, copy.deepcopy(record.order)


def get_transaction_status(ctx: CallContext) -> HandlerResult:
    transaction_id = ctx.path_params["transactionId"]
    record = ctx.state.transactions.get(transaction_id)
    if record is None or record.seller_id != ctx.seller_id or not record.operation.startswith(DF_API_PREFIX):
        raise ApiError(404, "NotFound", f"Transaction {transaction_id} not found")
    status = ctx.state.transaction_status(record)
    transaction: dict[str, Any] = {"transactionId": transaction_id, "status": status}
    if status == "Failure" and record.errors:
        transaction["errors"] = {"errors": copy.deepcopy(record.errors)}
    return 200, {"transactionStatus": transaction}


def register(registry: HandlerRegistry) -> None:
    registry.add(SUBMIT_ACKNOWLEDGEMENT, submit_acknowledgement)
    registry.add("getTransactionStatus", get_transaction_status)
    registry.add("vendorDirectFulfillmentOrders.getOrders", get_orders)
    registry.add("vendorDirectFulfillmentOrders.getOrder", get_order)
