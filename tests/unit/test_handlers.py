"""The Lambda entry points called as Lambda calls them, over a relay and pollers wired to fakes."""

from __future__ import annotations

import json
from typing import Any, cast

import httpx
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from adapters.ledger import DynamoDbWriteLedger
from adapters.metrics import InMemoryMetrics
from adapters.rate_limiter import DynamoDbGcraLimiter
from adapters.spapi import LwaTokenCache
from domain.catalog import CATALOG, RESTRICTED_OPERATIONS
from domain.errors import SpApiUnavailable
from domain.gateway import SpApiGateway
from domain.pollers import PollerPorts, PurchaseOrderPoller
from domain.rate_limits import bucket_for
from domain.requests import SpApiResponse
from handlers.bootstrap import Pollers, Worker
from handlers.poller import run_pollers
from handlers.worker import handle_batch
from local.worker_loop import LocalLambdaContext
from tests.fakes import FakeAccounts, FakeClock, FakeLimiter, FakeOutcomes, FakePollerState, FakeSpApi
from tests.unit.relay_world import World, sample

pytestmark = pytest.mark.unit


def context() -> LambdaContext:
    return cast("LambdaContext", LocalLambdaContext("sp-relay-worker", timeout_seconds=60.0))


def record(body: str, message_id: str, receive_count: str = "1", **attributes: str) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": receive_count},
        "messageAttributes": {
            name: {"stringValue": value, "dataType": "String"} for name, value in attributes.items()
        },
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:commands",
    }


class NoCredentials:
    def credentials(self, account: str) -> Any:
        raise AssertionError("the handler tests never exchange a token")

    def forget(self, account: str) -> None:
        raise AssertionError("the handler tests never exchange a token")


def worker_of(world: World) -> Worker:
    # Nothing here is called over the network: only the relay (of fakes) processes records.
    return Worker(
        relay=world.relay,
        ledger=DynamoDbWriteLedger(object(), "unused"),
        tokens=LwaTokenCache(httpx.Client(), "https://api.amazon.com/auth/o2/token", NoCredentials()),
        limiter=DynamoDbGcraLimiter(object(), "unused"),
        metrics=InMemoryMetrics(),
    )


def test_a_batch_reports_only_the_records_to_retry(world: World) -> None:
    world.spapi.answer("cancelFulfillmentOrder", SpApiUnavailable("timed out"))
    event = {
        "Records": [
            record(json.dumps(sample("cancel-fulfillment")), "m-retry"),
            record(json.dumps(sample("create-fulfillment")), "m-ok"),
            record("not json", "m-bad"),
        ]
    }

    response = handle_batch(event, context(), worker_of(world))

    assert response == {"batchItemFailures": [{"itemIdentifier": "m-retry"}]}
    assert sorted(o.status.value for o in world.outcomes.published) == ["rejected", "succeeded"]


def test_a_record_that_fails_before_the_relay_leaves_a_log_line_and_comes_back(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    event = {"Records": [record(json.dumps(sample("cancel-fulfillment")), "m-odd", receive_count="²")]}

    response = handle_batch(event, context(), worker_of(world))

    assert response == {"batchItemFailures": [{"itemIdentifier": "m-odd"}]}
    [line] = [r for r in caplog.records if "before the relay could end it" in r.getMessage()]
    assert (line.__dict__["message_id"], line.__dict__["error_type"]) == ("m-odd", "ValueError")
    assert line.exc_info is None


def test_an_ordinary_retry_logs_no_traceback(world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.spapi.answer("cancelFulfillmentOrder", SpApiUnavailable("timed out"))
    event = {"Records": [record(json.dumps(sample("cancel-fulfillment")), "m-retry")]}

    handle_batch(event, context(), worker_of(world))

    assert [r for r in caplog.records if r.exc_info] == []


def test_a_producer_deferral_count_in_odd_digits_defers_the_throttled_record(world: World) -> None:
    command = sample("cancel-fulfillment")
    bucket = bucket_for("acme", "eu", CATALOG[command["type"]].operation)
    world.limiter.known_waits = {bucket.key: 30.0}
    event = {"Records": [record(json.dumps(command), "m-1", **{"sp-relay-deferrals": "²"})]}

    assert handle_batch(event, context(), worker_of(world)) == {"batchItemFailures": []}
    [(deferred, _)] = world.queue.deferred
    assert deferred.message_id == "m-1"


# --- pollers --------------------------------------------------------------------------------------------


def pollers_of(
    spapi: FakeSpApi, events: FakeOutcomes, accounts: tuple[tuple[str, str | None], ...]
) -> Pollers:
    clock = FakeClock()
    gateway = SpApiGateway(
        spapi, FakeLimiter(), clock, restricted_operations=RESTRICTED_OPERATIONS, max_inline_wait_seconds=2.0
    )
    ports = PollerPorts(gateway, FakeAccounts(), FakePollerState(), events, clock)
    return Pollers({PurchaseOrderPoller.name: (PurchaseOrderPoller(ports), accounts)}, InMemoryMetrics())


def test_the_poller_handler_names_an_unknown_poller() -> None:
    pollers = pollers_of(FakeSpApi(), FakeOutcomes(), ())
    with pytest.raises(ValueError, match=r"poller: unknown poller 'df-orders'; known: df-purchase-orders"):
        run_pollers({"poller": "df-orders"}, context(), pollers)


def test_one_account_failing_does_not_stop_the_others() -> None:
    spapi, events = FakeSpApi(), FakeOutcomes()
    rdt = SpApiResponse(200, {"restrictedDataToken": "rdt-token-1", "expiresIn": 3600}, "req-rdt")
    spapi.answer("createRestrictedDataToken", rdt, rdt)
    spapi.answer(
        "getOrders",
        SpApiResponse(503, None),
        SpApiResponse(200, {"orders": [{"purchaseOrderNumber": "PO-9"}]}),
    )
    pollers = pollers_of(spapi, events, (("acme", None), ("play", None)))

    answer = run_pollers({"poller": "df-purchase-orders"}, context(), pollers)

    [failed, polled] = answer["reports"]
    assert failed["account"] == "acme" and failed["errors"]
    assert (polled["account"], polled["published"]) == ("play", 1)
    assert [detail["purchaseOrderNumber"] for _, detail in events.events] == ["PO-9"]
