"""`sp-relay example` moves the samples' dates to the day it runs (local/sample_dates.py)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.commands import parse_command
from local.sample_dates import SAMPLES_WRITTEN, moved_to

pytestmark = pytest.mark.unit

EVENTS = Path(__file__).resolve().parents[2] / "events"
LATER = SAMPLES_WRITTEN + timedelta(days=400)


def sample(name: str) -> Any:
    return json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))


def day_of(timestamp: object) -> date:
    return datetime.strptime(str(timestamp), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).date()


def test_a_search_window_ends_on_the_day_it_is_printed_and_keeps_its_length() -> None:
    written = sample("list-df-purchase-orders")["payload"]
    moved = moved_to(sample("list-df-purchase-orders"), LATER)["payload"]
    assert day_of(moved["createdBefore"]) == LATER
    assert day_of(moved["createdBefore"]) - day_of(moved["createdAfter"]) == day_of(
        written["createdBefore"]
    ) - day_of(written["createdAfter"])


def test_a_delivery_date_stays_ahead_and_times_of_day_are_kept() -> None:
    moved = moved_to(sample("update-mcf-package"), LATER)
    delivery = str(moved["payload"]["deliveryTime"])
    assert day_of(delivery) > LATER
    assert delivery.endswith(str(sample("update-mcf-package")["payload"]["deliveryTime"])[10:])


def test_only_timestamps_move_and_every_moved_sample_is_still_a_valid_command() -> None:
    for path in sorted(EVENTS.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        moved = moved_to(document, LATER)
        parse_command(json.dumps(moved))
        assert moved_to(document, SAMPLES_WRITTEN) == document, path.name
        assert {k: v for k, v in moved.items() if k != "payload"} == {
            k: v for k, v in document.items() if k != "payload"
        }
    assert moved_to("2026-11-22T10:00:00.250Z", LATER) == f"{LATER.isoformat()}T10:00:00.250Z"
    assert moved_to("order 2026-11-22T10:00:00Z", LATER) == "order 2026-11-22T10:00:00Z"
