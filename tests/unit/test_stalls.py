"""The local process's pauses are measured, so a timed-out invocation can be held against them."""

from __future__ import annotations

import gc
import time

import pytest

from local.stalls import STALL_SECONDS, Pause, StallMonitor
from tests.process_pause import hold_the_interpreter

pytestmark = pytest.mark.unit


def test_a_process_that_stands_still_is_measured_as_a_pause() -> None:
    monitor = StallMonitor()
    monitor.start()
    time.sleep(0.2)
    before = time.monotonic()
    hold_the_interpreter(1.0)
    time.sleep(0.2)  # the ticker wakes and records
    after = time.monotonic()

    pauses = monitor.pauses_between(before, after)
    assert [p.cause for p in pauses if p.cause == "process"], pauses
    assert monitor.paused_seconds_between(before, after) > 0.5


def test_an_interval_without_a_stall_has_none() -> None:
    monitor = StallMonitor()
    monitor.start()
    before = time.monotonic()
    time.sleep(0.5)

    assert monitor.paused_seconds_between(before, time.monotonic()) == 0.0


def test_overlapping_pauses_count_once_and_only_inside_the_interval() -> None:
    monitor = StallMonitor()
    for pause in (Pause(10.0, 2.0, "process"), Pause(11.0, 2.0, "gc2"), Pause(20.0, 1.0, "process")):
        monitor._record(pause)

    assert monitor.paused_seconds_between(11.5, 30.0) == pytest.approx(1.5 + 1.0)
    assert monitor.paused_seconds_between(0.0, 10.5) == pytest.approx(0.5)
    assert monitor.paused_seconds_between(14.0, 19.0) == 0.0


def test_a_long_garbage_collection_is_a_pause_and_a_short_one_is_not() -> None:
    monitor = StallMonitor()
    before = time.monotonic()
    monitor._on_gc("start", {"generation": 0})
    monitor._on_gc("stop", {"generation": 0})
    monitor._on_gc("start", {"generation": 2})
    time.sleep(STALL_SECONDS + 0.1)
    monitor._on_gc("stop", {"generation": 2})

    [pause] = monitor.pauses_between(before, time.monotonic())
    assert pause.cause == "gc2"
    assert pause.seconds >= STALL_SECONDS + 0.1


def test_the_monitor_sees_the_interpreters_collections() -> None:
    monitor = StallMonitor()
    monitor.start()

    assert monitor._on_gc in gc.callbacks
