"""A total SP-API outage is ridden out: every command applied once after it ends, nothing dead-lettered.

SP-API answers 503 to every call for 120 s (600 s in ``make chaos``) while 60 creates go through the
real worker path (local stack: moto over HTTP, the emulator over HTTP, the real Lambda handler). The
stack runs with the deployed function's settings (template.yaml: 60 s timeout, the queue's 390 s
visibility, 10 s HTTP timeout, 2 s backoff base, MaxReceiveCount 5, the default retry budget, the real
usage plan), not the shortened ones of the rest of the suite.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from chaos.harness import ChaosSize, CommandFactory, format_table, reconcile, send_bodies
from emulator.state import Fault
from local.runtime import DEMO_ACCOUNTS, LocalStack, LocalStackOptions

pytestmark = pytest.mark.chaos

COMMANDS = 60
# After the outage every command's next retry is at most one capped backoff (300 s) away.
DRAIN_AFTER_OUTAGE_SECONDS = 420.0


@pytest.fixture(scope="module")
def deployed_stack() -> Iterator[LocalStack]:
    options = LocalStackOptions(
        workers=2,
        function_timeout_seconds=60.0,
        max_receive_count=5,
        http_timeout_seconds=10.0,
        retry_backoff_base_seconds=2.0,
        emulator_rate_scale=1.0,
        poll_interval_seconds=24 * 3600.0,
    )
    with LocalStack(options) as stack:
        yield stack


def test_a_total_outage_is_ridden_out_and_every_command_applied_once(
    deployed_stack: LocalStack, chaos_size: ChaosSize
) -> None:
    stack = deployed_stack
    assert stack.emulator is not None and stack.resources is not None
    state = stack.emulator.state
    outage_seconds = 600.0 if chaos_size.name == "full" else 120.0
    factory = CommandFactory(seed=10)
    accounts = [a.name for a in DEMO_ACCOUNTS if not a.sandbox]
    creates = [factory.create(account=accounts[i % len(accounts)]) for i in range(COMMANDS)]

    outage = state.add_fault(Fault(operation="*", kind="status", status=503))
    started = time.monotonic()
    assert stack.worker is not None
    timeouts_before = stack.worker.stats.timeouts
    send_bodies(stack.client("sqs"), stack.resources.command_queue_url, [json.dumps(c) for c in creates])
    try:
        time.sleep(outage_seconds)
        refused = len(state.calls())
        applied_during_outage = sum(state.effects().get("createFulfillmentOrder", {}).values())
    finally:
        state.clear_faults()
        del outage
    ended = time.monotonic()
    drained = stack.wait_until_drained(DRAIN_AFTER_OUTAGE_SECONDS)
    drained_after = time.monotonic() - ended

    outcomes = stack.outcomes()
    dead_letters = stack.dead_letters()
    report = reconcile(creates, state.effects(), dead_letters, outcomes)
    per_command = Counter(str(o.get("commandId")) for o in outcomes)
    print(
        "\n"
        + format_table(
            "total SP-API outage",
            [
                ("commands", str(COMMANDS)),
                ("outage (every call answered 503)", f"{outage_seconds:.0f} s"),
                ("SP-API calls refused during the outage", str(refused)),
                ("orders applied during the outage", str(applied_during_outage)),
                ("drained after the outage", f"{drained_after:.1f} s"),
                ("from first send to drained", f"{time.monotonic() - started:.1f} s"),
                ("invocations past the function timeout", str(stack.worker.stats.timeouts - timeouts_before)),
                *report.rows(),
            ],
        )
    )

    assert drained, f"the command queue did not drain {DRAIN_AFTER_OUTAGE_SECONDS:.0f} s after the outage"
    # The outage was real: SP-API refused calls, and every command was applied after it ended. (Not one
    # refusal per command: a failing call holds its (account, operation), and the rest of the batch is
    # deferred without calling.)
    assert refused > 0
    assert applied_during_outage == 0
    assert report.lost == []
    assert report.applied_twice == []
    assert dead_letters == []
    assert sum(report.applied_once.values()) == COMMANDS
    assert report.without_outcome == []
    assert set(per_command.values()) == {1}, "each command has exactly one outcome event"
    assert {o.get("status") for o in outcomes} == {"succeeded"}
    assert stack.worker.stats.timeouts == timeouts_before, "an invocation ran past the function timeout"
