"""Paged SP-API answers: where the next token is, and the list the pages are joined on."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


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

    def join(self, pages: list[Any]) -> Any:
        """The first page with the items of every page and no next token: one answer, as if unpaged."""
        if not pages:
            return None
        joined = copy.deepcopy(pages[0])
        items: list[Any] = []
        for page in pages:
            page_items = dig(page, self.items)
            if isinstance(page_items, list):
                items.extend(page_items)
        _set(joined, self.items, items)
        _set(joined, self.next_token, None)
        return joined


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
