"""Every published event carries an ``eventId`` that names its content: a repeat is recognisable."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.outcomes import EventBridgeOutcomes
from domain.events import EVENT_ID, command_event, with_event_id
from domain.outcomes import Outcome, OutcomeStatus

pytestmark = pytest.mark.unit


class RecordingEventBridge:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.entries.extend(Entries)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "x"}]}


def _outcome(message_id: str = "m-1", result: dict[str, Any] | None = None) -> Outcome:
    return Outcome(
        OutcomeStatus.SUCCEEDED, "create-fulfillment", "c-1", "acct", message_id, result or {"a": 1}
    )


def _published(*outcomes: Outcome) -> list[dict[str, Any]]:
    bus = RecordingEventBridge()
    publisher = EventBridgeOutcomes(bus, "bus")
    for outcome in outcomes:
        publisher.publish(outcome)
    return [json.loads(entry["Detail"]) for entry in bus.entries]


def test_the_same_outcome_published_twice_carries_one_event_id() -> None:
    first, again = _published(_outcome(), _outcome())

    assert first == again
    assert first[EVENT_ID] == again[EVENT_ID]


@pytest.mark.parametrize(
    "other",
    [_outcome(message_id="m-2"), _outcome(result={"a": 2})],
    ids=["another-delivery", "another-result"],
)
def test_a_different_outcome_of_the_same_command_carries_another_event_id(other: Outcome) -> None:
    first, second = _published(_outcome(), other)

    assert first["commandId"] == second["commandId"]
    assert first[EVENT_ID] != second[EVENT_ID]


def test_the_event_id_depends_on_the_detail_type_and_not_on_key_order_or_an_old_id() -> None:
    detail = {"commandId": "c-1", "status": "succeeded"}
    reordered = {"status": "succeeded", "commandId": "c-1", EVENT_ID: "forged"}
    succeeded = with_event_id(command_event("succeeded"), detail)

    assert with_event_id(command_event("succeeded"), reordered) == succeeded
    assert with_event_id(command_event("rejected"), detail)[EVENT_ID] != succeeded[EVENT_ID]
