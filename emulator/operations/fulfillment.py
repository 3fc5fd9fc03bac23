"""Fulfillment Outbound 2020-07-01 (Multi-Channel Fulfillment): every operation of the model.

Orders: create, get, update, cancel, status update, listAllFulfillmentOrders (paged, ``nextToken``),
shipments and tracking (made by the control API's ``ship``), returns. Also previews, delivery offers, return
reason codes and the features API, computed from the seller's declared inventory (``state.set_inventory``;
a seller without declared inventory can ship any SKU).

Error shapes follow the model's static sandbox cases (``x-amzn-api-sandbox`` of the historical model):
duplicate create, duplicate cancel and "not updatable" answer 400 ``InvalidInput`` with the sandbox messages.
"""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from emulator.errors import ApiError
from emulator.generators import format_timestamp
from emulator.registry import CallContext, HandlerRegistry, HandlerResult
from emulator.state import FulfillmentOrderRecord, InventoryRecord, StateError, parse_timestamp, timestamp

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
    record = ctx.state.orders[(ctx.seller_id, order_id)] = FulfillmentOrderRecord(
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
    ctx.state.order_status_changed(record)
    return 200, {}


def _order_view(ctx: CallContext, record: FulfillmentOrderRecord) -> dict[str, Any]:
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
    return order


def get_fulfillment_order(ctx: CallContext) -> HandlerResult:
    record = _order(ctx)
    order = _order_view(ctx, record)
    item_fields = _properties(ctx, "FulfillmentOrderItem")
    cancelled = record.status == "Cancelled"
    items: list[dict[str, Any]] = []
    for item in record.items:
        out = {k: copy.deepcopy(v) for k, v in item.items() if k in item_fields}
        out.setdefault("orderItemDisposition", "Sellable")
        out["cancelledQuantity"] = item["quantity"] if cancelled else 0
        out["unfulfillableQuantity"] = record.unfulfillable.get(item["sellerFulfillmentOrderItemId"], 0)
        items.append(out)
    payload: dict[str, Any] = {
        "fulfillmentOrder": order,
        "fulfillmentOrderItems": items,
        "fulfillmentShipments": copy.deepcopy(record.shipments),
        "returnItems": copy.deepcopy(record.return_items),
        "returnAuthorizations": copy.deepcopy(record.return_authorizations),
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
    record.status_updated_date = timestamp()
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
    ctx.state.order_status_changed(record)
    return 200, {}


def submit_fulfillment_order_status_update(ctx: CallContext) -> HandlerResult:
    """The sandbox-only operation that moves an order to another status."""
    record = _order(ctx)
    status = ctx.body.get("fulfillmentOrderStatus")
    if status is not None:
        changed = record.status != status
        record.status = status
        record.status_updated_date = timestamp()
        if changed:
            ctx.state.order_status_changed(record)
    return 200, {}


# -- previews and delivery offers -------------------------------------------------------------------------

# Business days from order to arrival per shipping speed (earliest, latest), and the per-unit fee.
SPEEDS: dict[str, tuple[int, int, str]] = {
    "Standard": (3, 5, "3.99"),
    "Expedited": (2, 3, "5.49"),
    "Priority": (1, 2, "8.99"),
    "ScheduledDelivery": (1, 1, "9.99"),
}
DEFAULT_SPEEDS = ("Standard", "Expedited", "Priority")
CURRENCIES = {
    "ATVPDKIKX0DER": "USD",
    "A2EUQ1WTGCTBG2": "CAD",
    "A1AM78C64UM0Y8": "MXN",
    "A1F83G8C2ARO7P": "GBP",
    "A1PA6795UKMFR9": "EUR",
    "A13V1IB3VIYZZH": "EUR",
    "APJ6JRA9NG5V4": "EUR",
    "A1RKKUPIHCS9HS": "EUR",
    "A1VC38T7YXB528": "JPY",
}
UNIT_WEIGHT_POUNDS = Decimal("0.75")
PER_ORDER_FEE = "1.00"


def _money(currency: str, amount: Decimal) -> dict[str, str]:
    return {"currencyCode": currency, "value": str(amount.quantize(Decimal("0.01")))}


def _stock(ctx: CallContext) -> dict[str, InventoryRecord] | None:
    """The seller's declared inventory, or None (no declaration: every SKU is available)."""
    return ctx.state.inventory.get(ctx.seller_id)


def _unfulfillable_reason(stock: dict[str, InventoryRecord] | None, sku: str, quantity: int) -> str | None:
    if stock is None:
        return None
    record = stock.get(sku)
    if record is None:
        return "InvalidSKU"
    if record.quantity < quantity:
        return "InventoryUnavailable"
    return None


def get_fulfillment_preview(ctx: CallContext) -> HandlerResult:
    body: dict[str, Any] = ctx.body
    marketplace = body.get("marketplaceId") or DEFAULT_MARKETPLACE_ID
    currency = CURRENCIES.get(marketplace, "USD")
    stock = _stock(ctx)
    country = str(body["address"].get("countryCode", ""))
    address_ok = len(country) == 2 and country.isalpha()
    fulfillable: list[dict[str, Any]] = []
    unfulfillable: list[dict[str, Any]] = []
    for item in body["items"]:
        reason = _unfulfillable_reason(stock, item["sellerSku"], int(item["quantity"]))
        if reason is None:
            fulfillable.append(item)
        else:
            unfulfillable.append(
                {
                    "sellerSku": item["sellerSku"],
                    "quantity": item["quantity"],
                    "sellerFulfillmentOrderItemId": item["sellerFulfillmentOrderItemId"],
                    "itemUnfulfillableReasons": [reason],
                }
            )
    units = sum(int(item["quantity"]) for item in fulfillable)
    weight = {"unit": "POUNDS", "value": str((UNIT_WEIGHT_POUNDS * units).quantize(Decimal("0.01")))}
    now = datetime.now(UTC).replace(microsecond=0)
    speeds = body.get("shippingSpeedCategories") or list(DEFAULT_SPEEDS)
    previews: list[dict[str, Any]] = []
    for speed in dict.fromkeys(speeds):
        earliest, latest, unit_fee = SPEEDS[speed]
        preview: dict[str, Any] = {
            "shippingSpeedCategory": speed,
            "isFulfillable": address_ok and not unfulfillable and bool(fulfillable),
            "isCODCapable": False,
            "marketplaceId": marketplace,
            "estimatedShippingWeight": weight,
            "estimatedFees": [
                {"name": "FBAPerUnitFulfillmentFee", "amount": _money(currency, Decimal(unit_fee) * units)},
                {"name": "FBAPerOrderFulfillmentFee", "amount": _money(currency, Decimal(PER_ORDER_FEE))},
            ],
            "fulfillmentPreviewShipments": [],
            "unfulfillablePreviewItems": copy.deepcopy(unfulfillable),
        }
        if not address_ok:
            preview["orderUnfulfillableReasons"] = ["InvalidDestinationAddress"]
        if fulfillable and address_ok:
            preview["fulfillmentPreviewShipments"] = [
                {
                    "earliestShipDate": format_timestamp(now + timedelta(hours=4)),
                    "latestShipDate": format_timestamp(now + timedelta(days=1)),
                    "earliestArrivalDate": format_timestamp(now + timedelta(days=earliest)),
                    "latestArrivalDate": format_timestamp(now + timedelta(days=latest)),
                    "shippingNotes": [],
                    "fulfillmentPreviewItems": [
                        {
                            "sellerSku": item["sellerSku"],
                            "quantity": item["quantity"],
                            "sellerFulfillmentOrderItemId": item["sellerFulfillmentOrderItemId"],
                            "estimatedShippingWeight": {
                                "unit": "POUNDS",
                                "value": str(UNIT_WEIGHT_POUNDS * int(item["quantity"])),
                            },
                            "shippingWeightCalculationMethod": "Package",
                        }
                        for item in fulfillable
                    ],
                }
            ]
        if speed == "ScheduledDelivery" and body.get("includeDeliveryWindows"):
            day = (now + timedelta(days=1)).replace(hour=16, minute=0, second=0)
            preview["scheduledDeliveryInfo"] = {
                "deliveryTimeZone": "America/Los_Angeles",
                "deliveryWindows": [
                    {
                        "startDate": format_timestamp(day + timedelta(days=n)),
                        "endDate": format_timestamp(day + timedelta(days=n, hours=4)),
                    }
                    for n in range(3)
                ],
            }
        if body.get("featureConstraints"):
            preview["featureConstraints"] = copy.deepcopy(body["featureConstraints"])
        previews.append(preview)
    return 200, {"payload": {"fulfillmentPreviews": previews}}


def delivery_offers(ctx: CallContext) -> HandlerResult:
    body: dict[str, Any] = ctx.body
    destination = body["terms"]["destination"]
    if not destination.get("deliveryAddress") and not destination.get("ipAddress"):
        raise ApiError(400, "InvalidInput", "Either deliveryAddress or ipAddress is required in destination.")
    product = body["product"]
    sku = product["productIdentifier"]["merchantSku"]
    try:
        quantity = int(Decimal(str(product.get("amount", {}).get("value", "1"))))
    except ArithmeticError as exc:
        raise ApiError(400, "InvalidInput", "product.amount.value is not a number.") from exc
    if _unfulfillable_reason(_stock(ctx), sku, max(quantity, 1)) is not None:
        return 200, {"payload": {"deliveryOffers": []}}
    now = datetime.now(UTC).replace(microsecond=0)
    earliest, latest = now + timedelta(days=2), now + timedelta(days=4)
    offer = {
        "expiresAt": format_timestamp(now + timedelta(minutes=15)),
        "dateRange": {"earliest": format_timestamp(earliest), "latest": format_timestamp(latest)},
        "policy": {
            "message": {
                "text": f"Get it {earliest:%A, %B} {earliest.day} - {latest:%A, %B} {latest.day}",
                "locale": "en-US",
            }
        },
    }
    return 200, {"payload": {"deliveryOffers": [offer]}}


# -- listing ----------------------------------------------------------------------------------------------

# Without queryStartDate SP-API lists the orders updated in the last 36 hours.
DEFAULT_LIST_WINDOW = timedelta(hours=36)


def _page(
    ctx: CallContext, key: str, keys: list[Any] | None, context: dict[str, Any] | None = None
) -> tuple[list[Any], str | None, dict[str, Any]]:
    try:
        return ctx.state.page(
            key,
            ctx.seller_id,
            size=max(1, ctx.state.config.page_size),
            token=ctx.query.get("nextToken"),
            keys=lambda: list(keys or []),
            context=context,
        )
    except StateError as exc:
        raise ApiError(400, "InvalidInput", str(exc)) from exc


def list_all_fulfillment_orders(ctx: CallContext) -> HandlerResult:
    """Orders of the seller whose status changed at or after ``queryStartDate``, oldest change first,
    ``page_size`` per page; ``nextToken`` continues the snapshot taken at the first page."""
    keys: list[Any] | None = None
    if not ctx.query.get("nextToken"):
        raw = ctx.query.get("queryStartDate")
        start = parse_timestamp(raw) if raw else datetime.now(UTC) - DEFAULT_LIST_WINDOW
        matching = [
            record
            for (seller, _), record in ctx.state.orders.items()
            if seller == ctx.seller_id and parse_timestamp(record.status_updated_date) >= start
        ]
        matching.sort(key=lambda r: (parse_timestamp(r.status_updated_date), r.seller_fulfillment_order_id))
        keys = [(r.seller_id, r.seller_fulfillment_order_id) for r in matching]
    page, next_token, _ = _page(ctx, ctx.operation.name, keys)
    orders = [_order_view(ctx, ctx.state.orders[key]) for key in page if key in ctx.state.orders]
    payload: dict[str, Any] = {"fulfillmentOrders": orders}
    if next_token:
        payload["nextToken"] = next_token
    return 200, {"payload": payload}


# -- tracking ---------------------------------------------------------------------------------------------

CARRIERS: dict[str, tuple[str, str]] = {
    "UPS": ("+1 800-742-5877", "https://www.ups.com"),
    "USPS": ("+1 800-275-8777", "https://www.usps.com"),
    "FEDEX": ("+1 800-463-3339", "https://www.fedex.com"),
    "AMZN_US": ("+1 888-280-4331", "https://track.amazon.com"),
}
TRACKING_EVENTS: dict[str, tuple[str, str]] = {
    "IN_TRANSIT": ("EVENT_202", "Departure scan"),
    "OUT_FOR_DELIVERY": ("EVENT_302", "Out for delivery"),
    "DELIVERED": ("EVENT_301", "Delivered"),
    "DELAYED": ("EVENT_402", "Delivery delayed"),
    "UNDELIVERABLE": ("EVENT_406", "Undeliverable"),
    "RETURNING": ("EVENT_409", "Returning to sender"),
}
FC_ADDRESS = {"city": "Phoenix", "state": "AZ", "country": "US"}


def get_package_tracking_details(ctx: CallContext) -> HandlerResult:
    number = int(ctx.query["packageNumber"])
    package = ctx.state.packages.get(number)
    if package is None or package.seller_id != ctx.seller_id:
        raise ApiError(400, "InvalidInput", f"Value {number} for parameter packageNumber is invalid.")
    order = ctx.state.orders.get((package.seller_id, package.seller_fulfillment_order_id))
    address: dict[str, Any] = order.fields.get("destinationAddress", {}) if order else {}
    ship_to = {
        "city": str(address.get("city", ""))[:150],
        "state": str(address.get("stateOrRegion", ""))[:150],
        "country": str(address.get("countryCode", ""))[:6],
    }
    events: list[dict[str, Any]] = [
        {
            "eventDate": package.ship_date,
            "eventAddress": FC_ADDRESS,
            "eventCode": "EVENT_101",
            "eventDescription": "Carrier notified to pick up package",
        },
        {
            "eventDate": package.ship_date,
            "eventAddress": FC_ADDRESS,
            "eventCode": "EVENT_102",
            "eventDescription": "Shipment picked up from seller's facility",
        },
    ]
    for status, when in package.status_history[1:]:
        code, description = TRACKING_EVENTS.get(status, ("EVENT_201", "Arrival scan"))
        events.append(
            {"eventDate": when, "eventAddress": ship_to, "eventCode": code, "eventDescription": description}
        )
    phone, url = CARRIERS.get(package.carrier_code.upper(), ("+1 800-000-0000", "https://www.amazon.com"))
    details: dict[str, Any] = {
        "packageNumber": package.package_number,
        "trackingNumber": package.tracking_number,
        "customerTrackingLink": f"https://www.amazon.com/progress-tracker/package/{package.tracking_number}",
        "carrierCode": package.carrier_code,
        "carrierPhoneNumber": phone,
        "carrierURL": url,
        "shipDate": package.ship_date,
        "estimatedArrivalDate": package.estimated_arrival_date,
        "shipToAddress": ship_to,
        "currentStatus": package.current_status,
        "currentStatusDescription": package.current_status.replace("_", " ").capitalize(),
        "trackingEvents": events,
    }
    if package.current_status == "DELIVERED":
        details["signedForBy"] = str(address.get("name", "")).split(" ")[0] or "Customer"
        details["additionalLocationInfo"] = "FRONT_DOOR"
    return 200, {"payload": details}


# -- returns ----------------------------------------------------------------------------------------------

RETURN_REASONS: tuple[tuple[str, str], ...] = (
    ("NOTCOMPATIBLE", "Not compatible with existing system"),
    ("DEFECTIVE", "Item is defective or does not work"),
    ("DAMAGED_BY_CARRIER", "Product and shipping box both damaged"),
    ("MISSING_PARTS", "Missing parts or accessories"),
    ("NOT_AS_DESCRIBED", "Item is not as described on the website"),
    ("ORDERED_WRONG_ITEM", "Bought by mistake"),
    ("UNWANTED_ITEM", "No longer needed"),
)
RETURN_TO_ADDRESS = {
    "name": "Amazon.com Returns",
    "addressLine1": "2700 Regent Blvd",
    "city": "Dallas",
    "stateOrRegion": "TX",
    "postalCode": "75261",
    "countryCode": "US",
}


def list_return_reason_codes(ctx: CallContext) -> HandlerResult:
    order_id = ctx.query.get("sellerFulfillmentOrderId")
    if order_id and (ctx.seller_id, order_id) not in ctx.state.orders:
        raise not_found_error(order_id)
    translated = bool(ctx.query.get("language"))
    codes: list[dict[str, Any]] = []
    for code, description in RETURN_REASONS:
        entry = {"returnReasonCode": code, "description": description}
        if translated:
            entry["translatedDescription"] = description
        codes.append(entry)
    return 200, {"payload": {"reasonCodeDetails": codes}}


def _invalid_return(item: dict[str, Any], code: str, description: str) -> dict[str, Any]:
    return {
        "sellerReturnItemId": item["sellerReturnItemId"],
        "sellerFulfillmentOrderItemId": item["sellerFulfillmentOrderItemId"],
        "invalidItemReason": {"invalidItemReasonCode": code, "description": description},
    }


def _short_id(prefix: str, *parts: str) -> str:
    return prefix + hashlib.sha256("/".join(parts).encode()).hexdigest()[:10].upper()


def create_fulfillment_return(ctx: CallContext) -> HandlerResult:
    """Returns of shipped units: one ``ReturnItem`` per unit, one return authorization per fulfillment
    center; problems per item land in ``invalidReturnItems``. An order that never shipped answers 400."""
    record = _order(ctx)
    order_id = record.seller_fulfillment_order_id
    if not record.shipments:
        raise ApiError(
            400,
            "InvalidInput",
            f"Value {order_id} for parameter SellerFulfillmentOrderId is invalid. "
            "Reason: NoCompletedShipItems.",
        )
    shipped: dict[tuple[str, str], int] = {}
    centers: dict[str, str] = {}
    for shipment in record.shipments:
        centers[shipment["amazonShipmentId"]] = shipment["fulfillmentCenterId"]
        for item in shipment["fulfillmentShipmentItem"]:
            key = (shipment["amazonShipmentId"], item["sellerFulfillmentOrderItemId"])
            shipped[key] = shipped.get(key, 0) + int(item["quantity"])
    returned: dict[tuple[str, str], int] = {}
    for existing in record.return_items:
        key = (existing["amazonShipmentId"], existing["sellerFulfillmentOrderItemId"])
        returned[key] = returned.get(key, 0) + 1
    known_ids = {existing["sellerReturnItemId"] for existing in record.return_items}
    reasons = {code for code, _ in RETURN_REASONS}
    now = timestamp()
    accepted: list[dict[str, Any]] = []
    invalid: list[dict[str, Any]] = []
    authorizations: dict[str, dict[str, Any]] = {
        a["fulfillmentCenterId"]: a for a in record.return_authorizations
    }
    used: dict[str, dict[str, Any]] = {}
    for item in ctx.body["items"]:
        key = (item["amazonShipmentId"], item["sellerFulfillmentOrderItemId"])
        if item["sellerReturnItemId"] in known_ids:
            invalid.append(
                _invalid_return(item, "DuplicateRequest", "A return already exists for this item.")
            )
            continue
        if key not in shipped:
            invalid.append(
                _invalid_return(
                    item, "InvalidValues", "The shipment does not hold this fulfillment order item."
                )
            )
            continue
        if item["returnReasonCode"] not in reasons:
            invalid.append(
                _invalid_return(
                    item, "InvalidValues", f"Invalid return reason code {item['returnReasonCode']}."
                )
            )
            continue
        if returned.get(key, 0) >= shipped[key]:
            invalid.append(_invalid_return(item, "NoReturnableQuantity", "No returnable quantity is left."))
            continue
        center = centers[item["amazonShipmentId"]]
        authorization = authorizations.get(center)
        if authorization is None:
            authorization = {
                "returnAuthorizationId": _short_id("RA", ctx.seller_id, order_id, center),
                "fulfillmentCenterId": center,
                "returnToAddress": dict(RETURN_TO_ADDRESS),
                "amazonRmaId": _short_id("D", ctx.seller_id, order_id, center, "rma"),
                "rmaPageURL": f"https://www.amazon.com/returns/label/{_short_id('', order_id, center)}",
            }
            authorizations[center] = authorization
            record.return_authorizations.append(authorization)
        used[center] = authorization
        return_item: dict[str, Any] = {
            "sellerReturnItemId": item["sellerReturnItemId"],
            "sellerFulfillmentOrderItemId": item["sellerFulfillmentOrderItemId"],
            "amazonShipmentId": item["amazonShipmentId"],
            "sellerReturnReasonCode": item["returnReasonCode"],
            "amazonReturnReasonCode": item["returnReasonCode"],
            "status": "New",
            "statusChangedDate": now,
            "returnAuthorizationId": authorization["returnAuthorizationId"],
            "fulfillmentCenterId": center,
        }
        if item.get("returnComment"):
            return_item["returnComment"] = item["returnComment"]
        accepted.append(return_item)
        record.return_items.append(return_item)
        known_ids.add(item["sellerReturnItemId"])
        returned[key] = returned.get(key, 0) + 1
        ctx.state.record_effect(ctx.operation.name, f"{order_id}/{item['sellerReturnItemId']}")
    payload = {
        "returnItems": copy.deepcopy(accepted),
        "invalidReturnItems": invalid,
        "returnAuthorizations": copy.deepcopy(list(used.values())),
    }
    return 200, {"payload": payload}


# -- features ---------------------------------------------------------------------------------------------

FEATURES: dict[str, str] = {
    "BLANK_BOX": "Ship the order in a box without Amazon branding.",
    "BLOCK_AMZL": "Do not deliver the order with Amazon Logistics.",
    "SIGNATURE_CONFIRMATION": "Require a signature at delivery.",
}


def _feature(ctx: CallContext) -> str:
    name = ctx.path_params["featureName"]
    if name not in FEATURES:
        raise ApiError(400, "InvalidInput", f"Value {name} for parameter featureName is invalid.")
    return name


def get_features(ctx: CallContext) -> HandlerResult:
    features = [
        {"featureName": name, "featureDescription": description, "sellerEligible": True}
        for name, description in FEATURES.items()
    ]
    return 200, {"payload": {"features": features}}


def get_feature_inventory(ctx: CallContext) -> HandlerResult:
    """The seller's SKUs in stock, ``page_size`` per page with ``nextToken``."""
    feature = _feature(ctx)
    stock = _stock(ctx) or {}
    keys = sorted(sku for sku, record in stock.items() if record.quantity > 0)
    page, next_token, _ = _page(ctx, f"{ctx.operation.name}/{feature}", keys)
    skus = [
        {
            "sellerSku": record.seller_sku,
            "fnSku": record.fn_sku,
            "asin": record.asin,
            "skuCount": record.quantity,
            "overlappingSkus": [],
        }
        for sku in page
        if (record := stock.get(sku)) is not None
    ]
    payload: dict[str, Any] = {
        "marketplaceId": ctx.query["marketplaceId"],
        "featureName": feature,
        "featureSkus": skus,
    }
    if next_token:
        payload["nextToken"] = next_token
    return 200, {"payload": payload}


def get_feature_sku(ctx: CallContext) -> HandlerResult:
    feature = _feature(ctx)
    sku = ctx.path_params["sellerSku"]
    payload: dict[str, Any] = {
        "marketplaceId": ctx.query["marketplaceId"],
        "featureName": feature,
        "sellerSku": sku,
        "isEligible": True,
    }
    stock = _stock(ctx)
    record = stock.get(sku) if stock is not None else None
    if stock is not None and record is None:
        payload.update(isEligible=False, ineligibleReasons=["INVALID_SKU"])
    elif record is not None:
        payload.update(fnSku=record.fn_sku, asin=record.asin, skuCount=record.quantity)
        if record.quantity <= 0:
            payload.update(isEligible=False, ineligibleReasons=["SKU_NOT_ELIGIBLE"])
    return 200, {"payload": payload}


def register(registry: HandlerRegistry) -> None:
    registry.add("getFulfillmentPreview", get_fulfillment_preview)
    registry.add("deliveryOffers", delivery_offers)
    registry.add("listAllFulfillmentOrders", list_all_fulfillment_orders)
    registry.add("getPackageTrackingDetails", get_package_tracking_details)
    registry.add("listReturnReasonCodes", list_return_reason_codes)
    registry.add("createFulfillmentReturn", create_fulfillment_return)
    registry.add("getFeatures", get_features)
    registry.add("getFeatureInventory", get_feature_inventory)
    registry.add("getFeatureSKU", get_feature_sku)
    registry.add("createFulfillmentOrder", create_fulfillment_order)
    registry.add("getFulfillmentOrder", get_fulfillment_order)
    registry.add("updateFulfillmentOrder", update_fulfillment_order)
    registry.add("cancelFulfillmentOrder", cancel_fulfillment_order)
    registry.add("submitFulfillmentOrderStatusUpdate", submit_fulfillment_order_status_update)
