"""A paged read against the emulator over HTTP (httpx, LWA, a Restricted Data Token): throttled by
SP-API on page 7, it goes on at page 7 on its next delivery, and SP-API saw pages 1..6 asked for once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from adapters.credentials import AccountCredentials
from adapters.spapi import LwaTokenCache, SpApiHttpClient
from domain.catalog import RESTRICTED_OPERATIONS
from domain.gateway import SpApiGateway
from domain.relay import Disposition, Relay, RelayPorts, RetryPolicy
from domain.relay_context import RelayContextSeal
from emulator import EmulatorServer
from tests.fakes import FakeAccounts, FakeClock, FakeLedger, FakeLimiter, FakeOutcomes, FakeQueue
from tests.unit.relay_world import TEST_KEY, message

pytestmark = pytest.mark.integration

CLIENT_ID, CLIENT_SECRET, REFRESH, SELLER = "amzn1.application-oa2-client.paged", "s", "Atzr|paged", "A1PAGED"
ORDERS = 10


class Credentials:
    def credentials(self, account: str) -> AccountCredentials:
        return AccountCredentials(account, CLIENT_ID, "na", False, CLIENT_SECRET, REFRESH)

    def forget(self, account: str) -> None:
        pass


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(rate_scale=1000.0) as server:
        server.register_account(CLIENT_ID, CLIENT_SECRET, REFRESH, SELLER)
        yield server


def test_a_read_throttled_on_page_7_goes_on_at_page_7(emulator: EmulatorServer) -> None:
    now = datetime.now(UTC)
    numbers = emulator.state.seed_df_orders(SELLER, ORDERS, created=now - timedelta(minutes=5))
    # SP-API answers 429 to the 7th getOrders (page 7: one order a page).
    httpx.post(
        f"{emulator.url}/_emulator/faults",
        json={"operation": "getOrders", "status": 429, "code": "QuotaExceeded", "after": 6, "count": 1},
    ).raise_for_status()
    with httpx.Client(timeout=5.0) as http:
        credentials = Credentials()
        spapi = SpApiHttpClient(
            http,
            LwaTokenCache(http, emulator.lwa_token_url, credentials),
            credentials,
            endpoint_override=emulator.url,
        )
        accounts = FakeAccounts(regions={"vendor": "na"}, sandbox_accounts=set())
        outcomes, queue, clock, limiter = FakeOutcomes(), FakeQueue(), FakeClock(), FakeLimiter()
        seal = RelayContextSeal(TEST_KEY)
        ports = RelayPorts(spapi, accounts, limiter, FakeLedger(), outcomes, queue, clock, seal)
        gateway = SpApiGateway(
            spapi, limiter, clock, restricted_operations=RESTRICTED_OPERATIONS, max_inline_wait_seconds=2.0
        )
        relay = Relay(ports, gateway, RetryPolicy())
        command: dict[str, Any] = {
            "type": "list-df-purchase-orders",
            "commandId": "paged-1",
            "account": "vendor",
            "payload": {
                "createdAfter": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "createdBefore": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "limit": 1,
                "includeDetails": "true",
            },
        }

        assert relay.process(message(command), lambda: 60.0) is Disposition.DONE
        [(deferred, _)], [sealed] = queue.deferred, queue.deferred_contexts
        assert queue.backed_off == []
        assert relay.process(message(deferred.body, relay_context=sealed), lambda: 60.0) is Disposition.DONE

    calls = emulator.state.calls("getOrders")
    asked = Counter(call.next_token for call in calls)
    tokens = list(dict.fromkeys(call.next_token for call in calls))  # page n's token, in order
    assert len(tokens) == ORDERS
    assert [asked[token] for token in tokens] == [1, 1, 1, 1, 1, 1, 2, 1, 1, 1]
    assert [call.status for call in calls if call.next_token == tokens[6]] == [429, 200]

    first, last = outcomes.published
    assert not first.final and last.final
    assert first.result is not None and last.result is not None
    assert (first.result["firstPage"], first.result["lastPage"]) == (1, 6)
    assert (last.result["firstPage"], last.result["lastPage"], last.result["pages"]) == (7, 10, 10)
    assert last.result["truncated"] is False
    seen = [o["purchaseOrderNumber"] for p in (first, last) for o in (p.result or {})["answer"]["orders"]]
    assert seen == numbers  # each order once, none published twice
