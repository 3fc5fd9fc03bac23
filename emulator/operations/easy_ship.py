"""Easy Ship 2022-03-23: handover slots, scheduled packages (one per Amazon order), slot updates and bulk
scheduling. createScheduledPackageBulk is restricted (the pipeline wants a restricted data token).

Errors mirror the model's static sandbox cases: an unknown order answers 400 ``ResourceNotFound`` "The
specified resource (for example, `AmazonOrderId` or `MarketplaceId`) does not exist.", an unreadable request
400 ``InvalidInput`` "Request has missing or invalid parameters and cannot be parsed.", a slot in the past
400 ``ScheduleWindowExpired`` "The selected time slot has expired.". An Amazon order id is any id of the
form ``123-1234567-1234567``. Slot ids handed out by listHandoverSlots encode their window; other slot ids
are taken as opaque with the window the caller gave.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from emulator.errors import ApiError
from emulator.generators import format_timestamp
from emulator.registry import CallContext, HandlerRegistry, HandlerResult
from emulator.state import EasyShipPackageRecord, parse_timestamp

AMAZON_ORDER_ID = re.compile(r"\A\d{3}-\d{7}-\d{7}\Z")
RESOURCE_NOT_FOUND = (
    "The specified resource (for example, `AmazonOrderId` or `MarketplaceId`) does not exist."
)
CANNOT_PARSE = "Request has missing or invalid parameters and cannot be parsed."
SLOT_EXPIRED = "The selected time slot has expired."
SLOT_PREFIX = "ESv1"
SLOT_DAYS = 3
# (start hour, end hour) UTC of the daily pickup windows.
SLOT_WINDOWS = ((10, 13), (14, 18))
DEFAULT_DIMENSIONS = {"length": 12.0, "width": 12.0, "height": 12.0, "unit": "cm"}
DEFAULT_WEIGHT = {"value": 500.0, "unit": "g"}
MAX_BULK_PACKAGES = 100
MOVABLE_STATUSES = frozenset({"ReadyForPickup"})


def resource_not_found() -> ApiError:
    return ApiError(400, "ResourceNotFound", RESOURCE_NOT_FOUND)


def cannot_parse() -> ApiError:
    return ApiError(400, "InvalidInput", CANNOT_PARSE)


def slot_id(start: datetime, end: datetime, method: str = "PICKUP") -> str:
    raw = f"{SLOT_PREFIX}|{int(start.timestamp())}|{int(end.timestamp())}|{method}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_slot(value: str) -> tuple[datetime, datetime, str] | None:
    try:
        prefix, start, end, method = base64.urlsafe_b64decode(value.encode()).decode().split("|")
        if prefix != SLOT_PREFIX:
            return None
        return datetime.fromtimestamp(int(start), UTC), datetime.fromtimestamp(int(end), UTC), method
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def handover_slots(now: datetime | None = None) -> list[dict[str, Any]]:
    """The pickup slots of the next ``SLOT_DAYS`` days."""
    today = (now or datetime.now(UTC)).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    slots: list[dict[str, Any]] = []
    for day in range(1, SLOT_DAYS + 1):
        for start_hour, end_hour in SLOT_WINDOWS:
            start = today + timedelta(days=day, hours=start_hour)
            end = today + timedelta(days=day, hours=end_hour)
            slots.append(
                {
                    "slotId": slot_id(start, end),
                    "startTime": format_timestamp(start),
                    "endTime": format_timestamp(end),
                    "handoverMethod": "PICKUP",
                }
            )
    return slots


def _time_slot(requested: dict[str, Any]) -> dict[str, Any]:
    """The slot a package moves to; 400 when it cannot be read or lies in the past."""
    value = str(requested.get("slotId") or "")
    if not value:
        raise cannot_parse()
    now = datetime.now(UTC)
    decoded = _decode_slot(value)
    if decoded is not None:
        start, end, method = decoded
        if end <= now:
            raise ApiError(400, "ScheduleWindowExpired", SLOT_EXPIRED)
        return {
            "slotId": value,
            "startTime": format_timestamp(start),
            "endTime": format_timestamp(end),
            "handoverMethod": method,
        }
    slot: dict[str, Any] = {
        k: requested[k] for k in ("slotId", "startTime", "endTime", "handoverMethod") if k in requested
    }
    if "endTime" in slot:
        try:
            expired = parse_timestamp(str(slot["endTime"])) <= now
        except ValueError as exc:
            raise cannot_parse() from exc
        if expired:
            raise ApiError(400, "ScheduleWindowExpired", SLOT_EXPIRED)
    return slot


def _check_order_id(order_id: str) -> None:
    if not AMAZON_ORDER_ID.match(order_id):
        raise resource_not_found()


def list_handover_slots(ctx: CallContext) -> HandlerResult:
    body: dict[str, Any] | None = ctx.body
    if not body:
        raise cannot_parse()
    order_id = str(body["amazonOrderId"])
    if not order_id:
        raise ApiError(400, "InvalidInput", CANNOT_PARSE, "")
    _check_order_id(order_id)
    return 200, {"amazonOrderId": order_id, "timeSlots": handover_slots()}


def _package_record(ctx: CallContext, order_id: str, marketplace_id: str | None) -> EasyShipPackageRecord:
    record = ctx.state.easy_ship_packages.get((ctx.seller_id, order_id))
    if record is None or (marketplace_id is not None and record.marketplace_id != marketplace_id):
        raise resource_not_found()
    return record


def get_scheduled_package(ctx: CallContext) -> HandlerResult:
    record = _package_record(ctx, str(ctx.query["amazonOrderId"]), str(ctx.query["marketplaceId"]))
    return 200, copy.deepcopy(record.package)


def _new_package(order_id: str, details: dict[str, Any], slot: dict[str, Any]) -> dict[str, Any]:
    package: dict[str, Any] = {
        "scheduledPackageId": {"amazonOrderId": order_id, "packageId": str(uuid.uuid4())},
        "packageDimensions": dict(DEFAULT_DIMENSIONS),
        "packageWeight": dict(DEFAULT_WEIGHT),
        "packageTimeSlot": slot,
        "packageStatus": "ReadyForPickup",
    }
    if details.get("packageItems"):
        package["packageItems"] = copy.deepcopy(details["packageItems"])
    if details.get("packageIdentifier"):
        package["packageIdentifier"] = details["packageIdentifier"]
    return package


def already_scheduled(order_id: str) -> ApiError:
    return ApiError(400, "InvalidInput", CANNOT_PARSE, f"The order {order_id} is already scheduled.")


def create_scheduled_package(ctx: CallContext) -> HandlerResult:
    body: dict[str, Any] = ctx.body
    order_id = str(body["amazonOrderId"])
    _check_order_id(order_id)
    if (ctx.seller_id, order_id) in ctx.state.easy_ship_packages:
        raise already_scheduled(order_id)
    details: dict[str, Any] = body["packageDetails"]
    package = _new_package(order_id, details, _time_slot(details["packageTimeSlot"]))
    ctx.state.easy_ship_packages[(ctx.seller_id, order_id)] = EasyShipPackageRecord(
        ctx.seller_id, order_id, str(body["marketplaceId"]), package
    )
    ctx.state.record_effect(ctx.operation.name, order_id)
    return 200, copy.deepcopy(package)


def update_scheduled_packages(ctx: CallContext) -> HandlerResult:
    """All or nothing: every package must exist (and match its packageId when given) and every slot be
    readable and in the future before any package moves."""
    body: dict[str, Any] = ctx.body or {}
    marketplace_id = str(body.get("marketplaceId") or "")
    changes: list[tuple[EasyShipPackageRecord, dict[str, Any]]] = []
    for update in body.get("updatePackageDetailsList", []):
        package_id = update["scheduledPackageId"]
        order_id = str(package_id.get("amazonOrderId") or "")
        record = _package_record(ctx, order_id, marketplace_id)
        wanted_id = package_id.get("packageId")
        if wanted_id and wanted_id != record.package["scheduledPackageId"].get("packageId"):
            raise resource_not_found()
        if record.package.get("packageStatus") not in MOVABLE_STATUSES:
            raise ApiError(
                400,
                "InvalidInput",
                CANNOT_PARSE,
                f"The package of order {order_id} can no longer be updated.",
            )
        changes.append((record, _time_slot(update["packageTimeSlot"])))
    for record, slot in changes:
        record.package["packageTimeSlot"] = slot
        ctx.state.record_effect(ctx.operation.name, record.amazon_order_id)
    # Each package once, in request order.
    packages = {id(record): copy.deepcopy(record.package) for record, _ in changes}
    return 200, {"packages": list(packages.values())}


def create_scheduled_package_bulk(ctx: CallContext) -> HandlerResult:
    body: dict[str, Any] = ctx.body
    requested: list[dict[str, Any]] = body["orderScheduleDetailsList"]
    if len(requested) > MAX_BULK_PACKAGES:
        raise ApiError(400, "InvalidInput", CANNOT_PARSE, f"At most {MAX_BULK_PACKAGES} orders per request.")
    earliest = handover_slots()[0]
    now = datetime.now(UTC)
    scheduled: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for entry in requested:
        order_id = str(entry["amazonOrderId"])
        if not AMAZON_ORDER_ID.match(order_id):
            message = f"Couldn't find the order details for {order_id}"
            rejected.append(
                {
                    "amazonOrderId": order_id,
                    "error": {"code": "InvalidInput", "message": message, "details": message},
                }
            )
            continue
        if (ctx.seller_id, order_id) in ctx.state.easy_ship_packages:
            message = f"The order {order_id} is already scheduled."
            rejected.append(
                {
                    "amazonOrderId": order_id,
                    "error": {"code": "InvalidInput", "message": message, "details": message},
                }
            )
            continue
        details: dict[str, Any] = entry.get("packageDetails") or {}
        try:
            slot = (
                _time_slot(details["packageTimeSlot"]) if details.get("packageTimeSlot") else dict(earliest)
            )
        except ApiError as error:
            rejected.append(
                {"amazonOrderId": order_id, "error": {"code": error.code, "message": error.message}}
            )
            continue
        package = _new_package(order_id, details, slot)
        package["invoice"] = {
            "invoiceNumber": "IN-" + uuid.uuid4().hex[:8].upper(),
            "invoiceDate": format_timestamp(now),
        }
        package["trackingDetails"] = {"trackingId": str(int(now.timestamp() * 1000) + len(scheduled))}
        ctx.state.easy_ship_packages[(ctx.seller_id, order_id)] = EasyShipPackageRecord(
            ctx.seller_id, order_id, str(body["marketplaceId"]), package
        )
        ctx.state.record_effect(ctx.operation.name, order_id)
        scheduled.append(copy.deepcopy(package))
    answer: dict[str, Any] = {"scheduledPackages": scheduled}
    if rejected:
        answer["rejectedOrders"] = rejected
    if scheduled:
        label = str(body.get("labelFormat", "PDF")).lower()
        answer["printableDocumentsUrl"] = (
            f"https://easyship-documents.emulator.invalid/{uuid.uuid4()}-{label}.zip"
        )
    return 200, answer


def register(registry: HandlerRegistry) -> None:
    registry.add("listHandoverSlots", list_handover_slots)
    registry.add("getScheduledPackage", get_scheduled_package)
    registry.add("createScheduledPackage", create_scheduled_package)
    registry.add("updateScheduledPackages", update_scheduled_packages)
    registry.add("createScheduledPackageBulk", create_scheduled_package_bulk)
