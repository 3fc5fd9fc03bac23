"""A tour of every command type on the embedded local stack: what `make demo` shows and what the
end-to-end tests check, from the sample commands in ``events/``.

The samples are used as they are, with the changes a real integration would make too: ids and
times that only exist once the steps before have run (a shipment's package number, a purchase order
the vendor received, a transactionId, an Easy Ship handover slot taken from the ``list-handover-slots``
answer, a purchase-order search window ending now), and — with ``suffix`` — fresh commandIds and order
ids, so that the tour can run more than once against the same stack. Nothing in it depends on the day
it runs: ``clock`` is the tour's only source of "now".
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.events import COMMAND_EVENT
from local.runtime import DEMO_ACCOUNTS, LocalStack, sample_commands

DRAIN_TIMEOUT = 60.0
# How far back the purchase-order search of the tour looks; the orders it reads are seeded just before.
PURCHASE_ORDER_WINDOW = timedelta(days=1)
SELLER, VENDOR, _ = (account.seller_id for account in DEMO_ACCOUNTS)


@dataclass(slots=True)
class TourResult:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)  # commandId -> command
    steps: list[tuple[str, bool]] = field(default_factory=list)  # title, drained in time

    def outcomes(self) -> list[dict[str, Any]]:
        return [detail for kind, detail in self.events if kind.startswith(COMMAND_EVENT)]

    def outcome_of(self, command: dict[str, Any]) -> dict[str, Any] | None:
        found = [o for o in self.outcomes() if o["commandId"] == command["commandId"]]
        return found[-1] if found else None


class Tour:
    def __init__(
        self,
        stack: LocalStack,
        suffix: str = "",
        timeout: float = DRAIN_TIMEOUT,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if stack.emulator is None:
            raise ValueError(
                "the tour drives the embedded SP-API emulator (ships orders, seeds purchase orders)"
            )
        self.stack = stack
        self.emulator = stack.emulator
        self.suffix = suffix
        self.timeout = timeout
        self.clock = clock
        self.samples = {name.removesuffix(".json"): command for name, command in sample_commands()}
        self.result = TourResult()
        sample_order = self.samples["create-scheduled-package"]["payload"]["amazonOrderId"]
        # Easy Ship schedules one package per Amazon order: a repeated tour needs an order of its own.
        digits = f"{abs(hash(suffix)) % 10**14:014d}"
        self.amazon_order_id = (
            f"{digits[:3]}-{digits[3:10]}-{digits[10:]}0000"[:19] if suffix else sample_order
        )

    def command(self, name: str, account: str | None = None, tag: str = "", **payload: Any) -> dict[str, Any]:
        document = copy.deepcopy(self.samples[name])
        document["commandId"] = f"{document['commandId']}{tag}{self.suffix}"
        if account is not None:
            document["account"] = account
        document["payload"].update(payload)
        return document

    def order_id(self, base: str) -> str:
        return f"{base}{self.suffix}"[:40]

    def step(
        self, title: str, commands: Sequence[dict[str, Any] | str], before: Callable[[], None] | None = None
    ) -> None:
        if before is not None:
            before()
        for item in commands:
            if isinstance(item, dict):
                self.result.sent[item["commandId"]] = item
            self.stack.send(item)
        drained = self.stack.wait_until_drained(self.timeout)
        self.result.events.extend(self.stack.events())
        self.result.steps.append((title, drained))

    def answer(self, command: dict[str, Any]) -> Any:
        outcome = self.result.outcome_of(command)
        return (outcome or {}).get("result", {}).get("answer") or {}

    def handover_slots(self, listing: dict[str, Any]) -> list[dict[str, Any]]:
        """The slots SP-API offered, as a package's ``packageTimeSlot`` takes them."""
        slots = self.answer(listing).get("timeSlots") or []
        if len(slots) < 2:
            raise RuntimeError(f"list-handover-slots offered {len(slots)} slots; the tour needs two")
        return [
            {key: slot[key] for key in ("slotId", "startTime", "endTime", "handoverMethod") if key in slot}
            for slot in slots
        ]

    def purchase_order_window(self) -> dict[str, str]:
        now = self.clock().astimezone(UTC)
        return {
            "createdAfter": (now - PURCHASE_ORDER_WINDOW).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "createdBefore": (now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def bulk_schedule(self, slot: dict[str, Any]) -> dict[str, Any]:
        """The bulk sample, with every slot it names replaced by one SP-API offers now."""
        orders = copy.deepcopy(
            self.samples["create-scheduled-package-bulk"]["payload"]["orderScheduleDetailsList"]
        )
        for entry in orders:
            details = entry.get("packageDetails")
            if details and "packageTimeSlot" in details:
                details["packageTimeSlot"] = dict(slot)
        return self.command("create-scheduled-package-bulk", orderScheduleDetailsList=orders)

    def run(self, extra_first_step: Sequence[dict[str, Any] | str] = ()) -> TourResult:
        order, shipped, sandbox_order = (
            self.order_id("ORDER-10001"),
            self.order_id("ORDER-10002"),
            self.order_id("SBX-10003"),
        )
        creates = [
            self.command("create-fulfillment", sellerFulfillmentOrderId=order, displayableOrderId=order),
            self.command(
                "create-fulfillment", tag="-b", sellerFulfillmentOrderId=shipped, displayableOrderId=shipped
            ),
            self.command(
                "create-fulfillment",
                "demo-sandbox",
                tag="-sandbox",
                sellerFulfillmentOrderId=sandbox_order,
                displayableOrderId=sandbox_order,
            ),
        ]
        mcf_order, mcf_sandbox_order = self.order_id("MCF-20001"), self.order_id("MCF-SBX-20003")
        creates += [
            self.command("create-mcf-order", orderId=mcf_order),
            self.command("create-mcf-order", "demo-sandbox", tag="-sandbox", orderId=mcf_sandbox_order),
        ]
        listing = self.command("list-handover-slots", amazonOrderId=self.amazon_order_id)
        acknowledgements = [self.command("acknowledge-po"), self.command("acknowledge-retail-po")]
        self.step(
            "create MCF orders, list Easy Ship handover slots, acknowledge purchase orders (both programs)",
            [*creates, listing, *acknowledgements, *extra_first_step],
        )
        # A slot is only valid while it lies ahead: take the ones SP-API offers now, never fixed ones.
        first_slot, later_slot, *_ = slots = self.handover_slots(listing)
        sample_details = self.samples["create-scheduled-package"]["payload"]["packageDetails"]
        package = self.command(
            "create-scheduled-package",
            amazonOrderId=self.amazon_order_id,
            packageDetails={**sample_details, "packageTimeSlot": first_slot},
        )
        self.step(
            "update an order, move the sandbox order's status, schedule the Easy Ship package",
            [
                self.command("update-fulfillment", sellerFulfillmentOrderId=order),
                self.command(
                    "submit-fulfillment-order-status-update", sellerFulfillmentOrderId=sandbox_order
                ),
                self.command("update-mcf-order", orderId=mcf_order),
                self.command("update-mcf-order-status", orderId=mcf_sandbox_order),
                self.command("update-mcf-package", orderId=mcf_sandbox_order),
                package,
            ],
        )
        shipment: dict[str, Any] = {}
        purchase_orders: list[str] = []

        def warehouse() -> None:
            # What happens at Amazon meanwhile: an order ships, a customer orders from the vendor.
            shipment.update(self.emulator.state.ship_order(shipped, SELLER))
            purchase_orders.extend(self.emulator.state.seed_df_orders(VENDOR, 2))
            self.emulator.state.seed_retail_orders(VENDOR, 2)

        def reads() -> list[dict[str, Any]]:
            item = self.samples["create-fulfillment"]["payload"]["items"][0]["sellerFulfillmentOrderItemId"]
            scheduled = self.answer(package).get("scheduledPackageId", {})
            return [
                self.command("get-fulfillment-preview"),
                self.command("get-delivery-offers"),
                self.command("list-fulfillment-orders"),
                self.command("get-package-tracking", packageNumber=shipment["packageNumber"]),
                self.command("list-return-reason-codes", sellerFulfillmentOrderId=shipped),
                self.command(
                    "create-fulfillment-return",
                    sellerFulfillmentOrderId=shipped,
                    items=[
                        {
                            "sellerReturnItemId": f"RETURN-10002-1{self.suffix}"[:80],
                            "sellerFulfillmentOrderItemId": item,
                            "amazonShipmentId": shipment["amazonShipmentId"],
                            "returnReasonCode": "NOT_AS_DESCRIBED",
                        }
                    ],
                ),
                self.command("get-fulfillment-order", sellerFulfillmentOrderId=shipped),
                self.command("get-mcf-order", orderId=mcf_order),
                self.command("list-mcf-orders"),
                self.command("get-mcf-order-preview"),
                self.command("get-mcf-offers"),
                self.command("get-features"),
                self.command("get-feature-inventory"),
                self.command("get-feature-sku"),
                self.command("list-df-purchase-orders", **self.purchase_order_window()),
                self.command("get-df-purchase-order", purchaseOrderNumber=purchase_orders[0]),
                self.command(
                    "get-df-transaction-status",
                    transactionId=self.answer(acknowledgements[0])["transactionId"],
                ),
                self.command("list-retail-purchase-orders", **self.purchase_order_window()),
                # The order the retail acknowledgement of the first step named: Acknowledged now.
                self.command("get-retail-purchase-order"),
                self.command(
                    "list-retail-purchase-order-statuses",
                    **{
                        key.replace("created", "updated"): value
                        for key, value in self.purchase_order_window().items()
                    },
                ),
                self.command(
                    "get-retail-transaction",
                    transactionId=self.answer(acknowledgements[1])["payload"]["transactionId"],
                ),
                self.command("get-scheduled-package", amazonOrderId=self.amazon_order_id),
                self.command(
                    "update-scheduled-packages",
                    updatePackageDetailsList=[
                        {"scheduledPackageId": scheduled, "packageTimeSlot": later_slot}
                    ],
                ),
                self.bulk_schedule(slots[-1]),
            ]

        warehouse()
        self.step(
            "read everything: previews, orders, tracking, returns, features, purchase orders, slots", reads()
        )
        self.step(
            "cancel the first order of each version",
            [
                self.command("cancel-fulfillment", sellerFulfillmentOrderId=order),
                self.command("cancel-mcf-order", orderId=mcf_order),
            ],
        )
        self.notification_subscriptions()
        return self.result

    def notification_subscriptions(self) -> None:
        """A destination (grantless), the seller's subscription to it, reads of both, a test notification
        (sandbox), then the subscription and the destination deleted again: each step needs the ids the
        one before was answered with, and a destination with subscriptions cannot be deleted."""
        sample = self.samples["create-destination"]["payload"]
        # One destination per resource and application: a repeated tour names a queue of its own.
        arn = sample["resourceSpecification"]["sqs"]["arn"] + self.suffix
        create = self.command("create-destination", resourceSpecification={"sqs": {"arn": arn}})
        create["payload"]["name"] = sample["name"] + self.suffix
        self.step("create a notification destination (grantless token)", [create])
        destination_id = self.answer(create)["payload"]["destinationId"]
        subscribe = self.command("create-subscription", destinationId=destination_id)
        self.step(
            "subscribe the seller to FULFILLMENT_ORDER_STATUS, read the destinations",
            [
                subscribe,
                self.command("list-destinations"),
                self.command("get-destination", destinationId=destination_id),
            ],
        )
        subscription_id = self.answer(subscribe)["payload"]["subscriptionId"]
        self.step(
            "read the subscription three ways, send a test notification (sandbox)",
            [
                self.command("get-subscription"),
                self.command("list-subscriptions"),
                self.command("get-subscription-by-id", subscriptionId=subscription_id),
                self.command("send-test-notification"),
            ],
        )
        self.step(
            "unsubscribe",
            [self.command("delete-subscription-by-id", subscriptionId=subscription_id)],
        )
        self.step(
            "delete the destination", [self.command("delete-destination", destinationId=destination_id)]
        )
