"""A paged read streamed into outcome parts: pages are published as they arrive, never held all together.

The items of consecutive pages are gathered until they reach ``PART_BYTES``, then published as one
``read-part`` event; the last part is the command's ``succeeded`` event (``result.final``). When a page
fails or is throttled, what was gathered is published first, and the cursor (the next page's token and
what was published) is what the deferred or retried copy carries in the relay's sealed context: the
read goes on at that page, and no page already published is read or published again.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from domain.commands import Command
from domain.errors import RetryableError
from domain.gateway import SpApiGateway
from domain.outcomes import Outcome, OutcomeStatus
from domain.paging import PART_BYTES, PageCursor, Paging
from domain.ports import OutcomePublisher
from domain.privacy import redact
from domain.requests import SpApiResponse


@dataclass(slots=True)
class _Gathered:
    """Pages read but not yet published."""

    first_page: Any = None
    last: SpApiResponse | None = None
    items: list[Any] = field(default_factory=list)
    pages: int = 0
    size: int = 0


class PagedRead:
    """One delivery's share of a paged read. ``cursor`` says where it stands; after ``run`` raised, it
    points at the first page not published (what the next copy must carry)."""

    def __init__(
        self,
        gateway: SpApiGateway,
        outcomes: OutcomePublisher,
        command: Command,
        ids: tuple[str | None, str | None, str | None, str],
        cursor: PageCursor,
    ) -> None:
        assert command.type.paging is not None
        self._gateway = gateway
        self._outcomes = outcomes
        self._command = command
        self._paging: Paging = command.type.paging
        self._ids = ids
        self.cursor = cursor
        self.started_at = cursor
        self._gathered = _Gathered()

    @property
    def advanced(self) -> bool:
        """Whether this delivery published pages that the message it came in does not know of."""
        return self.cursor != self.started_at

    def run(self, region: str, remaining: Callable[[], float]) -> None:
        """Read from the cursor to the last page (or the page limit), publishing as it goes; the final
        part is the command's ``succeeded`` outcome."""
        operation = self._command.type.operation
        next_token = self.cursor.next_token
        pages = self._gateway.pages(
            self._command.account,
            region,
            operation,
            self._command.payload,
            paging=self._paging,
            remaining=remaining,
            next_token=next_token,
            full_timeout=True,
        )
        try:
            for response in pages:
                next_token = self._paging.token_of(response.body)
                self._gather(response)
                read = self.cursor.pages + self._gathered.pages
                if next_token is None or read >= self._gateway.max_pages:
                    break
                if self._gathered.size >= PART_BYTES:
                    self._publish(next_token, final=False)
        except RetryableError:
            # What was read is published before the message waits: the next copy goes on after it.
            if self._gathered.pages and next_token is not None:
                with contextlib.suppress(RetryableError):
                    self._publish(next_token, final=False)
            raise
        finally:
            pages.close()
        self._publish(next_token, final=True)

    def _gather(self, response: SpApiResponse) -> None:
        gathered = self._gathered
        items = redact(self._paging.items_of(response.body))
        if gathered.first_page is None:
            gathered.first_page = redact(self._paging.with_items(response.body, []))
        gathered.items.extend(items)
        gathered.last = response
        gathered.pages += 1
        gathered.size += len(json.dumps(items, default=str).encode())

    def _publish(self, next_token: str | None, *, final: bool) -> None:
        gathered, cursor = self._gathered, self.cursor
        last = gathered.last
        part = cursor.parts + 1
        pages = cursor.pages + gathered.pages
        items = cursor.items + len(gathered.items)
        result: dict[str, Any] = {
            "operationId": self._command.type.operation.operation_id,
            "httpStatus": last.status if last is not None else None,
            "requestId": last.request_id if last is not None else None,
            "answer": self._paging.with_items(gathered.first_page, gathered.items),
            "joinedItems": list(self._paging.items),
            "part": part,
            "firstPage": cursor.pages + 1,
            "lastPage": pages,
            "final": final,
        }
        if final:
            truncated = next_token is not None
            result.update({"parts": part, "pages": pages, "items": items, "truncated": truncated})
            if truncated:
                result["nextToken"] = next_token
        outcome = Outcome(OutcomeStatus.SUCCEEDED, *self._ids, result, final=final)
        self._outcomes.publish(outcome)
        if not final:
            assert next_token is not None
            self.cursor = PageCursor(next_token, pages, part, items)
            self._gathered = _Gathered()
