"""The chaos harness's reconciliation: what it calls a violation (every chaos suite asserts none)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chaos.harness import reconcile
from domain.attributes import REASON_ATTRIBUTE

pytestmark = pytest.mark.unit

CREATE = {"commandId": "c-1", "type": "create-fulfillment", "payload": {"sellerFulfillmentOrderId": "O-1"}}
APPLIED_ONCE = {"createFulfillmentOrder": {"O-1": 1}}


def _outcome(status: str) -> dict[str, Any]:
    return {"commandId": "c-1", "status": status, "eventId": f"e-{status}"}


def _dead_letter(reason: str) -> dict[str, Any]:
    return {"body": json.dumps(CREATE), "attributes": {REASON_ATTRIBUTE: reason}}


def test_a_command_applied_once_with_its_succeeded_event_is_no_violation() -> None:
    report = reconcile([CREATE], APPLIED_ONCE, [], [_outcome("succeeded")])

    assert report.violations == []
    assert report.applied_once["create-fulfillment"] == 1


@pytest.mark.parametrize("status", ["rejected", "dead-lettered"])
def test_a_command_applied_yet_reported_failed_is_a_violation(status: str) -> None:
    report = reconcile([CREATE], APPLIED_ONCE, [], [_outcome(status)])

    assert report.applied_but_reported_failed == ["c-1"]
    assert "applied, reported failed: c-1" in report.violations


def test_a_command_applied_and_on_the_dead_letter_queue_is_a_violation() -> None:
    report = reconcile([CREATE], APPLIED_ONCE, [_dead_letter("SpApiUnavailable")], [_outcome("succeeded")])

    assert "applied and on the DLQ: create-fulfillment=1" in report.violations


def test_a_command_on_the_dead_letter_queue_not_applied_is_counted_not_a_violation() -> None:
    report = reconcile([CREATE], {}, [_dead_letter("SpApiRejected")], [_outcome("rejected")])

    assert report.violations == []
    assert report.dead_lettered["create-fulfillment"] == 1
