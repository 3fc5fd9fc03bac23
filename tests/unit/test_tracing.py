"""Each Lambda entry point, invoked as Lambda invokes it, opens an X-Ray subsegment around the invocation.

Outside Lambda Powertools' Tracer turns X-Ray off, so these tests hand each handler's tracer a real
aws_xray_sdk recorder whose emitter keeps what it would send to the X-Ray daemon, and open the segment
that Lambda's own facade segment stands for on AWS.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import aws_xray_sdk
import pytest
from aws_xray_sdk.core.recorder import AWSXRayRecorder

import handlers.notifications
import handlers.poller
import handlers.worker
from adapters.metrics import InMemoryMetrics
from adapters.settings import SettingsError
from handlers.bootstrap import Notifications
from tests.fakes import FakeOutcomes, FakeSpApi
from tests.unit.relay_world import World, sample
from tests.unit.test_handlers import context, pollers_of, record, worker_of
from tests.unit.test_notifications import intake

pytestmark = pytest.mark.unit


class KeptEmitter:
    """What the recorder would send to the X-Ray daemon, as the JSON documents it would send."""

    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []

    def send_entity(self, entity: Any) -> None:
        self.documents.append(json.loads(entity.serialize()))

    def set_daemon_address(self, address: str | None) -> None:
        """Nothing is sent over the network."""


class Traced:
    def __init__(self, recorder: AWSXRayRecorder, emitter: KeptEmitter) -> None:
        self.recorder = recorder
        self.emitter = emitter
        self.open_during_invocation: list[str] = []

    def note_open_subsegment(self) -> None:
        subsegment = self.recorder.current_subsegment()
        self.open_during_invocation.append(subsegment.name if subsegment is not None else "")

    def invoke(self, module: ModuleType, event: dict[str, Any]) -> Any:
        """``module.lambda_handler(event, context)`` inside the segment Lambda opens for an invocation."""
        self.recorder.begin_segment("sp-relay-invocation")
        try:
            return module.lambda_handler(event, context())
        finally:
            self.recorder.end_segment()

    def handler_subsegments(self) -> list[dict[str, Any]]:
        (segment,) = self.emitter.documents
        return [s for s in segment.get("subsegments", []) if s["name"] == "## lambda_handler"]


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> Iterator[Traced]:
    emitter = KeptEmitter()
    recorder = AWSXRayRecorder()
    recorder.configure(emitter=emitter, sampling=False, context_missing="RUNTIME_ERROR", plugins=())
    for module in (handlers.worker, handlers.poller, handlers.notifications):
        monkeypatch.setattr(module.tracer, "provider", recorder)
    was_enabled = aws_xray_sdk.global_sdk_config.sdk_enabled()
    aws_xray_sdk.global_sdk_config.set_sdk_enabled(True)
    try:
        yield Traced(recorder, emitter)
    finally:
        aws_xray_sdk.global_sdk_config.set_sdk_enabled(was_enabled)


def _noting(traced: Traced, built: Any) -> Callable[[], Any]:
    """A container factory that notes which subsegment is open when the handler asks for its graph."""

    def container() -> Any:
        traced.note_open_subsegment()
        return built

    return container


def test_the_worker_handler_runs_inside_its_subsegment(
    traced: Traced, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handlers.worker, "container_worker", _noting(traced, worker_of(world)))
    event = {"Records": [record(json.dumps(sample("cancel-fulfillment")), "m-1")]}

    response = traced.invoke(handlers.worker, event)

    assert response == {"batchItemFailures": []}
    assert traced.open_during_invocation == ["## lambda_handler"]
    (subsegment,) = traced.handler_subsegments()
    assert subsegment["end_time"] >= subsegment["start_time"]
    # capture_response=False: the response (which may quote a command) is not in the trace.
    assert "metadata" not in subsegment


def test_the_poller_handler_runs_inside_its_subsegment(
    traced: Traced, monkeypatch: pytest.MonkeyPatch
) -> None:
    pollers = pollers_of(FakeSpApi(), FakeOutcomes(), ())
    monkeypatch.setattr(handlers.poller, "container_pollers", _noting(traced, pollers))

    response = traced.invoke(handlers.poller, {"poller": "df-purchase-orders"})

    assert response == {"poller": "df-purchase-orders", "reports": []}
    assert traced.open_during_invocation == ["## lambda_handler"]
    (subsegment,) = traced.handler_subsegments()
    assert "metadata" not in subsegment


def test_the_notifications_handler_runs_inside_its_subsegment(
    traced: Traced, monkeypatch: pytest.MonkeyPatch
) -> None:
    notification_intake, _log, _bus, letters = intake()
    built = Notifications(notification_intake, InMemoryMetrics())
    monkeypatch.setattr(handlers.notifications, "container_notifications", _noting(traced, built))

    response = traced.invoke(handlers.notifications, {"Records": [record("not json", "n-1")]})

    assert response == {"batchItemFailures": []}
    assert len(letters.letters) == 1
    assert traced.open_during_invocation == ["## lambda_handler"]
    (subsegment,) = traced.handler_subsegments()
    assert "metadata" not in subsegment


def test_an_exception_escaping_a_handler_is_in_its_trace_with_its_message(
    traced: Traced, monkeypatch: pytest.MonkeyPatch
) -> None:
    """capture_error=False keeps the exception out of the metadata only: X-Ray's subsegment still records
    its type and message (the handlers' comment says so; their escaping exceptions quote no command)."""

    def unbuildable() -> Any:
        raise SettingsError("environment variable OUTCOME_BUS_NAME is required")

    monkeypatch.setattr(handlers.worker, "container_worker", unbuildable)

    with pytest.raises(SettingsError):
        traced.invoke(handlers.worker, {"Records": []})

    (subsegment,) = traced.handler_subsegments()
    assert "metadata" not in subsegment
    (recorded,) = subsegment["cause"]["exceptions"]
    assert (recorded["type"], recorded["message"]) == (
        "SettingsError",
        "environment variable OUTCOME_BUS_NAME is required",
    )
