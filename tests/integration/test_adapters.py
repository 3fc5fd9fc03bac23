"""Adapters over real HTTP: boto3 → moto server, httpx → SP-API emulator."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx
import pytest

from adapters.credentials import SecretsManagerAccounts
from adapters.idempotency import PowertoolsIdempotency
from adapters.rate_limiter import BURST_SLACK, DynamoDbGcraLimiter
from adapters.spapi import LwaTokenCache, SpApiHttpClient, spapi_base_url
from domain.commands import parse_command
from domain.errors import CommandIdReused, CredentialsRejected, SpApiUnavailable, UnknownAccount
from domain.rate_limits import Bucket, UsagePlan
from domain.requests import build_request
from emulator.state import Fault
from local.runtime import DEMO_ACCOUNTS, LocalStack
from local.stack import seed_account_secret
from tests.conftest import sample_command, unique

pytestmark = pytest.mark.integration


def fresh_bucket() -> Bucket:
    return Bucket(f"acct-{uuid.uuid4().hex[:8]}", "na", "test.operation")


# --- rate limiter --------------------------------------------------------------------------------------


def test_the_limiter_grants_the_burst_less_its_slack_then_asks_to_wait_one_interval(
    local_stack: LocalStack,
) -> None:
    assert local_stack.resources is not None
    limiter = DynamoDbGcraLimiter(local_stack.client("dynamodb"), local_stack.resources.rate_limit_table_name)
    bucket, plan = fresh_bucket(), UsagePlan(rate=2.0, burst=5)
    granted = plan.burst - BURST_SLACK

    waits = [limiter.try_acquire(bucket, plan) for _ in range(granted + 1)]

    assert waits[:granted] == [0.0] * granted
    assert 0.3 < waits[granted] <= 0.5  # one interval (0.5 s) less the time the grants took


def test_a_known_empty_bucket_answers_without_a_dynamodb_call(local_stack: LocalStack) -> None:
    assert local_stack.resources is not None
    limiter = DynamoDbGcraLimiter(local_stack.client("dynamodb"), local_stack.resources.rate_limit_table_name)
    bucket, plan = fresh_bucket(), UsagePlan(rate=1.0, burst=2)
    limiter.try_acquire(bucket, plan)
    limiter.try_acquire(bucket, plan)
    writes = limiter.writes

    wait = limiter.try_acquire(bucket, plan)

    assert wait > 0.5
    assert limiter.writes == writes


def test_concurrent_workers_sharing_a_bucket_never_exceed_the_usage_plan(local_stack: LocalStack) -> None:
    assert local_stack.resources is not None
    bucket, plan = fresh_bucket(), UsagePlan(rate=20.0, burst=5)
    grants: list[float] = []
    lock = threading.Lock()
    started = time.time()
    duration = 1.5

    table = local_stack.resources.rate_limit_table_name

    def worker() -> None:
        # Each worker is its own container: its own client and its own memory of the bucket.
        limiter = DynamoDbGcraLimiter(local_stack.client("dynamodb"), table)
        while time.time() - started < duration:
            wait = limiter.try_acquire(bucket, plan)
            if wait == 0:
                with lock:
                    grants.append(time.time())
            else:
                time.sleep(min(wait, 0.2))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    elapsed = max(grants) - started
    bound = plan.burst + plan.rate * elapsed
    assert len(grants) <= bound + 1, f"{len(grants)} grants in {elapsed:.2f}s exceed the plan's {bound:.1f}"
    assert len(grants) >= bound / 2, f"only {len(grants)} of {bound:.1f} possible grants: the limiter starves"


# --- idempotency ---------------------------------------------------------------------------------------


def test_idempotency_runs_an_action_once_per_account_and_command_id(local_stack: LocalStack) -> None:
    assert local_stack.resources is not None
    guard = PowertoolsIdempotency(
        local_stack.client("dynamodb"), local_stack.resources.idempotency_table_name
    )
    command = parse_command(__import__("json").dumps(unique(sample_command("cancel-fulfillment"))))
    runs: list[int] = []

    def action() -> dict[str, Any]:
        runs.append(1)
        return {"answer": len(runs)}

    first = guard.run_once(command, action)
    second = guard.run_once(command, action)

    assert first == second == {"answer": 1}
    assert runs == [1]


def test_idempotency_refuses_a_command_id_reused_with_another_payload(local_stack: LocalStack) -> None:
    import json  # noqa: PLC0415

    assert local_stack.resources is not None
    guard = PowertoolsIdempotency(
        local_stack.client("dynamodb"), local_stack.resources.idempotency_table_name
    )
    original = unique(sample_command("cancel-fulfillment"))
    changed = json.loads(json.dumps(original))
    changed["payload"]["sellerFulfillmentOrderId"] = "SOMETHING-ELSE"
    guard.run_once(parse_command(json.dumps(original)), dict)

    with pytest.raises(CommandIdReused, match="commandId"):
        guard.run_once(parse_command(json.dumps(changed)), dict)


def test_idempotency_forgets_an_attempt_that_failed(local_stack: LocalStack) -> None:
    import json  # noqa: PLC0415

    assert local_stack.resources is not None
    guard = PowertoolsIdempotency(
        local_stack.client("dynamodb"), local_stack.resources.idempotency_table_name
    )
    command = parse_command(json.dumps(unique(sample_command("cancel-fulfillment"))))

    def failing() -> dict[str, Any]:
        raise SpApiUnavailable("SP-API answered 503")

    with pytest.raises(SpApiUnavailable):
        guard.run_once(command, failing)
    assert guard.run_once(command, lambda: {"ok": True}) == {"ok": True}


# --- credentials ---------------------------------------------------------------------------------------


def test_credentials_are_read_once_per_container(local_stack: LocalStack) -> None:
    assert local_stack.resources is not None
    client = local_stack.client("secretsmanager")
    reads: list[str] = []
    client.meta.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **_: reads.append("read")
    )
    accounts = SecretsManagerAccounts(client, local_stack.resources.account_secret_prefix)

    for _ in range(5):
        accounts.credentials("demo-seller")

    assert reads == ["read"]
    assert accounts.default_region("demo-seller") == "na"


def test_a_missing_or_broken_secret_is_a_permanent_error_naming_the_problem(local_stack: LocalStack) -> None:
    assert local_stack.resources is not None and local_stack.moto is not None
    prefix = local_stack.resources.account_secret_prefix
    seed_account_secret(
        local_stack.moto.endpoint_url,
        local_stack.resources.region,
        f"{prefix}half-configured",
        {"clientId": "id", "clientSecret": "very-secret-value"},
    )
    accounts = SecretsManagerAccounts(local_stack.client("secretsmanager"), prefix)

    with pytest.raises(UnknownAccount, match="no-such-account"):
        accounts.credentials("no-such-account")
    with pytest.raises(CredentialsRejected, match="refreshToken") as rejected:
        accounts.credentials("half-configured")
    assert "very-secret-value" not in str(rejected.value)


# --- SP-API client -------------------------------------------------------------------------------------


def spapi_client(stack: LocalStack, timeout: float = 2.0) -> tuple[SpApiHttpClient, LwaTokenCache]:
    assert stack.resources is not None
    accounts = SecretsManagerAccounts(stack.client("secretsmanager"), stack.resources.account_secret_prefix)
    http = httpx.Client(timeout=timeout)
    tokens = LwaTokenCache(http, stack.lwa_token_url, accounts)
    return SpApiHttpClient(http, tokens, accounts, endpoint_override=stack.spapi_endpoint), tokens


def test_many_calls_share_one_access_token(stack: LocalStack) -> None:
    client, tokens = spapi_client(stack)
    for _ in range(5):
        command = parse_command(__import__("json").dumps(unique(sample_command("create-fulfillment"))))
        answer = client.call("demo-seller", "na", build_request(command.type.operation, command.payload))
        assert answer.status == 200
        assert answer.request_id
        assert answer.granted_rate is not None

    assert tokens.exchanges == 1


def test_the_emulator_receives_exactly_the_payload(stack: LocalStack) -> None:
    import json  # noqa: PLC0415

    client, _ = spapi_client(stack)
    command = parse_command(json.dumps(unique(sample_command("create-fulfillment"))))
    client.call("demo-seller", "na", build_request(command.type.operation, command.payload))
    assert stack.emulator is not None

    stored = stack.emulator.state.order(command.payload["sellerFulfillmentOrderId"])

    assert stored.request == command.payload


def test_a_wrong_refresh_token_is_rejected_as_credentials(local_stack: LocalStack) -> None:
    assert local_stack.resources is not None and local_stack.moto is not None
    secret = {**DEMO_ACCOUNTS[0].secret, "refreshToken": "Atzr|revoked"}
    seed_account_secret(
        local_stack.moto.endpoint_url,
        local_stack.resources.region,
        f"{local_stack.resources.account_secret_prefix}revoked-seller",
        secret,
    )
    client, _ = spapi_client(local_stack)
    command = parse_command(__import__("json").dumps(unique(sample_command("cancel-fulfillment"))))

    with pytest.raises(CredentialsRejected, match="revoked-seller") as rejected:
        client.call("revoked-seller", "na", build_request(command.type.operation, command.payload))
    assert "Atzr|revoked" not in str(rejected.value)


def test_a_hanging_sp_api_is_a_retryable_timeout(stack: LocalStack) -> None:
    assert stack.emulator is not None
    stack.emulator.state.add_fault(
        Fault(operation="cancelFulfillmentOrder", kind="timeout", delay_seconds=3.0, count=1)
    )
    client, _ = spapi_client(stack, timeout=0.5)
    command = parse_command(__import__("json").dumps(unique(sample_command("cancel-fulfillment"))))

    with pytest.raises(SpApiUnavailable, match="timed out"):
        client.call("demo-seller", "na", build_request(command.type.operation, command.payload))


@pytest.mark.parametrize(
    ("region", "sandbox", "expected"),
    [
        ("na", False, "https://sellingpartnerapi-na.amazon.com"),
        ("eu", False, "https://sellingpartnerapi-eu.amazon.com"),
        ("fe", True, "https://sandbox.sellingpartnerapi-fe.amazon.com"),
    ],
)
def test_the_host_follows_the_region_and_the_sandbox_switch(
    region: str, sandbox: bool, expected: str
) -> None:
    assert spapi_base_url(region, sandbox=sandbox, endpoint_override=None) == expected
    assert (
        spapi_base_url(region, sandbox=sandbox, endpoint_override="http://127.0.0.1:1/")
        == "http://127.0.0.1:1"
    )


def test_grantless_tokens_are_cached_per_application_and_scope(stack: LocalStack) -> None:
    _, tokens = spapi_client(stack)
    assert stack.emulator is not None
    client_id = DEMO_ACCOUNTS[0].secret["clientId"]

    notifications = "sellingpartnerapi::notifications"
    rotation = "sellingpartnerapi::client_credential:rotation"

    first = tokens.grantless_token("demo-seller", notifications)
    again = tokens.grantless_token("demo-seller", notifications)
    other = tokens.grantless_token("demo-seller", rotation)

    assert first == again != other
    state = stack.emulator.state
    assert state.grantless_token_request_count(client_id, notifications) == 1
    assert state.grantless_token_request_count(client_id, rotation) == 1
