"""`sp-relay demo`: the main job on the embedded local stack, start to finish, with a verdict."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

from local.runtime import LocalStack, LocalStackOptions, sample_commands

# Dependent commands go in steps: a standard queue does not keep order, and SP-API cannot update an
# order it has not created yet.
STEPS = (
    ("create the MCF order and acknowledge the PO", ("create-fulfillment.json", "acknowledge-po.json")),
    ("update the MCF order", ("update-fulfillment.json",)),
    ("cancel the MCF order", ("cancel-fulfillment.json",)),
)
BROKEN_COMMANDS = (
    ("malformed JSON", '{"type": "create-fulfillment", "commandId": '),
    (
        "unknown type",
        json.dumps(
            {"type": "ship-it-yesterday", "commandId": "demo-bad-1", "account": "demo-seller", "payload": {}}
        ),
    ),
)


def run_demo(console: Console, *, workers: int = 2, timeout: float = 60.0) -> int:
    samples = dict(sample_commands())
    with console.status("Starting the local stack (moto server, template.yaml resources, SP-API emulator)…"):
        stack = LocalStack(LocalStackOptions(workers=workers)).start()
    try:
        console.print(
            f"Local stack up: AWS at {stack.describe()['awsEndpointUrl']}, SP-API at {stack.spapi_endpoint}"
        )
        for number, (title, files) in enumerate(STEPS, start=1):
            with console.status(f"Step {number}/{len(STEPS)}: {title}…"):
                for name in files:
                    stack.send(samples[name])
                if number == 1:
                    stack.send(samples["create-fulfillment.json"])  # a producer duplicate
                    for _, body in BROKEN_COMMANDS:
                        stack.send(body)
                drained = stack.wait_until_drained(timeout)
            console.print(
                f"Step {number}/{len(STEPS)}: {title} — {'done' if drained else '[red]timed out[/red]'}"
            )
        outcomes = stack.outcomes()
        dead_letters = stack.dead_letters()
        creates = stack.emulator.state.effects().get("createFulfillmentOrder", {}) if stack.emulator else {}
    finally:
        with console.status("Stopping the local stack…"):
            stack.stop()
    console.print(_outcome_table(outcomes))
    console.print(_dead_letter_table(dead_letters))
    problems = _verdict(samples, outcomes, dead_letters, creates)
    for problem in problems:
        console.print(f"[red]✗ {problem}[/red]")
    if not problems:
        console.print(
            f"[green]✓ all {len(samples)} sample commands succeeded, "
            "the duplicate create reached SP-API once, "
            "and both broken commands are on the DLQ with their reasons.[/green]"
        )
    return 1 if problems else 0


def _outcome_table(outcomes: list[dict[str, Any]]) -> Table:
    table = Table("type", "commandId", "outcome", "detail", title="Outcome events")
    for outcome in outcomes:
        result = outcome.get("result") or {}
        answer = result.get("answer")
        if outcome["status"] == "succeeded":
            detail = f"{result.get('operationId')} → HTTP {result.get('httpStatus')}"
            if isinstance(answer, dict) and answer:
                detail += f" {json.dumps(answer)}"
        else:
            detail = f"{outcome['reason']['code']}: {outcome['reason']['detail']}"
        colour = "green" if outcome["status"] == "succeeded" else "red"
        table.add_row(
            str(outcome.get("type")),
            str(outcome.get("commandId")),
            f"[{colour}]{outcome['status']}[/{colour}]",
            detail,
        )
    return table


def _dead_letter_table(dead_letters: list[dict[str, Any]]) -> Table:
    table = Table("message", "outcome", "reason", "detail", title="Dead-letter queue")
    for message in dead_letters:
        attributes = message["attributes"]
        table.add_row(
            str(attributes.get("sp-relay-source-message-id", message["messageId"]))[:13] + "…",
            str(attributes.get("sp-relay-outcome")),
            str(attributes.get("sp-relay-reason")),
            str(attributes.get("sp-relay-detail")),
        )
    return table


def _verdict(
    samples: dict[str, dict[str, Any]],
    outcomes: list[dict[str, Any]],
    dead_letters: list[dict[str, Any]],
    creates: dict[str, int],
) -> list[str]:
    problems = []
    succeeded = Counter(o["commandId"] for o in outcomes if o["status"] == "succeeded")
    for name, command in samples.items():
        if not succeeded[command["commandId"]]:
            problems.append(f"{name} did not succeed")
    reasons = Counter(str(m["attributes"].get("sp-relay-reason")) for m in dead_letters)
    if reasons != Counter({"InvalidCommand": 1, "UnknownCommandType": 1}):
        problems.append(f"expected the two broken commands on the DLQ, found {dict(reasons)}")
    order_id = samples["create-fulfillment.json"]["payload"]["sellerFulfillmentOrderId"]
    if creates and sum(count for key, count in creates.items() if order_id in key) != 1:
        problems.append(f"order {order_id} was created {creates} times at SP-API, expected once")
    return problems
