"""`dlq list`: dead letters grouped by command type, account and failure reason; finding one."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from cli.dead_letters.letter import DeadLetter


@dataclass(slots=True)
class Group:
    command_type: str
    account: str
    reason: str
    count: int = 0
    oldest: float = 0.0  # age in seconds
    newest: float = math.inf
    command_ids: list[str] = field(default_factory=list)


def group(letters: Sequence[DeadLetter], now: float) -> list[Group]:
    groups: dict[tuple[str, str, str], Group] = {}
    for letter in letters:
        key = (letter.command_type or "(unparsable)", letter.account or "-", letter.reason)
        entry = groups.setdefault(key, Group(*key))
        entry.count += 1
        age = letter.age(now)
        entry.oldest = max(entry.oldest, age)
        entry.newest = min(entry.newest, age)
        if letter.command_id:
            entry.command_ids.append(letter.command_id)
    return sorted(groups.values(), key=lambda g: (-g.count, g.command_type, g.account, g.reason))


def find(letters: Sequence[DeadLetter], wanted: str) -> DeadLetter | None:
    """By message id, source message id (before the DLQ) or commandId."""
    for letter in letters:
        if wanted in {letter.message_id, letter.source_message_id}:
            return letter
    for letter in letters:
        if letter.command_id == wanted:
            return letter
    return None
