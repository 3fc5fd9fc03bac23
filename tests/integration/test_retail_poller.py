"""The retail purchase-order poller over HTTP: the real poller handler against the SP-API emulator (which
refuses a getPurchaseOrders window over 7 days, and a limit over 100) and the moto server (the poller
state table, the outcome bus and its tap queue from template.yaml)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.events import RETAIL_PURCHASE_ORDER_RECEIVED
from local.runtime import DEMO_ACCOUNTS, LocalStack, LocalStackOptions

pytestmark = pytest.mark.integration


def test_a_poller_off_for_25_days_reads_them_in_7_day_slices_page_by_page_and_publishes_each_order_once() -> (
    None
):
    vendor = DEMO_ACCOUNTS[1]
    options = LocalStackOptions(start_worker=False, retail_poll_accounts=f"{vendor.name}:{vendor.region}")
    with LocalStack(options) as stack:
        assert stack.emulator is not None and stack.resources is not None
        emulator = stack.emulator.state
        now = datetime.now(UTC)
        # 150 orders 20 days ago (two pages of 100), 3 of the last minutes, and the last run 25 days ago.
        numbers = emulator.seed_retail_orders(vendor.seller_id, 150, created=now - timedelta(days=20))
        numbers += emulator.seed_retail_orders(vendor.seller_id, 3, created=now - timedelta(minutes=1))
        watermark_key = f"watermark#retail-purchase-orders#{vendor.name}#{vendor.region}"
        dynamodb = stack.client("dynamodb")
        table = stack.resources.poller_state_table_name
        last_run = (now - timedelta(days=25)).strftime("%Y-%m-%dT%H:%M:%SZ")
        dynamodb.put_item(TableName=table, Item={"key": {"S": watermark_key}, "value": {"S": last_run}})

        [report] = stack.run_poller("retail-purchase-orders")["reports"]

        assert report["errors"] == []
        assert (report["seen"], report["published"], report["truncated"]) == (153, 153, False)
        # 25 days and 10 minutes: 4 slices of at most 7 days; the one holding the 150 orders has 2 pages.
        calls = emulator.calls("getPurchaseOrders")
        assert (report["pages"], [call.status for call in calls]) == (5, [200] * 5)
        events = [d for kind, d in stack.events() if kind == RETAIL_PURCHASE_ORDER_RECEIVED]
        assert sorted(d["purchaseOrderNumber"] for d in events) == sorted(numbers)  # each once
        assert {d["account"] for d in events} == {vendor.name}
        stored = dynamodb.get_item(TableName=table, Key={"key": {"S": watermark_key}}, ConsistentRead=True)
        assert stored["Item"]["value"]["S"] == report["until"] == report["watermark"]

        newest = emulator.seed_retail_orders(vendor.seller_id, 1)
        [again] = stack.run_poller("retail-purchase-orders")["reports"]
        assert (again["errors"], again["published"]) == ([], 1)
        assert [
            d["purchaseOrderNumber"] for kind, d in stack.events() if kind == RETAIL_PURCHASE_ORDER_RECEIVED
        ] == (newest)
