"""Malformed messages through the real handler, mixed with healthy ones in the same batches."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from chaos.harness import ChaosSize, CommandFactory, format_table, send_bodies
from domain.attributes import DETAIL_ATTRIBUTE, REASON_ATTRIBUTE
from domain.commands import MAX_BODY_BYTES
from local.runtime import LocalStack
from tests.unit.test_malformed_commands import HAND_WRITTEN, VALID

pytestmark = pytest.mark.chaos

SQS_MAX_BYTES = 256 * 1024


def generated_malformed(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """(body, field the reason must name), from a seeded generator."""
    odd = ["\u202e", "\u0000", "\U0001f4e6", "\ufeff", "é", "\u200b", "Ω", "\\", '"', "\n"]
    cases: list[tuple[str, str]] = []
    for i in range(count):
        kind = i % 6
        document: dict[str, Any] = json.loads(json.dumps(VALID))
        document["commandId"] = f"bad-{i}"
        if kind == 0:
            field = rng.choice(["type", "commandId", "account", "payload"])
            document[field] = rng.choice([1, 2.5, True, None, [1]])
        elif kind == 1:
            field = rng.choice(["commandId", "account"])
            document[field] = "x" + "".join(rng.choice(odd) for _ in range(rng.randint(1, 5)))
        elif kind == 2:
            field = "type"
            document["type"] = "".join(rng.choice([*odd, "a", "b"]) for _ in range(6))
        elif kind == 3:
            field = "payload.sellerFulfillmentOrderId"
            document["payload"]["sellerFulfillmentOrderId"] = "Z" * rng.randint(41, 200_000)
        elif kind == 4:
            field = rng.choice(["priority", "x-trace", "Payload"])
            document[field] = "v"
        else:
            field = "payload.x"
            nested: Any = 1
            for _ in range(rng.randint(2, 40)):
                nested = [nested]
            document["payload"]["x"] = nested
        cases.append((json.dumps(document, ensure_ascii=rng.random() < 0.5), field))
    return cases


def test_malformed_messages_are_dead_lettered_naming_the_field_while_healthy_ones_succeed(
    stack: LocalStack, chaos_size: ChaosSize
) -> None:
    assert stack.resources is not None and stack.worker is not None
    rng = random.Random(77)
    bad: list[tuple[str, str]] = [
        (raw, names)
        for _, raw, names in HAND_WRITTEN
        if isinstance(raw, str) and 0 < len(raw.encode()) < SQS_MAX_BYTES
    ]
    bad += generated_malformed(rng, max(0, chaos_size.malformed_batch - len(bad)))
    bad = [(raw, names) for raw, names in bad if len(raw.encode()) < SQS_MAX_BYTES]
    unknown_account = {
        **json.loads(json.dumps(VALID)),
        "commandId": "bad-account-1",
        "account": "nobody-we-know",
    }
    bad.append((json.dumps(unknown_account), "nobody-we-know"))
    factory = CommandFactory(seed=21)
    healthy = [factory.create() for _ in range(len(bad) // 3)]
    bodies = [raw for raw, _ in bad] + [json.dumps(c) for c in healthy]
    rng.shuffle(bodies)  # batches of 10 mix both kinds
    errors_before = stack.worker.stats.handler_errors

    send_bodies(stack.client("sqs"), stack.resources.command_queue_url, bodies)
    assert stack.wait_until_drained(120)

    dead = stack.dead_letters()
    outcomes = stack.outcomes()
    by_body = {m["body"]: m["attributes"] for m in dead}
    unnamed = [
        (raw[:80], names, (by_body.get(raw) or {}).get(DETAIL_ATTRIBUTE))
        for raw, names in bad
        if raw not in by_body or names not in str(by_body[raw].get(DETAIL_ATTRIBUTE, ""))
    ]
    succeeded = {o["commandId"] for o in outcomes if o["status"] == "succeeded"}
    failed_healthy = [c["commandId"] for c in healthy if c["commandId"] not in succeeded]
    reasons: dict[str, int] = {}
    for attributes in by_body.values():
        reasons[str(attributes.get(REASON_ATTRIBUTE))] = (
            reasons.get(str(attributes.get(REASON_ATTRIBUTE)), 0) + 1
        )
    crashed = stack.worker.stats.handler_errors - errors_before
    print(
        format_table(
            "malformed messages in mixed batches",
            [
                ("malformed / healthy messages", f"{len(bad)} / {len(healthy)}"),
                (
                    "largest malformed body",
                    f"{max(len(r.encode()) for r, _ in bad)} bytes (limit {MAX_BODY_BYTES})",
                ),
                ("on the DLQ, reason by code", ", ".join(f"{k}={v}" for k, v in sorted(reasons.items()))),
                ("malformed without a reason naming the field", str(len(unnamed))),
                ("healthy commands that did not succeed", str(len(failed_healthy))),
                ("handler invocations that crashed", str(crashed)),
            ],
        )
    )
    assert not unnamed, unnamed[:5]
    assert not failed_healthy, failed_healthy[:5]
    assert crashed == 0
