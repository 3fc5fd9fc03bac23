"""Everything the emulator remembers, behind one re-entrant lock.

Tests reach it as ``server.state``; the control API (``/_emulator/...``) calls the same methods.
"""

from __future__ import annotations

import copy
import itertools
import random
import secrets
import string
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from domain.spapi.fulfillment_outbound_2020_07_01 import CurrentStatus
from emulator.generators import (
    DF_ORDER_STATUSES,
    format_timestamp,
    generate_df_order,
    generate_purchase_order_number,
    generate_retail_order,
)
from emulator.notification_delivery import (
    ORDER_EVENT,
    SHIPMENT_EVENT,
    NotificationDelivery,
    OrderStatusChange,
    shipment_of_2020,
)
from emulator.notification_state import NotificationsState
from emulator.ratelimit import RateLimiter

FaultKind = Literal["status", "timeout", "slow"]
FAULT_KINDS: tuple[FaultKind, ...] = ("status", "timeout", "slow")
TokenKind = Literal["access", "grantless", "restricted"]
TransactionStatus = Literal["Processing", "Success", "Failure"]
TRANSACTION_STATUSES: tuple[TransactionStatus, ...] = ("Processing", "Success", "Failure")
# FulfillmentOrderStatus of fulfillmentOutbound_2020-07-01 (checked against the model by the tests).
ORDER_STATUSES = (
    "New",
    "Received",
    "Planning",
    "Processing",
    "Cancelled",
    "Complete",
    "CompletePartialled",
    "Unfulfillable",
    "Invalid",
)
# Orders that have not left the warehouse can ship (the control API's ``ship``).
SHIPPABLE_STATUSES = frozenset({"New", "Received", "Planning", "Processing"})
# CurrentStatus of getPackageTrackingDetails, as the official model enumerates it.
TRACKING_STATUSES: tuple[str, ...] = get_args(CurrentStatus)
DEFAULT_TIMEOUT_DELAY = 30.0
DEFAULT_SLOW_DELAY = 3.0


def timestamp() -> str:
    """Now, the way SP-API writes it: ``2020-02-07T01:23:30Z``."""
    return format_timestamp(datetime.now(UTC))


def parse_timestamp(value: str) -> datetime:
    """An ISO-8601 date-time (``Z`` or offset; naive means UTC); ValueError when it is not one."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _tracking_number(carrier_code: str) -> str:
    digits = "".join(random.choices(string.digits, k=16))
    if carrier_code.upper() == "UPS":
        return "1Z" + digits
    if carrier_code.upper() in ("AMZN_US", "AMZL", "AMAZON"):
        return "TBA" + digits[:12]
    return digits


class StateError(ValueError):
    """A control request the state cannot honour (unknown id, bad value)."""


@dataclass(frozen=True)
class Account:
    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    seller_id: str


@dataclass
class IssuedToken:
    client_id: str
    seller_id: str | None
    kind: TokenKind
    expires_at: float  # time.monotonic()
    scope: str | None = None
    # A restricted data token's grants: (method, path) pairs; a path may hold ``{placeholders}``.
    restricted_resources: tuple[tuple[str, str], ...] = ()


@dataclass
class FulfillmentOrderRecord:
    """``request`` is the create body as received; ``fields`` and ``items`` are the current order (after
    updates), ``fields`` holding the top-level fields other than ``items``."""

    seller_id: str
    seller_fulfillment_order_id: str
    request: dict[str, Any]
    fields: dict[str, Any]
    items: list[dict[str, Any]]
    status: str
    received_date: str
    status_updated_date: str
    shipments: list[dict[str, Any]] = field(default_factory=list)  # FulfillmentShipment (model shape)
    unfulfillable: dict[str, int] = field(default_factory=dict)  # by sellerFulfillmentOrderItemId
    return_items: list[dict[str, Any]] = field(default_factory=list)  # ReturnItem (model shape)
    return_authorizations: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Mcf2026OrderRecord:
    """A Fulfillment Outbound 2026-07-04 order: ``request`` is the createOrder body as received."""

    seller_id: str
    order_id: str
    request: dict[str, Any]
    fulfillment_configuration: dict[str, Any]
    status: str  # OrderStatus of the 2026-07-04 model
    receive_time: str
    status_update_time: str
    shipments: list[dict[str, Any]] = field(default_factory=list)  # Shipment (model shape), by updatePackage


@dataclass
class PackageRecord:
    """A package of an MCF shipment, for getPackageTrackingDetails."""

    package_number: int
    seller_id: str
    seller_fulfillment_order_id: str
    amazon_shipment_id: str
    carrier_code: str
    tracking_number: str
    ship_date: str
    estimated_arrival_date: str
    current_status: str = "IN_TRANSIT"
    status_history: list[tuple[str, str]] = field(default_factory=list)  # (currentStatus, date)


@dataclass
class InventoryRecord:
    seller_sku: str
    quantity: int
    asin: str
    fn_sku: str


@dataclass
class DfOrderRecord:
    """A vendor direct-fulfillment purchase order: ``order`` is the model's ``Order`` (with details)."""

    seller_id: str
    purchase_order_number: str
    created: datetime
    order: dict[str, Any]


@dataclass
class RetailOrderRecord:
    """A Retail Procurement purchase order: ``order`` is vendorOrders v1's ``Order`` (with details);
    ``acknowledged`` holds each acknowledged line (``OrderAcknowledgementItem``) by sequence number."""

    seller_id: str
    purchase_order_number: str
    created: datetime
    updated: datetime
    order: dict[str, Any]
    acknowledged: dict[str, dict[str, Any]] = field(default_factory=dict)
    # When an acknowledged New order's purchaseOrderState shows Acknowledged (None: nothing pending): its
    # lines' confirmations show at once, the order's state only after the lag Amazon takes to process it.
    state_shows_at: datetime | None = None

    def show_state_if_due(self, now: datetime) -> None:
        due = self.state_shows_at
        if due is None or now < due:
            return
        self.state_shows_at = None
        if self.order["purchaseOrderState"] == "New":
            self.order["purchaseOrderState"] = "Acknowledged"
            self.order["orderDetails"]["purchaseOrderStateChangedDate"] = format_timestamp(due)


@dataclass
class EasyShipPackageRecord:
    """``package`` is the Easy Ship model's ``Package``."""

    seller_id: str
    amazon_order_id: str
    marketplace_id: str
    package: dict[str, Any]


@dataclass
class PageCursor:
    """The rest of a paged listing, taken as a snapshot at the first page (so every item is seen once)."""

    operation: str
    seller_id: str
    keys: list[Any]
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class TransactionRecord:
    transaction_id: str
    seller_id: str
    operation: str
    created_at: float  # time.monotonic()
    forced_status: TransactionStatus | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    # The status the transaction settles into after ``transaction_settle_seconds`` (``Processing``: never).
    settles_to: TransactionStatus = "Success"


@dataclass
class Fault:
    """An injected fault. ``count`` limits it to the next N matching calls, ``probability`` makes it random;
    with neither it applies to every matching call until cleared. ``after`` lets the next N matching calls
    through first (a fault on page 7 of a listing: ``after: 6``)."""

    operation: str = "*"
    kind: FaultKind = "status"
    status: int = 503
    count: int | None = None
    after: int = 0
    probability: float | None = None
    delay_seconds: float | None = None
    apply_before_fault: bool = False
    code: str | None = None
    message: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise StateError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        if not 100 <= self.status <= 599:
            raise StateError("status must be an HTTP status code")
        if self.count is not None and self.count < 1:
            raise StateError("count must be at least 1")
        if self.after < 0:
            raise StateError("after must not be negative")
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise StateError("probability must be between 0 and 1")
        if self.delay_seconds is not None and self.delay_seconds < 0:
            raise StateError("delaySeconds must not be negative")

    @property
    def delay(self) -> float:
        if self.delay_seconds is not None:
            return self.delay_seconds
        return {"timeout": DEFAULT_TIMEOUT_DELAY, "slow": DEFAULT_SLOW_DELAY}.get(self.kind, 0.0)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        known = {
            "operation",
            "kind",
            "status",
            "count",
            "after",
            "probability",
            "delaySeconds",
            "applyBeforeFault",
            "code",
            "message",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise StateError(f"unknown fault fields: {', '.join(unknown)}")
        try:
            return cls(
                operation=str(data.get("operation", "*")),
                kind=data.get("kind", "status"),
                status=int(data.get("status", 504 if data.get("kind") == "timeout" else 503)),
                count=None if data.get("count") is None else int(data["count"]),
                after=int(data.get("after") or 0),
                probability=None if data.get("probability") is None else float(data["probability"]),
                delay_seconds=None if data.get("delaySeconds") is None else float(data["delaySeconds"]),
                apply_before_fault=bool(data.get("applyBeforeFault", False)),
                code=None if data.get("code") is None else str(data["code"]),
                message=None if data.get("message") is None else str(data["message"]),
            )
        except (TypeError, ValueError) as exc:
            raise StateError(f"invalid fault: {exc}") from exc

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "operation": self.operation,
            "kind": self.kind,
            "status": self.status,
            "count": self.count,
            "after": self.after,
            "probability": self.probability,
            "delaySeconds": self.delay,
            "applyBeforeFault": self.apply_before_fault,
            "code": self.code,
            "message": self.message,
        }


@dataclass(frozen=True)
class CallRecord:
    operation_id: str | None
    operation: str | None
    status: int
    seller: str | None
    path: str
    time: float  # time.time()
    # The page asked for, on a paged listing (its ``nextToken``; None: the first page or not paged).
    next_token: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "operationId": self.operation_id,
            "operation": self.operation,
            "status": self.status,
            "seller": self.seller,
            "path": self.path,
            "time": self.time,
            "nextToken": self.next_token,
        }


@dataclass
class EmulatorConfig:
    rate_scale: float = 1.0
    sandbox_usage_plan: bool = False
    token_ttl_seconds: int = 3600
    transaction_settle_seconds: float = 2.0
    # Page size of listAllFulfillmentOrders / getFeatureInventory (small, so tests exercise paging).
    page_size: int = 2


class EmulatorState:
    """Accounts, tokens, orders, transactions, the call log, applied effects and faults.

    Every public method takes ``lock``; handlers run with ``lock`` held by the request pipeline and may use
    the containers (``orders``, ``transactions``, ...) directly.
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.lock = threading.RLock()
        self._clients: dict[str, str] = {}
        self._accounts: dict[str, Account] = {}  # by refresh token
        self._tokens: dict[str, IssuedToken] = {}
        self._token_requests: Counter[str] = Counter()
        self._grantless_requests: Counter[tuple[str, str]] = Counter()
        self._rdt_issues: Counter[str] = Counter()
        self.orders: dict[tuple[str, str], FulfillmentOrderRecord] = {}
        self.packages: dict[int, PackageRecord] = {}
        self.mcf_orders: dict[tuple[str, str], Mcf2026OrderRecord] = {}  # 2026-07-04, by (seller, orderId)
        # createOrder (2026-07-04) answers 202 "accepted, processed later" instead of 200 while set.
        self.mcf_accept_later = False
        self.inventory: dict[str, dict[str, InventoryRecord]] = {}  # seller -> sellerSku -> record
        self.df_orders: dict[tuple[str, str], DfOrderRecord] = {}
        self.easy_ship_packages: dict[tuple[str, str], EasyShipPackageRecord] = {}
        # Retail purchase orders by (seller, purchaseOrderNumber); one acknowledged unseen is made then.
        self.retail_orders: dict[tuple[str, str], RetailOrderRecord] = {}
        # Seconds an acknowledged retail order stays New in purchaseOrderState (0: it moves at once).
        self.retail_state_lag_seconds = 0.0
        # Notifications API: the applications' destinations and the sellers' subscriptions.
        self.notifications = NotificationsState()
        self.page_cursors: dict[str, PageCursor] = {}
        self.transactions: dict[str, TransactionRecord] = {}
        self._transaction_outcome: tuple[TransactionStatus, list[dict[str, Any]]] = ("Success", [])
        self._package_numbers = itertools.count(1001)
        self.acknowledgements: list[dict[str, Any]] = []
        self._calls: list[CallRecord] = []
        self._effects: dict[str, Counter[str]] = {}
        self._faults: list[Fault] = []
        self.limiter = RateLimiter()
        # FULFILLMENT_ORDER_STATUS notifications of MCF orders, to the destination it is given (if any).
        self.notification_delivery = NotificationDelivery()

    # -- accounts and tokens ------------------------------------------------------------------------------

    def register_account(
        self, client_id: str, client_secret: str, refresh_token: str, seller_id: str
    ) -> Account:
        if not all((client_id, client_secret, refresh_token, seller_id)):
            raise StateError("client_id, client_secret, refresh_token and seller_id are required")
        account = Account(client_id, client_secret, refresh_token, seller_id)
        with self.lock:
            self._clients[client_id] = client_secret
            self._accounts[refresh_token] = account
        return account

    def accounts(self) -> list[Account]:
        with self.lock:
            return list(self._accounts.values())

    def client_authenticates(self, client_id: str, client_secret: str) -> bool:
        with self.lock:
            known = self._clients.get(client_id)
        return known is not None and secrets.compare_digest(known, client_secret)

    def account_for(self, client_id: str, refresh_token: str) -> Account | None:
        with self.lock:
            account = self._accounts.get(refresh_token)
        return account if account is not None and account.client_id == client_id else None

    def count_token_request(self, client_id: str) -> None:
        with self.lock:
            self._token_requests[client_id] += 1

    def token_request_count(self, client_id: str) -> int:
        with self.lock:
            return self._token_requests[client_id]

    def token_requests(self) -> dict[str, int]:
        with self.lock:
            return dict(self._token_requests)

    def issue_token(
        self,
        client_id: str,
        seller_id: str | None,
        kind: TokenKind,
        *,
        scope: str | None = None,
        ttl_seconds: float | None = None,
        restricted_resources: tuple[tuple[str, str], ...] = (),
    ) -> str:
        prefix = {"access": "Atza|", "grantless": "Atc|", "restricted": "Atz.sprdt|"}[kind]
        token = prefix + secrets.token_urlsafe(48)
        ttl = self.config.token_ttl_seconds if ttl_seconds is None else ttl_seconds
        with self.lock:
            self._tokens[token] = IssuedToken(
                client_id, seller_id, kind, time.monotonic() + ttl, scope, restricted_resources
            )
            if kind == "grantless":
                self._grantless_requests[(client_id, scope or "")] += 1
            elif kind == "restricted" and seller_id is not None:
                self._rdt_issues[seller_id] += 1
        return token

    def grantless_token_request_count(self, client_id: str, scope: str) -> int:
        """Grantless tokens issued to ``client_id`` for ``scope`` (client_credentials grants)."""
        with self.lock:
            return self._grantless_requests[(client_id, scope)]

    def grantless_token_requests(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {"clientId": client_id, "scope": scope, "count": count}
                for (client_id, scope), count in sorted(self._grantless_requests.items())
            ]

    def rdt_issue_count(self, seller_id: str) -> int:
        """Restricted data tokens issued for ``seller_id`` (createRestrictedDataToken successes)."""
        with self.lock:
            return self._rdt_issues[seller_id]

    def rdt_issues(self) -> dict[str, int]:
        with self.lock:
            return dict(self._rdt_issues)

    def lookup_token(self, token: str) -> IssuedToken | None:
        with self.lock:
            return self._tokens.get(token)

    def issued_token_values(self) -> list[str]:
        """Every token issued so far (for tests that check no token reached a log)."""
        with self.lock:
            return list(self._tokens)

    def expire_tokens(self) -> int:
        """Expire every issued token (they stay known, so they answer "expired", not "invalid")."""
        now = time.monotonic()
        with self.lock:
            for issued in self._tokens.values():
                issued.expires_at = min(issued.expires_at, now - 1.0)
            return len(self._tokens)

    # -- calls and effects ----------------------------------------------------------------------------------

    def record_call(self, call: CallRecord) -> None:
        with self.lock:
            self._calls.append(call)

    def calls(self, operation: str | None = None) -> list[CallRecord]:
        """The SP-API calls seen so far; ``operation`` filters on name or operationId."""
        with self.lock:
            calls = list(self._calls)
        if operation is None:
            return calls
        return [c for c in calls if operation in (c.operation, c.operation_id)]

    def record_effect(self, operation: str, key: str) -> None:
        with self.lock:
            self._effects.setdefault(operation, Counter())[key] += 1

    def effects(self) -> dict[str, dict[str, int]]:
        """Applied effects per operation name, keyed by natural key, e.g.
        ``{"createFulfillmentOrder": {"order-1": 1}}``. A count above 1 means the effect happened twice."""
        with self.lock:
            return {op: dict(counter) for op, counter in self._effects.items()}

    def effect_count(self, operation: str, key: str) -> int:
        with self.lock:
            return self._effects.get(operation, Counter())[key]

    # -- faults ---------------------------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> Fault:
        with self.lock:
            self._faults.append(fault)
        return fault

    def faults(self) -> list[Fault]:
        with self.lock:
            return list(self._faults)

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def take_fault(self, names: tuple[str, ...]) -> Fault | None:
        """The first fault that applies to this call (consuming one of its ``count``), if any."""
        with self.lock:
            for fault in list(self._faults):
                if fault.operation != "*" and fault.operation not in names:
                    continue
                if fault.after > 0:
                    fault.after -= 1
                    continue
                if fault.probability is not None and random.random() >= fault.probability:
                    continue
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    # -- orders and transactions ----------------------------------------------------------------------------

    def _find_order(self, order_id: str, seller_id: str | None) -> FulfillmentOrderRecord:
        matches = [
            o
            for (seller, oid), o in self.orders.items()
            if oid == order_id and (seller_id is None or seller == seller_id)
        ]
        if not matches:
            raise StateError(f"unknown fulfillment order {order_id}")
        if len(matches) > 1:
            raise StateError(f"order {order_id} exists for several sellers; give sellerId")
        return matches[0]

    def order(self, order_id: str, seller_id: str | None = None) -> FulfillmentOrderRecord:
        with self.lock:
            return self._find_order(order_id, seller_id)

    def set_order_status(self, order_id: str, status: str, seller_id: str | None = None) -> None:
        if status not in ORDER_STATUSES:
            raise StateError(f"status must be one of {', '.join(ORDER_STATUSES)}")
        with self.lock:
            record = self._find_order(order_id, seller_id)
            changed = record.status != status
            record.status = status
            record.status_updated_date = timestamp()
            if changed:
                self.order_status_changed(record)
        self.deliver_notifications()

    def new_transaction(self, seller_id: str, operation: str) -> TransactionRecord:
        with self.lock:
            settles_to, errors = self._transaction_outcome
            record = TransactionRecord(
                str(uuid.uuid4()),
                seller_id,
                operation,
                time.monotonic(),
                errors=copy.deepcopy(errors),
                settles_to=settles_to,
            )
            self.transactions[record.transaction_id] = record
        return record

    def transaction_status(self, record: TransactionRecord) -> TransactionStatus:
        if record.forced_status is not None:
            return record.forced_status
        settled = time.monotonic() - record.created_at >= self.config.transaction_settle_seconds
        return record.settles_to if settled else "Processing"

    def set_transaction_outcome(self, status: str, errors: list[dict[str, Any]] | None = None) -> None:
        """What transactions created from now on settle into after the settle time: ``Success`` (default),
        ``Failure`` (with ``errors``) or ``Processing`` (they never settle). ``reset()`` restores Success."""
        if status not in TRANSACTION_STATUSES:
            raise StateError(f"status must be one of {', '.join(TRANSACTION_STATUSES)}")
        with self.lock:
            self._transaction_outcome = (status, list(errors or []))

    def set_transaction_result(
        self, transaction_id: str, status: str, errors: list[dict[str, Any]] | None = None
    ) -> None:
        """Force a transaction's status, e.g. ``Failure`` with ``[{"code", "message", "details"}]``."""
        if status not in TRANSACTION_STATUSES:
            raise StateError(f"status must be one of {', '.join(TRANSACTION_STATUSES)}")
        with self.lock:
            record = self.transactions.get(transaction_id)
            if record is None:
                raise StateError(f"unknown transaction {transaction_id}")
            record.forced_status = status
            record.errors = list(errors or [])

    # -- selling partners -----------------------------------------------------------------------------------

    def default_seller(self, seller_id: str | None) -> str:
        """``seller_id``, or the only registered selling partner when it is None."""
        if seller_id:
            return seller_id
        with self.lock:
            sellers = sorted({account.seller_id for account in self._accounts.values()})
        if len(sellers) != 1:
            raise StateError("give sellerId (there is not exactly one registered selling partner)")
        return sellers[0]

    # -- notifications --------------------------------------------------------------------------------------

    def order_status_changed(
        self, record: FulfillmentOrderRecord | Mcf2026OrderRecord, event_type: str = ""
    ) -> None:
        """An MCF order's status changed (or it was created): its FULFILLMENT_ORDER_STATUS notification
        waits in the outbox until ``deliver_notifications`` (called once the lock is released)."""
        self.notification_delivery.enqueue(status_change(record, event_type))

    def deliver_notifications(self) -> int:
        """Send the notifications waiting in the outbox; the request pipeline calls it after each request."""
        return self.notification_delivery.deliver_pending()

    # -- MCF shipments, tracking and inventory --------------------------------------------------------------

    def ship_order(
        self,
        order_id: str,
        seller_id: str | None = None,
        *,
        items: list[Mapping[str, Any]] | None = None,
        carrier_code: str = "UPS",
        tracking_number: str | None = None,
        fulfillment_center_id: str = "PHX7",
    ) -> dict[str, Any]:
        """Ship an MCF order in one shipment with one package.

        ``items`` (``[{"sellerFulfillmentOrderItemId", "quantity"}]``) ships part of the order; by default
        every unit ships. What does not ship becomes unfulfillable: the order ends ``Complete`` when
        everything shipped, else ``CompletePartialled``. ``statusUpdatedDate`` moves to now.
        """
        with self.lock:
            record = self._find_order(order_id, seller_id)
            if record.status not in SHIPPABLE_STATUSES:
                raise StateError(f"order {order_id} is {record.status}; only an order in work can ship")
            ordered = {item["sellerFulfillmentOrderItemId"]: item for item in record.items}
            if items is None:
                wanted = {item_id: int(item["quantity"]) for item_id, item in ordered.items()}
            else:
                wanted = {}
                for entry in items:
                    item_id = str(entry.get("sellerFulfillmentOrderItemId"))
                    if item_id not in ordered:
                        raise StateError(f"order {order_id} has no item {item_id}")
                    try:
                        quantity = int(entry.get("quantity", ordered[item_id]["quantity"]))
                    except (TypeError, ValueError) as exc:
                        raise StateError("quantity must be an integer") from exc
                    if not 0 <= quantity <= int(ordered[item_id]["quantity"]):
                        raise StateError(f"quantity of {item_id} must be between 0 and the ordered quantity")
                    wanted[item_id] = quantity
            if not any(wanted.values()):
                raise StateError("a shipment needs at least one unit")
            package_number = next(self._package_numbers)
            now = datetime.now(UTC)
            ship_date = format_timestamp(now)
            arrival = format_timestamp(now + timedelta(days=3))
            shipment_id = "T" + "".join(random.choices(string.ascii_uppercase + string.digits, k=9))
            tracking = tracking_number or _tracking_number(carrier_code)
            shipment: dict[str, Any] = {
                "amazonShipmentId": shipment_id,
                "fulfillmentCenterId": fulfillment_center_id,
                "fulfillmentShipmentStatus": "SHIPPED",
                "shippingDate": ship_date,
                "estimatedArrivalDate": arrival,
                "fulfillmentShipmentItem": [
                    {
                        "sellerSku": ordered[item_id]["sellerSku"],
                        "sellerFulfillmentOrderItemId": item_id,
                        "quantity": quantity,
                        "packageNumber": package_number,
                    }
                    for item_id, quantity in wanted.items()
                    if quantity > 0
                ],
                "fulfillmentShipmentPackage": [
                    {
                        "packageNumber": package_number,
                        "carrierCode": carrier_code,
                        "trackingNumber": tracking,
                        "estimatedArrivalDate": arrival,
                    }
                ],
            }
            record.shipments.append(shipment)
            record.unfulfillable = {
                item_id: int(item["quantity"]) - wanted.get(item_id, 0)
                for item_id, item in ordered.items()
                if int(item["quantity"]) - wanted.get(item_id, 0) > 0
            }
            record.status = "CompletePartialled" if record.unfulfillable else "Complete"
            record.status_updated_date = ship_date
            self.packages[package_number] = PackageRecord(
                package_number=package_number,
                seller_id=record.seller_id,
                seller_fulfillment_order_id=record.seller_fulfillment_order_id,
                amazon_shipment_id=shipment_id,
                carrier_code=carrier_code,
                tracking_number=tracking,
                ship_date=ship_date,
                estimated_arrival_date=arrival,
                status_history=[("IN_TRANSIT", ship_date)],
            )
            self.order_status_changed(record, SHIPMENT_EVENT)
            shipped = {
                "sellerId": record.seller_id,
                "sellerFulfillmentOrderId": record.seller_fulfillment_order_id,
                "status": record.status,
                "amazonShipmentId": shipment_id,
                "packageNumber": package_number,
                "trackingNumber": tracking,
                "carrierCode": carrier_code,
            }
        self.deliver_notifications()
        return shipped

    def set_package_status(self, package_number: int, status: str) -> None:
        """Move a shipped package along, e.g. ``OUT_FOR_DELIVERY`` then ``DELIVERED``."""
        if status not in TRACKING_STATUSES:
            raise StateError(f"currentStatus must be one of {', '.join(TRACKING_STATUSES)}")
        with self.lock:
            package = self.packages.get(package_number)
            if package is None:
                raise StateError(f"unknown package {package_number}")
            package.current_status = status
            package.status_history.append((status, timestamp()))

    def set_inventory(self, seller_id: str | None, items: list[Mapping[str, Any]]) -> list[str]:
        """Declare the sellable FBA inventory of a selling partner: ``[{"sellerSku", "quantity", "asin"?,
        "fnSku"?}]`` (added to what is there). A seller with no declared inventory can ship any SKU."""
        seller = self.default_seller(seller_id)
        records: list[InventoryRecord] = []
        for entry in items:
            sku = str(entry.get("sellerSku") or "")
            if not sku:
                raise StateError("every inventory item needs a sellerSku")
            try:
                quantity = int(entry.get("quantity", 0))
            except (TypeError, ValueError) as exc:
                raise StateError("quantity must be an integer") from exc
            if quantity < 0:
                raise StateError("quantity must not be negative")
            digest = uuid.uuid5(uuid.NAMESPACE_URL, f"{seller}/{sku}").hex.upper()
            asin = str(entry.get("asin") or "B0" + digest[:8])
            fn_sku = str(entry.get("fnSku") or "X00" + digest[8:15])
            records.append(InventoryRecord(sku, quantity, asin, fn_sku))
        with self.lock:
            stock = self.inventory.setdefault(seller, {})
            for record in records:
                stock[record.seller_sku] = record
        return [record.seller_sku for record in records]

    # -- vendor direct fulfillment purchase orders ----------------------------------------------------------

    def seed_df_orders(
        self,
        seller_id: str | None = None,
        count: int = 1,
        *,
        status: str = "NEW",
        ship_from_party_id: str = "WH1",
        created: datetime | None = None,
    ) -> list[str]:
        """Generate ``count`` realistic DF purchase orders (customer name, phone and address included),
        created one minute apart ending at ``created`` (default: now). Returns the purchase order numbers."""
        seller = self.default_seller(seller_id)
        if not 1 <= count <= 1000:
            raise StateError("count must be between 1 and 1000")
        if status not in DF_ORDER_STATUSES:
            raise StateError(f"status must be one of {', '.join(DF_ORDER_STATUSES)}")
        end = created or datetime.now(UTC)
        numbers: list[str] = []
        with self.lock:
            for index in range(count):
                when = (end - timedelta(minutes=count - 1 - index)).replace(microsecond=0)
                number = generate_purchase_order_number(lambda n: (seller, n) in self.df_orders)
                order = generate_df_order(number, when, status, ship_from_party_id)
                self.df_orders[(seller, number)] = DfOrderRecord(seller, number, when, order)
                numbers.append(number)
        return numbers

    def df_order(self, seller_id: str, number: str) -> DfOrderRecord:
        """The DF purchase order ``number`` of ``seller_id``. The emulator accepts acknowledgements of any
        purchase order number, so one it has not seen exists too: a NEW order, created now."""
        with self.lock:
            record = self.df_orders.get((seller_id, number))
            if record is None:
                now = datetime.now(UTC).replace(microsecond=0)
                order = generate_df_order(number, now, "NEW", "WH1")
                record = self.df_orders[(seller_id, number)] = DfOrderRecord(seller_id, number, now, order)
            return record

    # -- retail procurement purchase orders ----------------------------------------------------------------

    def seed_retail_orders(
        self, seller_id: str | None = None, count: int = 1, *, created: datetime | None = None
    ) -> list[str]:
        """Generate ``count`` New retail purchase orders, created one minute apart ending at ``created``
        (default: now). Returns the purchase order numbers."""
        seller = self.default_seller(seller_id)
        if not 1 <= count <= 1000:
            raise StateError("count must be between 1 and 1000")
        end = created or datetime.now(UTC)
        numbers: list[str] = []
        with self.lock:
            for index in range(count):
                when = (end - timedelta(minutes=count - 1 - index)).replace(microsecond=0)
                number = generate_purchase_order_number(lambda n: (seller, n) in self.retail_orders)
                self.retail_orders[(seller, number)] = RetailOrderRecord(
                    seller, number, when, when, generate_retail_order(number, when)
                )
                numbers.append(number)
        return numbers

    def retail_order(
        self, seller_id: str, number: str, items: list[dict[str, Any]] | None = None
    ) -> RetailOrderRecord:
        """The retail purchase order ``number``; one the emulator has not seen is made now (New, with the
        lines of ``items``, the acknowledgement naming it), as acknowledgements of any number are accepted."""
        with self.lock:
            record = self.retail_orders.get((seller_id, number))
            if record is None:
                now = datetime.now(UTC).replace(microsecond=0)
                record = self.retail_orders[(seller_id, number)] = RetailOrderRecord(
                    seller_id, number, now, now, generate_retail_order(number, now, items)
                )
            return record

    # -- paging ---------------------------------------------------------------------------------------------

    def page(
        self,
        operation: str,
        seller_id: str,
        *,
        size: int,
        token: str | None,
        keys: Callable[[], list[Any]],
        context: dict[str, Any] | None = None,
    ) -> tuple[list[Any], str | None, dict[str, Any]]:
        """One page of a listing: the first call snapshots ``keys()``; ``token`` continues a snapshot (tokens
        stay valid, so a retried page answers the same). Returns the page, the next token and the context
        given with the first page."""
        with self.lock:
            if token:
                cursor = self.page_cursors.get(token)
                if cursor is None or cursor.operation != operation or cursor.seller_id != seller_id:
                    raise StateError("The nextToken is invalid or has expired.")
            else:
                cursor = PageCursor(operation, seller_id, keys(), dict(context or {}))
            page, rest = cursor.keys[:size], cursor.keys[size:]
            next_token: str | None = None
            if rest:
                next_token = secrets.token_urlsafe(24)
                self.page_cursors[next_token] = PageCursor(operation, seller_id, rest, cursor.context)
            return page, next_token, cursor.context

    # -- reset ----------------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget orders, transactions, calls, effects, faults, rate-limit buckets and token-request counts
        (not accounts, not issued tokens)."""
        self.limiter.reset()
        with self.lock:
            self.orders.clear()
            self.mcf_orders.clear()
            self.mcf_accept_later = False
            self.packages.clear()
            self.inventory.clear()
            self.df_orders.clear()
            self.easy_ship_packages.clear()
            self.retail_orders.clear()
            self.retail_state_lag_seconds = 0.0
            self.notifications.clear()
            self.page_cursors.clear()
            self.transactions.clear()
            self._transaction_outcome = ("Success", [])
            self.acknowledgements.clear()
            self._calls.clear()
            self._effects.clear()
            self._faults.clear()
            self._token_requests.clear()
            self._grantless_requests.clear()
            self._rdt_issues.clear()
            self.notification_delivery.reset()


def status_change(
    record: FulfillmentOrderRecord | Mcf2026OrderRecord, event_type: str = ""
) -> OrderStatusChange:
    """The notification's view of an order of either Fulfillment Outbound version. The status is the
    order's own (2020-07-01 ``Received``, 2026-07-04 ``PROCESSING``): the relay normalizes both."""
    if isinstance(record, FulfillmentOrderRecord):
        return OrderStatusChange(
            seller_id=record.seller_id,
            order_id=record.seller_fulfillment_order_id,
            status=record.status,
            status_updated=parse_timestamp(record.status_updated_date),
            event_type=event_type or ORDER_EVENT,
            shipment=shipment_of_2020(record.shipments[-1]) if record.shipments else None,
        )
    return OrderStatusChange(
        seller_id=record.seller_id,
        order_id=record.order_id,
        status=record.status,
        status_updated=parse_timestamp(record.status_update_time),
        event_type=event_type or ORDER_EVENT,
    )
