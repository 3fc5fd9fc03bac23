"""The dates in the sample commands of ``events/``, moved to the day they are printed.

The samples were written on ``SAMPLES_WRITTEN``; their dates (a search window ending that day, an order
date two days before, a delivery three days after) only make sense relative to it. ``sp-relay example``
moves every timestamp by whole days so that the sample reads as if written today: a window still ends
today, a delivery is still ahead, whatever day it runs. Times of day are kept.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

SAMPLES_WRITTEN = date(2026, 11, 22)
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")


def moved_to(document: Any, today: date) -> Any:
    """A copy of a sample with every ISO-8601 UTC timestamp moved by ``today - SAMPLES_WRITTEN``."""
    shift = today - SAMPLES_WRITTEN
    if isinstance(document, dict):
        return {key: moved_to(value, today) for key, value in document.items()}
    if isinstance(document, list):
        return [moved_to(value, today) for value in document]
    if isinstance(document, str) and _TIMESTAMP.fullmatch(document):
        return _shifted(document, shift)
    return document


def _shifted(timestamp: str, shift: timedelta) -> str:
    fraction = "." in timestamp
    moment = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ" if fraction else "%Y-%m-%dT%H:%M:%SZ")
    moved = (moment.replace(tzinfo=UTC) + shift).strftime("%Y-%m-%dT%H:%M:%S")
    return moved + (timestamp[timestamp.index(".") : -1] if fraction else "") + "Z"
