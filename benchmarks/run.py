"""``python -m benchmarks``: every figure of docs/performance.md, printed as tables.

Sizes can be scaled down with BENCH_SECONDS (throughput window) and BENCH_COMMANDS (cost run).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import httpx

from adapters.clock import SystemClock
from adapters.settings import Settings
from benchmarks import coldstart
from chaos.harness import (
    AwsCallCounter,
    CommandFactory,
    WorkerProcess,
    format_table,
    send_bodies,
    with_duplicates,
)
from domain.catalog import CATALOG
from handlers.bootstrap import build_worker
from handlers.worker import handle_batch
from local.runtime import LocalStack, LocalStackOptions
from local.worker_loop import LocalEventSourceMapping

WORKERS = 8
# createFulfillmentOrder: 2/s x 2.5 = 5/s, burst 30. Faster plans measure this 2-core machine, not the
# limiter: with moto, the emulator and 8 workers in one process it relays about 10 commands/s end to end.
RATE_SCALE = 2.5


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


def scaled_plan_override() -> str:
    """The relay is told the plan the emulator enforces, as an operator would configure a raised plan;
    without it each container's first call would still be paced by the model's 2/s."""
    operation = CATALOG["create-fulfillment"].operation
    return json.dumps({operation.key: {"rate": operation.rate * RATE_SCALE, "burst": operation.burst}})


def throughput(stack: LocalStack, seconds: float) -> list[tuple[str, str]]:
    assert stack.emulator is not None and stack.resources is not None
    operation = CATALOG["create-fulfillment"].operation
    rate, burst = operation.rate * RATE_SCALE, operation.burst
    count = int(burst + rate * seconds * 1.25)
    factory = CommandFactory(seed=1)
    bodies = with_duplicates([factory.create("demo-seller") for _ in range(count)], 0.0, random.Random(1))
    workers = [build_worker(Settings.from_env()) for _ in range(WORKERS)]
    mappings = [_mapping(stack, lambda e, c, w=w: handle_batch(e, c, w)) for w in workers]
    send_bodies(stack.client("sqs"), stack.resources.command_queue_url, bodies)
    for mapping in mappings:
        mapping.start()
    mappings[0].wait_until_drained(seconds * 3 + 60)
    for mapping in mappings:
        mapping.stop()
    calls = stack.emulator.state.calls("createFulfillmentOrder")
    ok = [c.time for c in calls if 200 <= c.status < 300]
    throttled = sum(1 for c in calls if c.status == 429)
    elapsed = max(ok) - min(ok) if ok else 0.0
    bound = burst + rate * elapsed
    return [
        ("workers sharing one bucket", f"{WORKERS} (each its own container: limiter memory, token cache)"),
        ("usage plan enforced by the emulator", f"{rate:g}/s, burst {burst} (model 2/s x {RATE_SCALE:g})"),
        ("commands sent / succeeded", f"{count} / {len(ok)}"),
        ("elapsed first→last accepted call", f"{elapsed:.1f} s"),
        (
            "achieved / (burst + rate x elapsed)",
            f"{len(ok)} / {bound:.0f} = {len(ok) / bound:.3f}  (target >= 0.95)",
        ),
        (
            "SP-API calls answered 429",
            f"{throttled} of {len(calls)} = {100 * throttled / max(len(calls), 1):.2f}%  (target <= 1%)",
        ),
        ("achieved commands/s", f"{len(ok) / max(elapsed, 1e-9):.2f}"),
    ]


def costs(stack: LocalStack, count: int) -> list[tuple[str, str]]:
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
        ("DynamoDB calls per command", f"{dynamodb / count:.2f}  ({by_op})  (target <= 3)"),
        ("SP-API calls per command", f"{spapi / count:.2f}  (target 1)"),
        ("LWA token calls per account per container", f"{worker.tokens.exchanges}  (target 1)"),
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


def peak_rss(stack: LocalStack, count: int) -> list[tuple[str, str]]:
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
            worker.process.terminate()
            _, _, usage = os.wait4(worker.process.pid, 0)
            worker.process.returncode = 0
    return [
        (
            "peak RSS of a worker process",
            f"{usage.ru_maxrss / 1024:.0f} MiB after {count} commands (sp-relay worker, 2 pollers)",
        )
    ]


def main() -> int:
    seconds = float(os.environ.get("BENCH_SECONDS", "20"))
    count = int(os.environ.get("BENCH_COMMANDS", "200"))
    options = LocalStackOptions(
        start_worker=False,
        emulator_rate_scale=RATE_SCALE,
        http_timeout_seconds=5.0,
        usage_plan_overrides=scaled_plan_override(),
    )
    rows: list[tuple[str, str]] = []
    with LocalStack(options) as stack:
        print(
            format_table(
                f"throughput against the usage plan ({seconds:g} s of backlog)", throughput(stack, seconds)
            )
        )
        rows = costs(stack, count)
        print(format_table("cost per command", rows))
        print(format_table("worker memory", peak_rss(stack, count)))
    cold = coldstart.measure()
    print(coldstart.report(cold))
    for miss in cold.misses():
        print(f"MISSED: {miss}")
    return 1 if cold.misses() else 0
