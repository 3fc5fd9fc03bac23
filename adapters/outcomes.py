"""Outcome events on the EventBridge bus."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger

from adapters.aws import aws_failures_are_retryable
from domain.errors import DependencyUnavailable
from domain.events import EVENT_SOURCE, with_event_id
from domain.outcomes import Outcome

logger = Logger(service="sp-relay", child=True)

# EventBridge takes at most 256 KiB per entry; leave room for the envelope.
MAX_DETAIL_BYTES = 200_000


def detail_type(outcome: Outcome) -> str:
    return outcome.detail_type


class EventBridgeOutcomes:
    """Implements the ``OutcomePublisher`` port."""

    def __init__(self, client: Any, bus_name: str) -> None:
        self._client = client
        self._bus_name = bus_name

    def publish(self, outcome: Outcome) -> None:
        for detail in outcome.event_details(MAX_DETAIL_BYTES):
            self.publish_event(detail_type(outcome), detail)
        logger.info(
            "command outcome",
            extra={
                "outcome": outcome.event_status,
                "command_type": outcome.command_type,
                "command_id": outcome.command_id,
                "account": outcome.account,
                "message_id": outcome.message_id,
                "reason": outcome.failure.code if outcome.failure else None,
            },
        )

    def publish_event(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        entry = {
            "Source": EVENT_SOURCE,
            "DetailType": detail_type,
            "Detail": json.dumps(with_event_id(detail_type, detail), default=str),
            "EventBusName": self._bus_name,
        }
        with aws_failures_are_retryable("publishing an event"):
            answer = self._client.put_events(Entries=[entry])
        if answer.get("FailedEntryCount"):
            code = answer["Entries"][0].get("ErrorCode", "unknown")
            raise DependencyUnavailable(f"publishing an event failed: {code}")
