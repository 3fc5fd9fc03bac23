"""Alarms, dashboard and the EMF metrics they read: names, namespace and dimensions must agree."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from adapters.metrics import (
    COMMANDS_DEAD_LETTERED,
    COMMANDS_REJECTED,
    COMMANDS_SUCCEEDED,
    DEFERRALS,
    SPAPI_CALLS,
    SPAPI_FAILURE_DEFERRALS,
    SPAPI_LATENCY,
    SPAPI_THROTTLED,
    TOKEN_WAITS,
    InMemoryMetrics,
    PowertoolsMetrics,
    metered_limiter,
    metered_outcomes,
    metered_queue,
    metered_spapi,
    metrics_from_env,
    status_metric,
)
from domain.outcomes import Failure, Outcome, OutcomeStatus
from domain.ports import InboundMessage
from domain.rate_limits import Bucket, UsagePlan
from domain.relay import COMMANDS_NEVER_FIT
from domain.requests import SpApiRequest, SpApiResponse
from local.stack import load_template
from tests.fakes import FakeLimiter, FakeOutcomes, FakeQueue, FakeSpApi

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EMITTED = {
    COMMANDS_SUCCEEDED,
    COMMANDS_REJECTED,
    COMMANDS_DEAD_LETTERED,
    SPAPI_CALLS,
    SPAPI_THROTTLED,
    SPAPI_LATENCY,
    TOKEN_WAITS,
    DEFERRALS,
    SPAPI_FAILURE_DEFERRALS,
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


def _alarm(template: dict[str, Any], name: str) -> dict[str, Any]:
    resource = template["Resources"][name]
    assert resource["Type"] == "AWS::CloudWatch::Alarm"
    properties: dict[str, Any] = resource["Properties"]
    return properties


def _dashboard(template: dict[str, Any]) -> dict[str, Any]:
    body = template["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    document: dict[str, Any] = json.loads(re.sub(r"\$\{[^}]+\}", "X", body))
    return document


def _worker_environment(template: dict[str, Any]) -> dict[str, Any]:
    variables: dict[str, Any] = template["Resources"]["WorkerFunction"]["Properties"]["Environment"][
        "Variables"
    ]
    return variables


@pytest.mark.parametrize(
    ("name", "namespace", "metric"),
    [
        ("DeadLetterQueueAlarm", "AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("CommandQueueAgeAlarm", "AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("WorkerErrorsAlarm", "AWS/Lambda", "Errors"),
        ("WorkerThrottlesAlarm", "AWS/Lambda", "Throttles"),
        ("SpApiThrottledAlarm", "SpRelay", "SpApiThrottled"),
        ("CommandsNeverFitAlarm", "SpRelay", COMMANDS_NEVER_FIT),
    ],
)
def test_each_alarm_watches_its_metric_and_notifies_the_topic(
    template: dict[str, Any], name: str, namespace: str, metric: str
) -> None:
    alarm = _alarm(template, name)
    assert (alarm["Namespace"], alarm["MetricName"]) == (namespace, metric)
    assert alarm["TreatMissingData"] == "notBreaching"
    # The operator's topic when given, else the stack's own: an alarm always notifies someone.
    assert alarm["AlarmActions"] == [
        {"Fn::If": ["HasAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "AlarmTopic"}]}
    ]


@pytest.mark.parametrize("name", ["SpApiThrottledAlarm", "CommandsNeverFitAlarm"])
def test_the_alarms_on_our_metrics_read_what_the_worker_emits(template: dict[str, Any], name: str) -> None:
    alarm = _alarm(template, name)
    environment = _worker_environment(template)
    assert alarm["Namespace"] == environment["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarm["Dimensions"] == [{"Name": "service", "Value": environment["POWERTOOLS_SERVICE_NAME"]}]
    assert alarm["MetricName"] in EMITTED | {COMMANDS_NEVER_FIT}


def test_the_dashboard_shows_every_emitted_metric_and_nothing_else_of_ours(template: dict[str, Any]) -> None:
    ours: set[str] = set()
    titles = []
    for widget in _dashboard(template)["widgets"]:
        titles.append(widget["properties"]["title"])
        for metric in widget["properties"]["metrics"]:
            if metric[0] == "SpRelay":
                ours.add(metric[1])
                assert metric[2:4] == ["service", "sp-relay"]
    assert ours == EMITTED
    assert any("outcome" in title for title in titles)
    assert any("Queue depths" in title for title in titles)


# --- the adapter ---------------------------------------------------------------------------------------


def test_emf_output_carries_namespace_service_and_units(capsys: pytest.CaptureFixture[str]) -> None:
    metrics = PowertoolsMetrics(namespace="SpRelay", service="sp-relay")
    metrics.flush()  # nothing recorded: nothing printed, no warning
    assert capsys.readouterr().out == ""
    metrics.count(SPAPI_THROTTLED)
    metrics.count(SPAPI_THROTTLED)
    metrics.milliseconds(SPAPI_LATENCY, 12.5)
    metrics.flush()
    document = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    [directive] = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "SpRelay"
    assert directive["Dimensions"] == [["service"]]
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units == {SPAPI_THROTTLED: "Count", SPAPI_LATENCY: "Milliseconds"}
    assert document["service"] == "sp-relay"
    assert document[SPAPI_THROTTLED] == [1.0, 1.0]


def test_metrics_backend_follows_the_environment() -> None:
    assert isinstance(metrics_from_env({}), InMemoryMetrics)
    assert isinstance(metrics_from_env({"POWERTOOLS_METRICS_NAMESPACE": "SpRelay"}), PowertoolsMetrics)
    assert status_metric("dead-lettered") == COMMANDS_DEAD_LETTERED
    assert status_metric("timed-out") == "CommandsTimedOut"


def test_meters_count_what_passes_through_and_delegate_the_rest() -> None:
    metrics = InMemoryMetrics()
    inner_spapi = FakeSpApi()
    inner_spapi.answer("op", SpApiResponse(status=200, body=None), SpApiResponse(status=429, body=None))
    spapi = metered_spapi(inner_spapi, metrics)
    request = SpApiRequest(operation_id="op", method="GET", path="/")
    assert [spapi.call("a", "na", request).status for _ in range(2)] == [200, 429]
    inner_limiter = FakeLimiter(waits=[0.0, 1.5])
    limiter = metered_limiter(inner_limiter, metrics)
    plan = UsagePlan(rate=1, burst=1)
    assert [limiter.try_acquire(Bucket("a", "na", "op"), plan) for _ in range(2)] == [0.0, 1.5]
    inner_outcomes = FakeOutcomes()
    outcomes = metered_outcomes(inner_outcomes, metrics)
    outcomes.publish(Outcome(OutcomeStatus.SUCCEEDED, "t", "c", "a", "m"))
    outcomes.publish(Outcome(OutcomeStatus.REJECTED, "t", "c", "a", "m"))  # counted on the DLQ instead
    inner_queue = FakeQueue()
    queue = metered_queue(inner_queue, metrics)
    message = InboundMessage("m", "{}", 1, "r")
    queue.dead_letter(message, Failure(OutcomeStatus.REJECTED, "InvalidCommand", "x", 1, {}), None)
    queue.dead_letter(message, Failure(OutcomeStatus.DEAD_LETTERED, "SpApiUnavailable", "x", 5, {}), None)
    queue.defer(message, 3, "v1.e30.sealed")
    queue.back_off(message, 3)  # not measured, still delegated

    assert metrics.counts == {
        SPAPI_CALLS: 2,
        SPAPI_THROTTLED: 1,
        TOKEN_WAITS: 1,
        COMMANDS_SUCCEEDED: 1,
        COMMANDS_REJECTED: 1,
        COMMANDS_DEAD_LETTERED: 1,
        DEFERRALS: 1,
    }
    assert len(metrics.timings[SPAPI_LATENCY]) == 2
    assert len(inner_outcomes.published) == 2
    assert inner_spapi.operations() == ["op", "op"]
    assert len(inner_limiter.taken) == 2
    assert [failure.code for _, failure in inner_queue.dead_letters] == ["InvalidCommand", "SpApiUnavailable"]
    assert (inner_queue.deferred, inner_queue.deferred_contexts) == ([(message, 3)], ["v1.e30.sealed"])
    assert inner_queue.backed_off == [(message, 3)]
