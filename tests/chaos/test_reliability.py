"""Exactly-once under injected SP-API faults, and no secret or personal data anywhere in the run.

Commands of every write type with a state probe (chaos.harness.WRITE_SHARES, 10% producer duplicates) go
through the local stack while the emulator answers ~10% of calls with 5xx, ~5% with timeouts (2% after
applying the call) and bursts of 429. A standard queue keeps no order, so the run has three phases: what
needs nothing of the run (creates, schedules, acknowledgements of seeded purchase orders); then updates
and returns of orders that exist; then cancels.
"""

from __future__ import annotations

import json
import logging
import random
import time
from typing import Any

import pytest

from adapters.metrics import InMemoryMetrics
from chaos.harness import (
    ChaosSize,
    CommandFactory,
    FaultProgramme,
    find_leaks,
    first_wave,
    follow_ups,
    format_table,
    powertools_json_capture,
    reconcile,
    seed_purchase_orders,
    send_bodies,
    type_counts,
    with_duplicates,
)
from domain.relay import STATE_PROBE_READS, STATE_PROBES
from handlers.bootstrap import container_worker
from local.runtime import DEMO_ACCOUNTS, LocalStack
from tests.chaos.conftest import HTTP_TIMEOUT_SECONDS
from tests.conftest import RecordingHandler

pytestmark = pytest.mark.chaos

# This machine relays a few commands per second under the injected faults (retries, timeouts, backoff
# and follow-ups included): the time a phase may take grows with its size.
PHASE_BASE_SECONDS = 120.0
PHASE_SECONDS_PER_MESSAGE = 0.75


def _run_phase(stack: LocalStack, bodies: list[str]) -> float:
    assert stack.resources is not None
    started = time.monotonic()
    send_bodies(stack.client("sqs"), stack.resources.command_queue_url, bodies)
    timeout = PHASE_BASE_SECONDS + PHASE_SECONDS_PER_MESSAGE * len(bodies)
    assert stack.wait_until_drained(timeout), f"the command queue did not drain in {timeout:.0f} s"
    return time.monotonic() - started


def test_every_command_is_applied_once_or_dead_lettered_with_a_reason(
    stack: LocalStack,
    chaos_size: ChaosSize,
    captured_logs: RecordingHandler,
    capfd: pytest.CaptureFixture[str],
) -> None:
    assert stack.emulator is not None and stack.worker is not None
    state = stack.emulator.state
    rng = random.Random(20261121)
    factory = CommandFactory(seed=3)
    counts = type_counts(chaos_size.commands)
    first = first_wave(factory, counts, [a.name for a in DEMO_ACCOUNTS])
    seed_purchase_orders(state, first)
    metrics = container_worker().metrics  # the in-process workers' (in-memory locally)
    assert isinstance(metrics, InMemoryMetrics)
    probes_before = [metrics.counts.get(name, 0) for name in (STATE_PROBES, STATE_PROBE_READS)]
    stats_before = (
        stack.worker.stats.received,
        stack.worker.stats.handler_errors,
        stack.worker.stats.timeouts,
    )
    json_handler, json_lines = powertools_json_capture()
    relay_loggers = [logging.getLogger(), logging.getLogger("sp-relay"), logging.getLogger("sp-relay-local")]
    for logger in relay_loggers:
        logger.addHandler(json_handler)

    faults = FaultProgramme(state).install()
    faults.standard_mix(http_timeout_seconds=HTTP_TIMEOUT_SECONDS)
    faults.start_429_bursts()
    phase_seconds = []
    try:
        phase_seconds.append(_run_phase(stack, with_duplicates(first, chaos_size.duplicate_share, rng)))
        second = follow_ups(
            factory,
            state,
            first,
            counts,
            (
                "update-fulfillment",
                "create-fulfillment-return",
                "update-mcf-order",
                "update-scheduled-packages",
            ),
        )
        phase_seconds.append(_run_phase(stack, with_duplicates(second, chaos_size.duplicate_share, rng)))
        cancels = follow_ups(factory, state, first, counts, ("cancel-fulfillment", "cancel-mcf-order"))
        phase_seconds.append(_run_phase(stack, with_duplicates(cancels, chaos_size.duplicate_share, rng)))
    finally:
        faults.stop()
        for logger in relay_loggers:
            logger.removeHandler(json_handler)

    calls = state.calls()
    outcomes = stack.outcomes()
    dead_letters = stack.dead_letters()
    commands: list[dict[str, Any]] = [*first, *second, *cancels]
    probes, probe_reads = (
        metrics.counts.get(name, 0) - before
        for name, before in zip((STATE_PROBES, STATE_PROBE_READS), probes_before, strict=True)
    )
    report = reconcile(commands, state.effects(), dead_letters, outcomes)
    received = stack.worker.stats.received - stats_before[0]
    handler_errors = stack.worker.stats.handler_errors - stats_before[1]
    timeouts = stack.worker.stats.timeouts - stats_before[2]
    sent = sum(1 for _ in commands) + round(len(commands) * chaos_size.duplicate_share)
    statuses: dict[int, int] = {}
    for call in calls:
        statuses[call.status] = statuses.get(call.status, 0) + 1
    applied_then_lost = sum(v for k, v in faults.fired.items() if k.startswith("timeout-after-apply@"))

    # --- secrets and personal data across the whole run ----------------------------------------------------
    captured = capfd.readouterr()
    secrets = [v for a in DEMO_ACCOUNTS for k, v in a.secret.items() if k in {"clientSecret", "refreshToken"}]
    tokens = state.issued_token_values()
    personal = factory.needles()
    log_texts = [*captured_logs.texts, json_lines.getvalue(), captured.out, captured.err]
    event_texts = [json.dumps(outcomes), json.dumps([m["attributes"] for m in dead_letters])]
    secret_leaks = find_leaks([*log_texts, *event_texts], [*secrets, *tokens])
    personal_leaks = find_leaks([*log_texts, *event_texts], personal)

    rows = [
        ("size", f"{chaos_size.name}: {len(commands)} distinct commands, ~{sent} messages sent"),
        ("phases (first wave / updates+returns / cancels)", " / ".join(f"{s:.1f}s" for s in phase_seconds)),
        ("messages received by the worker loop", str(received)),
        ("handler invocations that crashed", str(handler_errors)),
        ("invocations past the function timeout", str(timeouts)),
        ("SP-API calls by HTTP status", ", ".join(f"{k}={v}" for k, v in sorted(statuses.items()))),
        (
            "injected faults fired",
            ", ".join(f"{k}={v}" for k, v in sorted(faults.fired.items()) if "@" not in k),
        ),
        *report.rows(),
        ("timeouts-after-apply fired (any call; writes probed)", str(applied_then_lost)),
        ("state probes run / their SP-API reads (read tokens)", f"{probes:.0f} / {probe_reads:.0f}"),
        (
            "log records scanned (+ as Lambda JSON)",
            f"{len(captured_logs.texts)} ({len(json_lines.getvalue())} chars)",
        ),
        ("secrets/tokens looked for / found", f"{len(secrets) + len(tokens)} / {len(secret_leaks)}"),
        ("personal data items looked for / found", f"{len(personal)} / {len(personal_leaks)}"),
    ]
    with capfd.disabled():
        print(format_table("reliability run under SP-API faults", rows))

    assert not report.violations, report.violations
    assert set(report.by_type) == set(counts), report.by_type  # every write type of the mix was sent
    # Exactly once per type, asserted as 0 for each.
    assert {kind: report.applied_twice_by_type[kind] for kind in counts} == dict.fromkeys(counts, 0)
    assert not report.without_outcome, report.without_outcome[:10]
    assert not report.several_outcomes, report.several_outcomes[:10]
    assert handler_errors == 0
    assert timeouts == 0, "the deadline guard let an invocation run past the function timeout"
    # Every write is probed before any re-apply: not one extra effect, whatever was injected.
    assert sum(report.extra_effects.values()) == 0, report.extra_effects
    assert sum(statuses.values()) > len(commands), "faults must have caused retries"
    assert faults.fired["429-burst"] > 0 and faults.fired["timeout-after-apply"] > 0
    assert tokens and personal and captured_logs.texts
    assert not secret_leaks, secret_leaks[:5]
    assert not personal_leaks, personal_leaks[:5]
