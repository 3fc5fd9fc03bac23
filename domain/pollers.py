"""Scheduled pollers: what upstream systems otherwise write by hand.

- ``PurchaseOrderPoller`` publishes each new vendor Direct Fulfillment purchase order once
  (``sp-relay purchase-order-received``), so upstream knows what to acknowledge.
- ``RetailPurchaseOrderPoller`` publishes each new vendor Retail Procurement purchase order once
  (``sp-relay retail-purchase-order-received``): retail purchase orders have no notification.
- ``FulfillmentOrderPoller`` follows MCF orders with listAllFulfillmentOrders since the last
  watermark and publishes status and tracking changes (``sp-relay fulfillment-order-changed``). It is
  the backup of the FULFILLMENT_ORDER_STATUS notifications: a change to a status a notification already
  announced for that order (``domain.order_status.announcement_key``) is remembered, not published.

Both keep a watermark per (account, region) and a fingerprint per order in the poller state store, and
publish before they remember: a crash in between repeats an event, it never loses one. Events carry no
personal data (addresses, names and phones are redacted).

A listing is read page by page (never held whole). One cut at the gateway's page limit
(``report.truncated``) moves the watermark only as far as the orders it saw: to the latest one's time
when the listing came oldest first, otherwise not at all; the next run reads on from there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from domain.catalog import CATALOG, FULFILLMENT_OUTBOUND, CommandType
from domain.events import (
    FULFILLMENT_ORDER_CHANGED,
    PURCHASE_ORDER_RECEIVED,
    RETAIL_PURCHASE_ORDER_RECEIVED,
)
from domain.gateway import SpApiGateway
from domain.order_status import announcement_key
from domain.paging import dig
from domain.ports import Accounts, Clock, OutcomePublisher
from domain.privacy import redact
from domain.requests import raise_for_status
from domain.spapi import find_operation

# Orders can appear in a listing a little after their timestamp: each poll looks back this much further.
OVERLAP = timedelta(minutes=10)
SEEN_TTL_SECONDS = 60 * 24 * 3600


class PollerState(Protocol):
    def watermark(self, key: str) -> str | None: ...

    def recall(self, key: str) -> str | None:
        """The fingerprint stored under ``key``, if any."""
        ...

    def set_watermark(self, key: str, value: str) -> None: ...

    def remember(self, key: str, fingerprint: str, ttl_seconds: int) -> None:
        """Store ``fingerprint`` under ``key``."""
        ...


@dataclass(slots=True)
class PollReport:
    poller: str
    account: str
    region: str
    seen: int = 0
    published: int = 0
    # MCF status changes a notification had announced already (not published again).
    notified: int = 0
    since: str = ""
    until: str = ""
    # Cut at the page limit: the watermark went only as far as ``watermark`` (the orders seen).
    truncated: bool = False
    pages: int = 0
    watermark: str = ""
    errors: list[str] = field(default_factory=list)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = _parse(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class PollerPorts:
    gateway: SpApiGateway
    accounts: Accounts
    state: PollerState
    events: OutcomePublisher
    clock: Clock


class Poller:
    name: str
    command: CommandType

    def __init__(self, ports: PollerPorts, initial_lookback: timedelta = timedelta(days=7)) -> None:
        self._ports = ports
        self._initial_lookback = initial_lookback

    def poll(self, account: str, region: str | None, remaining: Callable[[], float]) -> PollReport:
        region = region or self._ports.accounts.default_region(account)
        now = datetime.fromtimestamp(self._ports.clock.now(), UTC)
        watermark_key = f"watermark#{self.name}#{account}#{region}"
        stored = self._ports.state.watermark(watermark_key)
        since = _parse(stored) if stored else now - self._initial_lookback
        report = PollReport(self.name, account, region, since=_iso(since - OVERLAP), until=_iso(now))
        seen_through = self._poll_window(report, since - OVERLAP, now, remaining)
        report.watermark = report.until
        if report.truncated:
            # Orders after the cut were not seen: the watermark goes no further than the ones that were.
            report.watermark = _iso(max(seen_through, since)) if seen_through else _iso(since)
        self._ports.state.set_watermark(watermark_key, report.watermark)
        return report

    def _poll_window(
        self, report: PollReport, since: datetime, until: datetime, remaining: Callable[[], float]
    ) -> datetime | None:
        """Publish what the window holds; when cut (``report.truncated``), return the time up to which
        every order was seen (None: unknown)."""
        raise NotImplementedError

    def _listing(
        self,
        report: PollReport,
        payload: Mapping[str, Any],
        remaining: Callable[[], float],
        moment_of: Callable[[Mapping[str, Any]], Any],
        seen: list[datetime | None],
    ) -> Iterator[Mapping[str, Any]]:
        """The orders of the listing, page by page, up to the gateway's page limit. When cut there,
        ``report.truncated`` is set and ``seen`` holds the time up to which every order was seen: the
        latest order's time if the listing came oldest first, else None."""
        command = self.command
        paging = command.paging
        assert paging is not None
        gateway = self._ports.gateway
        latest: datetime | None = None
        ascending = True
        seen.append(None)
        for response in gateway.pages(
            report.account, report.region, command.operation, payload, paging=paging, remaining=remaining
        ):
            report.pages += 1
            for order in paging.items_of(response.body):
                if not isinstance(order, Mapping):
                    continue
                moment = _moment(moment_of(order))
                if moment is None or (latest is not None and moment < latest):
                    ascending = False
                elif latest is None or moment > latest:
                    latest = moment
                yield order
            if paging.token_of(response.body) is not None and report.pages >= gateway.max_pages:
                report.truncated = True
                seen[-1] = latest if ascending else None
                return

    def _publish_then_remember(
        self, key: str, fingerprint: str, detail_type: str, detail: Mapping[str, Any]
    ) -> bool:
        """Publish unless ``key`` already holds ``fingerprint``, and only then remember it: a process killed
        in between publishes again next time (a repeat), never loses the event. True when published."""
        if self._ports.state.recall(key) == fingerprint:
            return False
        self._ports.events.publish_event(detail_type, detail)
        self._ports.state.remember(key, fingerprint, SEEN_TTL_SECONDS)
        return True


class PurchaseOrderPoller(Poller):
    name = "df-purchase-orders"
    command = CATALOG["list-df-purchase-orders"]

    def _poll_window(
        self, report: PollReport, since: datetime, until: datetime, remaining: Callable[[], float]
    ) -> datetime | None:
        payload = {
            "createdAfter": _iso(since),
            "createdBefore": _iso(until),
            "limit": 100,
            "includeDetails": "true",
            # Oldest first, so a listing cut at the page limit has seen every order up to its last one.
            "sortOrder": "ASC",
        }
        seen: list[datetime | None] = []
        for order in self._listing(report, payload, remaining, _order_date, seen):
            number = order.get("purchaseOrderNumber")
            if not isinstance(number, str):
                continue
            report.seen += 1
            detail = {
                "account": report.account,
                "region": report.region,
                "purchaseOrderNumber": number,
                "order": redact(order),
            }
            key = f"seen#{self.name}#{report.account}#{number}"
            if self._publish_then_remember(key, "received", PURCHASE_ORDER_RECEIVED, detail):
                report.published += 1
        return seen[-1]


class RetailPurchaseOrderPoller(Poller):
    name = "retail-purchase-orders"
    command = CATALOG["list-retail-purchase-orders"]
    # getPurchaseOrders' description: "The date range must not exceed 7 days and is available to pull
    # data from the past 6 months." A longer window (the first run's lookback plus the overlap, or a poller
    # that was off for a while) is read as consecutive slices of at most 7 days, oldest first.
    max_window = timedelta(days=7)
    history = timedelta(days=180)

    def _poll_window(
        self, report: PollReport, since: datetime, until: datetime, remaining: Callable[[], float]
    ) -> datetime | None:
        start = max(since, until - self.history)
        while True:
            end = min(start + self.max_window, until)
            payload = {
                "createdAfter": _iso(start),
                "createdBefore": _iso(end),
                "limit": 100,
                "includeDetails": "true",
                # Oldest first (by creation, the model says), so a cut listing has seen all up to its last.
                "sortOrder": "ASC",
            }
            seen: list[datetime | None] = []
            for order in self._listing(report, payload, remaining, _purchase_order_date, seen):
                number = order.get("purchaseOrderNumber")
                if not isinstance(number, str):
                    continue
                report.seen += 1
                detail = {
                    "account": report.account,
                    "region": report.region,
                    "purchaseOrderNumber": number,
                    "purchaseOrderState": order.get("purchaseOrderState"),
                    "order": redact(order),
                }
                key = f"seen#{self.name}#{report.account}#{number}"
                if self._publish_then_remember(key, "received", RETAIL_PURCHASE_ORDER_RECEIVED, detail):
                    report.published += 1
            if report.truncated:
                # The slices before this one were read whole: at worst the watermark goes to its start.
                return seen[-1] or start
            if end >= until:
                return None
            start = end


class FulfillmentOrderPoller(Poller):
    name = "mcf-orders"
    command = CATALOG["list-fulfillment-orders"]
    details = find_operation(FULFILLMENT_OUTBOUND, "getFulfillmentOrder")

    def _poll_window(
        self, report: PollReport, since: datetime, until: datetime, remaining: Callable[[], float]
    ) -> datetime | None:
        seen: list[datetime | None] = []
        payload = {"queryStartDate": _iso(since)}
        for order in self._listing(report, payload, remaining, _status_updated, seen):
            order_id = order.get("sellerFulfillmentOrderId")
            if not isinstance(order_id, str):
                continue
            report.seen += 1
            status = str(order.get("fulfillmentOrderStatus"))
            fingerprint = f"{status}|{order.get('statusUpdatedDate')}"
            key = f"order#{self.name}#{report.account}#{order_id}"
            previous = self._ports.state.recall(key)
            if previous == fingerprint:
                continue
            if self._ports.state.recall(announcement_key(report.account, order_id, status)) is not None:
                # A notification announced this status already: the poller only backs notifications up.
                self._ports.state.remember(key, fingerprint, SEEN_TTL_SECONDS)
                report.notified += 1
                continue
            answer = self._ports.gateway.send(
                report.account, report.region, self.details, {"sellerFulfillmentOrderId": order_id}, remaining
            )
            raise_for_status(self.details.operation_id, answer)
            detail = {
                "account": report.account,
                "region": report.region,
                "sellerFulfillmentOrderId": order_id,
                "displayableOrderId": order.get("displayableOrderId"),
                "status": status,
                "previousStatus": previous.split("|", 1)[0] if previous else None,
                "statusUpdatedDate": order.get("statusUpdatedDate"),
                "shipments": _shipments(answer.body),
            }
            if self._publish_then_remember(key, fingerprint, FULFILLMENT_ORDER_CHANGED, detail):
                report.published += 1
        return seen[-1]


def _order_date(order: Mapping[str, Any]) -> Any:
    return dig(order, ("orderDetails", "orderDate"))


def _purchase_order_date(order: Mapping[str, Any]) -> Any:
    return dig(order, ("orderDetails", "purchaseOrderDate"))


def _status_updated(order: Mapping[str, Any]) -> Any:
    return order.get("statusUpdatedDate")


def _shipments(answer: Any) -> list[dict[str, Any]]:
    shipments = dig(answer, ("payload", "fulfillmentShipments")) or []
    return [
        {
            "amazonShipmentId": shipment.get("amazonShipmentId"),
            "status": shipment.get("fulfillmentShipmentStatus"),
            "shippingDate": shipment.get("shippingDate"),
            "estimatedArrivalDate": shipment.get("estimatedArrivalDate"),
            "packages": [
                {key: package.get(key) for key in ("packageNumber", "carrierCode", "trackingNumber")}
                for package in shipment.get("fulfillmentShipmentPackage") or []
            ],
        }
        for shipment in shipments
        if isinstance(shipment, Mapping)
    ]


POLLERS: Mapping[str, type[Poller]] = {
    PurchaseOrderPoller.name: PurchaseOrderPoller,
    RetailPurchaseOrderPoller.name: RetailPurchaseOrderPoller,
    FulfillmentOrderPoller.name: FulfillmentOrderPoller,
}
