"""`sp-relay send`: validate command files and publish the valid commands, with a report per file and line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.markup import escape

from cli.errors import ConsoleError, ExitCode, explain
from cli.output import JsonOption, make_console, make_table, print_json, styled
from cli.targets import QueueUrlOption, StackFileOption, StackNameOption, resolve_operator_target
from domain.commands import parse_command
from domain.errors import PermanentError


@dataclass(frozen=True, slots=True)
class InputCommand:
    where: str  # "file:line", "file[index]" or "file", for the report
    body: str


class UnreadableSource(Exception):
    """A whole file that holds no command the report can name by line: its sentence says why."""


def decode(source: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise UnreadableSource(
            f"not UTF-8 text: byte 0x{data[error.start]:02x} on line {line} cannot be decoded; "
            f"save {source} as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"
        ) from None


def read_commands(source: str, data: bytes) -> list[InputCommand]:
    """Commands from a JSON object, a JSON array of objects, or JSON lines.

    Raises ``UnreadableSource`` for a file with no command in it (empty, ``[]``, not UTF-8) and for a
    single JSON document that does not parse (reported once, with the line and column, not as one
    error per line of a pretty-printed file).
    """
    text = decode(source, data)
    stripped = text.strip()
    if not stripped:
        raise UnreadableSource("empty: no command in it")
    try:
        document = json.loads(stripped)
    except RecursionError:
        raise UnreadableSource("JSON nested too deeply") from None
    except ValueError as error:
        if _looks_like_json_lines(text):
            return list(_json_lines(source, text))
        raise UnreadableSource(f"not valid JSON: {error}") from None
    if isinstance(document, list):
        if not document:
            raise UnreadableSource("an empty list: no command in it")
        return [InputCommand(f"{source}[{index}]", json.dumps(item)) for index, item in enumerate(document)]
    if isinstance(document, dict) or "\n" not in stripped:
        return [InputCommand(source, stripped)]
    return list(_json_lines(source, text))


def _looks_like_json_lines(text: str) -> bool:
    """JSON lines have at least one whole object on a line; a pretty-printed document never does."""
    for line in text.splitlines():
        try:
            if isinstance(json.loads(line), dict):
                return True
        except (ValueError, RecursionError):
            continue
    return False


def _json_lines(source: str, text: str) -> Iterator[InputCommand]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield InputCommand(f"{source}:{number}", line.strip())


@dataclass(slots=True)
class SendRow:
    where: str
    result: str  # sent | valid | refused | not sent
    detail: str
    type: str | None = None
    command_id: str | None = None
    message_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["commandId"] = document.pop("command_id")
        document["messageId"] = document.pop("message_id")
        return document


def _read_source(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    return Path(source).read_bytes()


def send(  # noqa: PLR0917 - typer maps each option to a parameter
    sources: Annotated[
        list[str],
        typer.Argument(help="Command files: a JSON object, a JSON array, or JSON lines; '-' for stdin."),
    ],
    queue_url: QueueUrlOption = None,
    stack_file: StackFileOption = None,
    stack_name: StackNameOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only; publish nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Validate commands and publish the valid ones to the command queue.

    Every file is read: the report names each file and line (or array index) that was sent and each
    that was refused, with the field and the reason. An empty file, `[]`, a file that is not UTF-8 or
    not JSON is refused as a whole. Exits 1 when anything was refused, 3 when the queue could not be
    reached (the commands not sent are listed).
    """
    console = make_console()
    target = None
    command_queue = ""
    if not dry_run:
        target = resolve_operator_target(stack_file, command_queue_url=queue_url, stack_name=stack_name)
        command_queue = target.require_command_queue()
    sqs = target.client("sqs") if target else None
    rows: list[SendRow] = []
    stopped: ConsoleError | None = None
    for source in sources:
        name = "stdin" if source == "-" else source
        try:
            commands = read_commands(name, _read_source(source))
        except OSError as error:
            rows.append(SendRow(name, "refused", f"cannot read: {error.strerror or error}"))
            continue
        except UnreadableSource as error:
            rows.append(SendRow(name, "refused", str(error)))
            continue
        for command in commands:
            try:
                parsed = parse_command(command.body)
            except PermanentError as error:
                rows.append(SendRow(command.where, "refused", error.message))
                continue
            row = SendRow(command.where, "valid", "dry run", parsed.type.name, parsed.command_id)
            if sqs is not None and stopped is None:
                try:
                    answer = sqs.send_message(QueueUrl=command_queue, MessageBody=command.body)
                except (BotoCoreError, ClientError) as error:
                    stopped = explain(error) or ConsoleError(str(error), code=ExitCode.AWS_REFUSED)
                else:
                    row.result, row.detail, row.message_id = "sent", "", str(answer["MessageId"])
            if sqs is not None and row.result != "sent":
                row.result = "not sent"
                row.detail = stopped.message if stopped is not None else "not sent"
            rows.append(row)
    _report(console, rows, dry_run=dry_run, as_json=as_json)
    if stopped is not None:
        raise stopped
    if not rows or any(row.result == "refused" for row in rows):
        raise typer.Exit(int(ExitCode.REFUSED))


def _report(console: Any, rows: Sequence[SendRow], *, dry_run: bool, as_json: bool) -> None:
    counts = {
        result: sum(1 for row in rows if row.result == result)
        for result in ("sent", "valid", "refused", "not sent")
    }
    if as_json:
        print_json({"commands": [row.as_json() for row in rows], "counts": counts})
        return
    table = make_table("where", "result", "detail", title="sp-relay send")
    for row in rows:
        what = f"{row.type} {row.command_id}" if row.type else ""
        detail = " ".join(
            part for part in (what, f"→ {row.message_id}" if row.message_id else "", row.detail) if part
        )
        table.add_row(escape(row.where), styled(row.result), escape(detail))
    console.print(table)
    done = f"{counts['valid']} valid" if dry_run else f"{counts['sent']} sent"
    summary = f"{done}, {counts['refused']} refused"
    if counts["not sent"]:
        summary += f", {counts['not sent']} valid but not sent"
    console.print(summary)
