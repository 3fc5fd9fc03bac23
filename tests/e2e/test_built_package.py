"""The packages ``sam build`` makes, run as Lambda runs them: built by mk/sam.mk's recipe for this
machine (the x86_64 twin of the arm64 package; only native wheels differ), each handler imported by a
fresh Python of the runtime's version that sees the package and the standard library alone, against
the local stack (moto server + SP-API emulator). The worker is fed a real SQS batch by the local event
source mapping; the poller gets its schedules' inputs from template.yaml, as EventBridge passes them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.events import PURCHASE_ORDER_RECEIVED, RETAIL_PURCHASE_ORDER_RECEIVED
from emulator.state import Fault
from local.runtime import DEMO_ACCOUNTS, LocalStack
from local.stack import load_template
from local.worker_loop import LocalEventSourceMapping, LocalLambdaContext
from tests.conftest import sample_command, unique
from tools.find_python import find_python, lambda_runtime_version
from tools.lambda_package import (
    ISOLATED_FLAGS,
    IsolatedHandler,
    build_package,
    lambda_environment,
    template_literal_variables,
)

pytestmark = pytest.mark.e2e

SHIPPED_PACKAGES = ("domain", "adapters", "handlers")
IMPORT_HANDLER = "import sys; sys.path.insert(0, sys.argv[1]); import handlers.worker"


@pytest.fixture(scope="session")
def lambda_python() -> str:
    version = lambda_runtime_version()
    found = find_python(version)
    if found is None:
        pytest.skip(f"no Python {version} (template.yaml's Lambda runtime) on this machine")
    return found


@pytest.fixture(scope="session")
def built_package(lambda_python: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_package(tmp_path_factory.mktemp("sam-build") / "WorkerFunction", lambda_python=lambda_python)


@pytest.fixture(scope="session")
def built_poller_package(lambda_python: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_package(
        tmp_path_factory.mktemp("sam-build") / "PollerFunction",
        lambda_python=lambda_python,
        function="PollerFunction",
    )


@pytest.fixture
def private_queue(stack: LocalStack) -> Iterator[str]:
    """A command queue of this test's own: the session's worker loop polls the stack's queue."""
    sqs = stack.client("sqs")
    url = str(sqs.create_queue(QueueName=f"built-package-{uuid.uuid4().hex[:8]}")["QueueUrl"])
    yield url
    sqs.delete_queue(QueueUrl=url)


def test_the_built_package_ships_bytecode_for_the_runtime_and_nothing_else(
    built_package: Path, lambda_python: str
) -> None:
    magic = bytes.fromhex(
        subprocess.run(  # noqa: S603
            [lambda_python, "-I", "-c", "import importlib.util; print(importlib.util.MAGIC_NUMBER.hex())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    tag = "cpython-" + lambda_runtime_version().replace(".", "")
    sources = list(built_package.rglob("*.py"))
    assert len(sources) > 500, "the dependencies are missing from the package"
    missing, wrong = [], []
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        if not pyc.exists():
            missing.append(str(source.relative_to(built_package)))
            continue
        header = pyc.read_bytes()[:8]
        # PEP 552: flags 0b01 = hash-based, source not checked (mtimes may change in the zip).
        if header[:4] != magic or int.from_bytes(header[4:8], "little") != 0b01:
            wrong.append(str(pyc.relative_to(built_package)))
    assert missing == []
    assert wrong == []
    other_versions = [p.name for p in built_package.rglob("*.pyc") if f".{tag}." not in p.name]
    assert other_versions == []
    top_level = {p.name for p in built_package.iterdir() if (p / "__init__.py").exists()}
    assert set(SHIPPED_PACKAGES) <= top_level
    assert not top_level & {"cli", "local", "emulator", "tests", "chaos", "tools", "benchmarks"}


def test_the_bytecode_is_used_whatever_the_sources_mtimes(built_package: Path, lambda_python: str) -> None:
    # A zip keeps mtimes to 2 s and its extraction may set them anew: move them all and import.
    for source in built_package.rglob("*.py"):
        stat = source.stat()
        os.utime(source, (stat.st_atime + 3601, stat.st_mtime + 3601))
    importing = subprocess.run(  # noqa: S603
        [lambda_python, *ISOLATED_FLAGS, "-v", "-c", IMPORT_HANDLER, str(built_package)],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    # importlib -v: "code object from '<...>.pyc'" when it uses bytecode, "code object from <...>.py"
    # when it compiles the source.
    loaded = re.findall(rf"^# code object from '?({re.escape(str(built_package))}/\S+?)'?$", importing, re.M)
    compiled = [path for path in loaded if path.endswith(".py")]
    assert compiled == []
    assert len(loaded) > 300, importing[-2000:]


def test_the_built_handler_relays_a_real_sqs_batch(
    stack: LocalStack, built_package: Path, lambda_python: str, private_queue: str
) -> None:
    assert stack.emulator is not None and stack.resources is not None
    succeeds = unique(sample_command("create-fulfillment"))
    invalid = unique(sample_command("cancel-fulfillment"))
    invalid["payload"]["sellerFulfillmentOrderId"] = "X" * 41
    unknown_account = unique(sample_command("create-fulfillment"))
    unknown_account["account"] = "nobody-we-know"
    unavailable = unique(sample_command("cancel-fulfillment"))  # the SP-API answers 503 throughout
    stack.emulator.state.add_fault(
        Fault(operation="cancelFulfillmentOrder", kind="status", status=503, count=1000)
    )
    commands = [succeeds, invalid, unknown_account, unavailable]
    sqs = stack.client("sqs")
    sent = sqs.send_message_batch(
        QueueUrl=private_queue,
        Entries=[{"Id": str(i), "MessageBody": json.dumps(c)} for i, c in enumerate(commands)],
    )["Successful"]
    message_ids = [entry["MessageId"] for entry in sorted(sent, key=lambda e: int(e["Id"]))]
    handler = IsolatedHandler(
        python=lambda_python,
        package=built_package,
        environment=lambda_environment(
            built_package,
            "sp-relay-worker",
            {
                **template_literal_variables(),
                **stack.environment(),
                "COMMAND_QUEUE_URL": private_queue,
                # A backoff of minutes (half to all of 120 s on a first attempt), so the retried
                # message is still invisible when the test looks, however slow this machine is.
                "RETRY_BACKOFF_BASE_SECONDS": "120",
            },
        ),
    )
    mapping = LocalEventSourceMapping(
        sqs, private_queue, handler, region=stack.resources.region, batch_size=10, concurrency=1
    )

    assert mapping.poll_once() == len(commands), "the four records did not arrive as one batch"

    [invocation] = handler.invocations
    assert invocation.python == lambda_runtime_version()
    assert invocation.handler_file == str(built_package / "handlers" / "worker.py")
    assert invocation.foreign_modules == []  # nothing came from outside the package and the stdlib
    assert mapping.stats.handler_errors == 0
    # Only the record the SP-API could not take is handed back to SQS; the rest are settled.
    assert invocation.response == {"batchItemFailures": [{"itemIdentifier": message_ids[3]}]}
    assert mapping.stats.deleted == 3
    left = sqs.get_queue_attributes(QueueUrl=private_queue, AttributeNames=["All"])["Attributes"]
    # Backed off (ChangeMessageVisibility): invisible until its retry.
    assert (left["ApproximateNumberOfMessages"], left["ApproximateNumberOfMessagesNotVisible"]) == ("0", "1")

    # A command that fails validation has no commandId to its outcome: each is known by its message.
    outcomes = {o["messageId"]: o for o in stack.outcomes()}
    assert {message_id: o["status"] for message_id, o in outcomes.items()} == {
        message_ids[0]: "succeeded",
        message_ids[1]: "rejected",
        message_ids[2]: "rejected",
    }
    assert outcomes[message_ids[0]]["commandId"] == succeeds["commandId"]
    assert outcomes[message_ids[2]]["reason"]["code"] == "UnknownAccount"
    order_id = succeeds["payload"]["sellerFulfillmentOrderId"]
    assert stack.emulator.state.effect_count("createFulfillmentOrder", order_id) == 1
    # The dead letters carry the original body, with the reason in attributes.
    reasons = {json.loads(m["body"])["commandId"]: m["attributes"] for m in stack.dead_letters()}
    assert set(reasons) == {invalid["commandId"], unknown_account["commandId"]}
    assert "payload.sellerFulfillmentOrderId" in reasons[invalid["commandId"]]["sp-relay-detail"]
    assert reasons[unknown_account["commandId"]]["sp-relay-reason"] == "UnknownAccount"
    # Metrics leave as EMF documents on stdout, as CloudWatch reads them from a Lambda's log.
    documents = [json.loads(line) for line in invocation.logs.splitlines() if line.startswith("{")]
    namespaces = {m["Namespace"] for d in documents if "_aws" in d for m in d["_aws"]["CloudWatchMetrics"]}
    assert namespaces == {template_literal_variables()["POWERTOOLS_METRICS_NAMESPACE"]}


def _schedule_inputs(function: str) -> dict[str, dict[str, Any]]:
    """The event each schedule of ``function`` in template.yaml passes (its ``Input``), by schedule."""
    events = load_template()["Resources"][function]["Properties"]["Events"]
    return {
        name: json.loads(event["Properties"]["Input"])
        for name, event in events.items()
        if event["Type"] == "Schedule"
    }


def _template_handler(function: str) -> str:
    handler: str = load_template()["Resources"][function]["Properties"]["Handler"]
    return handler


def _poller_environment(stack: LocalStack, package: Path, **variables: str) -> dict[str, str]:
    """What Lambda gives PollerFunction: the variables template.yaml declares for it (the local stack's
    values for its !Refs), the AWS ones the runtime sets, and the endpoint of the local stack."""
    declared = load_template()["Resources"]["PollerFunction"]["Properties"]["Environment"]["Variables"]
    local = stack.environment()
    runtime = (
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    )
    return lambda_environment(
        package,
        "sp-relay-poller",
        {
            **{name: local[name] for name in declared if name in local},
            "SPAPI_SANDBOX": "false",  # the template's default
            **template_literal_variables("PollerFunction"),
            **{name: local[name] for name in runtime},
            "ALLOW_LOOPBACK_ENDPOINTS": "true",  # the emulator listens on this machine
            **variables,
        },
    )


def _invoke(handler: IsolatedHandler, event: dict[str, Any]) -> dict[str, Any]:
    # The poller's Timeout in template.yaml (300 s) is what the context counts down from.
    return handler(event, LocalLambdaContext("sp-relay-poller", timeout_seconds=300.0))


def test_the_built_poller_runs_each_schedule_of_the_template(
    stack: LocalStack, built_poller_package: Path, lambda_python: str
) -> None:
    assert stack.emulator is not None
    seller, vendor = DEMO_ACCOUNTS[0], DEMO_ACCOUNTS[1]
    numbers = stack.emulator.state.seed_df_orders(vendor.seller_id, 3)
    retail_numbers = stack.emulator.state.seed_retail_orders(vendor.seller_id, 2)
    schedules = _schedule_inputs("PollerFunction")
    assert sorted(event["poller"] for event in schedules.values()) == [
        "df-purchase-orders",
        "mcf-orders",
        "retail-purchase-orders",
    ]
    handler = IsolatedHandler(
        python=lambda_python,
        package=built_poller_package,
        environment=_poller_environment(
            stack,
            built_poller_package,
            # One account the relay has no secret for: its failure must not stop the others.
            DF_POLL_ACCOUNTS=f"nobody-we-know, {vendor.name}",
            MCF_POLL_ACCOUNTS=seller.name,
            RETAIL_POLL_ACCOUNTS=vendor.name,
        ),
        handler=_template_handler("PollerFunction"),
    )

    answers = {name: _invoke(handler, event) for name, event in schedules.items()}
    again = _invoke(handler, schedules["PurchaseOrders"])  # another cold start: the state is DynamoDB's

    for invocation in handler.invocations:
        assert invocation.python == lambda_runtime_version()
        assert invocation.handler_file == str(built_poller_package / "handlers" / "poller.py")
        assert invocation.foreign_modules == []  # nothing came from outside the package and the stdlib
    unknown, polled = answers["PurchaseOrders"]["reports"]
    assert (unknown["account"], unknown["errors"]) == ("nobody-we-know", [unknown["errors"][0]])
    assert "nobody-we-know" in unknown["errors"][0], unknown
    assert (polled["account"], polled["seen"], polled["published"], polled["errors"]) == (
        vendor.name,
        3,
        3,
        [],
    )
    [retail] = answers["RetailPurchaseOrders"]["reports"]
    assert (retail["poller"], retail["account"], retail["errors"]) == (
        "retail-purchase-orders",
        vendor.name,
        [],
    )
    assert (retail["seen"], retail["published"]) == (2, 2)
    [mcf] = answers["FulfillmentOrders"]["reports"]
    assert (mcf["poller"], mcf["account"], mcf["errors"]) == ("mcf-orders", seller.name, [])
    # A failed account's report has no counts, only its errors; the vendor's orders were all seen before.
    assert [(r["account"], r.get("published"), len(r["errors"])) for r in again["reports"]] == [
        ("nobody-we-know", None, 1),
        (vendor.name, 0, 0),
    ]
    tapped = stack.events()
    events = [d for k, d in tapped if k == PURCHASE_ORDER_RECEIVED and d["purchaseOrderNumber"] in numbers]
    assert sorted(d["purchaseOrderNumber"] for d in events) == sorted(numbers)  # each once
    retail_events = [d["purchaseOrderNumber"] for k, d in tapped if k == RETAIL_PURCHASE_ORDER_RECEIVED]
    assert sorted(retail_events) == sorted(retail_numbers)
    assert '"addressLine1"' not in json.dumps(events)
    first = handler.invocations[0]
    documents = [json.loads(line) for line in first.logs.splitlines() if line.startswith("{")]
    namespaces = {m["Namespace"] for d in documents if "_aws" in d for m in d["_aws"]["CloudWatchMetrics"]}
    assert namespaces == {template_literal_variables("PollerFunction")["POWERTOOLS_METRICS_NAMESPACE"]}
    assert any(d.get("message") == "poll finished" for d in documents)
    logs = "".join(invocation.logs for invocation in handler.invocations)
    secrets = [value for value in vendor.secret.values() if isinstance(value, str) and len(value) > 8]
    assert secrets and all(secret not in logs for secret in secrets)


def test_the_built_poller_fails_the_invocation_on_an_unknown_poller(
    stack: LocalStack, built_poller_package: Path, lambda_python: str
) -> None:
    # Lambda retries a failed asynchronous invocation, then puts it on PollerFailureQueue (alarmed).
    handler = IsolatedHandler(
        python=lambda_python,
        package=built_poller_package,
        environment=_poller_environment(stack, built_poller_package),
        handler=_template_handler("PollerFunction"),
    )

    with pytest.raises(RuntimeError, match="unknown poller 'df-orders'"):
        _invoke(handler, {"poller": "df-orders"})
