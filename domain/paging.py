"""Paged SP-API answers: where the next token is, the list the pages are joined on, and the cursor a
paged read carries from one delivery to the next."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# A paged read stops after this many pages (across all its deliveries) and says it was cut.
MAX_PAGES = 200
# A paged read publishes the items it holds as one part once they reach this size (JSON bytes), so a
# worker holds at most about this much plus one page, however many pages the read has. Below the
# EventBridge entry limit (adapters/outcomes.py), so a part is usually one event.
PART_BYTES = 120_000

# Fields of the relay's sealed context (domain/relay_context.py) on a paged read that was deferred or
# retried part-way: where it goes on, and what it already published.
CURSOR_NEXT = "pageNext"
PAGES_READ = "pagesRead"
PARTS_PUBLISHED = "partsPublished"
ITEMS_PUBLISHED = "itemsPublished"
CURSOR_FIELDS = frozenset({CURSOR_NEXT, PAGES_READ, PARTS_PUBLISHED, ITEMS_PUBLISHED})


@dataclass(frozen=True, slots=True)
class PageCursor:
    """Where a paged read stands: the token of the next page to read (None: the first page), and the
    pages, parts and items already published. Only published pages are ever behind a cursor."""

    next_token: str | None = None
    pages: int = 0
    parts: int = 0
    items: int = 0

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> PageCursor:
        token = context.get(CURSOR_NEXT)
        if not isinstance(token, str) or not token:
            return cls()

        def count(name: str) -> int:
            value = context.get(name)
            return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

        return cls(token, count(PAGES_READ), count(PARTS_PUBLISHED), count(ITEMS_PUBLISHED))

    def to_context(self) -> dict[str, str | int]:
        if self.next_token is None:
            return {}
        return {
            CURSOR_NEXT: self.next_token,
            PAGES_READ: self.pages,
            PARTS_PUBLISHED: self.parts,
            ITEMS_PUBLISHED: self.items,
        }


def dig(document: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` in nested objects, or None."""
    for step in path:
        if not isinstance(document, Mapping):
            return None
        document = document.get(step)
    return document


@dataclass(frozen=True, slots=True)
class Paging:
    """How an operation pages: where the answer puts the next token, which parameter sends it back,
    and which list the pages are joined on."""

    next_token: tuple[str, ...]
    token_parameter: str
    items: tuple[str, ...]

    def items_of(self, page: Any) -> list[Any]:
        items = dig(page, self.items)
        return items if isinstance(items, list) else []

    def token_of(self, page: Any) -> str | None:
        token = dig(page, self.next_token)
        return token if isinstance(token, str) and token else None

    def with_items(self, page: Any, items: list[Any]) -> Any:
        """A copy of ``page`` carrying ``items`` instead of its own, and no next token."""
        answer = copy.deepcopy(_without(_without(page, self.items), self.next_token))
        _set(answer, self.items, items)
        return answer


def _set(document: Any, path: tuple[str, ...], value: Any) -> None:
    for step in path[:-1]:
        if not isinstance(document, dict):
            return
        document = document.setdefault(step, {})
    if isinstance(document, dict):
        if value is None:
            document.pop(path[-1], None)
        else:
            document[path[-1]] = value


def _without(document: Any, path: tuple[str, ...]) -> Any:
    """``document`` without the value at ``path``; only the objects along the path are copied."""
    if not isinstance(document, Mapping) or not path or path[0] not in document:
        return document
    if len(path) == 1:
        return {k: v for k, v in document.items() if k != path[0]}
    return {**document, path[0]: _without(document[path[0]], path[1:])}
