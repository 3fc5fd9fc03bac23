"""How the console prints: rich tables on a terminal, plain text when piped, JSON with --json.

When stdout is not a terminal (a pipe, a file, CI), rich drops colours and styles, progress bars and
spinners are off, and lines are at most 80 columns unless COLUMNS says otherwise; ``NO_COLOR`` is
honoured everywhere. ``--json`` prints one JSON document on stdout and nothing else there.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Column, Table

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document (for scripts) instead of tables.")
]

_RESULT_COLOURS = {
    "sent": "green",
    "valid": "green",
    "moved": "green",
    "succeeded": "green",
    "would move": "cyan",
    "refused": "red",
    "failed": "red",
    "rejected": "red",
    "dead-lettered": "red",
    "not sent": "yellow",
    "held back": "yellow",
}


def make_console(*, stderr: bool = False) -> Console:
    # Built per command, so the terminal width (COLUMNS) is read when the command runs.
    return Console(stderr=stderr, highlight=False)


def make_table(*columns: str, title: str | None = None) -> Table:
    # Long ids fold onto the next line instead of being cut with an ellipsis: they are copied from here.
    return Table(
        *(Column(name, overflow="fold") for name in columns),
        title=title,
        box=box.SIMPLE_HEAD,
        title_justify="left",
    )


def styled(result: str) -> str:
    colour = _RESULT_COLOURS.get(result)
    return f"[{colour}]{result}[/{colour}]" if colour else result


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()
