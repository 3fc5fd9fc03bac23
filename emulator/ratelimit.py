"""Usage-plan enforcement: one GCRA token bucket per (selling partner, operation)."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    """Generic cell rate algorithm: with T = 1/rate and tau = (burst - 1) * T, a call at ``now`` is allowed
    when the bucket's theoretical arrival time ``tat`` is at most ``now + tau``; it then moves to
    ``max(tat, now) + T``. A fresh bucket allows ``burst`` calls at once, then ``rate`` per second."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tat: dict[tuple[str, str], float] = {}

    def try_acquire(self, key: tuple[str, str], rate: float, burst: int, now: float | None = None) -> bool:
        if rate <= 0:
            return False
        now = time.monotonic() if now is None else now
        interval = 1.0 / rate
        tau = (max(burst, 1) - 1) * interval
        with self._lock:
            tat = max(self._tat.get(key, now), now)
            if tat - now > tau + 1e-9:
                return False
            self._tat[key] = tat + interval
            return True

    def reset(self) -> None:
        with self._lock:
            self._tat.clear()
