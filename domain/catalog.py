"""The operation catalog: which SP-API operation each command type calls, and how duplicates look.

Paths, parameters and usage plans come from the generated ``domain.spapi`` package (Amazon's official
models); this module adds only what the models cannot say: the command's name, and how SP-API signals
that the effect of a command already happened.

Adding a command type: add an entry here (and a sample in ``events/``); the type checker and the catalog
tests point at whatever else needs attention.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.spapi import find_operation
from domain.spapi.spec import OperationSpec

FULFILLMENT_OUTBOUND = "fulfillment_outbound_2020_07_01"
VENDOR_DF_ORDERS = "vendor_df_orders_2021_12_28"

SpApiErrors = Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class AlreadyDone:
    """How SP-API says "this already happened", and how to confirm it before counting the command done.

    ``matches`` looks at a 4xx answer's errors. ``confirm_with``, when set, is an operation called with
    the payload fields it needs (e.g. getFulfillmentOrder with sellerFulfillmentOrderId): only a 2xx
    answer confirms; anything else leaves the original rejection standing.
    """

    matches: Callable[[SpApiErrors], bool]
    description: str
    confirm_with: OperationSpec | None = None


@dataclass(frozen=True, slots=True)
class CommandType:
    name: str
    operation: OperationSpec
    summary: str
    already_done: AlreadyDone | None = None
    # Keys of the payload that identify the business object; they label logs and outcome events.
    natural_key: tuple[str, ...] = field(default=())


def _error_text(errors: SpApiErrors) -> str:
    return " ".join(f"{e.get('code', '')} {e.get('message', '')} {e.get('details', '')}" for e in errors)


def _create_already_exists(errors: SpApiErrors) -> bool:
    return "already exists" in _error_text(errors).lower()


def _duplicate_cancel(errors: SpApiErrors) -> bool:
    return "DuplicateCancelRequest" in _error_text(errors)


_CATALOG_ENTRIES = (
    CommandType(
        name="create-fulfillment",
        operation=find_operation(FULFILLMENT_OUTBOUND, "createFulfillmentOrder"),
        summary="Create a Multi-Channel Fulfillment order (Fulfillment Outbound createFulfillmentOrder).",
        already_done=AlreadyDone(
            matches=_create_already_exists,
            description="a create request already exists for this sellerFulfillmentOrderId",
            confirm_with=find_operation(FULFILLMENT_OUTBOUND, "getFulfillmentOrder"),
        ),
        natural_key=("sellerFulfillmentOrderId",),
    ),
    CommandType(
        name="update-fulfillment",
        operation=find_operation(FULFILLMENT_OUTBOUND, "updateFulfillmentOrder"),
        summary="Update a Multi-Channel Fulfillment order (Fulfillment Outbound updateFulfillmentOrder).",
        natural_key=("sellerFulfillmentOrderId",),
    ),
    CommandType(
        name="cancel-fulfillment",
        operation=find_operation(FULFILLMENT_OUTBOUND, "cancelFulfillmentOrder"),
        summary="Cancel a Multi-Channel Fulfillment order (Fulfillment Outbound cancelFulfillmentOrder).",
        already_done=AlreadyDone(
            matches=_duplicate_cancel,
            description="the order already has a cancel request (DuplicateCancelRequest)",
        ),
        natural_key=("sellerFulfillmentOrderId",),
    ),
    CommandType(
        name="acknowledge-po",
        operation=find_operation(VENDOR_DF_ORDERS, "submitAcknowledgement"),
        summary=(
            "Acknowledge vendor Direct Fulfillment purchase orders (Vendor DF Orders 2021-12-28 "
            "submitAcknowledgement); the outcome carries the transactionId."
        ),
    ),
)

CATALOG: Mapping[str, CommandType] = {entry.name: entry for entry in _CATALOG_ENTRIES}
