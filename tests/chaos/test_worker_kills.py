"""SIGKILL the worker process at random points, restart it, and hold every command to exactly-once.

The local stack (moto, template resources, emulator) runs in the test process; the worker is
``sp-relay worker --stack-file`` in a child process. Each cycle publishes a mix of commands, waits for
the first SP-API call of the cycle, kills the worker after a random delay, starts a new one and lets the
queue drain. Killed invocations leave messages invisible (the queue's visibility timeout) and
write-ledger leases (the function timeout): both run out and the new worker finishes.
A killed write leaves its ledger record ATTEMPTED: after the lease the next delivery probes the state
the write leaves, so no effect is applied twice (the extra effects per kill are counted and must be 0).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from chaos.harness import (
    FOLLOWS,
    ChaosSize,
    CommandFactory,
    WorkerProcess,
    find_leaks,
    first_wave,
    follow_up,
    format_table,
    is_applied,
    reconcile,
    seed_purchase_orders,
    send_bodies,
    set_queue_visibility,
    type_counts,
    with_duplicates,
)
from local.runtime import DEMO_ACCOUNTS, LocalStack
from tests.chaos.conftest import FUNCTION_TIMEOUT_SECONDS, QUEUE_VISIBILITY_SECONDS

pytestmark = pytest.mark.chaos

# The chaos stack's function timeout (its proportions to a write's worst case are the template's: an 8 s
# worker deferred most of each batch DeadlineReached, and never fitted the bulk Easy Ship write).
KILL_FUNCTION_TIMEOUT = FUNCTION_TIMEOUT_SECONDS
# Longer than the function timeout, as the template keeps it; short, since what a kill left in flight
# comes back only after it.
KILL_VISIBILITY_SECONDS = 25
FIRST_CALL_TIMEOUT = 30.0
DRAIN_TIMEOUT = 90.0


def _wait_for_calls(stack: LocalStack, more_than: int) -> bool:
    assert stack.emulator is not None
    deadline = time.monotonic() + FIRST_CALL_TIMEOUT
    while time.monotonic() < deadline:
        if len(stack.emulator.state.calls()) > more_than:
            return True
        time.sleep(0.02)
    return False


def test_sigkill_at_random_points_loses_nothing_and_repeats_nothing(
    stack: LocalStack, chaos_size: ChaosSize, tmp_path: Path
) -> None:
    assert stack.emulator is not None and stack.worker is not None and stack.resources is not None
    state = stack.emulator.state
    sqs = stack.client("sqs")
    queue_url = stack.resources.command_queue_url
    rng = random.Random(4242)
    factory = CommandFactory(seed=5)
    stack_file = tmp_path / "stack.json"
    stack_file.write_text(json.dumps(stack.describe()))
    log_path = tmp_path / "worker.log"

    stack.worker.stop()
    set_queue_visibility(sqs, queue_url, KILL_VISIBILITY_SECONDS)
    commands: list[dict[str, Any]] = []
    created: list[dict[str, Any]] = []
    kill_rows: list[tuple[str, str]] = []
    in_flight_at_kill: list[int] = []
    extra_before = 0
    extra_per_kill: list[int] = []
    dead_letters: list[dict[str, Any]] = []
    worker: WorkerProcess | None = None
    try:
        with log_path.open("wb") as log:
            worker = WorkerProcess(stack_file, log, concurrency=2, function_timeout=KILL_FUNCTION_TIMEOUT)
            worker.start()
            counts = type_counts(chaos_size.commands_per_kill_run)
            for cycle in range(chaos_size.kill_runs):
                batch = first_wave(factory, counts, [a.name for a in DEMO_ACCOUNTS])
                seed_purchase_orders(state, batch)
                # Updates, returns and cancels of orders earlier cycles made: one follow-up per order.
                effects = state.effects()
                rng.shuffle(created)
                for kind, parent in FOLLOWS.items():
                    older = [c for c in created if c["type"] == parent and is_applied(effects, c)][
                        : counts[kind]
                    ]
                    batch += [follow_up(factory, state, kind, c) for c in older]
                    for c in older:
                        created.remove(c)
                created += [c for c in batch if c["type"] in FOLLOWS.values()]
                commands += batch
                calls_before = len(state.calls())
                send_bodies(sqs, queue_url, with_duplicates(batch, chaos_size.duplicate_share, rng))
                assert _wait_for_calls(stack, calls_before), f"cycle {cycle}: the worker made no SP-API call"
                delay = rng.uniform(0.0, 1.2)
                time.sleep(delay)
                in_flight = int(
                    sqs.get_queue_attributes(
                        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
                    )["Attributes"]["ApproximateNumberOfMessagesNotVisible"]
                )
                worker.kill()
                in_flight_at_kill.append(in_flight)
                worker = WorkerProcess(stack_file, log, concurrency=2, function_timeout=KILL_FUNCTION_TIMEOUT)
                worker.start()
                assert stack.wait_until_drained(DRAIN_TIMEOUT), f"cycle {cycle}: the queue did not drain"
                dead_letters += stack.dead_letters(max_rounds=1)
                cycle_report = reconcile(commands, state.effects(), dead_letters, [])
                extra = sum(cycle_report.extra_effects.values())
                extra_per_kill.append(extra - extra_before)
                extra_before = extra
                assert not cycle_report.violations, (cycle, cycle_report.violations)
    finally:
        # Also after a failed cycle: a worker process left running would go on taking the suite's messages.
        if worker is not None:
            worker.stop()
        set_queue_visibility(sqs, queue_url, QUEUE_VISIBILITY_SECONDS)
        stack.worker.start()

    outcomes = stack.outcomes()
    report = reconcile(commands, state.effects(), dead_letters, outcomes)
    worker_log = log_path.read_text(errors="replace")
    secrets = [v for a in DEMO_ACCOUNTS for k, v in a.secret.items() if k in {"clientSecret", "refreshToken"}]
    personal = factory.needles()
    leaks = find_leaks([worker_log], [*secrets, *state.issued_token_values(), *personal])
    kills = len(extra_per_kill)
    # The worker processes count no timeouts for this test; their event source mapping logs each one
    # (local/worker_loop.py). They run apart from the test process, whose pauses reach them only as slow
    # AWS and SP-API answers: the deadline guard is there for those.
    timeouts = worker_log.count("handler invocation ran past the function timeout")
    kill_rows = [
        ("kills (SIGKILL) / restarts", f"{kills} / {kills}"),
        (
            "messages in flight at the kill (mean, max)",
            f"{sum(in_flight_at_kill) / max(kills, 1):.1f}, {max(in_flight_at_kill, default=0)}",
        ),
        ("extra effects per kill (per cycle)", ", ".join(map(str, extra_per_kill))),
        ("extra effects per 100 kills", f"{100 * sum(extra_per_kill) / max(kills, 1):.1f}"),
        *report.rows(),
        ("worker log lines scanned / leaks", f"{worker_log.count(chr(10))} / {len(leaks)}"),
        ("invocations past the function timeout (worker log)", str(timeouts)),
    ]
    print(format_table("worker SIGKILL runs", kill_rows))

    assert kills >= chaos_size.kill_runs
    assert not report.violations, report.violations
    assert {kind: report.applied_twice_by_type[kind] for kind in counts} == dict.fromkeys(counts, 0)
    assert not report.without_outcome, report.without_outcome[:10]
    # A kill between an event and its published mark repeats that same event (same eventId); a second,
    # different outcome of one command would be a lie.
    assert not report.several_distinct_outcomes, report.several_distinct_outcomes[:10]
    assert timeouts == 0, f"{timeouts} invocation(s) of the worker processes ran past the function timeout"
    assert not leaks, leaks[:5]
