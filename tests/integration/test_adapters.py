"""Adapters over real HTTP: boto3 → moto server, httpx → SP-API emulator."""

from __future__ import annotations

import json
import threading
import time
import uuid

import httpx
import pytest

from adapters.credentials import SecretsManagerAccounts
from adapters.ledger import DynamoDbWriteLedger
from adapters.rate_limiter import DynamoDbGcraLimiter
from adapters.spapi import LwaTokenCache, SpApiHttpClient, spapi_base_url
from domain.commands import Command, parse_command
from domain.errors import (
    AlreadyRejected,
    CommandIdReused,
    CommandInProgress,
    CredentialsRejected,
    LeaseLost,
    SpApiUnavailable,
    UnknownAccount,
)
from domain.ledger import (
    Claim,
    FollowUpEventClaim,
    FollowUpRecord,
    LedgerState,
    RejectionClaim,
    RejectionKey,
    Settled,
)
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


def test_the_limiter_grants_the_whole_burst_then_asks_to_wait_one_interval(local_stack: LocalStack) -> None:
    assert local_stack.resources is not None
    # A clock that stands still: the arithmetic is exact however slow the machine (DynamoDB stays real).
    now = time.time()
    limiter = DynamoDbGcraLimiter(
        local_stack.client("dynamodb"),
        local_stack.resources.rate_limit_table_name,
        clock=lambda: now,
        arrival_margin_seconds=0,
    )
    bucket, plan = fresh_bucket(), UsagePlan(rate=2.0, burst=5)

    waits = [limiter.try_acquire(bucket, plan) for _ in range(plan.burst + 1)]

    assert waits[: plan.burst] == [0.0] * plan.burst
    assert waits[plan.burst] == pytest.approx(plan.interval)


def test_a_refill_is_booked_at_the_latest_arrival_so_the_limiter_never_trails_sp_api(
    local_stack: LocalStack,
) -> None:
    """SP-API restarts a refilled bucket from the moment the request arrives; a limiter that restarted
    from its earlier decision would trail SP-API by the gap for as long as the bucket stays busy."""
    assert local_stack.resources is not None
    now = time.time()
    limiter = DynamoDbGcraLimiter(
        local_stack.client("dynamodb"),
        local_stack.resources.rate_limit_table_name,
        clock=lambda: now,
        arrival_margin_seconds=0.3,
    )
    bucket, plan = fresh_bucket(), UsagePlan(rate=2.0, burst=5)

    waits = [limiter.try_acquire(bucket, plan) for _ in range(plan.burst)]

    # Booked from now + 0.3 s, the fifth token of the burst is due 0.3 s after the first decision.
    assert waits[:4] == [0.0] * 4
    assert waits[4] == pytest.approx(0.3, abs=1e-5)  # tat is stored to the microsecond


def test_a_429_pushes_the_shared_bucket_back_for_every_worker(local_stack: LocalStack) -> None:
    assert local_stack.resources is not None
    table = local_stack.resources.rate_limit_table_name
    now = time.time()
    first = DynamoDbGcraLimiter(
        local_stack.client("dynamodb"), table, clock=lambda: now, arrival_margin_seconds=0
    )
    other = DynamoDbGcraLimiter(
        local_stack.client("dynamodb"), table, clock=lambda: now, arrival_margin_seconds=0
    )
    bucket, plan = fresh_bucket(), UsagePlan(rate=2.0, burst=5)
    assert first.try_acquire(bucket, plan) == 0.0
    writes = first.writes

    first.push_back(bucket, plan)

    assert first.writes == writes + 1
    assert first.known_wait(bucket, plan) == pytest.approx(plan.interval, abs=1e-5)
    assert other.try_acquire(bucket, plan) == pytest.approx(plan.interval, abs=1e-5)  # never saw the 429


def test_a_known_empty_bucket_answers_without_a_dynamodb_call(local_stack: LocalStack) -> None:
    assert local_stack.resources is not None
    now = time.time()
    limiter = DynamoDbGcraLimiter(
        local_stack.client("dynamodb"),
        local_stack.resources.rate_limit_table_name,
        clock=lambda: now,
        arrival_margin_seconds=0,
    )
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
    duration = 1.5
    table = local_stack.resources.rate_limit_table_name
    # Each worker is its own container: its own client and its own memory of the bucket, built before
    # the clock starts (building 8 clients on a loaded machine took longer than the whole run).
    # No arrival margin: this is about the shared bucket under contention, not SP-API's clock.
    limiters = [
        DynamoDbGcraLimiter(local_stack.client("dynamodb"), table, arrival_margin_seconds=0) for _ in range(8)
    ]
    ready = threading.Barrier(len(limiters) + 1)
    started = 0.0

    def worker(limiter: DynamoDbGcraLimiter) -> None:
        ready.wait()
        tries = 0
        # At least a few tries each, however slow the machine: the burst must be granted to someone.
        while time.time() - started < duration or tries < 3:
            tries += 1
            wait = limiter.try_acquire(bucket, plan)
            if wait == 0:
                with lock:
                    grants.append(time.time())
            else:
                time.sleep(min(wait, 0.2))

    threads = [threading.Thread(target=worker, args=(limiter,)) for limiter in limiters]
    for thread in threads:
        thread.start()
    started = time.time()
    ready.wait()
    for thread in threads:
        thread.join()

    elapsed = max(grants) - started
    bound = plan.burst + plan.rate * elapsed
    assert len(grants) <= bound + 1, f"{len(grants)} grants in {elapsed:.2f}s exceed the plan's {bound:.1f}"
    # The burst is granted however slow the machine; how close the rest comes to the bound is a speed
    # figure, measured against the bound by `make bench`, not asserted in a timed test.
    assert len(grants) >= plan.burst, f"only {len(grants)} grants: the limiter starves"


# --- the write ledger ----------------------------------------------------------------------------------


def _ledger(stack: LocalStack) -> DynamoDbWriteLedger:
    assert stack.resources is not None
    return DynamoDbWriteLedger(stack.client("dynamodb"), stack.resources.idempotency_table_name)


def _command(name: str = "cancel-fulfillment") -> Command:
    return parse_command(json.dumps(unique(sample_command(name))))


def test_the_ledger_settles_a_success_once_and_answers_repeats_with_it(local_stack: LocalStack) -> None:
    ledger, command = _ledger(local_stack), _command()

    claim = ledger.claim(command, now=1000.0, lease_until=1060.0)
    assert isinstance(claim, Claim) and claim.fence == 1 and not claim.must_probe
    ledger.succeed(command, claim.fence, {"answer": 1}, message_id="m-1", transaction_id="tx-1")
    # Saved, not yet published (the outbox): a duplicate waits while the saving worker's lease is live,
    # then finds the event to publish, as it was saved.
    with pytest.raises(CommandInProgress) as publishing:
        ledger.claim(command, now=1001.0, lease_until=1061.0)
    assert publishing.value.retry_after_seconds == pytest.approx(59.0)
    # After it, the repeat takes the publish over: the record's next fence is its own.
    repeat = ledger.claim(command, now=1061.0, lease_until=1121.0)
    assert repeat == Settled({"answer": 1}, True, 2, message_id="m-1", transaction_id="tx-1")
    ledger.effects_published(command, repeat.fence)

    assert ledger.claim(command, now=1062.0, lease_until=1122.0) == Settled(
        {"answer": 1}, False, 2, message_id="m-1", transaction_id="tx-1"
    )


def test_of_two_deliveries_that_find_a_saved_outcome_unpublished_only_one_publishes(
    local_stack: LocalStack,
) -> None:
    ledger, command = _ledger(local_stack), _command()
    claim = ledger.claim(command, now=1000.0, lease_until=1060.0)
    assert isinstance(claim, Claim)
    ledger.succeed(command, claim.fence, {"answer": 1}, message_id="m-1")  # then the worker died

    first = ledger.claim(command, now=1070.0, lease_until=1130.0)
    with pytest.raises(CommandInProgress) as second:
        ledger.claim(command, now=1070.5, lease_until=1130.5)

    assert isinstance(first, Settled) and first.effects_pending and first.fence == claim.fence + 1
    assert second.value.retry_after_seconds == pytest.approx(59.5)
    with pytest.raises(LeaseLost):  # the saving worker, come back to life, can no longer mark it
        ledger.effects_published(command, claim.fence)
    ledger.effects_published(command, first.fence)
    done = ledger.claim(command, now=1071.0, lease_until=1131.0)
    assert isinstance(done, Settled) and not done.effects_pending


def test_a_failed_publish_gives_up_the_lease_and_says_whether_the_follow_up_was_sent(
    local_stack: LocalStack,
) -> None:
    ledger, command = _ledger(local_stack), _command()
    claim = ledger.claim(command, now=1000.0, lease_until=1060.0)
    assert isinstance(claim, Claim)
    ledger.succeed(command, claim.fence, {"answer": 1}, message_id="m-1")
    ledger.release_publish(command, claim.fence, follow_up_scheduled=True)

    # The lease is given up: the next delivery takes the publish over at once (the next fence).
    assert ledger.claim(command, now=1001.0, lease_until=1061.0) == Settled(
        {"answer": 1}, True, claim.fence + 1, message_id="m-1", follow_up_scheduled=True
    )


def test_a_chain_is_restarted_once_and_its_final_event_held_by_one_check(local_stack: LocalStack) -> None:
    ledger = _ledger(local_stack)
    transaction_id = f"tx-{uuid.uuid4()}"
    record = FollowUpRecord("ack-1", "acknowledge-po", "ack-1.status", 1000.0)
    assert ledger.start_follow_up("acme", transaction_id, record)

    assert ledger.restart_follow_up("acme", transaction_id) == record
    assert ledger.restart_follow_up("acme", transaction_id) is None  # at most once
    first = ledger.claim_follow_up_event("acme", transaction_id, now=2000.0, lease_until=2060.0)
    second = ledger.claim_follow_up_event("acme", transaction_id, now=2001.0, lease_until=2061.0)
    assert first == FollowUpEventClaim(publish=True, chain=record)
    assert (second.publish, second.published) == (False, False)
    assert second.retry_after_seconds == pytest.approx(59.0)
    # A hold whose check died runs out: the next copy takes it; once published, nothing more.
    late = ledger.claim_follow_up_event("acme", transaction_id, now=2061.0, lease_until=2121.0)
    assert late.publish
    ledger.follow_up_event_published("acme", transaction_id)
    after = ledger.claim_follow_up_event("acme", transaction_id, now=3000.0, lease_until=3060.0)
    assert after == FollowUpEventClaim(publish=False, published=True)
    assert ledger.restart_follow_up("acme", transaction_id) is None
    unknown = ledger.claim_follow_up_event("acme", "tx-never-recorded", now=1.0, lease_until=2.0)
    assert unknown == FollowUpEventClaim(publish=True)


def test_the_ledger_refuses_a_command_id_reused_with_another_payload(local_stack: LocalStack) -> None:
    ledger = _ledger(local_stack)
    original = unique(sample_command("cancel-fulfillment"))
    changed = json.loads(json.dumps(original))
    changed["payload"]["sellerFulfillmentOrderId"] = "SOMETHING-ELSE"
    ledger.claim(parse_command(json.dumps(original)), now=1000.0, lease_until=1060.0)

    with pytest.raises(CommandIdReused, match="commandId"):
        ledger.claim(parse_command(json.dumps(changed)), now=1100.0, lease_until=1160.0)


def test_a_live_lease_says_when_it_ends_and_an_expired_one_is_taken_over_to_probe(
    local_stack: LocalStack,
) -> None:
    ledger, command = _ledger(local_stack), _command()
    first = ledger.claim(command, now=1000.0, lease_until=1060.0)
    assert isinstance(first, Claim)

    with pytest.raises(CommandInProgress) as busy:
        ledger.claim(command, now=1010.0, lease_until=1070.0)
    assert busy.value.retry_after_seconds == pytest.approx(50.0)
    second = ledger.claim(command, now=1061.0, lease_until=1121.0)

    assert isinstance(second, Claim)
    assert (second.fence, second.previous, second.previous_attempt_at) == (2, LedgerState.ATTEMPTED, 1000.0)
    assert second.must_probe
    with pytest.raises(LeaseLost):
        ledger.succeed(command, first.fence, {"late": True}, message_id="late")


def test_a_create_announced_before_its_claim_points_its_order_to_it_and_is_then_claimed_fresh(
    local_stack: LocalStack,
) -> None:
    body = unique(sample_command("create-fulfillment"))
    ledger, command = _ledger(local_stack), parse_command(json.dumps(body))
    order_id = str(command.payload["sellerFulfillmentOrderId"])
    assert ledger.create_of_order(command.account, order_id) is None

    ledger.announce_create(command, order_id, now=1000.0)
    ledger.announce_create(command, order_id, now=1001.0)  # a second one changes nothing

    assert ledger.create_of_order(command.account, order_id) is LedgerState.NOT_APPLIED
    claim = ledger.claim(command, now=1002.0, lease_until=1062.0, creates_order=order_id)
    assert isinstance(claim, Claim) and claim.fence == 1 and not claim.must_probe
    assert claim.previous is LedgerState.NOT_APPLIED
    assert ledger.create_of_order(command.account, order_id) is LedgerState.ATTEMPTED
    ledger.announce_create(command, order_id, now=1003.0)  # after the claim: the claim stands
    assert ledger.create_of_order(command.account, order_id) is LedgerState.ATTEMPTED
    # The announcement keeps the payload check: another payload under that commandId is refused.
    other = parse_command(
        json.dumps({**body, "payload": {**body["payload"], "displayableOrderComment": "x"}})
    )
    with pytest.raises(CommandIdReused):
        ledger.claim(other, now=1004.0, lease_until=1064.0, creates_order=order_id)


def test_not_applied_is_claimed_fresh_and_unknown_is_claimed_to_probe(local_stack: LocalStack) -> None:
    ledger, command = _ledger(local_stack), _command()
    first = ledger.claim(command, now=1000.0, lease_until=1060.0)
    assert isinstance(first, Claim)
    ledger.settle(command, first.fence, LedgerState.NOT_APPLIED, "connect failed")

    second = ledger.claim(command, now=1001.0, lease_until=1061.0)
    assert isinstance(second, Claim) and second.previous is LedgerState.NOT_APPLIED
    assert not second.must_probe
    ledger.settle(command, second.fence, LedgerState.UNKNOWN, "SP-API answered 500")
    third = ledger.claim(command, now=1002.0, lease_until=1062.0)
    ledger_item = local_stack.client("dynamodb").get_item(
        TableName=local_stack.resources.idempotency_table_name if local_stack.resources else "",
        Key={"id": {"S": DynamoDbWriteLedger.key(command)}},
    )["Item"]

    assert isinstance(third, Claim) and third.must_probe
    # The settle window counts from the attempt that may have applied, not from this claim.
    assert (third.previous_attempt_at, third.previous_note) == (1001.0, "SP-API answered 500")
    assert ledger_item["state"]["S"] == "ATTEMPTED"


def test_a_rejected_record_is_final_and_a_reuse_is_still_told_apart(local_stack: LocalStack) -> None:
    ledger = _ledger(local_stack)
    original = unique(sample_command("cancel-fulfillment"))
    command = parse_command(json.dumps(original))
    claim = ledger.claim(command, now=1000.0, lease_until=1060.0)
    assert isinstance(claim, Claim)
    ledger.settle(command, claim.fence, LedgerState.REJECTED, "SP-API cancelFulfillmentOrder answered 400")
    changed = json.loads(json.dumps(original))
    changed["payload"]["sellerFulfillmentOrderId"] = "SOMETHING-ELSE"

    with pytest.raises(AlreadyRejected, match="answered 400"):
        ledger.claim(command, now=1001.0, lease_until=1061.0)
    with pytest.raises(CommandIdReused):
        ledger.claim(parse_command(json.dumps(changed)), now=1002.0, lease_until=1062.0)


def test_a_rejected_ending_is_recorded_once_per_command_and_body(local_stack: LocalStack) -> None:
    ledger = _ledger(local_stack)
    key = RejectionKey(f"acme#{uuid.uuid4().hex}", "print-1")
    failure = {"status": "rejected", "code": "InvalidCommand", "detail": "d", "attempts": 1, "error": {}}

    assert ledger.claim_rejection(key, "m-1", failure, now=1000.0) == RejectionClaim(mine=True)
    assert ledger.claim_rejection(key, "m-1", {}, now=1001.0) == RejectionClaim(True, False, failure)
    ledger.rejection_published(key, "m-2")  # not the owner: nothing changes
    assert ledger.claim_rejection(key, "m-1", {}, now=1002.0) == RejectionClaim(True, False, failure)
    ledger.rejection_published(key, "m-1")

    assert ledger.claim_rejection(key, "m-1", {}, now=1003.0) == RejectionClaim(True, True, failure)
    assert ledger.claim_rejection(key, "m-2", {}, now=1004.0) == RejectionClaim(False, True, failure)
    # Another body under the same commandId ends on its own.
    other = RejectionKey(key.key, "print-2")
    assert ledger.claim_rejection(other, "m-3", failure, now=1005.0) == RejectionClaim(mine=True)


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


# --- account secrets: re-read when refused, cached with a maximum age ----------------------------------


def test_a_fixed_secret_is_used_at_once_after_lwa_refused_the_cached_one(local_stack: LocalStack) -> None:
    assert local_stack.resources is not None and local_stack.moto is not None
    account = f"fixed-{uuid.uuid4().hex[:6]}"
    secret_name = f"{local_stack.resources.account_secret_prefix}{account}"
    good = DEMO_ACCOUNTS[0].secret
    seed_account_secret(
        local_stack.moto.endpoint_url,
        local_stack.resources.region,
        secret_name,
        {**good, "refreshToken": "Atzr|old"},
    )
    client, _ = spapi_client(local_stack)
    command = parse_command(__import__("json").dumps(unique(sample_command("create-fulfillment"))))
    request = build_request(command.type.operation, command.payload)
    with pytest.raises(CredentialsRejected):
        client.call(account, "na", request)

    # The runbook: fix the secret, then replay. The warm container must not keep the refused one.
    seed_account_secret(local_stack.moto.endpoint_url, local_stack.resources.region, secret_name, good)

    assert client.call(account, "na", request).status == 200


def test_a_secret_is_read_again_after_sp_api_refused_its_token_twice(stack: LocalStack) -> None:
    """SP-API refusing the access token, also after a refresh, is the other way credentials are refused:
    the cached secret is dropped as after LWA's refusal, so a fixed secret is used on the next call."""
    assert stack.resources is not None and stack.emulator is not None
    accounts = SecretsManagerAccounts(stack.client("secretsmanager"), stack.resources.account_secret_prefix)
    http = httpx.Client(timeout=2.0)
    tokens = LwaTokenCache(http, stack.lwa_token_url, accounts)
    client = SpApiHttpClient(http, tokens, accounts, endpoint_override=stack.spapi_endpoint)
    command = parse_command(__import__("json").dumps(unique(sample_command("create-fulfillment"))))
    request = build_request(command.type.operation, command.payload)
    stack.emulator.state.add_fault(Fault(operation="createFulfillmentOrder", status=401, count=2))

    with pytest.raises(CredentialsRejected, match="again after a refresh"):
        client.call("demo-seller", "na", request)
    assert accounts.reads == 1

    assert client.call("demo-seller", "na", request).status == 200
    assert accounts.reads == 2


def test_a_secret_is_read_again_after_its_maximum_age(local_stack: LocalStack) -> None:
    assert local_stack.resources is not None
    now = [1_000.0]
    accounts = SecretsManagerAccounts(
        local_stack.client("secretsmanager"),
        local_stack.resources.account_secret_prefix,
        max_age_seconds=300,
        clock=lambda: now[0],
    )
    accounts.credentials("demo-seller")
    now[0] += 299
    accounts.credentials("demo-seller")
    assert accounts.reads == 1
    now[0] += 2
    accounts.credentials("demo-seller")
    assert accounts.reads == 2


def test_the_local_dynamodb_applies_each_conditional_write_atomically(local_stack: LocalStack) -> None:
    """Stock moto checks a condition and applies the update without a lock: under contention two writers
    pass a condition only one should (1 in ~300 seen with 16 threads). The local stack serialises
    DynamoDB requests, as DynamoDB's per-item atomicity would."""
    assert local_stack.resources is not None
    table, key = local_stack.resources.rate_limit_table_name, {"bucket": {"S": f"race-{uuid.uuid4().hex}"}}
    local_stack.client("dynamodb").put_item(TableName=table, Item={**key, "n": {"N": "0"}})
    wins: list[int] = []

    def writer() -> None:
        client = local_stack.client("dynamodb")
        for _ in range(40):
            seen = client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]["n"]["N"]
            try:
                client.update_item(
                    TableName=table,
                    Key=key,
                    UpdateExpression="SET n = n + :one",
                    ConditionExpression="n = :seen",
                    ExpressionAttributeValues={":one": {"N": "1"}, ":seen": {"N": seen}},
                )
            except client.exceptions.ConditionalCheckFailedException:
                continue
            wins.append(1)

    threads = [threading.Thread(target=writer) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    stored = int(local_stack.client("dynamodb").get_item(TableName=table, Key=key)["Item"]["n"]["N"])
    assert len(wins) == stored  # every successful conditional write counted exactly once
