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
from domain.events import COMMAND_EVENT, TRANSACTION_EVENT, transaction_event
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
        stack = LocalStack(LocalStackOptions(workers=workers)).start()
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
    finally:
        with console.status("Stopping the local stack…"):
            stack.stop()
    console.print(_outcome_table(result))
    console.print(_dead_letter_table(dead_letters))
    problems = _verdict(result, dead_letters, creates)
    for problem in problems:
        console.print(f"[red]✗ {problem}[/red]")
    if not problems:
        console.print(
            f"[green]✓ all {len(CATALOG)} command types succeeded, both acknowledgements were followed to "
            "their final status, the duplicate create reached SP-API once, and both broken commands are on "
            "the DLQ with their reasons.[/green]"
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
