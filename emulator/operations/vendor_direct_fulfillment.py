"""Vendor Direct Fulfillment Orders / Transactions 2021-12-28 (answers have no ``payload`` wrapper)."""

from __future__ import annotations

import copy
from typing import Any

from emulator.errors import ApiError
from emulator.registry import CallContext, HandlerRegistry, HandlerResult

SUBMIT_ACKNOWLEDGEMENT = "vendorDirectFulfillmentOrders.submitAcknowledgement"


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
    return 202, {"transactionId": transaction.transaction_id}


def get_transaction_status(ctx: CallContext) -> HandlerResult:
    transaction_id = ctx.path_params["transactionId"]
    record = ctx.state.transactions.get(transaction_id)
    if record is None or record.seller_id != ctx.seller_id:
        raise ApiError(404, "NotFound", f"Transaction {transaction_id} not found")
    status = ctx.state.transaction_status(record)
    transaction: dict[str, Any] = {"transactionId": transaction_id, "status": status}
    if status == "Failure" and record.errors:
        transaction["errors"] = {"errors": copy.deepcopy(record.errors)}
    return 200, {"transactionStatus": transaction}


def register(registry: HandlerRegistry) -> None:
    registry.add(SUBMIT_ACKNOWLEDGEMENT, submit_acknowledgement)
    registry.add("getTransactionStatus", get_transaction_status)
