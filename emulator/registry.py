"""Operation handlers, keyed by operation name.

A handler receives a :class:`CallContext` (already authenticated, throttled and validated against the model)
and returns ``(status, body)``; it raises :class:`~emulator.errors.ApiError` for SP-API errors. It runs with
``state.lock`` held, so check-then-act on the state is atomic. To support another operation, write a
function and register it under the operation's name (the operationId, or ``<api>.<operationId>`` where two
models share an operationId) in a module of ``emulator.operations`` listed in ``default_registry``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from emulator.models import Operation
from emulator.state import EmulatorState


@dataclass(frozen=True)
class CallContext:
    operation: Operation
    seller_id: str
    client_id: str
    path_params: Mapping[str, str]
    query: Mapping[str, Any]
    body: Any
    state: EmulatorState


HandlerResult = tuple[int, Any]
Handler = Callable[[CallContext], HandlerResult]


class HandlerRegistry:
    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def add(self, name: str, handler: Handler) -> None:
        self._handlers[name] = handler

    def register(self, name: str) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            self.add(name, handler)
            return handler

        return decorate

    def resolve(self, operation: Operation) -> Handler | None:
        return self._handlers.get(operation.name) or self._handlers.get(operation.qualified_name)

    def names(self) -> list[str]:
        return sorted(self._handlers)
