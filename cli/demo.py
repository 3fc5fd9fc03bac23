"""`sp-relay demo`: the main job on the embedded local stack, start to finish, with a verdict."""

from __future__ import annotations

import json
import logging
import warnings
from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

from domain.attributes import (
    DETAIL_ATTRIBUTE,
    OUTCOME_ATTRIBUTE,
    REASON_ATTRIBUTE,
    SOURCE_MESSAGE_ID_ATTRIBUTE,
)
from domain.catalog import CATALOG
from domain.events import COMMAND_EVENT, NOTIFICATION_EVENT, TRANSACTION_EVENT, transaction_event
from local.runtime import LocalStack, LocalStackOptions
from local.scenario import Tour, TourResult

BROKEN_COMMANDS = (
    '{"type": "create-fulfillment", "commandId": ',
    json.dumps(
        {"type": "ship-it-yesterday", "commandId": "demo-bad-1", "account": "demo-seller", "payload": {}}
    ),
)


def quiet_logs() -> None:
    """The demo shows its own tables: the relay's and the local stack's log lines stay below WARNING."""
    # Powertools sets a level on every child logger it makes, so each one is set, not just the parents.
    for name in [*logging.root.manager.loggerDict, "sp-relay", "sp-relay-local"]:
        if name.startswith(("sp-relay", "local.")):
            logging.getLogger(name).setLevel(logging.WARNING)
        elif name.startswith("moto"):
            # moto's CloudFormation names the resource types it skips; local/stack.py creates them.
            logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Tried to parse AWS.+supported by moto")


def run_demo(console: Console, *, workers: int = 2, timeout: float = 60.0) -> int:
    quiet_logs()
    with console.status("Starting the local stack (moto server, template.yaml resources, SP-API emulator)…"):
        # Every notification is delivered twice, as Amazon sometimes does: the demo shows one event each.
        stack = LocalStack(LocalStackOptions(workers=workers, notification_duplicate_every=1)).start()
    try:
        console.print(
            f"Local stack up: AWS at {stack.describe()['awsEndpointUrl']}, SP-API at {stack.spapi_endpoint}"
        )
        tour = Tour(stack, timeout=timeout)
        duplicate = tour.command("create-fulfillment")  # a producer sending the same command twice
        with console.status("Running every command type from events/ through the relay…"):
            result = tour.run(extra_first_step=[duplicate, *BROKEN_COMMANDS])
        for number, (title, drained) in enumerate(result.steps, start=1):
            state = "done" if drained else "[red]timed out[/red]"
            console.print(f"Step {number}/{len(result.steps)}: {title} — {state}")
        dead_letters = stack.dead_letters()
        assert stack.emulator is not None
        creates = stack.emulator.state.effect_count(
            "createFulfillmentOrder", duplicate["payload"]["sellerFulfillmentOrderId"]
        )
        delivery = stack.emulator.state.notification_delivery.stats.to_json()
    finally:
        with console.status("Stopping the local stack…"):
            stack.stop()
    console.print(_outcome_table(result))
    console.print(_dead_letter_table(dead_letters))
    console.print(_notification_table(result, delivery))
    problems = _verdict(result, dead_letters, creates) + _notification_verdict(result, delivery)
    for problem in problems:
        console.print(f"[red]✗ {problem}[/red]")
    if not problems:
        console.print(
            f"[green]✓ all {len(CATALOG)} command types succeeded, both acknowledgements were followed to "
            "their final status, the duplicate create reached SP-API once, and both broken commands are on "
            "the DLQ with their reasons.[/green]"
        )
        console.print(
            f"[green]✓ {delivery['notified']} SP-API notifications (FULFILLMENT_ORDER_STATUS), each "
            f"delivered twice, became one '{NOTIFICATION_EVENT}' event each; the "
            f"{delivery['notified'] - _test_notifications(result)} of the tour's orders name the commandId "
            "of their create, the sendTestNotification's mock order names none.[/green]"
        )
    return 1 if problems else 0


def _outcome_table(result: TourResult) -> Table:
    table = Table("event", "type", "commandId", "detail", title="Events on the outcome bus")
    for kind, detail in result.events:
        name = kind.removeprefix("sp-relay ")
        if kind.startswith(COMMAND_EVENT):
            outcome = detail
            answer = (outcome.get("result") or {}).get("answer")
            if outcome["status"] == "succeeded":
                text = f"{outcome['result']['operationId']} → HTTP {outcome['result']['httpStatus']}"
                if isinstance(answer, dict) and "transactionId" in json.dumps(answer)[:200]:
                    text += f" {json.dumps(answer)[:80]}"
            else:
                text = f"{outcome['reason']['code']}: {outcome['reason']['detail']}"
            colour = "green" if outcome["status"] == "succeeded" else "red"
            table.add_row(
                f"[{colour}]{name}[/{colour}]", str(outcome.get("type")), str(outcome.get("commandId")), text
            )
        elif kind.startswith(NOTIFICATION_EVENT):
            order = ", ".join((detail.get("order") or {}).values())
            table.add_row(
                f"[magenta]{name}[/magenta]",
                order,
                str(detail.get("commandId")),
                f"status {detail.get('status')} (notification {str(detail.get('notificationId'))[:8]}…)",
            )
        else:
            table.add_row(
                f"[cyan]{name}[/cyan]", str(detail.get("type", "")), str(detail.get("of", "")), _other(detail)
            )
    return table


def _other(detail: dict[str, Any]) -> str:
    if "transactionId" in detail:
        return f"transaction {detail['transactionId']} after {detail.get('checks')} checks"
    return json.dumps(detail)[:100]


def _dead_letter_table(dead_letters: list[dict[str, Any]]) -> Table:
    table = Table("message", "outcome", "reason", "detail", title="Dead-letter queue")
    for message in dead_letters:
        attributes = message["attributes"]
        table.add_row(
            str(attributes.get(SOURCE_MESSAGE_ID_ATTRIBUTE, message["messageId"]))[:13] + "…",
            str(attributes.get(OUTCOME_ATTRIBUTE)),
            str(attributes.get(REASON_ATTRIBUTE)),
            str(attributes.get(DETAIL_ATTRIBUTE)),
        )
    return table


def _notification_table(result: TourResult, delivery: dict[str, int]) -> Table:
    """One row per notification event: its order, the status, and the commandId of the create it names."""
    table = Table(
        "order",
        "status",
        "commandId named",
        title="Notifications (FULFILLMENT_ORDER_STATUS)",
        caption=(
            f"emulator: {delivery['notified']} notifications, {delivery['delivered']} deliveries "
            f"({delivery['duplicated']} duplicates, {delivery['missed']} missed, {delivery['failed']} failed)"
        ),
    )
    table.columns[2].no_wrap = True
    for kind, detail in result.events:
        if kind.startswith(NOTIFICATION_EVENT):
            table.add_row(
                ", ".join(str(v) for v in (detail.get("order") or {}).values()),
                str(detail.get("status")),
                str(detail.get("commandId")),
            )
    return table


def _verdict(result: TourResult, dead_letters: list[dict[str, Any]], creates: int) -> list[str]:
    problems = [f"step '{title}' did not finish in time" for title, drained in result.steps if not drained]
    succeeded = Counter(o["type"] for o in result.outcomes() if o["status"] == "succeeded")
    problems += [f"no {name} command succeeded" for name in CATALOG if not succeeded[name]]
    problems += [
        f"{o['type']} {o['commandId']} was {o['status']}: {o['reason']['detail']}"
        for o in result.outcomes()
        if o["status"] != "succeeded" and o["commandId"] in result.sent
    ]
    # The broken commands were sent as raw text: each must end in one rejected event of its own.
    refused = [o for o in result.outcomes() if o["commandId"] not in result.sent]
    if [o["status"] for o in refused] != ["rejected"] * len(BROKEN_COMMANDS):
        problems.append(f"expected {len(BROKEN_COMMANDS)} rejected broken commands, saw {refused}")
    transactions = [kind for kind, _ in result.events if kind.startswith(TRANSACTION_EVENT)]
    if Counter(transactions) != Counter({transaction_event("Success"): 2}):
        problems.append(f"expected both acknowledgements followed to Success, saw {transactions}")
    reasons = Counter(str(m["attributes"].get(REASON_ATTRIBUTE)) for m in dead_letters)
    if reasons != Counter({"InvalidCommand": 1, "UnknownCommandType": 1}):
        problems.append(f"expected the two broken commands on the DLQ, found {dict(reasons)}")
    if creates != 1:
        problems.append(f"the duplicated create reached SP-API {creates} times, expected once")
    return problems


def _creates_by_order(result: TourResult) -> dict[tuple[str, str], str]:
    """(account, order id) -> the commandId of the tour's create of that order (the catalog says which
    commands create an order and where their payload names it)."""
    creates: dict[tuple[str, str], str] = {}
    for command_id, command in result.sent.items():
        spec = CATALOG.get(str(command.get("type")))
        sequence = spec.order_sequence if spec is not None else None
        if sequence is not None and sequence.creates:
            order = sequence.order_of(command.get("payload") or {})
            if order is not None:
                creates[(str(command.get("account")), order)] = command_id
    return creates


def _notification_verdict(result: TourResult, delivery: dict[str, int]) -> list[str]:
    """Every notification the emulator sent (each twice) is exactly one event. One of an order the tour
    created names that create's commandId; a sendTestNotification's mock order names none."""
    events = [detail for kind, detail in result.events if kind.startswith(NOTIFICATION_EVENT)]
    problems: list[str] = []
    if not events or len(events) != delivery["notified"]:
        problems.append(f"{delivery['notified']} notifications sent, {len(events)} notification events")
    if delivery["duplicated"] != delivery["notified"] or delivery["missed"] or delivery["failed"]:
        problems.append(f"expected every notification delivered twice, saw {delivery}")
    ids = Counter(str(detail.get("notificationId")) for detail in events)
    problems += [f"notification {i} published {n} times" for i, n in ids.items() if n != 1]
    creates = _creates_by_order(result)
    mocks = 0
    for detail in events:
        expected = {
            creates.get((str(detail.get("account")), str(order))) for order in detail["order"].values()
        }
        if expected == {None}:
            mocks += 1
        if detail.get("commandId") not in expected:
            problems.append(
                f"notification event for {detail.get('order')} names commandId {detail.get('commandId')}, "
                f"expected {sorted(str(e) for e in expected)}"
            )
    tests = _test_notifications(result)
    if mocks != tests:
        problems.append(
            f"{mocks} notification events of orders the tour did not create, {tests} test notifications"
        )
    return problems


def _test_notifications(result: TourResult) -> int:
    """How many FULFILLMENT_ORDER_STATUS test notifications the tour asked for (sendTestNotification)."""
    return sum(
        1
        for command in result.sent.values()
        if command.get("type") == "send-test-notification"
        and (command.get("payload") or {}).get("notificationType") == "FULFILLMENT_ORDER_STATUS"
    )
