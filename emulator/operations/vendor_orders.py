"""Retail Procurement Orders v1 (``vendorOrders``) submitAcknowledgement and the v1 transaction status API
(``vendorTransactionStatus``) getTransaction. v1 answers wrap their result in ``payload``.

A transaction reads ``Processing``, then what it settles into after ``transaction_settle_seconds``
(``Success`` unless ``state.set_transaction_outcome`` said otherwise); the control API can force any status
(``POST /_emulator/transactions/<id>/status``).
"""

from __future__ import annotations

import copy
from typing import Any

from emulator.errors import ApiError
from emulator.registry import CallContext, HandlerRegistry, HandlerResult

SUBMIT_ACKNOWLEDGEMENT = "vendorOrders.submitAcknowledgement"
V1_TRANSACTION_OPERATIONS = frozenset({SUBMIT_ACKNOWLEDGEMENT})


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
        ctx.state.retail_order_states[(ctx.seller_id, number)] = "Acknowledged"
    return 202, {"payload": {"transactionId": transaction.transaction_id}}


def get_purchase_order(ctx: CallContext) -> HandlerResult:
    """The order's purchaseOrderState: New until an acknowledgement of it arrives, then Acknowledged."""
    number = ctx.path_params["purchaseOrderNumber"]
    state = ctx.state.retail_order_states.get((ctx.seller_id, number), "New")
    return 200, {"payload": {"purchaseOrderNumber": number, "purchaseOrderState": state}}


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
    registry.add("getTransaction", get_transaction)
