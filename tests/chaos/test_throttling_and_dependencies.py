"""Throttling does not burn receives; DynamoDB and Secrets Manager faults are retried and leave no
write-ledger record stuck in progress."""

from __future__ import annotations

import random
import time
import warnings
from typing import Any

import boto3
import pytest

from adapters.settings import Settings
from chaos.harness import (
    AwsCallCounter,
    AwsFaultInjector,
    ChaosSize,
    CommandFactory,
    format_table,
    reconcile,
    send_bodies,
    with_duplicates,
)
from domain.attributes import RELAY_CONTEXT_ATTRIBUTE
from domain.catalog import CATALOG
from domain.ports import InboundMessage
from domain.rate_limits import bucket_for
from domain.relay import DEFERRALS
from handlers.bootstrap import build_worker
from handlers.worker import handle_batch
from local.runtime import DEMO_ACCOUNTS, LocalStack
from local.worker_loop import LocalEventSourceMapping

pytestmark = pytest.mark.chaos


def _session(stack: LocalStack) -> boto3.Session:
    assert stack.resources is not None
    return boto3.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name=stack.resources.region
    )


def _mapping(stack: LocalStack, handler: Any, concurrency: int = 1) -> LocalEventSourceMapping:
    assert stack.resources is not None
    return LocalEventSourceMapping(
        stack.client("sqs"),
        stack.resources.command_queue_url,
        handler,
        region=stack.resources.region,
        # Room for writes under the deadline guard (a request at 1.5 + 1.5 s, 1.5 s after it).
        function_timeout_seconds=8.0,
        concurrency=concurrency,
    )


def test_a_throttled_batch_is_deferred_without_burning_receives_or_hammering(stack: LocalStack) -> None:
    assert stack.resources is not None and stack.worker is not None and stack.emulator is not None
    stack.worker.stop()
    try:
        session = _session(stack)
        counter = AwsCallCounter()
        counter.register(session)
        worker = build_worker(Settings.from_env(), session=session)
        factory = CommandFactory(seed=9)
        commands = [factory.create("demo-seller") for _ in range(10)]
        operation = CATALOG["create-fulfillment"].operation
        bucket = bucket_for("demo-seller", "na", operation)
        tolerance = (operation.burst - 1) / operation.rate
        wait_seconds = 6.0
        dynamodb = stack.client("dynamodb")
        table = stack.resources.rate_limit_table_name
        dynamodb.put_item(
            TableName=table,
            Item={"bucket": {"S": bucket.key}, "tat": {"N": f"{time.time() + tolerance + wait_seconds:.6f}"}},
        )
        sqs = stack.client("sqs")
        queue_url = stack.resources.command_queue_url
        send_bodies(sqs, queue_url, with_duplicates(commands, 0.0, random.Random(1)))
        mapping = _mapping(stack, lambda event, context: handle_batch(event, context, worker))
        handled = 0
        while handled < len(commands):
            got = mapping.poll_once()
            assert got, "the sent commands did not arrive"
            handled += got
        limiter_writes = counter.calls[f"dynamodb.UpdateItem:{table}"]
        spapi_calls = len(stack.emulator.state.calls("createFulfillmentOrder"))
        delayed = int(
            sqs.get_queue_attributes(
                QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
            )["Attributes"]["ApproximateNumberOfMessagesDelayed"]
        )
        time.sleep(wait_seconds + 1.5)
        redelivered: list[dict[str, Any]] = []
        deadline = time.monotonic() + 20
        while len(redelivered) < len(commands) and time.monotonic() < deadline:
            answer = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
                MessageAttributeNames=["All"],
                VisibilityTimeout=1,
            )
            redelivered += answer.get("Messages", [])
        receive_counts = sorted({m["Attributes"]["ApproximateReceiveCount"] for m in redelivered})
        deferrals = sorted(
            {
                str(
                    worker.relay.context_of(
                        InboundMessage(
                            m["MessageId"],
                            m["Body"],
                            1,
                            m["ReceiptHandle"],
                            {
                                RELAY_CONTEXT_ATTRIBUTE: m["MessageAttributes"][RELAY_CONTEXT_ATTRIBUTE][
                                    "StringValue"
                                ]
                            },
                        )
                    ).get(DEFERRALS)
                )
                for m in redelivered
            }
        )
        rows = [
            ("messages in the throttled batch", str(handled)),
            ("limiter writes to DynamoDB for the batch", str(limiter_writes)),
            ("SP-API calls while the bucket was empty", str(spapi_calls)),
            ("messages delayed on the queue right after", str(delayed)),
            ("re-sent messages seen after the wait", str(len(redelivered))),
            ("their ApproximateReceiveCount / sealed deferral count", f"{receive_counts} / {deferrals}"),
            ("batch item failures (receives burnt)", str(mapping.stats.failed)),
            (
                "all DynamoDB calls of the batch",
                ", ".join(f"{k}={v}" for k, v in counter.calls.items() if ":" in k),
            ),
        ]
        print(format_table("a batch that finds its bucket empty", rows))
        assert mapping.stats.failed == 0, "a throttled message must not come back as a failed receive"
        assert spapi_calls == 0
        assert limiter_writes == 1, "one refused write tells the wait; the rest of the batch must not write"
        assert delayed == len(commands)
        assert len(redelivered) == len(commands)
        assert receive_counts == ["1"] and deferrals == ["1"]
    finally:
        stack.worker.start()
    assert stack.wait_until_drained(60)
    effects = stack.emulator.state.effects().get("createFulfillmentOrder", {})
    assert all(effects.get(c["payload"]["sellerFulfillmentOrderId"]) == 1 for c in commands)


def test_dynamodb_and_secrets_manager_faults_are_retried_and_leave_no_stuck_records(
    stack: LocalStack, chaos_size: ChaosSize
) -> None:
    assert stack.resources is not None and stack.worker is not None and stack.emulator is not None
    throttled = (0.25, "ProvisionedThroughputExceededException", 400)
    injector = AwsFaultInjector(
        rules={
            "dynamodb.PutItem": throttled,
            "dynamodb.UpdateItem": (0.25, "ThrottlingException", 400),
            "dynamodb.GetItem": throttled,
            "dynamodb.DeleteItem": throttled,
            "secretsmanager.GetSecretValue": (0.3, "InternalServiceError", 500),
        },
        # A Secrets Manager outage at cold start: more failures than the SDK retries.
        fail_first={"secretsmanager.GetSecretValue": (4, "ThrottlingException", 400)},
    )
    stack.worker.stop()
    factory = CommandFactory(seed=13)
    n = chaos_size.aws_fault_commands
    commands = [factory.create(DEMO_ACCOUNTS[i % 2].name) for i in range(n // 2)]
    commands += [factory.acknowledge(DEMO_ACCOUNTS[i % 2].name) for i in range(n - n // 2)]
    try:
        session = _session(stack)
        injector.register(session)
        worker = build_worker(Settings.from_env(), session=session)
        mapping = _mapping(stack, lambda event, context: handle_batch(event, context, worker), concurrency=3)
        # Duplicates in the same run make real conditional-check conflicts on the idempotency table.
        send_bodies(
            stack.client("sqs"),
            stack.resources.command_queue_url,
            with_duplicates(commands, 0.3, random.Random(2)),
        )
        mapping.start()
        try:
            drained = mapping.wait_until_drained(180)
        finally:
            mapping.stop()
        injector.enabled = False
    finally:
        stack.worker.start()
    assert drained, "the queue did not drain"
    items = stack.client("dynamodb").scan(TableName=stack.resources.idempotency_table_name)["Items"]
    now = time.time()
    in_progress = [i for i in items if i.get("state", {}).get("S") in ("ATTEMPTED", "UNKNOWN")]
    live_leases = [i for i in in_progress if float(i.get("leaseUntil", {}).get("N", "0")) > now]
    report = reconcile(commands, stack.emulator.state.effects(), stack.dead_letters(), stack.outcomes())
    rows = [
        ("commands (30% sent twice)", str(len(commands))),
        (
            "injected AWS errors (HTTP attempts)",
            ", ".join(f"{k}={v}" for k, v in sorted(injector.injected.items())),
        ),
        ("AWS attempts made", ", ".join(f"{k}={v}" for k, v in sorted(injector.attempts.items()))),
        (
            "worker loop: received / done / retried",
            f"{mapping.stats.received} / {mapping.stats.deleted} / {mapping.stats.failed}",
        ),
        ("handler invocations that crashed", str(mapping.stats.handler_errors)),
        ("invocations past the function timeout", str(mapping.stats.timeouts)),
        ("  of them in pauses of the test process", str(mapping.stats.timeouts_in_rig_pauses)),
        *report.rows(),
        ("ledger records ATTEMPTED or UNKNOWN (live lease)", f"{len(in_progress)} ({len(live_leases)})"),
    ]
    print(format_table("DynamoDB and Secrets Manager faults", rows))
    assert sum(injector.injected.values()) > 0 and injector.injected["secretsmanager.GetSecretValue"] >= 4
    assert mapping.stats.handler_errors == 0
    # Every AWS attempt is bounded by the invocation's time left (adapters/aws.py AwsDeadline; proved
    # deterministically by tests/integration/test_aws_deadline.py and test_deadline.py). An invocation the
    # test process's own pauses pushed past the timeout (local.stalls: without them it ended in time) is
    # the rig's, not the relay's, and is printed; any other is a failure.
    own_timeouts = mapping.stats.timeouts - mapping.stats.timeouts_in_rig_pauses
    assert own_timeouts == 0, f"{own_timeouts} invocation(s) ran past the function timeout by themselves"
    if mapping.stats.timeouts_in_rig_pauses:
        warnings.warn(
            f"{mapping.stats.timeouts_in_rig_pauses} invocation(s) ran past the function timeout while the "
            "test process stood still",
            stacklevel=1,
        )
    assert not report.violations, report.violations
    assert not report.without_outcome, report.without_outcome[:10]
    assert not report.several_distinct_outcomes, report.several_distinct_outcomes[:10]
    if not mapping.stats.timeouts:
        # A timed-out batch comes back whatever it published (as on Lambda): its saved event may go out
        # again, identical. Without a timeout nothing may repeat.
        assert not report.several_outcomes, report.several_outcomes[:10]
    # A record left ATTEMPTED or UNKNOWN (a save that failed after SP-API answered) is settled by the
    # state probe of its next delivery; none of them was lost or applied twice (the violations above).
