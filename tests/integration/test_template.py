"""template.yaml: lint-clean, and the properties the worker's correctness depends on."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.settings import DEFAULT_RETRY_BUDGET_HOURS
from local.stack import load_template, localize_template, sam_translate
from tools.find_python import lambda_runtime_version

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"

EXPECTED_ENVIRONMENT = {
    "COMMAND_QUEUE_URL",
    "DEAD_LETTER_QUEUE_URL",
    "IDEMPOTENCY_TABLE_NAME",
    "RATE_LIMIT_TABLE_NAME",
    "OUTCOME_BUS_NAME",
    "ACCOUNT_SECRET_PREFIX",
    "RELAY_CONTEXT_KEY_SECRET_ID",
    "ALLOWED_ACCOUNTS",
    "SENDER_ACCOUNTS",
    "SPAPI_ENDPOINT_URL",
    "LWA_TOKEN_URL",
    "SPAPI_SANDBOX",
    "MAX_RECEIVE_COUNT",
    "RETRY_BUDGET_HOURS",
    "USAGE_PLAN_OVERRIDES",
    "SHARED_RATE_BUCKETS",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_LOG_LEVEL",
    "POWERTOOLS_METRICS_NAMESPACE",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE_PATH)


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = template["Resources"]
    return result


@pytest.fixture(scope="module")
def function_properties(template: dict[str, Any]) -> dict[str, Any]:
    """WorkerFunction's properties with Globals.Function applied (the function's own values win)."""
    globals_ = template.get("Globals", {}).get("Function", {})
    own = template["Resources"]["WorkerFunction"]["Properties"]
    merged = {**globals_, **own}
    if "Environment" in globals_ and "Environment" in own:
        merged["Environment"] = {
            "Variables": {**globals_["Environment"]["Variables"], **own["Environment"]["Variables"]}
        }
    return merged


@pytest.fixture(scope="module")
def sqs_event(function_properties: dict[str, Any]) -> dict[str, Any]:
    events = [e for e in function_properties["Events"].values() if e["Type"] == "SQS"]
    assert len(events) == 1
    properties: dict[str, Any] = events[0]["Properties"]
    return properties


def test_cfn_lint_is_clean() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    completed = subprocess.run(  # noqa: S603 - fixed argv, our own venv's binary
        [str(cfn_lint), str(TEMPLATE_PATH)], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_worker_function_shape(function_properties: dict[str, Any], resources: dict[str, Any]) -> None:
    assert resources["WorkerFunction"]["Type"] == "AWS::Serverless::Function"
    assert function_properties["Handler"] == "handlers.worker.lambda_handler"
    assert function_properties["Runtime"] in {"python3.12", "python3.13"}
    assert function_properties["Architectures"] == ["arm64"]
    assert function_properties["Timeout"] == 60
    assert function_properties["MemorySize"] == 512


def test_visibility_timeout_is_at_least_six_function_timeouts(
    resources: dict[str, Any], function_properties: dict[str, Any], sqs_event: dict[str, Any]
) -> None:
    visibility = int(resources["CommandQueue"]["Properties"]["VisibilityTimeout"])
    timeout = int(function_properties["Timeout"])
    assert visibility >= 6 * timeout
    # AWS adds the batching window on top of the 6x.
    assert visibility >= 6 * timeout + int(sqs_event.get("MaximumBatchingWindowInSeconds", 0))


def test_sqs_event_reports_partial_failures_and_caps_concurrency(
    template: dict[str, Any], sqs_event: dict[str, Any]
) -> None:
    assert sqs_event["Queue"] == {"Fn::GetAtt": ["CommandQueue", "Arn"]}
    assert sqs_event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert sqs_event["BatchSize"] == 10
    assert "MaximumBatchingWindowInSeconds" in sqs_event
    assert sqs_event["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "MaxConcurrency"}
    parameter = template["Parameters"]["MaxConcurrency"]
    assert (parameter["MinValue"], parameter["MaxValue"], parameter["Default"]) == (2, 1000, 5)


def test_dead_letter_queue_redrive(template: dict[str, Any], resources: dict[str, Any]) -> None:
    command_queue = resources["CommandQueue"]["Properties"]
    assert command_queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"},
    }
    assert template["Parameters"]["MaxReceiveCount"]["Default"] == 5
    assert resources["DeadLetterQueue"]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert command_queue["SqsManagedSseEnabled"] == {"Fn::If": ["HasKmsKey", {"Ref": "AWS::NoValue"}, True]}


def test_tables_match_powertools_and_rate_limiter(resources: dict[str, Any]) -> None:
    for logical_id, key, ttl in (
        ("IdempotencyTable", "id", "expiration"),
        ("RateLimitTable", "bucket", "expiresAt"),
    ):
        props = resources[logical_id]["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["KeySchema"] == [{"AttributeName": key, "KeyType": "HASH"}]
        assert props["AttributeDefinitions"] == [{"AttributeName": key, "AttributeType": "S"}]
        assert props["TimeToLiveSpecification"] == {"AttributeName": ttl, "Enabled": True}


def test_environment_variables_are_exactly_the_contract(function_properties: dict[str, Any]) -> None:
    variables = function_properties["Environment"]["Variables"]
    assert set(variables) == EXPECTED_ENVIRONMENT
    assert variables["POWERTOOLS_SERVICE_NAME"] == "sp-relay"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "SpRelay"


def _statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every IAM statement anywhere in a template fragment."""
    if isinstance(node, dict):
        statement = node.get("Statement")
        if isinstance(statement, list):
            yield from (s for s in statement if isinstance(s, dict))
        elif isinstance(statement, dict):
            yield statement
        for value in node.values():
            yield from _statements(value)
    elif isinstance(node, list):
        for item in node:
            yield from _statements(item)


X_RAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("stage", ["sam", "cloudformation"])
def test_no_wildcard_actions_or_resources(template: dict[str, Any], stage: str) -> None:
    document = template if stage == "sam" else sam_translate(template, parameters={}, region="us-east-1")
    statements = list(_statements(document["Resources"]))
    assert len(statements) >= 6
    for statement in statements:
        if statement.get("Effect") == "Deny":
            continue  # a deny may be as wide as it likes (the queues' TLS-only policy)
        actions = _as_list(statement.get("Action", []))
        for action in actions:
            assert isinstance(action, str), statement
            assert action != "*" and not action.endswith(":*"), statement
        if set(actions) <= X_RAY_ACTIONS:
            continue  # X-Ray has no resource-level permissions: "*" is the only resource it accepts
        for resource in _as_list(statement.get("Resource", [])):
            assert resource != "*", statement


def test_functions_have_their_own_roles_without_managed_policies(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    translated = sam_translate(template, parameters={}, region="us-east-1")
    roles = {name: r for name, r in translated["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    assert set(roles) == {"WorkerRole", "PollerRole", "NotificationRole"}
    for role in roles.values():
        assert "ManagedPolicyArns" not in role["Properties"]
    for name in ("WorkerFunction", "PollerFunction", "NotificationFunction"):
        assert resources[name]["Properties"]["Role"] == {
            "Fn::GetAtt": [name.replace("Function", "Role"), "Arn"]
        }
        assert "Policies" not in resources[name]["Properties"]


def test_worker_permissions_are_scoped_to_stack_resources(resources: dict[str, Any]) -> None:
    statements = [
        s
        for policy in resources["WorkerRole"]["Properties"]["Policies"]
        if "PolicyDocument" in policy  # the KMS grant, present only with a key, has its own test
        for s in _as_list(policy["PolicyDocument"]["Statement"])
    ]
    granted: dict[str, list[Any]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"]):
            granted.setdefault(action, []).extend(_as_list(statement["Resource"]))

    def arn(logical_id: str) -> dict[str, Any]:
        return {"Fn::GetAtt": [logical_id, "Arn"]}

    for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"):
        assert arn("IdempotencyTable") in granted[action]
    assert granted["dynamodb:PutItem"] == [arn("IdempotencyTable")]
    assert granted["dynamodb:DeleteItem"] == [arn("IdempotencyTable")]
    assert sorted(map(str, granted["dynamodb:UpdateItem"])) == sorted(
        map(str, [arn("IdempotencyTable"), arn("RateLimitTable")])
    )
    assert granted["events:PutEvents"] == [arn("OutcomeBus")]
    assert sorted(map(str, granted["sqs:SendMessage"])) == sorted(
        map(str, [arn("DeadLetterQueue"), arn("CommandQueue")])
    )
    assert granted["sqs:ChangeMessageVisibility"] == [arn("CommandQueue")]
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
        assert granted[action] == [arn("CommandQueue")]
    assert granted["logs:PutLogEvents"] == [arn("WorkerLogGroup")]
    accounts, context_key = granted["secretsmanager:GetSecretValue"]
    assert accounts == {
        "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
        "${AccountSecretPrefix}*"
    }
    assert context_key == {"Ref": "RelayContextKey"}


def test_log_group_has_retention_and_is_used_by_the_function(
    resources: dict[str, Any], function_properties: dict[str, Any]
) -> None:
    groups = {name: r for name, r in resources.items() if r["Type"] == "AWS::Logs::LogGroup"}
    assert all(group["Properties"]["RetentionInDays"] == 30 for group in groups.values())
    assert function_properties["LoggingConfig"]["LogGroup"] == {"Ref": "WorkerLogGroup"}
    functions = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    assert len(functions) == len(groups) == 3
    assert {f["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] for f in functions} == set(groups)


def test_outcome_tap_is_conditional(template: dict[str, Any], resources: dict[str, Any]) -> None:
    assert template["Parameters"]["EnableOutcomeTap"]["Default"] == "false"
    for logical_id in ("OutcomeTapQueue", "OutcomeTapRule", "OutcomeTapQueuePolicy"):
        assert resources[logical_id]["Condition"] == "OutcomeTapEnabled"
    assert template["Outputs"]["OutcomeTapQueueUrl"]["Condition"] == "OutcomeTapEnabled"


def test_outputs(template: dict[str, Any]) -> None:
    assert {
        "CommandQueueUrl",
        "DeadLetterQueueUrl",
        "IdempotencyTableName",
        "RateLimitTableName",
        "OutcomeBusName",
        "OutcomeTapQueueUrl",
    } <= set(template["Outputs"])


def test_packaging_uses_the_make_target(
    resources: dict[str, Any], function_properties: dict[str, Any]
) -> None:
    fragment = (ROOT / "mk" / "sam.mk").read_text(encoding="utf-8")
    functions = [name for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]
    assert functions
    for name in functions:
        assert resources[name]["Metadata"]["BuildMethod"] == "makefile"
        assert resources[name]["Properties"]["CodeUri"] == "."
        # sam build runs `make build-<LogicalId>`: every function needs its target.
        assert re.search(rf"^build-\S.*\bbuild-{name}\b.*:|^build-{name}\b.*:", fragment, re.MULTILINE), name
    shipped = re.search(r"^LAMBDA_PACKAGES := (.+)$", fragment, re.MULTILINE)
    assert shipped is not None
    assert shipped.group(1).split() == ["domain", "adapters", "handlers"]


def test_the_build_targets_the_template_runtime_and_architecture(function_properties: dict[str, Any]) -> None:
    fragment = (ROOT / "mk" / "sam.mk").read_text(encoding="utf-8")
    version = re.search(r"^LAMBDA_PYTHON_VERSION := (\S+)$", fragment, re.MULTILINE)
    platform = re.search(r"^LAMBDA_PLATFORM \?= manylinux2014_(\S+)$", fragment, re.MULTILINE)
    assert version is not None and platform is not None
    assert function_properties["Runtime"] == f"python{version.group(1)}"
    assert lambda_runtime_version(TEMPLATE_PATH) == version.group(1)
    [architecture] = function_properties["Architectures"]
    assert {"arm64": "aarch64", "x86_64": "x86_64"}[architecture] == platform.group(1)


def test_localized_template_keeps_everything_but_the_function(template: dict[str, Any]) -> None:
    translated = sam_translate(template, parameters={"EnableOutcomeTap": "true"}, region="us-east-1")
    local, dropped = localize_template(translated)
    # The function, and what watches it (its alarms and the dashboard, which moto skips anyway).
    assert set(dropped) == {
        "WorkerFunction",
        "WorkerRole",
        "WorkerFunctionCommands",
        "WorkerErrorsAlarm",
        "WorkerThrottlesAlarm",
        "OperationsDashboard",
        "PollerFunction",
        "PollerRole",
        "PollerFunctionPurchaseOrders",
        "PollerFunctionPurchaseOrdersPermission",
        "PollerFunctionFulfillmentOrders",
        "PollerFunctionFulfillmentOrdersPermission",
        "PollerFunctionRetailPurchaseOrders",
        "PollerFunctionRetailPurchaseOrdersPermission",
        "PollerFunctionEventInvokeConfig",
        "PollerErrorsAlarm",
        "NotificationFunction",
        "NotificationRole",
        "NotificationFunctionNotifications",
        "NotificationErrorsAlarm",
    }
    assert not any(r["Type"].startswith("AWS::Lambda::") for r in local["Resources"].values())
    assert {
        "CommandQueue",
        "DeadLetterQueue",
        "IdempotencyTable",
        "RateLimitTable",
        "OutcomeBus",
        "OutcomeTapQueue",
        "OutcomeTapRule",
        "OutcomeTapQueuePolicy",
        "WorkerLogGroup",
        "PollerStateTable",
        "PollerLogGroup",
    } <= set(local["Resources"])
    assert "WorkerFunctionName" not in local["Outputs"]


def test_queue_sizes_are_set_and_match_what_the_relay_checks(resources: dict[str, Any]) -> None:
    from adapters.sqs import COMMAND_QUEUE_MAX_MESSAGE_BYTES, DEAD_LETTER_QUEUE_MAX_MESSAGE_BYTES  # noqa: PLC0415

    assert resources["CommandQueue"]["Properties"]["MaximumMessageSize"] == COMMAND_QUEUE_MAX_MESSAGE_BYTES
    assert (
        resources["DeadLetterQueue"]["Properties"]["MaximumMessageSize"]
        == DEAD_LETTER_QUEUE_MAX_MESSAGE_BYTES
    )
    assert DEAD_LETTER_QUEUE_MAX_MESSAGE_BYTES - COMMAND_QUEUE_MAX_MESSAGE_BYTES > 10 * 2_000, (
        "a command-queue message plus the failure's attributes must fit the dead-letter queue"
    )


def test_the_relay_context_key_is_generated_by_the_stack_and_read_by_the_worker_only(
    resources: dict[str, Any], function_properties: dict[str, Any]
) -> None:
    key = resources["RelayContextKey"]
    assert key["Type"] == "AWS::SecretsManager::Secret"
    assert key["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    assert function_properties["Environment"]["Variables"]["RELAY_CONTEXT_KEY_SECRET_ID"] == {
        "Ref": "RelayContextKey"
    }
    readers = [
        name
        for name, resource in resources.items()
        if resource.get("Type") == "AWS::IAM::Role"
        and any(
            statement.get("Resource") == {"Ref": "RelayContextKey"} for statement in _statements(resource)
        )
    ]
    assert readers == ["WorkerRole"]


def test_the_idempotency_table_survives_the_stack_and_can_be_restored(resources: dict[str, Any]) -> None:
    table = resources["IdempotencyTable"]
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_an_idempotency_record_outlives_the_dead_letter_queue_and_a_replay(resources: dict[str, Any]) -> None:
    from adapters.ledger import (  # noqa: PLC0415
        DEAD_LETTER_RETENTION_SECONDS,
        DEFAULT_RECORD_TTL_SECONDS,
        REPLAY_WINDOW_SECONDS,
    )

    retention = resources["DeadLetterQueue"]["Properties"]["MessageRetentionPeriod"]
    assert retention == DEAD_LETTER_RETENTION_SECONDS
    assert retention + REPLAY_WINDOW_SECONDS < DEFAULT_RECORD_TTL_SECONDS


_NO_VALUE = {"Ref": "AWS::NoValue"}
_KMS_KEY = {"Ref": "KmsKeyArn"}
# SP-API's own account writes to NotificationQueue: a customer-managed key would need a key policy for
# that account, which the stack does not own (template.yaml says so beside the queue). Every other
# queue follows the KmsKeyArn parameter.
_SSE_SQS_ONLY_QUEUES = {"NotificationQueue"}
# Written to by the roles, so they need to generate data keys (reading needs kms:Decrypt only).
_WRITE_ACTIONS = {"sqs:SendMessage", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}


def _with_kms_key(node: Any, has_key: bool) -> Any:
    """A template fragment as CloudFormation resolves it with KmsKeyArn set (or left empty)."""
    if isinstance(node, list):
        return [item for item in (_with_kms_key(i, has_key) for i in node) if item != _NO_VALUE]
    if not isinstance(node, dict):
        return node
    if list(node) == ["Fn::If"] and node["Fn::If"][0] == "HasKmsKey":
        _, if_true, if_false = node["Fn::If"]
        return _with_kms_key(if_true if has_key else if_false, has_key)
    resolved = {key: _with_kms_key(value, has_key) for key, value in node.items()}
    return {key: value for key, value in resolved.items() if value != _NO_VALUE}


def _queues(resources: dict[str, Any]) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}


def _uses_kms_key(node: Any) -> bool:
    if node == _KMS_KEY:
        return True
    if isinstance(node, dict):
        return any(_uses_kms_key(v) for v in node.values())
    if isinstance(node, list):
        return any(_uses_kms_key(v) for v in node)
    return False


def _queue_encryption(properties: dict[str, Any]) -> dict[str, Any]:
    return {k: properties[k] for k in ("SqsManagedSseEnabled", "KmsMasterKeyId") if k in properties}


def test_every_queue_is_encrypted_with_the_kms_key_parameter_when_it_is_set(
    resources: dict[str, Any],
) -> None:
    queues = _queues(resources)
    assert len(queues) == 6, sorted(queues)
    sse_sqs = {"SqsManagedSseEnabled": True}
    # With the key: KmsMasterKeyId alone (SQS refuses it beside SqsManagedSseEnabled); without: SSE-SQS.
    actual = {
        name: (
            _queue_encryption(_with_kms_key(queue["Properties"], has_key=True)),
            _queue_encryption(_with_kms_key(queue["Properties"], has_key=False)),
        )
        for name, queue in queues.items()
    }
    expected = {
        name: (sse_sqs if name in _SSE_SQS_ONLY_QUEUES else {"KmsMasterKeyId": _KMS_KEY}, sse_sqs)
        for name in queues
    }
    assert actual == expected


def test_tables_and_the_context_key_are_encrypted_with_the_kms_key_parameter(
    resources: dict[str, Any],
) -> None:
    tables = [name for name, r in resources.items() if r["Type"] == "AWS::DynamoDB::Table"]
    assert sorted(tables) == ["IdempotencyTable", "PollerStateTable", "RateLimitTable"]
    for table in tables:
        sse = resources[table]["Properties"]["SSESpecification"]
        assert _with_kms_key(sse, has_key=True) == {
            "SSEEnabled": True,
            "SSEType": "KMS",
            "KMSMasterKeyId": _KMS_KEY,
        }
        assert _with_kms_key(sse, has_key=False) == {"SSEEnabled": True}
    context_key = resources["RelayContextKey"]["Properties"]
    assert _with_kms_key(context_key, has_key=True)["KmsKeyId"] == _KMS_KEY
    assert "KmsKeyId" not in _with_kms_key(context_key, has_key=False)


def _granted_resources(role: dict[str, Any]) -> Iterator[tuple[str, set[str]]]:
    """(logical id or "account secrets", actions) for each resource a role's statements name."""
    for statement in _statements(role["Properties"]["Policies"]):
        actions = set(_as_list(statement["Action"]))
        for resource in _as_list(statement["Resource"]):
            if isinstance(resource, dict) and "Fn::GetAtt" in resource:
                yield resource["Fn::GetAtt"][0], actions
            elif isinstance(resource, dict) and "Ref" in resource:
                yield resource["Ref"], actions
            elif isinstance(resource, dict) and "${AccountSecretPrefix}" in str(resource.get("Fn::Sub")):
                # Operators encrypt the account secrets with the same key (KmsKeyArn's description).
                yield "account secrets", actions


def test_every_role_may_use_the_kms_key_for_the_encrypted_resources_it_reads_or_writes(
    resources: dict[str, Any],
) -> None:
    encrypted = {"account secrets"} | {
        name
        for name, r in resources.items()
        if not r["Type"].startswith("AWS::IAM::")
        and _uses_kms_key(_with_kms_key(r.get("Properties", {}), True))
    }
    roles = {name: r for name, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    needing_the_key = set()
    for name, role in roles.items():
        without_key = _with_kms_key(role, has_key=False)
        assert not any(
            a.startswith("kms:") for s in _statements(without_key) for a in _as_list(s["Action"])
        ), name  # no grant on an empty key ARN
        uses = [
            (resource, actions)
            for resource, actions in _granted_resources(without_key)
            if resource in encrypted
        ]
        if not uses:
            continue
        needing_the_key.add(name)
        granted = {
            a
            for s in _statements(_with_kms_key(role["Properties"]["Policies"], has_key=True))
            if s["Effect"] == "Allow" and _as_list(s["Resource"]) == [_KMS_KEY]
            for a in _as_list(s["Action"])
        }
        assert "kms:Decrypt" in granted, (name, uses)
        if any(actions & _WRITE_ACTIONS for _, actions in uses):
            assert "kms:GenerateDataKey" in granted, (name, uses)
    assert needing_the_key == {"WorkerRole", "PollerRole", "NotificationRole"}


def test_every_queue_denies_every_request_without_tls(resources: dict[str, Any]) -> None:
    queues = _queues(resources)
    policies = [r for r in resources.values() if r["Type"] == "AWS::SQS::QueuePolicy"]
    actual: dict[str, list[Any]] = {}
    for name, queue in queues.items():
        own = [p for p in policies if {"Ref": name} in p["Properties"]["Queues"]]
        # A conditional queue's policy exists exactly when the queue does.
        assert [p.get("Condition") for p in own] == [queue.get("Condition")] * len(own), name
        actual[name] = [
            (s["Principal"], s["Action"], s.get("Condition"))
            for policy in own
            for s in _as_list(policy["Properties"]["PolicyDocument"]["Statement"])
            if s["Effect"] == "Deny" and {"Fn::GetAtt": [name, "Arn"]} in _as_list(s["Resource"])
        ]
    tls_only = ("*", "sqs:*", {"Bool": {"aws:SecureTransport": "false"}})
    assert actual == {name: [tls_only] for name in queues}


def test_both_functions_are_traced(template: dict[str, Any], resources: dict[str, Any]) -> None:
    assert template["Globals"]["Function"]["Tracing"] == "Active"
    for role in ("WorkerRole", "PollerRole", "NotificationRole"):
        actions = {
            a
            for s in _statements(resources[role])
            if isinstance(s, dict)
            for a in _as_list(s.get("Action", []))
        }
        assert {"xray:PutTraceSegments", "xray:PutTelemetryRecords"} <= actions, role


X_RAY_WRITE_MANAGED_POLICY = "AWSXRayDaemonWriteAccess"


def test_every_deployed_function_is_traced_and_may_write_traces(template: dict[str, Any]) -> None:
    """Over what CloudFormation receives: each Lambda function (Globals applied by the SAM transform) has
    active tracing, and its role grants the X-Ray writes, inline or by AWS's managed policy."""
    translated = sam_translate(template, parameters={}, region="us-east-1")["Resources"]
    functions = {
        name: resource["Properties"]
        for name, resource in translated.items()
        if resource["Type"] in {"AWS::Lambda::Function", "AWS::Serverless::Function"}
    }
    assert set(functions) == {"WorkerFunction", "PollerFunction", "NotificationFunction"}
    for name, function in functions.items():
        assert function.get("TracingConfig") == {"Mode": "Active"}, name
        role_name = function["Role"]["Fn::GetAtt"][0]
        role = translated[role_name]["Properties"]
        actions = {a for s in _statements(role.get("Policies", [])) for a in _as_list(s.get("Action", []))}
        managed = " ".join(str(arn) for arn in role.get("ManagedPolicyArns", []))
        assert actions >= X_RAY_ACTIONS or X_RAY_WRITE_MANAGED_POLICY in managed, (name, role_name)


def test_the_poller_runs_one_at_a_time_and_its_failures_are_kept_and_alarmed(
    resources: dict[str, Any],
) -> None:
    poller = resources["PollerFunction"]["Properties"]
    assert poller["ReservedConcurrentExecutions"] == 1
    assert poller["EventInvokeConfig"]["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": ["PollerFailureQueue", "Arn"]},
    }
    alarmed = {
        str(dimension["Value"])
        for resource in resources.values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
        for dimension in resource["Properties"]["Dimensions"]
    }
    assert "{'Ref': 'PollerFunction'}" in alarmed
    assert "{'Fn::GetAtt': ['PollerFailureQueue', 'QueueName']}" in alarmed


def test_every_alarm_notifies_a_topic_even_without_alarm_topic_arn(resources: dict[str, Any]) -> None:
    assert resources["AlarmTopic"]["Condition"] == "CreateAlarmTopic"
    alarms = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert len(alarms) >= 7
    for alarm in alarms:
        assert alarm["Properties"]["AlarmActions"] == [
            {"Fn::If": ["HasAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "AlarmTopic"}]}
        ]


def test_the_notification_queue_admits_sp_api_as_its_guide_requires(resources: dict[str, Any]) -> None:
    queue = resources["NotificationQueue"]["Properties"]
    assert "FifoQueue" not in queue  # SP-API delivers to standard queues only
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["NotificationDeadLetterQueue", "Arn"]
    }
    policy = resources["NotificationQueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "NotificationQueue"}]
    allow, deny = policy["PolicyDocument"]["Statement"]
    assert allow["Effect"] == "Allow"
    assert allow["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::437568002678:root"}}
    assert sorted(allow["Action"]) == ["sqs:GetQueueAttributes", "sqs:SendMessage"]
    assert allow["Resource"] == {"Fn::GetAtt": ["NotificationQueue", "Arn"]}
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "sqs:*")
    function = resources["NotificationFunction"]["Properties"]
    assert function["Handler"] == "handlers.notifications.lambda_handler"
    assert function["Events"]["Notifications"]["Properties"]["FunctionResponseTypes"] == [
        "ReportBatchItemFailures"
    ]
    for alarm in ("NotificationDeadLetterQueueAlarm", "NotificationQueueAgeAlarm", "NotificationErrorsAlarm"):
        assert resources[alarm]["Type"] == "AWS::CloudWatch::Alarm"


def test_the_retry_budget_is_on_by_default_and_within_the_command_queues_retention(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    # An outage of minutes must not dead-letter what it touches out of the box (tests/chaos/test_outage.py
    # rides one out at these defaults); the template and the worker's own default say the same.
    default = template["Parameters"]["RetryBudgetHours"]["Default"]
    retention = resources["CommandQueue"]["Properties"]["MessageRetentionPeriod"]
    assert default == DEFAULT_RETRY_BUDGET_HOURS
    assert default >= 1 and default * 3600 < retention
