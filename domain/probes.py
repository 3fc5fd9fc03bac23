"""State probes: reads that tell whether an earlier attempt of a write already took effect at Amazon.

A write whose earlier attempt may have applied (the ledger found it ATTEMPTED or UNKNOWN) is never sent
again blindly: its command type's probe reads the state the write leaves behind and answers one of

- ``applied``   the effect is there: the command succeeded (nothing is sent);
- ``missing``   the effect is not there: send it (``payload``: only the part still missing);
- ``conflict``  the natural key belongs to something else: a rejection with the reason;
- ``wait``      too early to tell (an acknowledgement still being processed): look again later;
- ``unsettled`` no read can tell: the command goes to the DLQ as OutcomeUnknown with what was seen.

Probes never publish what they read (answers carry customers' addresses): only ``saw``, a short
sentence naming ids and states.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from domain.paging import dig
from domain.requests import SpApiResponse, raise_for_status
from domain.spapi import find_operation
from domain.spapi.spec import OperationSpec

VerdictKind = Literal["applied", "missing", "conflict", "wait", "unsettled"]

GET_FULFILLMENT_ORDER = find_operation("fulfillment_outbound_2020_07_01", "getFulfillmentOrder")
GET_MCF_ORDER = find_operation("fulfillment_outbound_2026_07_04", "getOrder")
GET_DF_ORDER = find_operation("vendor_df_orders_2021_12_28", "getOrder")
GET_RETAIL_PURCHASE_ORDER = find_operation("vendor_orders_v1", "getPurchaseOrder")
GET_RETAIL_ORDERS_STATUS = find_operation("vendor_orders_v1", "getPurchaseOrdersStatus")
GET_SCHEDULED_PACKAGE = find_operation("easy_ship_2022_03_23", "getScheduledPackage")

Read = Callable[[OperationSpec, Mapping[str, Any]], SpApiResponse]


@dataclass(frozen=True, slots=True)
class ProbeContext:
    read: Read
    now: float
    # When the earlier attempt was claimed (None: not known), and how long an acknowledgement may take
    # to show in the order's state before "not there" means "not applied".
    attempted_at: float | None
    settle_window_seconds: float

    def window_left(self) -> float:
        if self.attempted_at is None:
            return self.settle_window_seconds
        return max(0.0, self.attempted_at + self.settle_window_seconds - self.now)


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: VerdictKind
    saw: str
    payload: Mapping[str, Any] | None = None
    wait_seconds: float = 0.0
    # The order states the probe read, by order id (acknowledgements: what an outcome settled by the
    # probe reports in place of the transaction it cannot know).
    states: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StateProbe:
    """``reads`` names the operations the probe calls (their tokens come from those read buckets)."""

    description: str
    reads: tuple[OperationSpec, ...]
    run: Callable[[Mapping[str, Any], ProbeContext], Verdict]

    def __call__(self, payload: Mapping[str, Any], context: ProbeContext) -> Verdict:
        return self.run(payload, context)


def _answer(operation: OperationSpec, response: SpApiResponse) -> Any:
    """The body of a 2xx answer; 429/5xx raise (retry the probe), other 4xx raise as rejections."""
    raise_for_status(operation.operation_id, response)
    return response.body


def _not_found(response: SpApiResponse) -> bool:
    if response.status == 404:
        return True
    codes = {str(error.get("code", "")) for error in response.errors()}
    return response.status == 400 and bool(codes & {"ResourceNotFound", "NotFound"})


# --- comparing what was asked with what is there -----------------------------------------------------------


def _normal(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        moment = _moment(text)
        return moment if moment is not None else text.casefold()
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, Mapping):
        return {key: _normal(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_normal(item) for item in value]
    return value


def _moment(text: str) -> datetime | None:
    if len(text) < 19 or text[4] != "-" or "T" not in text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None


def _matches(wanted: Any, actual: Any) -> bool:
    """``actual`` holds every field of ``wanted`` with the same value (SP-API may add fields)."""
    if isinstance(wanted, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and _matches(value, actual[key]) for key, value in wanted.items()
        )
    if isinstance(wanted, list | tuple):
        if not isinstance(actual, list | tuple) or len(wanted) != len(actual):
            return False
        return all(_matches(w, a) for w, a in zip(wanted, actual, strict=True))
    return bool(_normal(wanted) == _normal(actual))


def _items_by_id(items: Any) -> dict[str, Mapping[str, Any]]:
    if not isinstance(items, list):
        return {}
    return {
        str(item.get("sellerFulfillmentOrderItemId")): item
        for item in items
        if isinstance(item, Mapping) and item.get("sellerFulfillmentOrderItemId") is not None
    }


def _read_fulfillment_order(
    payload: Mapping[str, Any], context: ProbeContext
) -> tuple[str, Mapping[str, Any] | None]:
    order_id = str(payload["sellerFulfillmentOrderId"])
    response = context.read(GET_FULFILLMENT_ORDER, {"sellerFulfillmentOrderId": order_id})
    if _not_found(response):
        return order_id, None
    body = _answer(GET_FULFILLMENT_ORDER, response)
    found = dig(body, ("payload",))
    return order_id, found if isinstance(found, Mapping) else {}


# --- Multi-Channel Fulfillment ------------------------------------------------------------------------------


def create_differences(payload: Mapping[str, Any], found: Mapping[str, Any]) -> list[str]:
    """What an existing order with this sellerFulfillmentOrderId has other than the create asked for."""
    differences: list[str] = []
    existing = _items_by_id(found.get("fulfillmentOrderItems"))
    wanted = _items_by_id(payload.get("items"))
    if set(existing) != set(wanted):
        differences.append("items (other sellerFulfillmentOrderItemIds)")
    else:
        for item_id, item in wanted.items():
            for field in ("sellerSku", "quantity"):
                if field in item and not _matches(item[field], existing[item_id].get(field)):
                    differences.append(f"items[{item_id}].{field}")
    order = found.get("fulfillmentOrder")
    address = payload.get("destinationAddress")
    if isinstance(order, Mapping) and isinstance(address, Mapping):
        there = order.get("destinationAddress")
        comparable = {k: v for k, v in address.items() if isinstance(there, Mapping) and k in there}
        if not isinstance(there, Mapping) or not _matches(comparable, there):
            differences.append("destinationAddress")
    return differences


def _probe_create_fulfillment(payload: Mapping[str, Any], context: ProbeContext) -> Verdict:
    order_id, found = _read_fulfillment_order(payload, context)
    if found is None:
        return Verdict("missing", f"no fulfillment order {order_id} at Amazon")
    differences = create_differences(payload, found)
    if differences:
        return Verdict(
            "conflict",
            f"sellerFulfillmentOrderId {order_id!r} already belongs to another order "
            f"(it differs in {', '.join(differences)})",
        )
    return Verdict("applied", f"fulfillment order {order_id} exists with the requested items and destination")


UPDATE_PARAMETERS = frozenset({"sellerFulfillmentOrderId", "items"})


def _probe_update_fulfillment(payload: Mapping[str, Any], context: ProbeContext) -> Verdict:
    order_id, found = _read_fulfillment_order(payload, context)
    if found is None:
        return Verdict("missing", f"no fulfillment order {order_id} at Amazon")
    order = found.get("fulfillmentOrder") if isinstance(found.get("fulfillmentOrder"), Mapping) else {}
    assert isinstance(order, Mapping)
    compared: list[str] = []
    differing: list[str] = []
    for field, wanted in payload.items():
        if field in UPDATE_PARAMETERS or field not in order:
            continue
        compared.append(field)
        if not _matches(wanted, order[field]):
            differing.append(field)
    existing = _items_by_id(found.get("fulfillmentOrderItems"))
    for item_id, change in _items_by_id(payload.get("items")).items():
        item = existing.get(item_id)
        for field, wanted in change.items():
            if field == "sellerFulfillmentOrderItemId" or (item is not None and field not in item):
                continue
            compared.append(f"items[{item_id}].{field}")
            if item is None or not _matches(wanted, item[field]):
                differing.append(f"items[{item_id}].{field}")
    if not compared:
        return Verdict("unsettled", f"order {order_id} shows none of the fields the update changes")
    if differing:
        return Verdict("missing", f"order {order_id} still differs in {', '.join(differing)}")
    updated = _moment(str(order.get("statusUpdatedDate", "")))
    since = ""
    if updated is not None and context.attempted_at is not None:
        since = " (updated after the attempt)" if updated.timestamp() >= context.attempted_at - 1 else ""
    return Verdict("applied", f"order {order_id} shows every requested field{since}")


def _probe_cancel_fulfillment(payload: Mapping[str, Any], context: ProbeContext) -> Verdict:
    order_id, found = _read_fulfillment_order(payload, context)
    if found is None:
        return Verdict("missing", f"no fulfillment order {order_id} at Amazon")
    status = dig(found, ("fulfillmentOrder", "fulfillmentOrderStatus"))
    if status == "Cancelled":
        return Verdict("applied", f"order {order_id} is Cancelled")
    return Verdict("missing", f"order {order_id} is {status}")


def _probe_create_return(payload: Mapping[str, Any], context: ProbeContext) -> Verdict:
    order_id, found = _read_fulfillment_order(payload, context)
    if found is None:
        return Verdict("missing", f"no fulfillment order {order_id} at Amazon")
    returned = found.get("returnItems")
    known = {
        str(item.get("sellerReturnItemId"))
        for item in (returned if isinstance(returned, list) else [])
        if isinstance(item, Mapping)
    }
    items = [item for item in payload.get("items", []) if isinstance(item, Mapping)]
    missing = [item for item in items if str(item.get("sellerReturnItemId")) not in known]
    if not missing:
        return Verdict("applied", f"order {order_id} has every requested sellerReturnItemId")
    saw = f"order {order_id} lacks {len(missing)} of {len(items)} return items"
    return Verdict("missing", saw, {**payload, "items": missing})


# --- Multi-Channel Fulfillment 2026-07-04 (the seller's orderId is the natural key) -------------------------


def _read_mcf_order(
    payload: Mapping[str, Any], context: ProbeContext
) -> tuple[str, Mapping[str, Any] | None]:
    order_id = str(payload["orderId"])
    parameters = {"orderId": order_id, "shipments": "EXCLUDE"}
    # The order is read through the same fulfillment service the write named, if it named one.
    parameters.update({name: payload[name] for name in GET_MCF_ORDER.header_params if name in payload})
    response = context.read(GET_MCF_ORDER, parameters)
    if _not_found(response):
        return order_id, None
    found = dig(_answer(GET_MCF_ORDER, response), ("order",))
    return order_id, found if isinstance(found, Mapping) else {}


def _line_items_by_id(items: Any) -> dict[str, Mapping[str, Any]]:
    if not isinstance(items, list):
        return {}
    return {
        str(item.get("lineItemId")): item
        for item in items
        if isinstance(item, Mapping) and item.get("lineItemId") is not None
    }


def mcf_create_differences(payload: Mapping[str, Any], found: Mapping[str, Any]) -> list[str]:
    """What an existing 2026-07-04 order with this orderId has other than the createOrder asked for."""
    differences: list[str] = []
    existing = _line_items_by_id(found.get("lineItems"))
    wanted = _line_items_by_id(payload.get("lineItems"))
    if set(existing) != set(wanted):
        differences.append("lineItems (other lineItemIds)")
    else:
        for item_id, item in wanted.items():
            for path in (("product", "productIdentifier", "amazonSku"), ("amount", "value")):
                value = dig(item, path)
                if value is not None and not _matches(value, dig(existing[item_id], path)):
                    differences.append(f"lineItems[{item_id}].{'.'.join(path)}")
    address = dig(payload, ("destination", "deliveryAddress"))
    there = dig(found, ("destination", "deliveryAddress"))
    if isinstance(address, Mapping):
        comparable = {k: v for k, v in address.items() if isinstance(there, Mapping) and k in there}
        if not isinstance(there, Mapping) or not _matches(comparable, there):
            differences.append("destination.deliveryAddress")
    return differences


def _probe_create_mcf_order(payload: Mapping[str, Any], context: ProbeContext) -> Verdict:
    order_id, found = _read_mcf_order(payload, context)
    if found is None:
        return Verdict("missing", f"no fulfillment order {order_id} at Amazon")
    differences = mcf_create_differences(payload, found)
    if differences:
        return Verdict(
            "conflict",
            f"orderId {order_id!r} already belongs to another order (it differs in {', '.join(differences)})",
        )
    return Verdict(
        "applied",
        f"fulfillment order {order_id} exists ({found.get('status')}) with the requested line items and "
        "destination",
    )


def _probe_update_mcf_order(payload: Mapping[str, Any], context: ProbeContext) -> Verdict:
    order_id, found = _read_mcf_order(payload, context)
    if found is None:
        return Verdict("missing", f"no fulfillment order {order_id} at Amazon")
    wanted = dig(payload, ("fulfillmentConfiguration", "action"))
    if wanted is None:
        return Verdict("unsettled", f"the update of order {order_id} changes no field a read shows")
    action = dig(found, ("fulfillmentConfiguration", "action"))
    if _matches(wanted, action):
        return Verdict("applied", f"order {order_id} shows fulfillmentConfiguration.action {action}")
    return Verdict("missing", f"order {order_id} shows fulfillmentConfiguration.action {action}")


def _probe_cancel_mcf_order(payload: Mapping[str, Any], context: ProbeContext) -> Verdict:
    order_id, found = _read_mcf_order(payload, context)
    if found is None:
        return Verdict("missing", f"no fulfillment order {order_id} at Amazon")
    status = found.get("status")
    if status == "CANCELLED":
        return Verdict("applied", f"order {order_id} is CANCELLED")
    return Verdict("missing", f"order {order_id} is {status}")


# --- vendor acknowledgements --------------------------------------------------------------------------------


# Whether every line an acknowledgement of a purchase order names shows a confirmation at Amazon.
LinesConfirmed = Callable[[str, Mapping[str, Any], ProbeContext], bool]


@dataclass(frozen=True, slots=True)
class _AcknowledgementProbe:
    """An acknowledgement applied when each acknowledged purchase order's state is past new: both vendor
    APIs answer the same way, each with its own list field, order read, state field and "new" word.

    ``lines_confirmed`` (retail) is asked about an order still new: Amazon may confirm the acknowledged
    lines before the order's state moves, and confirmed lines are an applied acknowledgement too."""

    list_field: str
    read: OperationSpec
    state_path: tuple[str, ...]
    new_state: str
    lines_confirmed: LinesConfirmed | None = None

    def __call__(self, payload: Mapping[str, Any], context: ProbeContext) -> Verdict:
        acknowledgements = [a for a in payload.get(self.list_field, []) if isinstance(a, Mapping)]
        still_open: list[Mapping[str, Any]] = []
        confirmed: list[str] = []
        seen: dict[str, str] = {}
        for acknowledgement in acknowledgements:
            number = str(acknowledgement.get("purchaseOrderNumber"))
            response = context.read(self.read, {"purchaseOrderNumber": number})
            if _not_found(response):
                return Verdict("unsettled", f"purchase order {number} is not found")
            state = dig(_answer(self.read, response), self.state_path)
            seen[number] = str(state)
            if state != self.new_state:
                continue
            if self.lines_confirmed is not None and self.lines_confirmed(number, acknowledgement, context):
                confirmed.append(number)
            else:
                still_open.append(acknowledgement)
        states = ", ".join(f"{number}={state}" for number, state in seen.items())
        if not still_open:
            lines = (
                f"; {', '.join(confirmed)} still {self.new_state} with every acknowledged line confirmed"
                if confirmed
                else ""
            )
            saw = f"every purchase order is acknowledged ({states}{lines})"
            return Verdict("applied", saw, states=dict(seen))
        total = len(acknowledgements)
        left = context.window_left()
        if left > 0:
            return Verdict(
                "wait",
                f"{len(still_open)} of {total} purchase orders still {self.new_state} ({states}); an "
                "acknowledgement is processed asynchronously",
                wait_seconds=left,
            )
        return Verdict(
            "missing",
            f"{len(still_open)} of {total} purchase orders still {self.new_state} past the processing "
            f"window ({states})",
            {**payload, self.list_field: list(still_open)},
        )


def _line_keys(line: Mapping[str, Any], asin_field: str) -> set[tuple[str, str]]:
    """The ids a line goes by: its sequence number, ASIN (the acknowledgement's amazonProductIdentifier is
    the status's buyerProductIdentifier) and the vendor's own id."""
    fields = (("sequence", "itemSequenceNumber"), ("asin", asin_field), ("vendor", "vendorProductIdentifier"))
    return {(kind, str(line[name])) for kind, name in fields if line.get(name)}


def _retail_lines_confirmed(number: str, acknowledgement: Mapping[str, Any], context: ProbeContext) -> bool:
    items = [item for item in acknowledgement.get("items") or [] if isinstance(item, Mapping)]
    if not items:
        return False
    body = _answer(
        GET_RETAIL_ORDERS_STATUS, context.read(GET_RETAIL_ORDERS_STATUS, {"purchaseOrderNumber": number})
    )
    orders = dig(body, ("payload", "ordersStatus"))
    lines = [
        line
        for order in (orders if isinstance(orders, list) else [])
        if isinstance(order, Mapping) and order.get("purchaseOrderNumber") == number
        for line in order.get("itemStatus") or []
        if isinstance(line, Mapping)
    ]
    confirmed = [
        _line_keys(line, "buyerProductIdentifier")
        for line in lines
        if dig(line, ("acknowledgementStatus", "confirmationStatus")) not in (None, "UNCONFIRMED")
    ]
    wanted = [_line_keys(item, "amazonProductIdentifier") for item in items]
    return all(any(keys & shown for shown in confirmed) for keys in wanted)


_probe_df_acknowledgement = _AcknowledgementProbe(
    "orderAcknowledgements", GET_DF_ORDER, ("orderDetails", "orderStatus"), "NEW"
)
_probe_retail_acknowledgement = _AcknowledgementProbe(
    "acknowledgements",
    GET_RETAIL_PURCHASE_ORDER,
    ("payload", "purchaseOrderState"),
    "New",
    _retail_lines_confirmed,
)


# --- Easy Ship ----------------------------------------------------------------------------------------------


def _scheduled_package(order_id: str, marketplace_id: str, context: ProbeContext) -> Mapping[str, Any] | None:
    response = context.read(
        GET_SCHEDULED_PACKAGE, {"amazonOrderId": order_id, "marketplaceId": marketplace_id}
    )
    if _not_found(response):
        return None
    body = _answer(GET_SCHEDULED_PACKAGE, response)
    return body if isinstance(body, Mapping) else {}


def _probe_create_scheduled_package(payload: Mapping[str, Any], context: ProbeContext) -> Verdict:
    order_id = str(payload.get("amazonOrderId"))
    if _scheduled_package(order_id, str(payload.get("marketplaceId")), context) is None:
        return Verdict("missing", f"order {order_id} has no scheduled package")
    return Verdict("applied", f"order {order_id} has a scheduled package")


def _probe_update_scheduled_packages(payload: Mapping[str, Any], context: ProbeContext) -> Verdict:
    marketplace = str(payload.get("marketplaceId"))
    updates = [u for u in payload.get("updatePackageDetailsList", []) if isinstance(u, Mapping)]
    missing: list[Mapping[str, Any]] = []
    for update in updates:
        order_id = str(dig(update, ("scheduledPackageId", "amazonOrderId")))
        package = _scheduled_package(order_id, marketplace, context)
        wanted_slot = dig(update, ("packageTimeSlot", "slotId"))
        if package is None:
            return Verdict("unsettled", f"order {order_id} has no scheduled package to move")
        if dig(package, ("packageTimeSlot", "slotId")) != wanted_slot:
            missing.append(update)
    if not missing:
        return Verdict("applied", f"all {len(updates)} packages are in their requested slots")
    saw = f"{len(missing)} of {len(updates)} packages are not in their requested slots"
    return Verdict("missing", saw, {**payload, "updatePackageDetailsList": missing})


def _probe_create_scheduled_package_bulk(payload: Mapping[str, Any], context: ProbeContext) -> Verdict:
    marketplace = str(payload.get("marketplaceId"))
    orders = [o for o in payload.get("orderScheduleDetailsList", []) if isinstance(o, Mapping)]
    missing = [
        order
        for order in orders
        if _scheduled_package(str(order.get("amazonOrderId")), marketplace, context) is None
    ]
    if not missing:
        return Verdict("applied", f"all {len(orders)} orders have a scheduled package")
    saw = f"{len(missing)} of {len(orders)} orders have no scheduled package"
    return Verdict("missing", saw, {**payload, "orderScheduleDetailsList": missing})


CREATE_FULFILLMENT_PROBE = StateProbe(
    "getFulfillmentOrder: the order exists with the requested items and destination",
    (GET_FULFILLMENT_ORDER,),
    _probe_create_fulfillment,
)
UPDATE_FULFILLMENT_PROBE = StateProbe(
    "getFulfillmentOrder: every requested field shows",
    (GET_FULFILLMENT_ORDER,),
    _probe_update_fulfillment,
)
CANCEL_FULFILLMENT_PROBE = StateProbe(
    "getFulfillmentOrder: the order is Cancelled", (GET_FULFILLMENT_ORDER,), _probe_cancel_fulfillment
)
CREATE_RETURN_PROBE = StateProbe(
    "getFulfillmentOrder: returnItems hold every requested sellerReturnItemId",
    (GET_FULFILLMENT_ORDER,),
    _probe_create_return,
)
CREATE_MCF_ORDER_PROBE = StateProbe(
    "getOrder (2026-07-04): the order exists with the requested line items and destination",
    (GET_MCF_ORDER,),
    _probe_create_mcf_order,
)
UPDATE_MCF_ORDER_PROBE = StateProbe(
    "getOrder (2026-07-04): the requested fulfillmentConfiguration.action shows",
    (GET_MCF_ORDER,),
    _probe_update_mcf_order,
)
CANCEL_MCF_ORDER_PROBE = StateProbe(
    "getOrder (2026-07-04): the order is CANCELLED", (GET_MCF_ORDER,), _probe_cancel_mcf_order
)
DF_ACKNOWLEDGEMENT_PROBE = StateProbe(
    "getOrder: orderDetails.orderStatus is past NEW", (GET_DF_ORDER,), _probe_df_acknowledgement
)
RETAIL_ACKNOWLEDGEMENT_PROBE = StateProbe(
    "getPurchaseOrder: purchaseOrderState is past New, or getPurchaseOrdersStatus: every acknowledged line "
    "is confirmed",
    (GET_RETAIL_PURCHASE_ORDER, GET_RETAIL_ORDERS_STATUS),
    _probe_retail_acknowledgement,
)
CREATE_SCHEDULED_PACKAGE_PROBE = StateProbe(
    "getScheduledPackage: the order has a package",
    (GET_SCHEDULED_PACKAGE,),
    _probe_create_scheduled_package,
)
UPDATE_SCHEDULED_PACKAGES_PROBE = StateProbe(
    "getScheduledPackage: each package is in its requested slot",
    (GET_SCHEDULED_PACKAGE,),
    _probe_update_scheduled_packages,
)
CREATE_SCHEDULED_PACKAGE_BULK_PROBE = StateProbe(
    "getScheduledPackage: each order has a package",
    (GET_SCHEDULED_PACKAGE,),
    _probe_create_scheduled_package_bulk,
)
