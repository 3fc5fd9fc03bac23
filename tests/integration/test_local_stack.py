"""The local stack, deployed from template.yaml onto a moto server over real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from local import stack as stack_module
from local.moto import MotoHandle, aws_client_kwargs, start_moto_server
from local.stack import LocalResources, deploy_local_stack, load_template, seed_account_secret
from local.stalls import PROCESS_STALLS
from local.worker_loop import LocalEventSourceMapping
from tests.process_pause import hold_the_interpreter

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_sqs import SQSClient

pytestmark = [
    pytest.mark.integration,
    # moto (in this process) warns about the types its CloudFormation skips; deploy_local_stack repairs them.
    pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning"),
]

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoHandle]:
    handle = start_moto_server()
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def stack(moto_server: MotoHandle) -> LocalResources:
    return deploy_local_stack(moto_server.endpoint_url, template_path=TEMPLATE_PATH)


@pytest.fixture(scope="module")
def template_resources() -> dict[str, Any]:
    resources: dict[str, Any] = load_template(TEMPLATE_PATH)["Resources"]
    return resources


@pytest.fixture(scope="module")
def sqs(moto_server: MotoHandle) -> SQSClient:
    return boto3.client("sqs", **aws_client_kwargs(moto_server.endpoint_url, REGION))


@pytest.fixture(scope="module")
def dynamodb(moto_server: MotoHandle) -> DynamoDBClient:
    return boto3.client("dynamodb", **aws_client_kwargs(moto_server.endpoint_url, REGION))


@pytest.fixture(scope="module")
def events(moto_server: MotoHandle) -> EventBridgeClient:
    return boto3.client("events", **aws_client_kwargs(moto_server.endpoint_url, REGION))


def _attributes(sqs: SQSClient, url: str) -> dict[str, str]:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return {str(name): value for name, value in attributes.items()}


def test_resources_point_at_the_local_endpoint(stack: LocalResources, moto_server: MotoHandle) -> None:
    assert stack.endpoint_url == moto_server.endpoint_url
    assert stack.region == REGION
    for url in (stack.command_queue_url, stack.dead_letter_queue_url, stack.outcome_tap_queue_url):
        assert url.startswith(moto_server.endpoint_url + "/")
    assert stack.max_receive_count == 5
    assert stack.account_secret_prefix == "sp-relay/accounts/"
    assert LocalResources.from_json(stack.to_json()) == stack


def test_command_queue_matches_template(
    stack: LocalResources, sqs: SQSClient, template_resources: dict[str, Any]
) -> None:
    wanted = template_resources["CommandQueue"]["Properties"]
    attributes = _attributes(sqs, stack.command_queue_url)
    assert int(attributes["VisibilityTimeout"]) == wanted["VisibilityTimeout"]
    assert int(attributes["MessageRetentionPeriod"]) == wanted["MessageRetentionPeriod"]
    dlq_arn = _attributes(sqs, stack.dead_letter_queue_url)["QueueArn"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq_arn
    assert int(redrive["maxReceiveCount"]) == stack.max_receive_count


def test_dead_letter_queue_matches_template(
    stack: LocalResources, sqs: SQSClient, template_resources: dict[str, Any]
) -> None:
    attributes = _attributes(sqs, stack.dead_letter_queue_url)
    wanted = template_resources["DeadLetterQueue"]["Properties"]["MessageRetentionPeriod"]
    assert int(attributes["MessageRetentionPeriod"]) == wanted == 1209600
    assert "RedrivePolicy" not in attributes


@pytest.mark.parametrize(
    ("field", "key", "ttl"),
    [("idempotency_table_name", "id", "expiration"), ("rate_limit_table_name", "bucket", "expiresAt")],
)
def test_tables_have_keys_and_ttl(
    stack: LocalResources, dynamodb: DynamoDBClient, field: str, key: str, ttl: str
) -> None:
    name = getattr(stack, field)
    table = dynamodb.describe_table(TableName=name)["Table"]
    assert table["KeySchema"] == [{"AttributeName": key, "KeyType": "HASH"}]
    assert table.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST"
    description = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert description.get("TimeToLiveStatus") == "ENABLED"
    assert description.get("AttributeName") == ttl


def test_outcome_bus_and_tap(stack: LocalResources, sqs: SQSClient, events: EventBridgeClient) -> None:
    bus = events.describe_event_bus(Name=stack.outcome_bus_name)
    assert bus["Name"] == stack.outcome_bus_name
    rules = events.list_rules(EventBusName=stack.outcome_bus_name)["Rules"]
    assert len(rules) == 1
    targets = events.list_targets_by_rule(Rule=rules[0]["Name"], EventBusName=stack.outcome_bus_name)[
        "Targets"
    ]
    tap_arn = _attributes(sqs, stack.outcome_tap_queue_url)["QueueArn"]
    assert [t["Arn"] for t in targets] == [tap_arn]
    policy = json.loads(_attributes(sqs, stack.outcome_tap_queue_url)["Policy"])
    statement, tls_only = policy["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Resource"] == tap_arn
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == rules[0]["Arn"]
    assert (tls_only["Effect"], tls_only["Resource"]) == ("Deny", tap_arn)
    assert tls_only["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_put_events_reach_the_tap_queue(
    stack: LocalResources, sqs: SQSClient, events: EventBridgeClient
) -> None:
    detail = {"commandId": f"cmd-{uuid.uuid4().hex[:8]}", "outcome": "succeeded"}
    answer = events.put_events(
        Entries=[
            {
                "EventBusName": stack.outcome_bus_name,
                "Source": "sp-relay",
                "DetailType": "CommandSucceeded",
                "Detail": json.dumps(detail),
            }
        ]
    )
    assert answer["FailedEntryCount"] == 0
    messages = sqs.receive_message(
        QueueUrl=stack.outcome_tap_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=2
    ).get("Messages", [])
    bodies = [json.loads(m["Body"]) for m in messages]
    # moto's servers in one process share their backends: a late event of another test's stack can
    # reach this tap too. This test's own event must arrive, once and intact.
    ours = [b for b in bodies if b["detail"].get("commandId") == detail["commandId"]]
    assert [(b["source"], b["detail-type"], b["detail"]) for b in ours] == [
        ("sp-relay", "CommandSucceeded", detail)
    ]


def test_seed_account_secret_creates_then_updates(stack: LocalResources, moto_server: MotoHandle) -> None:
    name = f"{stack.account_secret_prefix}acme-eu"
    first = {"clientId": "id", "clientSecret": "secret-1", "refreshToken": "token", "region": "eu"}
    seed_account_secret(moto_server.endpoint_url, REGION, name, first)
    seed_account_secret(moto_server.endpoint_url, REGION, name, {**first, "clientSecret": "secret-2"})
    client = boto3.client("secretsmanager", **aws_client_kwargs(moto_server.endpoint_url, REGION))
    stored = json.loads(client.get_secret_value(SecretId=name)["SecretString"])
    assert stored == {**first, "clientSecret": "secret-2"}


def test_deploying_twice_recreates_the_stack_with_new_parameters(
    moto_server: MotoHandle, sqs: SQSClient
) -> None:
    first = deploy_local_stack(moto_server.endpoint_url, stack_name="redeploy", template_path=TEMPLATE_PATH)
    sqs.send_message(QueueUrl=first.command_queue_url, MessageBody="left over")
    second = deploy_local_stack(
        moto_server.endpoint_url,
        stack_name="redeploy",
        template_path=TEMPLATE_PATH,
        parameters={"MaxReceiveCount": "2", "EnableOutcomeTap": "false"},  # the tap is forced on
    )
    assert second.max_receive_count == 2
    assert second.outcome_tap_queue_url
    assert second.command_queue_url != first.command_queue_url
    assert int(_attributes(sqs, second.command_queue_url)["ApproximateNumberOfMessages"]) == 0

    # The redrive really moves a message after maxReceiveCount deliveries.
    sqs.send_message(QueueUrl=second.command_queue_url, MessageBody="poison")
    for _ in range(second.max_receive_count):
        received = sqs.receive_message(
            QueueUrl=second.command_queue_url, VisibilityTimeout=0, WaitTimeSeconds=1
        )
        assert len(received.get("Messages", [])) == 1
    assert not sqs.receive_message(QueueUrl=second.command_queue_url, WaitTimeSeconds=0).get("Messages")
    dead = sqs.receive_message(QueueUrl=second.dead_letter_queue_url, WaitTimeSeconds=1).get("Messages", [])
    assert [m["Body"] for m in dead] == ["poison"]


def test_unknown_parameter_is_rejected(moto_server: MotoHandle) -> None:
    with pytest.raises(ValueError, match="NoSuchParameter"):
        deploy_local_stack(
            moto_server.endpoint_url,
            stack_name="bad-parameters",
            template_path=TEMPLATE_PATH,
            parameters={"NoSuchParameter": "1"},
        )


def test_resources_moto_skips_are_created_from_the_template(
    moto_server: MotoHandle, sqs: SQSClient, dynamodb: DynamoDBClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pretend moto's CloudFormation skipped every resource: each one must be made from the template.
    monkeypatch.setattr(stack_module, "_stack_resources", lambda cfn, stack_name: {})
    repaired = deploy_local_stack(moto_server.endpoint_url, stack_name="repair", template_path=TEMPLATE_PATH)
    assert repaired.command_queue_url.endswith("/repair-CommandQueue")
    assert repaired.idempotency_table_name == "repair-IdempotencyTable"
    redrive = json.loads(_attributes(sqs, repaired.command_queue_url)["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == _attributes(sqs, repaired.dead_letter_queue_url)["QueueArn"]
    ttl = dynamodb.describe_time_to_live(TableName=repaired.rate_limit_table_name)["TimeToLiveDescription"]
    assert (ttl.get("TimeToLiveStatus"), ttl.get("AttributeName")) == ("ENABLED", "expiresAt")
    assert "Policy" in _attributes(sqs, repaired.outcome_tap_queue_url)

    events = boto3.client("events", **aws_client_kwargs(moto_server.endpoint_url, REGION))
    events.put_events(
        Entries=[
            {"EventBusName": repaired.outcome_bus_name, "Source": "t", "DetailType": "d", "Detail": "{}"}
        ]
    )
    tapped = sqs.receive_message(QueueUrl=repaired.outcome_tap_queue_url, WaitTimeSeconds=2).get(
        "Messages", []
    )
    assert len(tapped) == 1


def test_a_poller_whose_queue_was_deleted_stops_instead_of_retrying_forever(sqs: SQSClient) -> None:
    url = sqs.create_queue(QueueName=f"doomed-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    handled: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        handled.append(event)
        return {}

    mapping = LocalEventSourceMapping(sqs, url, handler, concurrency=1, wait_seconds=0)
    mapping.start()
    [thread] = list(mapping._threads)
    sqs.delete_queue(QueueUrl=url)

    thread.join(timeout=10.0)

    alive = thread.is_alive()
    mapping.stop()
    assert not alive, "the poller kept polling a queue that no longer exists"
    assert handled == []


def test_concurrent_receivers_never_get_the_same_message(sqs: SQSClient) -> None:
    url = sqs.create_queue(QueueName=f"shared-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sent = 60
    for start in range(0, sent, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(start, start + 10)],
        )
    received: list[str] = []
    lock = threading.Lock()

    def receiver() -> None:
        while True:
            messages = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=300
            ).get("Messages", [])
            if not messages:
                return
            with lock:
                received.extend(m["Body"] for m in messages)

    threads = [threading.Thread(target=receiver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(received) == sorted(f"m{i}" for i in range(sent))  # each once: none twice, none lost


def test_an_invocation_past_the_function_timeout_is_a_lambda_timeout_and_its_batch_comes_back(
    sqs: SQSClient,
) -> None:
    url = sqs.create_queue(QueueName=f"slow-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": "1"})[
        "QueueUrl"
    ]
    sqs.send_message(QueueUrl=url, MessageBody="slow")

    def handler(_event: dict[str, Any], context: Any) -> dict[str, Any]:
        # Answers "all done" after the deadline: Lambda would have ended it before the answer counted.
        time.sleep(context.get_remaining_time_in_millis() / 1000 + 0.05)
        return {"batchItemFailures": []}

    PROCESS_STALLS.start()
    mapping = LocalEventSourceMapping(
        sqs, url, handler, concurrency=1, wait_seconds=0, function_timeout_seconds=0.2
    )
    assert mapping.poll_once() == 1
    assert (mapping.stats.timeouts, mapping.stats.deleted) == (1, 0)
    assert mapping.stats.timeouts_in_rig_pauses == 0  # it was slow itself: the process never stood still
    time.sleep(1.2)
    again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", [])
    assert [m["Body"] for m in again] == ["slow"]


def test_an_invocation_pushed_past_the_timeout_by_a_pause_of_the_whole_process_is_counted_apart(
    sqs: SQSClient,
) -> None:
    url = sqs.create_queue(QueueName=f"paused-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": "1"})[
        "QueueUrl"
    ]
    sqs.send_message(QueueUrl=url, MessageBody="paused")

    def handler(_event: dict[str, Any], _context: Any) -> dict[str, Any]:
        hold_the_interpreter(1.5)  # every thread of the process stands still meanwhile
        time.sleep(0.1)  # the monitor's thread runs again and records the pause
        return {"batchItemFailures": []}

    PROCESS_STALLS.start()
    mapping = LocalEventSourceMapping(
        sqs, url, handler, concurrency=1, wait_seconds=0, function_timeout_seconds=0.6
    )
    assert mapping.poll_once() == 1
    # Still a timeout (its batch comes back), but the rig's: without the pause it ended in time.
    assert (mapping.stats.timeouts, mapping.stats.timeouts_in_rig_pauses, mapping.stats.deleted) == (1, 1, 0)


# Run in a process of its own: the suite's other moto servers share this process's models.
_MOTO_MEMORY_PROBE = """
import gc, boto3
from local.moto import aws_client_kwargs, start_moto_server
from moto.dynamodb.models.dynamo_type import Item
from moto.sqs.models import Message

with start_moto_server() as server:
    dynamodb = boto3.client("dynamodb", **aws_client_kwargs(server.endpoint_url))
    dynamodb.create_table(
        TableName="t", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
    )
    for i in range(400):
        dynamodb.put_item(TableName="t", Item={"k": {"S": str(i % 5)}, "v": {"N": str(i)}})
    sqs = boto3.client("sqs", **aws_client_kwargs(server.endpoint_url))
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    for i in range(40):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    while received := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for message in received:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    stored = dynamodb.scan(TableName="t")["Count"]
    gc.collect()
    live = [o for o in gc.get_objects() if isinstance(o, Item | Message)]
    print(sum(isinstance(o, Item) for o in live), sum(isinstance(o, Message) for o in live), stored)
"""


def test_the_local_moto_server_keeps_only_what_its_tables_and_queues_hold() -> None:
    # moto keeps every model instance it ever made for its dashboard unless the local server stops it:
    # (405, 80, 5) here without it, and a long chaos run's garbage collections walked 1.27 M objects.
    probe = subprocess.run(  # noqa: S603 - fixed argv: this interpreter and the probe above
        [sys.executable, "-c", _MOTO_MEMORY_PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    live_items, live_messages, stored_items = (int(n) for n in probe.stdout.split())
    assert (live_items, live_messages, stored_items) == (5, 0, 5)
