"""A pause of the whole test process, as a full garbage collection of a large heap makes one."""

from __future__ import annotations

import time


def hold_the_interpreter(seconds: float) -> None:
    """One C call that keeps the GIL for about ``seconds`` (``sum`` over a range lets no other thread run)."""
    sample = 200_000
    started = time.perf_counter()
    sum(range(sample))
    per_item = (time.perf_counter() - started) / sample
    sum(range(int(seconds / per_item)))
