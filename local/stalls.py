"""Stalls of the whole local process, to tell a slow invocation from a paused rig.

The local stack runs moto, the emulator and every worker thread in one Python process. A pause of that
process (a full garbage collection of a large test heap, the GIL held by one thread) stretches every
invocation in it at once, which a Lambda function, alone in its sandbox, would not suffer. The monitor
measures such pauses as they happen: a thread that wakes every ``TICK_SECONDS`` notes how late it woke,
and ``gc.callbacks`` note how long each collection took. An invocation that ran past its timeout can
then be held against the pauses inside it.

What it cannot tell: which thread held the interpreter. A handler that itself spent a quarter second in
one C call would be counted as a pause of the rig; the relay makes no such call (its largest is a JSON
dump of one SP-API answer), and each pause is logged with its cause beside the timed-out invocation.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

TICK_SECONDS = 0.05
# A wake-up later than this is a stall of the process, not scheduling noise.
STALL_SECONDS = 0.25
KEPT = 10_000


@dataclass(frozen=True, slots=True)
class Pause:
    started: float  # time.monotonic()
    seconds: float
    cause: str  # "process" (the ticker woke late) or "gc<generation>"


class StallMonitor:
    def __init__(self) -> None:
        # No lock around the pauses: the gc callback runs in whichever thread allocated, possibly one
        # that holds such a lock (a reader building its list), and would wait for itself. Appending to
        # a deque and copying it with ``list`` are each one step under the GIL.
        self._pauses: deque[Pause] = deque(maxlen=KEPT)
        self._lock = threading.Lock()  # only for starting the thread once
        self._gc_started: float | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._tick, name="stall-monitor", daemon=True)
            self._thread.start()
        gc.callbacks.append(self._on_gc)

    def pauses_between(self, start: float, end: float) -> list[Pause]:
        return [p for p in list(self._pauses) if p.started < end and p.started + p.seconds > start]

    def paused_seconds_between(self, start: float, end: float) -> float:
        """How long the process stood still within [start, end] (overlapping pauses counted once)."""
        spans = sorted(
            (max(p.started, start), min(p.started + p.seconds, end)) for p in self.pauses_between(start, end)
        )
        total, reach = 0.0, start
        for begin, finish in spans:
            counted_from = max(begin, reach)
            if finish > counted_from:
                total += finish - counted_from
                reach = finish
        return total

    def _record(self, pause: Pause) -> None:
        self._pauses.append(pause)

    def _tick(self) -> None:
        expected = time.monotonic() + TICK_SECONDS
        while True:
            time.sleep(max(0.0, expected - time.monotonic()))
            woke = time.monotonic()
            late = woke - expected
            if late > STALL_SECONDS:
                self._record(Pause(expected, late, "process"))
            expected = woke + TICK_SECONDS

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        now = time.monotonic()
        if phase == "start":
            self._gc_started = now
        elif self._gc_started is not None:
            took = now - self._gc_started
            self._gc_started = None
            if took > STALL_SECONDS:
                self._record(Pause(now - took, took, f"gc{info.get('generation')}"))


# One per process: every local event source mapping in it shares the same pauses.
PROCESS_STALLS = StallMonitor()
