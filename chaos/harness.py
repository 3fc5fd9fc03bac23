"""Building blocks of the reliability suite (``tests/chaos``) and the benchmarks (``benchmarks/``).

Nothing here decides a verdict by itself: the ledger counts what the emulator applied and what the
dead-letter queue holds, and the tests assert on those counts.
"""

from __future__ import annotations

import io
import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders

from domain.attributes import REASON_ATTRIBUTE
from domain.events import EVENT_ID
from domain.outcomes import OutcomeStatus
from emulator.operations.easy_ship import handover_slots
from emulator.state import EmulatorState, Fault

REPO_ROOT = Path(__file__).resolve().parent.parent

SizeName = Literal["ci", "full"]


# The suite's size (ci or full): set by mk/chaos.mk, read here and by tests/chaos/conftest.py.
CHAOS_SIZE = "CHAOS_SIZE"


@dataclass(frozen=True, slots=True)
class ChaosSize:
    """How big a run is. ``full`` meets the issue's numbers; ``ci`` is the reduced size for CI."""

    name: SizeName
    commands: int  # distinct commandIds in the main reliability run
    duplicate_share: float  # producer duplicates, as a share of distinct commands
    kill_runs: int  # SIGKILL cycles
    commands_per_kill_run: int
    malformed_batch: int  # malformed messages sent through the real handler in batches
    aws_fault_commands: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ChaosSize:
        env = os.environ if environ is None else environ
        name = env.get(CHAOS_SIZE, "ci").strip().lower()
        if name == "full":
            return cls("full", 1000, 0.10, 20, 24, 120, 200)
        return cls("ci", 240, 0.10, 6, 16, 60, 60)


# --- commands --------------------------------------------------------------------------------------------

EffectKey = tuple[str, str]  # (emulator operation name, natural key)

# The emulator's name of each write type's operation, as its effects are counted (api.operationId where two
# APIs share an operationId), as in tests/integration/test_exactly_once.py. The chaos mix (WRITE_SHARES)
# covers every write type with a state probe but the Notifications API's (application-level destinations,
# one subscription per seller and notification type: tests/integration/test_exactly_once.py covers them);
# the sandbox-only writes (submit-fulfillment-order-status-update, update-mcf-order-status,
# update-mcf-package, send-test-notification) have no probe and are refused for production accounts.
EFFECT_OPERATION = {
    "create-fulfillment": "createFulfillmentOrder",
    "update-fulfillment": "updateFulfillmentOrder",
    "cancel-fulfillment": "cancelFulfillmentOrder",
    "create-fulfillment-return": "createFulfillmentReturn",
    "create-mcf-order": "createOrder",
    "update-mcf-order": "updateOrder",
    "cancel-mcf-order": "cancelOrder",
    "acknowledge-po": "vendorDirectFulfillmentOrders.submitAcknowledgement",
    "acknowledge-retail-po": "vendorOrders.submitAcknowledgement",
    "create-scheduled-package": "createScheduledPackage",
    "update-scheduled-packages": "updateScheduledPackages",
    "create-scheduled-package-bulk": "createScheduledPackageBulk",
}


def effect_count(effects: Mapping[str, Mapping[str, int]], operation: str, key: str) -> int:
    return int(effects.get(operation, {}).get(key, 0))


# Every write type is probed before any re-apply (domain/catalog.py): a repeat of any type is a violation.


def _token(rng: random.Random, length: int = 8) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(rng.choice(alphabet) for _ in range(length))


@dataclass(frozen=True, slots=True)
class CustomerData:
    """Personal data a command carries; a log line must never contain any of it."""

    name: str
    address_line: str
    phone: str
    # Fields a deny-list once let through: free text for the customer and their e-mail.
    comment: str
    email: str

    def needles(self) -> list[str]:
        return [self.name, self.address_line, self.phone, self.comment, self.email]

    def address(self) -> dict[str, str]:
        """The customer's address as Fulfillment Outbound's Address has it."""
        return {
            "name": self.name,
            "addressLine1": self.address_line,
            "city": "Seattle",
            "stateOrRegion": "WA",
            "postalCode": "98101",
            "countryCode": "US",
            "phone": self.phone,
        }


@dataclass(frozen=True, slots=True)
class VendorParty:
    """The selling party an acknowledgement names: a vendor may be a sole trader, so its name, address,
    phone and VAT number are personal data as a customer's are; a log line must never contain any of it."""

    party_id: str
    name: str
    address_line: str
    phone: str
    tax_registration_number: str

    def needles(self) -> list[str]:
        return [self.name, self.address_line, self.phone, self.tax_registration_number]

    def identification(self) -> dict[str, Any]:
        """PartyIdentification of both vendor APIs (DF orders 2021-12-28 and Retail vendorOrders)."""
        return {
            "partyId": self.party_id,
            "address": {
                "name": self.name,
                "addressLine1": self.address_line,
                "city": "Leipzig",
                "stateOrRegion": "SN",
                "postalCode": "04109",
                "countryCode": "DE",
                "phone": self.phone,
            },
            "taxInfo": {"taxRegistrationType": "VAT", "taxRegistrationNumber": self.tax_registration_number},
        }


@dataclass(slots=True)
class CommandFactory:
    """Valid commands with unique ids, order numbers and personal data, reproducible from a seed.

    Every personal value a command carries is kept in ``needles_by_type`` under its command type: the
    privacy scans look for all of them (``needles``), whatever the write type.
    """

    seed: int = 7
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6].upper())  # noqa: PLW0108
    needles_by_type: dict[str, list[str]] = field(default_factory=dict)
    _rng: random.Random = field(init=False)
    _serial: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def _next(self) -> int:
        self._serial += 1
        return self._serial

    def needles(self) -> list[str]:
        """Every personal value of every command this factory built."""
        return [needle for needles in self.needles_by_type.values() for needle in needles]

    def _carried(self, kind: str, *values: str) -> None:
        self.needles_by_type.setdefault(kind, []).extend(values)

    def _customer(self, kind: str, n: int) -> CustomerData:
        customer = CustomerData(
            name=f"Quillon {_token(self._rng, 6).title()}",
            address_line=f"{n} Larkspur{_token(self._rng, 5).lower()} Lane",
            phone=f"+1-206-{self._rng.randint(200, 999)}-{self._rng.randint(1000, 9999)}",
            comment=f"Leave it with {_token(self._rng, 7).title()} next door",
            email=f"{_token(self._rng, 8).lower()}@example.org",
        )
        self._carried(kind, *customer.needles())
        return customer

    def _vendor_party(self, kind: str, party_id: str) -> VendorParty:
        party = VendorParty(
            party_id=party_id,
            name=f"Zebedee {_token(self._rng, 6).title()} Handelsagentur",
            address_line=f"Mohnweg{_token(self._rng, 5).lower()} {self._rng.randint(1, 99)}",
            phone=f"+49-341-{self._rng.randint(1_000_000, 9_999_999)}",
            tax_registration_number=f"DE-VAT-{_token(self._rng, 9)}",
        )
        self._carried(kind, *party.needles())
        return party

    def _return_comment(self, kind: str) -> str:
        # A customer's own words, naming a person: free text a deny-list of field names cannot see into.
        comment = f"Mug cracked, ask {_token(self._rng, 7).title()} at the door"
        self._carried(kind, comment)
        return comment

    def create(self, account: str = "demo-seller") -> dict[str, Any]:
        n = self._next()
        order_id = f"CH{self.run_id}-{n:05d}"
        customer = self._customer("create-fulfillment", n)
        return {
            "type": "create-fulfillment",
            "commandId": f"chaos-{self.run_id}-{n}-create",
            "account": account,
            "payload": {
                "marketplaceId": "ATVPDKIKX0DER",
                "sellerFulfillmentOrderId": order_id,
                "displayableOrderId": order_id,
                "displayableOrderDate": "2026-11-20T09:30:00Z",
                "displayableOrderComment": customer.comment,
                "notificationEmails": [customer.email],
                "shippingSpeedCategory": "Standard",
                "destinationAddress": customer.address(),
                "items": [
                    {
                        "sellerSku": "SKU-RED-MUG",
                        "sellerFulfillmentOrderItemId": f"{order_id}-1",
                        "quantity": 2,
                    }
                ],
            },
        }

    def update(self, create: Mapping[str, Any]) -> dict[str, Any]:
        """The order goes to someone else: every personal field UpdateFulfillmentOrderRequest has."""
        order_id = create["payload"]["sellerFulfillmentOrderId"]
        n = self._next()
        recipient = self._customer("update-fulfillment", n)
        return {
            "type": "update-fulfillment",
            "commandId": f"{create['commandId'][:-7]}-update-{n}",
            "account": create["account"],
            "payload": {
                "sellerFulfillmentOrderId": order_id,
                "marketplaceId": "ATVPDKIKX0DER",
                "displayableOrderComment": recipient.comment,
                "destinationAddress": recipient.address(),
                "notificationEmails": [recipient.email],
                "items": [{"sellerFulfillmentOrderItemId": f"{order_id}-1", "quantity": 3}],
            },
        }

    def cancel(self, create: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "type": "cancel-fulfillment",
            "commandId": f"{create['commandId'][:-7]}-cancel-{self._next()}",
            "account": create["account"],
            "payload": {"sellerFulfillmentOrderId": create["payload"]["sellerFulfillmentOrderId"]},
        }

    def acknowledge(self, account: str = "demo-vendor") -> dict[str, Any]:
        n = self._next()
        po = f"{self.run_id[:4]}{n:06d}"
        return {
            "type": "acknowledge-po",
            "commandId": f"chaos-{self.run_id}-{n}-ack",
            "account": account,
            "payload": {
                "orderAcknowledgements": [
                    {
                        "purchaseOrderNumber": po,
                        "vendorOrderNumber": f"VO-{po}",
                        "acknowledgementDate": "2026-11-21T08:00:00Z",
                        "acknowledgementStatus": {"code": "00", "description": "Shipping 100 percent"},
                        "sellingParty": self._vendor_party("acknowledge-po", "VENDOR1").identification(),
                        "shipFromParty": {"partyId": "WH01"},
                        "itemAcknowledgements": [
                            {
                                "itemSequenceNumber": "00001",
                                "buyerProductIdentifier": "B07DFVDRAB",
                                "acknowledgedQuantity": {"amount": 1, "unitOfMeasure": "Each"},
                            }
                        ],
                    }
                ]
            },
        }

    # The commands below start from the samples in events/*.json (what tests/integration/
    # test_exactly_once.py sends for each write type), with ids of this run.

    def fulfillment_return(self, create: Mapping[str, Any], amazon_shipment_id: str) -> dict[str, Any]:
        """A return of a shipped order (``ship_for_return``) of ``create``."""
        order_id = create["payload"]["sellerFulfillmentOrderId"]
        command = _sample("create-fulfillment-return")
        command["commandId"] = f"{create['commandId'][:-7]}-return-{self._next()}"
        command["account"] = create["account"]
        command["payload"]["sellerFulfillmentOrderId"] = order_id
        [item] = command["payload"]["items"]
        item["sellerReturnItemId"] = f"R{order_id}-1"
        item["sellerFulfillmentOrderItemId"] = create["payload"]["items"][0]["sellerFulfillmentOrderItemId"]
        item["amazonShipmentId"] = amazon_shipment_id
        item["returnComment"] = self._return_comment("create-fulfillment-return")
        return command

    def retail_acknowledge(self, account: str = "demo-vendor") -> dict[str, Any]:
        n = self._next()
        command = _sample("acknowledge-retail-po")
        command["commandId"] = f"chaos-{self.run_id}-{n}-retail-ack"
        command["account"] = account
        [acknowledgement] = command["payload"]["acknowledgements"]
        acknowledgement["purchaseOrderNumber"] = f"{self.run_id[:2]}{n:06d}"
        party = self._vendor_party("acknowledge-retail-po", acknowledgement["sellingParty"]["partyId"])
        acknowledgement["sellingParty"] = party.identification()
        return command

    def mcf_create(self, account: str = "demo-seller") -> dict[str, Any]:
        n = self._next()
        order_id = f"MCF{self.run_id}-{n:05d}"
        customer = self._customer("create-mcf-order", n)
        command = _sample("create-mcf-order")
        command["commandId"] = f"chaos-{self.run_id}-{n}-mcf-create"
        command["account"] = account
        payload = command["payload"]
        payload["orderId"] = order_id
        address = payload["destination"]["deliveryAddress"]
        address.update(
            name=customer.name, addressLine1=customer.address_line, phone=customer.phone, email=customer.email
        )
        payload["destination"]["deliveryNotes"] = customer.comment
        payload["lineItems"][0]["lineItemId"] = f"{order_id}-1"
        return command

    def mcf_update(self, create: Mapping[str, Any]) -> dict[str, Any]:
        command = _sample("update-mcf-order")  # HOLD -> SHIP
        command["commandId"] = f"{create['commandId']}-update-{self._next()}"
        command["account"] = create["account"]
        command["payload"]["orderId"] = create["payload"]["orderId"]
        return command

    def mcf_cancel(self, create: Mapping[str, Any]) -> dict[str, Any]:
        command = _sample("cancel-mcf-order")
        command["commandId"] = f"{create['commandId']}-cancel-{self._next()}"
        command["account"] = create["account"]
        command["payload"]["orderId"] = create["payload"]["orderId"]
        return command

    def _amazon_order_id(self) -> str:
        # Easy Ship names orders by Amazon order id: the emulator knows every id of this form.
        n = self._next()
        return f"903-{self._rng.randint(1_000_000, 9_999_999)}-{n:07d}"

    def scheduled_package(self, account: str = "demo-seller") -> dict[str, Any]:
        order_id = self._amazon_order_id()
        command = _sample("create-scheduled-package")
        command["commandId"] = f"chaos-{self.run_id}-{order_id}-schedule"
        command["account"] = account
        command["payload"]["amazonOrderId"] = order_id
        command["payload"]["packageDetails"]["packageTimeSlot"] = {"slotId": handover_slots()[0]["slotId"]}
        return command

    def scheduled_package_update(self, create: Mapping[str, Any]) -> dict[str, Any]:
        command = _sample("update-scheduled-packages")
        command["commandId"] = f"{create['commandId']}-update-{self._next()}"
        command["account"] = create["account"]
        command["payload"]["updatePackageDetailsList"] = [
            {
                "scheduledPackageId": {"amazonOrderId": create["payload"]["amazonOrderId"]},
                "packageTimeSlot": {"slotId": handover_slots()[1]["slotId"]},
            }
        ]
        return command

    def scheduled_package_bulk(self, account: str = "demo-seller") -> dict[str, Any]:
        """Two orders in one request: the probe re-submits only those still missing."""
        command = _sample("create-scheduled-package-bulk")
        first, second = self._amazon_order_id(), self._amazon_order_id()
        command["commandId"] = f"chaos-{self.run_id}-{first}-bulk"
        command["account"] = account
        command["payload"]["orderScheduleDetailsList"] = [
            {"amazonOrderId": first},
            {
                "amazonOrderId": second,
                "packageDetails": {"packageTimeSlot": {"slotId": handover_slots()[2]["slotId"]}},
            },
        ]
        return command


def _sample(name: str) -> dict[str, Any]:
    command: dict[str, Any] = json.loads((REPO_ROOT / "events" / f"{name}.json").read_text())
    return command


# Share of the distinct commands per write type (the main reliability run). First-wave types need
# nothing the run makes; the others are of orders a first-wave create of the run made (FOLLOWS).
WRITE_SHARES = {
    "create-fulfillment": 0.17,
    "update-fulfillment": 0.07,
    "cancel-fulfillment": 0.06,
    "create-fulfillment-return": 0.05,
    "acknowledge-po": 0.13,
    "acknowledge-retail-po": 0.10,
    "create-mcf-order": 0.10,
    "update-mcf-order": 0.04,
    "cancel-mcf-order": 0.04,
    "create-scheduled-package": 0.07,
    "update-scheduled-packages": 0.04,
    # The only restricted write (a Restricted Data Token before the call): 9.45 s at worst, which the
    # chaos stack's 20 s function fits (an 8 s one never did: every delivery ended DeadlineReached).
    "create-scheduled-package-bulk": 0.03,
}
FOLLOWS = {
    "update-fulfillment": "create-fulfillment",
    "create-fulfillment-return": "create-fulfillment",
    "cancel-fulfillment": "create-fulfillment",
    "update-mcf-order": "create-mcf-order",
    "cancel-mcf-order": "create-mcf-order",
    "update-scheduled-packages": "create-scheduled-package",
}
# Follow-ups that must come after the others of their order's wave (a cancel after the updates).
LAST_WAVE = ("cancel-fulfillment", "cancel-mcf-order")


def type_counts(total: int) -> dict[str, int]:
    """``total`` commands split by WRITE_SHARES; rounding is made up by create-fulfillment."""
    counts = {kind: round(total * share) for kind, share in WRITE_SHARES.items()}
    counts["create-fulfillment"] += total - sum(counts.values())
    return counts


def first_wave(
    factory: CommandFactory, counts: Mapping[str, int], accounts: Sequence[str]
) -> list[dict[str, Any]]:
    """The commands that need nothing of the run. FBA creates and DF acknowledgements alternate between
    the accounts as before; the others use their sample's account."""
    commands = [
        factory.create(account=accounts[i % len(accounts)]) for i in range(counts["create-fulfillment"])
    ]
    commands += [
        factory.acknowledge(accounts[(i + 1) % len(accounts)]) for i in range(counts["acknowledge-po"])
    ]
    commands += [factory.retail_acknowledge() for _ in range(counts["acknowledge-retail-po"])]
    commands += [factory.mcf_create() for _ in range(counts["create-mcf-order"])]
    commands += [factory.scheduled_package() for _ in range(counts["create-scheduled-package"])]
    commands += [
        factory.scheduled_package_bulk() for _ in range(counts.get("create-scheduled-package-bulk", 0))
    ]
    return commands


def follow_ups(
    factory: CommandFactory,
    state: EmulatorState,
    creates: Sequence[Mapping[str, Any]],
    counts: Mapping[str, int],
    kinds: Sequence[str],
) -> list[dict[str, Any]]:
    """Commands of ``kinds`` (FOLLOWS) for creates the emulator applied; each order gets one follow-up
    (updates and returns from the front of the list, cancels from its back)."""
    effects = state.effects()
    live: dict[str, list[Mapping[str, Any]]] = {}
    for create in creates:
        if is_applied(effects, create):
            live.setdefault(str(create["type"]), []).append(create)
    taken: Counter[str] = Counter()
    commands: list[dict[str, Any]] = []
    for kind in kinds:
        parent = FOLLOWS[kind]
        pool = live.get(parent, [])
        n = counts[kind]
        if kind in LAST_WAVE:
            chosen = pool[len(pool) - n :] if n else []
        else:
            chosen = pool[taken[parent] : taken[parent] + n]
            taken[parent] += n
        commands += [follow_up(factory, state, kind, create) for create in chosen]
    return commands


def follow_up(
    factory: CommandFactory, state: EmulatorState, kind: str, create: Mapping[str, Any]
) -> dict[str, Any]:
    if kind == "update-fulfillment":
        return factory.update(create)
    if kind == "cancel-fulfillment":
        return factory.cancel(create)
    if kind == "create-fulfillment-return":
        return factory.fulfillment_return(create, ship_for_return(state, create))
    if kind == "update-mcf-order":
        return factory.mcf_update(create)
    if kind == "cancel-mcf-order":
        return factory.mcf_cancel(create)
    assert kind == "update-scheduled-packages", kind
    return factory.scheduled_package_update(create)


def is_applied(effects: Mapping[str, Mapping[str, int]], command: Mapping[str, Any]) -> bool:
    """Every effect of ``command`` is there (its order exists for a follow-up)."""
    return all(effect_count(effects, *key) for key in effect_keys(command))


def _seller_id(account: str) -> str:
    from local.runtime import DEMO_ACCOUNTS  # noqa: PLC0415 - the local stack's accounts

    [seller] = [a.seller_id for a in DEMO_ACCOUNTS if a.name == account]
    return seller


def ship_for_return(state: EmulatorState, create: Mapping[str, Any]) -> str:
    """Amazon ships the order of ``create`` (a return needs a shipment): its amazonShipmentId."""
    shipped = state.ship_order(
        create["payload"]["sellerFulfillmentOrderId"], _seller_id(str(create["account"]))
    )
    return str(shipped["amazonShipmentId"])


def seed_purchase_orders(state: EmulatorState, commands: Iterable[Mapping[str, Any]]) -> None:
    """The vendor purchase orders the acknowledgements name exist before they are sent (New), as Amazon
    issued them: a probe that runs before an acknowledgement was applied reads the order, New."""
    for command in commands:
        seller = (
            _seller_id(str(command["account"]))
            if command["type"] in ("acknowledge-po", "acknowledge-retail-po")
            else ""
        )
        if command["type"] == "acknowledge-po":
            for ack in command["payload"]["orderAcknowledgements"]:
                state.df_order(seller, str(ack["purchaseOrderNumber"]))
        elif command["type"] == "acknowledge-retail-po":
            for ack in command["payload"]["acknowledgements"]:
                state.retail_order(seller, str(ack["purchaseOrderNumber"]), [dict(i) for i in ack["items"]])


def effect_keys(command: Mapping[str, Any]) -> list[EffectKey]:
    """Every effect one command is to have (a bulk schedules each of its orders)."""
    kind = str(command["type"])
    operation = EFFECT_OPERATION[kind]
    payload = command["payload"]
    if kind == "acknowledge-po":
        keys = [str(a["purchaseOrderNumber"]) for a in payload["orderAcknowledgements"]]
    elif kind == "acknowledge-retail-po":
        keys = [str(a["purchaseOrderNumber"]) for a in payload["acknowledgements"]]
    elif kind == "create-fulfillment-return":
        order_id = payload["sellerFulfillmentOrderId"]
        keys = [f"{order_id}/{item['sellerReturnItemId']}" for item in payload["items"]]
    elif kind in ("create-mcf-order", "update-mcf-order", "cancel-mcf-order"):
        keys = [str(payload["orderId"])]
    elif kind == "create-scheduled-package":
        keys = [str(payload["amazonOrderId"])]
    elif kind == "update-scheduled-packages":
        keys = [str(u["scheduledPackageId"]["amazonOrderId"]) for u in payload["updatePackageDetailsList"]]
    elif kind == "create-scheduled-package-bulk":
        keys = [str(o["amazonOrderId"]) for o in payload["orderScheduleDetailsList"]]
    else:
        keys = [str(payload["sellerFulfillmentOrderId"])]
    return [(operation, key) for key in keys]


def with_duplicates(commands: Sequence[dict[str, Any]], share: float, rng: random.Random) -> list[str]:
    """Message bodies: every command once, plus ``share`` of them again (producer duplicates), shuffled."""
    bodies = [json.dumps(c) for c in commands]
    extra = rng.sample(bodies, k=min(len(bodies), round(len(bodies) * share)))
    mixed = bodies + extra
    rng.shuffle(mixed)
    return mixed


def send_bodies(sqs: Any, queue_url: str, bodies: Iterable[str]) -> int:
    batch: list[str] = []
    sent = 0

    def flush() -> None:
        nonlocal sent
        if batch:
            answer = sqs.send_message_batch(
                QueueUrl=queue_url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(batch)]
            )
            if answer.get("Failed"):
                raise RuntimeError(f"SQS refused {len(answer['Failed'])} messages: {answer['Failed'][:2]}")
            sent += len(batch)
            batch.clear()

    for body in bodies:
        batch.append(body)
        if len(batch) == 10:
            flush()
    flush()
    return sent


def set_queue_visibility(sqs: Any, queue_url: str, seconds: int) -> None:
    """Shorter than the template's 390 s so a killed worker's messages come back within a test run."""
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": str(seconds)})


# --- SP-API faults ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class FaultProgramme:
    """Injects faults into the emulator and counts which fired (by label), so duplicates that SP-API
    cannot detect can be held against the faults that caused them."""

    state: EmulatorState
    fired: Counter[str] = field(default_factory=Counter)
    _labels: dict[str, str] = field(default_factory=dict)
    _original: Callable[[tuple[str, ...]], Fault | None] | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _burst_thread: threading.Thread | None = None
    _throttled_until: float = 0.0
    _refusal: Fault | None = None

    def install(self) -> FaultProgramme:
        original = self.state.take_fault
        self._original = original

        def counting(names: tuple[str, ...]) -> Fault | None:
            refusing = self._refusal is not None and time.monotonic() < self._throttled_until
            fault = self._refusal if refusing else original(names)
            if fault is not None:
                label = self._labels.get(fault.id, "other")
                operation = names[1] if len(names) > 1 else names[0]
                self.fired[label] += 1
                self.fired[f"{label}@{operation}"] += 1
            return fault

        self.state.take_fault = counting  # type: ignore[method-assign]
        return self

    def add(self, label: str, fault: Fault) -> None:
        self._labels[fault.id] = label
        self.state.add_fault(fault)

    def standard_mix(self, *, http_timeout_seconds: float) -> None:
        """~10% 5xx, ~5% timeouts (2% of all calls applied at SP-API before the timeout)."""
        delay = http_timeout_seconds + 1.0
        self.add(
            "timeout-after-apply",
            Fault(kind="timeout", probability=0.02, delay_seconds=delay, apply_before_fault=True),
        )
        self.add("timeout", Fault(kind="timeout", probability=0.03, delay_seconds=delay))
        self.add("5xx-500", Fault(kind="status", status=500, probability=0.04))
        self.add("5xx-503", Fault(kind="status", status=503, probability=0.06))

    def start_429_bursts(self, every_seconds: float = 6.0, window_seconds: float = 1.0) -> None:
        """Every ``every_seconds``, SP-API answers every call 429 for ``window_seconds``: another
        application emptied the shared bucket, which refills with time, whoever calls.

        Bursts counted in calls (the next 8 calls are refused) starved a lone caller: at the end of a
        phase the one message still retrying met every burst alone, 4 refusals in a row, and, between
        them, the ordinary 5xx and timeouts whose backoff grew to minutes (full size, 2026-12-03: phase 1
        did not drain in 698 s, one getFulfillmentOrder deferred 62, 80, then 239 s)."""
        refusal = Fault(kind="status", status=429, code="QuotaExceeded")
        self._labels[refusal.id] = "429-burst"
        self._refusal = refusal

        def run() -> None:
            while not self._stop.wait(every_seconds):
                self._throttled_until = time.monotonic() + window_seconds

        self._burst_thread = threading.Thread(target=run, name="chaos-429-bursts", daemon=True)
        self._burst_thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._burst_thread is not None:
            self._burst_thread.join(5)
        self.state.clear_faults()
        if self._original is not None:
            self.state.take_fault = self._original  # type: ignore[method-assign,assignment]


# --- the ledger ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class LedgerReport:
    commands: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    applied_once: Counter[str] = field(default_factory=Counter)
    dead_lettered: Counter[str] = field(default_factory=Counter)
    applied_and_dead_lettered: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    # Every write type is probed before any re-apply (the write ledger): any repeat is a violation.
    applied_twice: list[str] = field(default_factory=list)
    applied_twice_by_type: Counter[str] = field(default_factory=Counter)
    lost_by_type: Counter[str] = field(default_factory=Counter)
    partly_applied: list[str] = field(default_factory=list)
    extra_effects: Counter[str] = field(default_factory=Counter)  # by type
    dlq_without_reason: list[str] = field(default_factory=list)
    dlq_reasons: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    without_outcome: list[str] = field(default_factory=list)
    several_outcomes: list[str] = field(default_factory=list)
    # More than one *different* outcome event (by eventId): never allowed, even after a kill, where the
    # saved event may go out twice, identical.
    several_distinct_outcomes: list[str] = field(default_factory=list)
    # Applied, yet an outcome event said rejected or dead-lettered: an untruthful ending.
    applied_but_reported_failed: list[str] = field(default_factory=list)

    @property
    def violations(self) -> list[str]:
        problems = [f"lost: {c}" for c in self.lost[:10]]
        problems += [f"applied twice: {c}" for c in self.applied_twice[:10]]
        problems += [f"partly applied: {c}" for c in self.partly_applied[:10]]
        problems += [f"DLQ without reason: {c}" for c in self.dlq_without_reason[:10]]
        if sum(self.applied_and_dead_lettered.values()):
            problems.append(f"applied and on the DLQ: {_fmt_counter(self.applied_and_dead_lettered)}")
        problems += [f"applied, reported failed: {c}" for c in self.applied_but_reported_failed[:10]]
        return problems

    def rows(self) -> list[tuple[str, str]]:
        extra = sum(self.extra_effects.values())
        return [
            ("distinct commandIds", str(self.commands)),
            ("  by type", _fmt_counter(self.by_type)),
            (
                "applied exactly once",
                f"{sum(self.applied_once.values())} ({_fmt_counter(self.applied_once)})",
            ),
            (
                "on the DLQ with a reason, not applied",
                f"{sum(self.dead_lettered.values())} ({_fmt_counter(self.dead_lettered)})",
            ),
            ("applied and on the DLQ (replay confirms)", str(sum(self.applied_and_dead_lettered.values()))),
            ("applied, yet reported rejected or dead-lettered", str(len(self.applied_but_reported_failed))),
            ("DLQ reasons", _fmt_counter(self.dlq_reasons) or "-"),
            ("lost (no effect, not on the DLQ)", str(len(self.lost))),
            ("applied twice (any type)", str(len(self.applied_twice))),
            ("extra effects", f"{extra} ({_fmt_counter(self.extra_effects)})"),
            ("DLQ messages without a reason", str(len(self.dlq_without_reason))),
            ("outcome events by status", _fmt_counter(self.outcomes)),
            ("commandIds without any outcome event", str(len(self.without_outcome))),
            ("commandIds with more than one outcome event", str(len(self.several_outcomes))),
            ("  of them with different events (eventId)", str(len(self.several_distinct_outcomes))),
            ("per type", "commands / applied once / twice / DLQ not applied / applied+DLQ / lost"),
            *self.type_rows(),
        ]

    def type_rows(self) -> list[tuple[str, str]]:
        return [
            (
                f"  {kind}",
                f"{self.by_type[kind]} / {self.applied_once[kind]} / {self.applied_twice_by_type[kind]} / "
                f"{self.dead_lettered[kind]} / {self.applied_and_dead_lettered[kind]} / "
                f"{self.lost_by_type[kind]}",
            )
            for kind in sorted(self.by_type)
        ]


def _fmt_counter(counter: Mapping[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counter.items()))


FAILED_OUTCOME_STATUSES = frozenset({OutcomeStatus.REJECTED.value, OutcomeStatus.DEAD_LETTERED.value})


def reconcile(
    commands: Sequence[Mapping[str, Any]],
    effects: Mapping[str, Mapping[str, int]],
    dead_letters: Sequence[Mapping[str, Any]],
    outcomes: Sequence[Mapping[str, Any]],
) -> LedgerReport:
    """Hold every commandId against the emulator's effects and the DLQ (each body read once)."""
    report = LedgerReport()
    in_dlq: dict[str, Mapping[str, Any]] = {}
    for message in dead_letters:
        try:
            command_id = str(json.loads(message["body"]).get("commandId"))
        except (ValueError, AttributeError):
            command_id = "<unparseable>"
        reason = (message.get("attributes") or {}).get(REASON_ATTRIBUTE)
        if not reason:
            report.dlq_without_reason.append(command_id)
        else:
            report.dlq_reasons[str(reason)] += 1
        in_dlq.setdefault(command_id, message)
    outcome_ids = Counter(str(o.get("commandId")) for o in outcomes)
    reported_failed = {
        str(o.get("commandId")) for o in outcomes if o.get("status") in FAILED_OUTCOME_STATUSES
    }
    event_ids: dict[str, set[str]] = {}
    for outcome in outcomes:
        event_ids.setdefault(str(outcome.get("commandId")), set()).add(str(outcome.get(EVENT_ID)))
    report.outcomes.update(str(o.get("status")) for o in outcomes)
    seen: set[str] = set()
    for command in commands:
        command_id = str(command["commandId"])
        if command_id in seen:
            continue
        seen.add(command_id)
        kind = str(command["type"])
        report.commands += 1
        report.by_type[kind] += 1
        counts = [effect_count(effects, operation, key) for operation, key in effect_keys(command)]
        dead = command_id in in_dlq
        if 0 < counts.count(0) < len(counts):
            report.partly_applied.append(command_id)  # some of a bulk's orders, not all
        count = max(counts)
        if count > 0 and command_id in reported_failed:
            report.applied_but_reported_failed.append(command_id)
        if command_id not in outcome_ids:
            report.without_outcome.append(command_id)
        elif outcome_ids[command_id] > 1:
            report.several_outcomes.append(command_id)
            if len(event_ids[command_id]) > 1:
                report.several_distinct_outcomes.append(command_id)
        if count == 0:
            (report.dead_lettered if dead else _lost(report, command_id))[kind] += 1
        elif count == 1:
            (report.applied_and_dead_lettered if dead else report.applied_once)[kind] += 1
        else:
            report.applied_twice.append(command_id)
            report.applied_twice_by_type[kind] += 1
            report.extra_effects[kind] += sum(c - 1 for c in counts if c > 1)
            (report.applied_and_dead_lettered if dead else report.applied_once)[kind] += 1
    return report


def _lost(report: LedgerReport, command_id: str) -> Counter[str]:
    report.lost.append(command_id)
    return report.lost_by_type


# --- AWS faults through botocore events -------------------------------------------------------------------


class _RawBody:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@dataclass(slots=True)
class AwsFaultInjector:
    """Answers a share of AWS HTTP attempts with an error before they leave the process.

    Registered on ``before-send`` of a boto3 Session before the worker's clients are built, so the
    SDK's own retries (standard mode, 3 after the first attempt) see the fault as they would AWS's answer.
    ``rules`` map ``service.Operation`` (``dynamodb.PutItem``) to (probability, error code, status).
    """

    rules: dict[str, tuple[float, str, int]]
    # Fail the first N attempts of an operation outright (e.g. a Secrets Manager outage at cold start).
    fail_first: dict[str, tuple[int, str, int]] = field(default_factory=dict)
    seed: int = 11
    injected: Counter[str] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)
    enabled: bool = True
    _rng: random.Random = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def register(self, session: boto3.Session) -> None:
        session.events.register("before-send", self._before_send)  # type: ignore[arg-type]

    def _before_send(self, request: Any, **kwargs: Any) -> AWSResponse | None:
        target = _operation_of(request)
        if target is None:
            return None
        with self._lock:
            self.attempts[target] += 1
            if not self.enabled:
                return None
            first = self.fail_first.get(target)
            rule = self.rules.get(target)
            if first is not None and self.attempts[target] <= first[0]:
                code, status = first[1], first[2]
            elif rule is not None and self._rng.random() < rule[0]:
                code, status = rule[1], rule[2]
            else:
                return None
            self.injected[target] += 1
        service = target.split(".", 1)[0]
        body = json.dumps({"__type": f"com.amazonaws.{service}#{code}", "message": f"injected {code}"})
        headers = HTTPHeaders()
        headers["x-amzn-ErrorType"] = code
        headers["content-type"] = "application/x-amz-json-1.0"
        return AWSResponse(request.url, status, headers, _RawBody(body.encode()))


def _operation_of(request: Any) -> str | None:
    target = request.headers.get("X-Amz-Target")
    if target is None:
        return None
    prefix, _, operation = (target.decode() if isinstance(target, bytes) else str(target)).partition(".")
    service = {"DynamoDB_20120810": "dynamodb", "secretsmanager": "secretsmanager"}.get(prefix)
    return f"{service}.{operation}" if service else None


@dataclass(slots=True)
class AwsCallCounter:
    """Counts AWS API calls (not HTTP attempts) per ``service.Operation`` and the time spent in them."""

    calls: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    _started: threading.local = field(default_factory=threading.local)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, session: boto3.Session) -> None:
        session.events.register("before-parameter-build", self._count)
        session.events.register("before-call", self._before)
        session.events.register("after-call", self._after)
        session.events.register("after-call-error", self._after)

    def _count(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        name = f"{model.service_model.endpoint_prefix}.{model.name}"
        table = params.get("TableName")
        with self._lock:
            self.calls[name] += 1
            if table:
                self.calls[f"{name}:{table}"] += 1

    def _before(self, **_: Any) -> None:
        self._started.at = time.perf_counter()

    def _after(self, **_: Any) -> None:
        started = getattr(self._started, "at", None)
        if started is not None:
            elapsed = time.perf_counter() - started
            with self._lock:
                self.seconds += elapsed

    def thread_seconds(self) -> float:
        return self.seconds


# --- a worker process that can be killed -------------------------------------------------------------------


class WorkerProcess:
    """``sp-relay worker --stack-file`` as a child process, killable with SIGKILL."""

    def __init__(
        self, stack_file: Path, log: IO[bytes], *, concurrency: int = 2, function_timeout: float = 8.0
    ) -> None:
        self._args = [
            sys.executable,
            "-m",
            "cli.main",
            "worker",
            "--stack-file",
            str(stack_file),
            "--concurrency",
            str(concurrency),
            "--function-timeout",
            str(function_timeout),
        ]
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            self._args, cwd=REPO_ROOT, stdout=self._log, stderr=subprocess.STDOUT, env=env
        )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


# --- secrets and personal data ------------------------------------------------------------------------------


def find_leaks(texts: Iterable[str], needles: Iterable[str]) -> list[tuple[str, str]]:
    """(needle, excerpt) for every text that contains a needle. Needles shorter than 6 chars are refused."""
    needles = [n for n in needles if n]
    short = [n for n in needles if len(n) < 6]
    if short:
        raise ValueError(f"needles too short to scan for safely: {short[:3]}")
    leaks = []
    for text in texts:
        for needle in needles:
            at = text.find(needle)
            if at >= 0:
                leaks.append((needle[:6] + "…", text[max(0, at - 80) : at + 80]))
    return leaks


def powertools_json_capture() -> tuple[logging.Handler, io.StringIO]:
    """A handler that renders records exactly as the Lambda log stream would (Powertools JSON)."""
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter  # noqa: PLC0415

    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(LambdaPowertoolsFormatter())
    return handler, buffer


# --- tables ------------------------------------------------------------------------------------------------


def format_table(title: str, rows: Sequence[tuple[str, str]]) -> str:
    width = max((len(label) for label, _ in rows), default=10)
    lines = [f"\n== {title} =="]
    lines += [f"  {label.ljust(width)}  {value}" for label, value in rows]
    return "\n".join(lines)
