"""``python -m benchmarks``: every figure of docs/performance.md, printed as tables.

Exits non-zero when a figure misses its target. Sizes: BENCH_CREATES (creates per throughput run,
default 130), BENCH_WORKERS (worker counts, default 2,16,32), BENCH_COMMANDS (cost run, default 200).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx

from adapters.clock import SystemClock
from adapters.metrics import InMemoryMetrics
from adapters.settings import Settings
from benchmarks import coldstart
from chaos.harness import (
    AwsCallCounter,
    CommandFactory,
    WorkerProcess,
    format_table,
    send_bodies,
)
from domain.catalog import CATALOG
from domain.relay import STATE_PROBE_READS, STATE_PROBES
from emulator.state import Fault
from handlers.bootstrap import build_worker
from handlers.worker import handle_batch
from local.runtime import LocalStack, LocalStackOptions
from local.worker_loop import LocalEventSourceMapping

# Workers sharing one bucket, each its own container (limiter memory, token cache, HTTP pool).
WORKER_COUNTS = (2, 16, 32)
TARGET_BOUND_RATIO = 0.97
# The probe run: creates, and how many of them SP-API applies and then answers 500.
PROBE_COMMANDS = 40
PROBE_FAULTED = 8
TARGET_THROTTLED_SHARE = 0.005
# Half of the functions' 512 MB (template.yaml): the local worker process also runs two pollers and the CLI.
TARGET_WORKER_PEAK_RSS_MIB = 256


@dataclass
class Scorecard:
    """Every figure with a target; ``python -m benchmarks`` exits non-zero when one misses."""

    misses: list[str] = field(default_factory=list)

    def check(self, name: str, value: float, target: float, *, at_most: bool) -> str:
        ok = value <= target if at_most else value >= target
        if not ok:
            self.misses.append(f"{name}: {value:g} (target {'<=' if at_most else '>='} {target:g})")
        return "ok" if ok else "MISSED"


class SleepCountingClock(SystemClock):
    slept = 0.0

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        super().sleep(seconds)


class TimedHttp(httpx.Client):
    seconds = 0.0

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        started = time.perf_counter()
        try:
            return super().send(request, **kwargs)
        finally:
            TimedHttp.seconds += time.perf_counter() - started


def _session(stack: LocalStack) -> boto3.Session:
    assert stack.resources is not None
    return boto3.Session(
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto accepts anything
        region_name=stack.resources.region,
    )


def _mapping(stack: LocalStack, handler: Any, batch_size: int = 10) -> LocalEventSourceMapping:
    assert stack.resources is not None
    return LocalEventSourceMapping(
        stack.client("sqs"),
        stack.resources.command_queue_url,
        handler,
        region=stack.resources.region,
        batch_size=batch_size,
        function_timeout_seconds=60.0,
        concurrency=1,
    )


def _fresh_buckets(stack: LocalStack) -> None:
    """Every run starts with full buckets on both sides, as after a quiet period."""
    assert stack.emulator is not None and stack.resources is not None
    stack.emulator.state.reset()
    dynamodb = stack.client("dynamodb")
    table = stack.resources.rate_limit_table_name
    for item in dynamodb.scan(
        TableName=table, ProjectionExpression="#b", ExpressionAttributeNames={"#b": "bucket"}
    )["Items"]:
        dynamodb.delete_item(TableName=table, Key={"bucket": item["bucket"]})


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values) or [0.0]
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def throughput(stack: LocalStack, workers_count: int, count: int, card: Scorecard) -> list[tuple[str, str]]:
    """``count`` creates relayed by ``workers_count`` workers against the real plan (2/s, burst 30)."""
    assert stack.emulator is not None and stack.resources is not None
    operation = CATALOG["create-fulfillment"].operation
    rate, burst = operation.rate, operation.burst
    _fresh_buckets(stack)
    factory = CommandFactory(seed=workers_count)
    bodies = [json.dumps(factory.create("demo-seller")) for _ in range(count)]
    workers = [build_worker(Settings.from_env()) for _ in range(workers_count)]
    mappings = [_mapping(stack, lambda e, c, w=w: handle_batch(e, c, w)) for w in workers]
    send_bodies(stack.client("sqs"), stack.resources.command_queue_url, bodies)
    for mapping in mappings:
        mapping.start()
    drained = mappings[0].wait_until_drained(count / rate * 3 + 60)
    for mapping in mappings:
        mapping.stop()
    calls = stack.emulator.state.calls("createFulfillmentOrder")
    ok = [c.time for c in calls if 200 <= c.status < 300]
    throttled = sum(1 for c in calls if c.status == 429)
    elapsed = max(ok) - min(ok) if ok else 0.0
    bound = burst + rate * elapsed
    ratio = len(ok) / bound
    share = throttled / max(len(calls), 1)
    gaps = [gap for worker in workers for gap in worker.relay.gateway.send_gaps.values()]
    label = f"{workers_count} workers"
    if not drained or len(ok) != count:
        card.misses.append(f"{label}: {len(ok)} of {count} commands succeeded (drained: {drained})")
    ratio_mark = card.check(
        f"{label}: ratio to the bound", round(ratio, 3), TARGET_BOUND_RATIO, at_most=False
    )
    share_mark = card.check(
        f"{label}: share answered 429", round(share, 4), TARGET_THROTTLED_SHARE, at_most=True
    )
    return [
        (
            f"{label}: succeeded / (burst + rate x elapsed)",
            f"{len(ok)} / {bound:.1f} = {ratio:.3f}  (target >= {TARGET_BOUND_RATIO}) {ratio_mark}",
        ),
        (
            f"{label}: SP-API calls answered 429",
            f"{throttled} of {len(calls)} = {100 * share:.2f}%  "
            f"(target <= {100 * TARGET_THROTTLED_SHARE:g}%) {share_mark}",
        ),
        (
            f"{label}: token decided -> request sent (p50 / p99 / max)",
            f"{1000 * _percentile(gaps, 0.5):.0f} / {1000 * _percentile(gaps, 0.99):.0f} / "
            f"{1000 * max(gaps, default=0.0):.0f} ms over {len(gaps)} calls",
        ),
    ]


def costs(stack: LocalStack, count: int, card: Scorecard) -> list[tuple[str, str]]:
    assert stack.emulator is not None and stack.resources is not None
    session = _session(stack)
    counter = AwsCallCounter()
    counter.register(session)
    http = TimedHttp(timeout=10.0)
    clock = SleepCountingClock()
    worker = build_worker(Settings.from_env(), session=session, http=http, clock=clock)
    factory = CommandFactory(seed=2)
    commands = [factory.create("demo-vendor") for _ in range(count)]
    calls_before = len(stack.emulator.state.calls())
    overheads: list[float] = []

    def timed(event: dict[str, Any], context: Any) -> dict[str, Any]:
        aws0, http0, slept0, started = counter.seconds, TimedHttp.seconds, clock.slept, time.perf_counter()
        answer = handle_batch(event, context, worker)
        total = time.perf_counter() - started
        # Waiting on the usage plan's meter is no overhead either.
        overheads.append(
            total - (counter.seconds - aws0) - (TimedHttp.seconds - http0) - (clock.slept - slept0)
        )
        return answer

    mapping = _mapping(stack, timed, batch_size=1)
    send_bodies(stack.client("sqs"), stack.resources.command_queue_url, [json.dumps(c) for c in commands])
    calls_at_start = dict(counter.calls)
    mapping.start()
    mapping.wait_until_drained(count + 60)
    mapping.stop()
    dynamodb = sum(v for k, v in counter.calls.items() if k.startswith("dynamodb.") and ":" not in k) - sum(
        v for k, v in calls_at_start.items() if k.startswith("dynamodb.") and ":" not in k
    )
    spapi = len(stack.emulator.state.calls()) - calls_before
    warm = sorted(overheads[1:]) or [0.0]
    p99 = warm[min(len(warm) - 1, int(len(warm) * 0.99))]
    by_op = ", ".join(
        f"{k.split('.')[1]}={v}"
        for k, v in sorted(counter.calls.items())
        if k.startswith("dynamodb.") and ":" not in k
    )
    return [
        ("commands (happy path, one worker, batch of 1)", str(count)),
        (
            "DynamoDB calls per command",
            f"{dynamodb / count:.2f}  ({by_op})  (target <= 3) "
            + card.check("DynamoDB calls per command", round(dynamodb / count, 2), 3, at_most=True),
        ),
        (
            "SP-API calls per command",
            f"{spapi / count:.2f}  (target 1) "
            + card.check("SP-API calls per command", round(spapi / count, 2), 1, at_most=True),
        ),
        (
            "LWA token calls per account per container",
            f"{worker.tokens.exchanges}  (target 1) "
            + card.check("LWA token calls", worker.tokens.exchanges, 1, at_most=True),
        ),
        (
            "other AWS calls per command",
            ", ".join(
                f"{k}={v / count:.2f}"
                for k, v in sorted(counter.calls.items())
                if not k.startswith("dynamodb.")
            ),
        ),
        (
            "worker overhead per command, excl. AWS + SP-API (p50 / p99)",
            f"{1000 * statistics.median(warm):.2f} ms / {1000 * p99:.2f} ms",
        ),
        ("first command (cold worker) overhead", f"{1000 * overheads[0]:.1f} ms" if overheads else "-"),
    ]


def probe_costs(stack: LocalStack, count: int, faulted: int, card: Scorecard) -> list[tuple[str, str]]:
    """``count`` creates, the first ``faulted`` of them applied by SP-API and then answered 500: each such
    outcome is unknown, and its retry runs the state probe (a getFulfillmentOrder, one token of that
    read's bucket, which the MCF poller shares) instead of sending the create again."""
    assert stack.emulator is not None and stack.resources is not None
    state = stack.emulator.state
    state.reset()
    metrics = InMemoryMetrics()
    worker = build_worker(Settings.from_env(), metrics=metrics)
    factory = CommandFactory(seed=4)
    commands = [factory.create("demo-seller") for _ in range(count)]
    state.add_fault(
        Fault(operation="createFulfillmentOrder", status=500, count=faulted, apply_before_fault=True)
    )
    mapping = _mapping(stack, lambda e, c: handle_batch(e, c, worker), batch_size=1)
    send_bodies(stack.client("sqs"), stack.resources.command_queue_url, [json.dumps(c) for c in commands])
    mapping.start()
    drained = mapping.wait_until_drained(count + 120)
    mapping.stop()
    orders = [str(c["payload"]["sellerFulfillmentOrderId"]) for c in commands]
    applied = [state.effect_count("createFulfillmentOrder", order) for order in orders]
    probes, reads = (int(metrics.counts.get(name, 0)) for name in (STATE_PROBES, STATE_PROBE_READS))
    creates = len(state.calls("createFulfillmentOrder"))
    twice = sum(1 for n in applied if n > 1)
    if not drained or applied.count(1) != count:
        card.misses.append(f"probes: {applied.count(1)} of {count} applied once (drained: {drained})")
    return [
        ("creates / answered 500 after SP-API applied them", f"{count} / {faulted}"),
        (
            "applied exactly once / twice",
            f"{applied.count(1)} / {twice}  (target 0 twice) "
            + card.check("probes: applied twice", twice, 0, at_most=True),
        ),
        (
            "state probes (one per unknown outcome)",
            f"{probes}  (target {faulted}) "
            + card.check("probes: state probes", probes, faulted, at_most=True),
        ),
        (
            "SP-API reads the probes sent (getFulfillmentOrder tokens)",
            f"{reads}, {reads / max(probes, 1):.2f} per probe",
        ),
        (
            "createFulfillmentOrder calls (none sent again)",
            f"{creates}  (target {count}) "
            + card.check("probes: create calls", creates, count, at_most=True),
        ),
        ("read tokens per 100 commands at this fault rate", f"{100 * reads / count:.1f}"),
    ]


def peak_rss(stack: LocalStack, count: int, card: Scorecard) -> list[tuple[str, str]]:
    assert stack.resources is not None
    factory = CommandFactory(seed=3)
    with tempfile.TemporaryDirectory() as tmp:
        stack_file = Path(tmp) / "stack.json"
        stack_file.write_text(json.dumps(stack.describe()))
        with (Path(tmp) / "worker.log").open("wb") as log:
            worker = WorkerProcess(stack_file, log, concurrency=2, function_timeout=60.0)
            send_bodies(
                stack.client("sqs"),
                stack.resources.command_queue_url,
                [json.dumps(factory.create("demo-vendor")) for _ in range(count)],
            )
            worker.start()
            assert stack.worker is not None
            stack.worker.wait_until_drained(count + 60)
            assert worker.process is not None
            peak_kib = peak_resident_kib(worker.process.pid)
            worker.process.terminate()
            worker.process.wait()
    return [
        (
            "peak RSS of a worker process",
            f"{peak_kib / 1024:.0f} MiB after {count} commands (sp-relay worker, 2 pollers)  "
            f"(target <= {TARGET_WORKER_PEAK_RSS_MIB}) "
            + card.check("worker peak RSS MiB", peak_kib / 1024, TARGET_WORKER_PEAK_RSS_MIB, at_most=True),
        )
    ]


def peak_resident_kib(pid: int) -> int:
    """The process's own high-water mark (VmHWM) while it still runs.

    Not ``wait4``'s ``ru_maxrss``: Linux carries the high-water mark of the forked image across
    ``exec``, so a child of this benchmark (whose heap holds moto's and the emulator's state) reported
    the benchmark's size, 1.8 GiB, as its own."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


def main() -> int:
    creates = int(os.environ.get("BENCH_CREATES", "130"))
    count = int(os.environ.get("BENCH_COMMANDS", "200"))
    counts = tuple(
        int(n) for n in os.environ.get("BENCH_WORKERS", ",".join(map(str, WORKER_COUNTS))).split(",")
    )
    card = Scorecard()
    options = LocalStackOptions(start_worker=False, http_timeout_seconds=5.0)
    with LocalStack(options) as stack:
        operation = CATALOG["create-fulfillment"].operation
        rows: list[tuple[str, str]] = []
        for workers_count in counts:
            rows += throughput(stack, workers_count, creates, card)
        print(
            format_table(
                f"{creates} creates at the real plan ({operation.rate:g}/s, burst {operation.burst}), "
                "workers sharing one bucket",
                rows,
            )
        )
        print(format_table("cost per command", costs(stack, count, card)))
        print(
            format_table(
                "state probes after unknown outcomes (their token cost)",
                probe_costs(stack, PROBE_COMMANDS, PROBE_FAULTED, card),
            )
        )
        print(format_table("worker memory", peak_rss(stack, count, card)))
    cold = coldstart.measure()
    print(coldstart.report(cold))
    card.misses.extend(cold.misses())
    if card.misses:
        print("MISSED TARGETS:\n  " + "\n  ".join(card.misses))
        return 1
    print("every figure met its target")
    return 0
