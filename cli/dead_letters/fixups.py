"""``--set`` and ``--unset``: field-by-field fixes applied to a dead letter before it is replayed."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cli.dead_letters.letter import DeadLetter


class FixUpError(ValueError):
    """A fix-up that cannot be applied to a message (the message stays on the DLQ)."""


_MISSING = object()
# A replay is the same command again: idempotency is keyed on (account, commandId), so a fix-up that
# changed either would make it a new command, applied a second time at SP-API.
IDENTITY_FIELDS = frozenset({"commandId", "account"})


@dataclass(frozen=True, slots=True)
class FixUp:
    """``--set payload.items.0.quantity=2`` (the value is JSON) or ``--unset payload.giftMessage``."""

    path: tuple[str, ...]
    value: Any = _MISSING

    @property
    def removes(self) -> bool:
        return self.value is _MISSING

    @classmethod
    def parse_set(cls, text: str) -> FixUp:
        path, sep, raw = text.partition("=")
        if not sep or not path.strip():
            raise ValueError(f"--set wants FIELD=JSON, got {text!r}")
        try:
            value = json.loads(raw)
        except ValueError:
            raise ValueError(
                f"--set {path}: the value must be JSON (quote strings: {path}='\"text\"'), got {raw!r}"
            ) from None
        return cls(_protected(_split_path(path), "--set"), value)

    @classmethod
    def parse_unset(cls, text: str) -> FixUp:
        return cls(_protected(_split_path(text), "--unset"))

    def describe(self) -> str:
        dotted = ".".join(self.path)
        return f"unset {dotted}" if self.removes else f"{dotted}={json.dumps(self.value)}"

    def apply(self, document: dict[str, Any]) -> None:
        parent: Any = document
        for depth, step in enumerate(self.path[:-1]):
            parent = _child(parent, step, ".".join(self.path[: depth + 1]))
        last = self.path[-1]
        where = ".".join(self.path)
        if isinstance(parent, list):
            index = _index(parent, last, where)
            if self.removes:
                del parent[index]
            else:
                parent[index] = self.value
        elif isinstance(parent, dict):
            if self.removes:
                if last not in parent:
                    raise FixUpError(f"{where}: no such field to unset")
                del parent[last]
            else:
                parent[last] = self.value
        else:
            raise FixUpError(f"{'.'.join(self.path[:-1])}: not an object or a list")


def _protected(path: tuple[str, ...], option: str) -> tuple[str, ...]:
    if path[0] in IDENTITY_FIELDS:
        raise ValueError(
            f"{option} {'.'.join(path)}: a replay keeps the command's identity (commandId and account); "
            "to act as another command or account, send a new command with `sp-relay send`"
        )
    return path


def _split_path(text: str) -> tuple[str, ...]:
    steps = tuple(step.strip() for step in text.strip().split("."))
    if not steps or any(not step for step in steps):
        raise ValueError(f"bad field path {text!r} (use dots: payload.destinationAddress.city)")
    return steps


def _index(container: list[Any], step: str, where: str) -> int:
    if not step.lstrip("-").isdigit() or not -len(container) <= int(step) < len(container):
        raise FixUpError(f"{where}: no item {step} (the list has {len(container)})")
    return int(step)


def _child(container: Any, step: str, where: str) -> Any:
    if isinstance(container, list):
        return container[_index(container, step, where)]
    if isinstance(container, dict):
        if step not in container:
            raise FixUpError(f"{where}: no such field")
        return container[step]
    raise FixUpError(f"{where}: not an object or a list")


def fixed_body(letter: DeadLetter, fixups: Sequence[FixUp]) -> str:
    """The body to replay: unchanged without fix-ups, else the fixed command as JSON."""
    if not fixups:
        return letter.body
    if letter.command is None:
        raise FixUpError("the body is not a JSON object; it cannot be fixed field by field")
    document = copy.deepcopy(letter.command)
    for fixup in fixups:
        fixup.apply(document)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))
