"""Which dead letters an operator means: durations (90s, 15m, 2h) and the filters of list and replay."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cli.dead_letters.letter import DeadLetter

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """'90', '90s', '15m', '2h', '3d', '1w' → seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 2h, 3d)")
    return float(match.group(1)) * _UNITS[match.group(2).lower()]


def format_age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600:02d}h"


@dataclass(frozen=True, slots=True)
class Filters:
    types: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    command_ids: tuple[str, ...] = ()
    older_than: float | None = None  # seconds on the DLQ
    newer_than: float | None = None

    @property
    def is_empty(self) -> bool:
        return not (
            self.types
            or self.accounts
            or self.reasons
            or self.command_ids
            or self.older_than is not None
            or self.newer_than is not None
        )

    def matches(self, letter: DeadLetter, now: float) -> bool:
        if self.types and letter.command_type not in self.types:
            return False
        if self.accounts and letter.account not in self.accounts:
            return False
        if self.reasons and letter.reason not in self.reasons:
            return False
        if self.command_ids and letter.command_id not in self.command_ids:
            return False
        age = letter.age(now)
        if self.older_than is not None and age < self.older_than:
            return False
        return not (self.newer_than is not None and age > self.newer_than)

    def describe(self) -> str:
        parts = [
            *(f"type={t}" for t in self.types),
            *(f"account={a}" for a in self.accounts),
            *(f"reason={r}" for r in self.reasons),
            *(f"commandId={c}" for c in self.command_ids),
        ]
        if self.older_than is not None:
            parts.append(f"older than {format_age(self.older_than)}")
        if self.newer_than is not None:
            parts.append(f"newer than {format_age(self.newer_than)}")
        return ", ".join(parts) or "none (every message)"
