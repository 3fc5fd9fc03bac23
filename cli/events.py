"""`sp-relay events`: what became of each command, one readable line per event on the outcome bus.

It reads the bus's tap queue (``OutcomeTapQueue``: on in the local stack, optional on AWS with the
template parameter ``EnableOutcomeTap=true``). Reading consumes the tap's copy of each event; the bus
and its other subscribers are not affected, but two readers of one tap share its events.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.markup import escape

from cli.dead_letters.filters import parse_duration
from cli.dead_letters.replay import StopRequests
from cli.errors import ConsoleError
from cli.output import JsonOption, make_console, styled
from cli.targets import StackFileOption, StackNameOption, resolve_operator_target

RECEIVE_BATCH = 10
FOLLOW_WAIT_SECONDS = 5  # long poll: a new event is printed within about this long
DRAIN_EMPTY_ROUNDS = 2
SUMMARY_CHARS = 160


@dataclass(frozen=True, slots=True)
class BusEvent:
    time: datetime
    detail_type: str
    detail: Mapping[str, Any]

    @classmethod
    def from_body(cls, body: str) -> BusEvent | None:
        try:
            envelope = json.loads(body)
            when = datetime.fromisoformat(str(envelope.get("time")).replace("Z", "+00:00"))
            return cls(when.astimezone(UTC), str(envelope["detail-type"]), dict(envelope["detail"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None  # not an EventBridge event: not something this tap carries

    @property
    def kind(self) -> str:
        return self.detail_type.removeprefix("sp-relay ")

    @property
    def status(self) -> str:
        return str(self.detail.get("status") or self.kind.rsplit(" ", 1)[-1])

    @property
    def command_id(self) -> str | None:
        # A transaction's final status names the command that started it in "of".
        value = self.detail.get("commandId") or self.detail.get("of")
        return str(value) if value is not None else None

    def field(self, name: str) -> str | None:
        value = self.detail.get(name)
        return str(value) if value is not None else None

    def summary(self) -> str:
        """The reason of a failure with SP-API's own message, or what SP-API answered."""
        detail = self.detail
        reason = detail.get("reason")
        if isinstance(reason, Mapping):
            text = f"{reason.get('code')}: {reason.get('detail')}"
            return _short(text)  # the detail carries SP-API's own message (domain.outcomes.sp_api_said)
        result = detail.get("result")
        if isinstance(result, Mapping):
            text = f"{result.get('operationId')} → HTTP {result.get('httpStatus')}"
            answer = json.dumps(result.get("answer"), default=str) if result.get("answer") else ""
            return _short(f"{text} {answer}" if answer and answer != "{}" else text)
        if "transactionId" in detail:
            errors = "; ".join(str(e.get("message", e)) for e in detail.get("errors") or [])
            return _short(
                f"transaction {detail['transactionId']} after {detail.get('checks')} check(s)"
                + (f" — {errors}" if errors else "")
            )
        # Anything else on the bus (a poller's finding): its scalar fields, identifiers first.
        shown = {"type", "account", "status", "commandId", "of"}
        fields = [
            f"{k}={v}" for k, v in detail.items() if k not in shown and isinstance(v, str | int | float)
        ]
        return _short(" ".join(fields))

    def as_json(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "detailType": self.detail_type,
            "detail": self.detail,
        }


def _short(text: str) -> str:
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


@dataclass(frozen=True, slots=True)
class EventFilters:
    command_ids: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    since: datetime | None = None

    def matches(self, event: BusEvent) -> bool:
        checks: list[tuple[Sequence[str], str | None]] = [
            (self.command_ids, event.command_id),
            (self.statuses, event.status),
            (self.types, event.field("type")),
            (self.accounts, event.field("account")),
        ]
        if any(wanted and value not in wanted for wanted, value in checks):
            return False
        return self.since is None or event.time >= self.since


def read_tap(sqs: Any, url: str, *, follow: bool, stop: StopRequests) -> Iterator[BusEvent]:
    """Events from the tap, each once (deleted after it was read), until it is empty or Ctrl-C."""
    empty_rounds = 0
    while not stop.requested:
        answer = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=RECEIVE_BATCH,
            WaitTimeSeconds=FOLLOW_WAIT_SECONDS if follow else 1,
        )
        messages = answer.get("Messages", [])
        if not messages:
            empty_rounds += 1
            if not follow and empty_rounds >= DRAIN_EMPTY_ROUNDS:
                return
            continue
        empty_rounds = 0
        events = [BusEvent.from_body(str(m.get("Body", ""))) for m in messages]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
        yield from sorted((e for e in events if e is not None), key=lambda e: e.time)


def format_line(event: BusEvent) -> str:
    when = event.time.strftime("%H:%M:%S")
    parts = [
        when,
        styled(event.status),
        escape(event.field("type") or event.kind),
        escape(event.command_id or "-"),
        escape(event.field("account") or "-"),
        escape(event.summary()),
    ]
    return "  ".join(parts)


def events(  # noqa: PLR0917 - typer maps each option to a parameter
    follow: Annotated[
        bool,
        typer.Option("--follow", "-f", help="Keep reading and print each event as it arrives (Ctrl-C ends)."),
    ] = False,
    command_id: Annotated[
        list[str] | None, typer.Option("--command-id", help="Only this commandId (repeatable).")
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(help="Only this status: succeeded, rejected, dead-lettered, Success, … (repeatable)."),
    ] = None,
    command_type: Annotated[
        list[str] | None, typer.Option("--type", help="Only this command type (repeatable).")
    ] = None,
    account: Annotated[list[str] | None, typer.Option(help="Only this account (repeatable).")] = None,
    since: Annotated[str | None, typer.Option(help="Only events newer than this (90s, 15m, 2h, 3d).")] = None,
    stack_file: StackFileOption = None,
    stack_name: StackNameOption = None,
    tap_queue_url: Annotated[
        str | None,
        typer.Option("--tap-queue-url", help="The outcome tap queue (default: OUTCOME_TAP_QUEUE_URL)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """What became of each command: one line per event on the outcome bus (time, status, type,
    commandId, account, the reason with SP-API's message, or what SP-API answered).

    Reads the bus's tap queue: the local stack has one; on AWS deploy with EnableOutcomeTap=true and
    pass --stack-name. Reading consumes the tap's copy (the bus's other subscribers keep theirs).
    --json prints one JSON object per line. Without --follow, prints what is there and exits.
    """
    console = make_console()
    try:
        filters = EventFilters(
            command_ids=tuple(command_id or ()),
            statuses=tuple(status or ()),
            types=tuple(command_type or ()),
            accounts=tuple(account or ()),
            since=datetime.fromtimestamp(time.time() - parse_duration(since), UTC) if since else None,
        )
    except ValueError as error:
        raise ConsoleError(str(error)) from None
    target = resolve_operator_target(stack_file, outcome_tap_queue_url=tap_queue_url, stack_name=stack_name)
    url = target.require_outcome_tap_queue()
    sqs = target.client("sqs")
    shown = 0
    if follow and not as_json:
        console.print(f"Following {url}; Ctrl-C ends.", style="dim")
    with StopRequests() as stop:
        for event in read_tap(sqs, url, follow=follow, stop=stop):
            if not filters.matches(event):
                continue
            shown += 1
            if as_json:
                typer.echo(json.dumps(event.as_json(), default=str, ensure_ascii=False))
            else:
                console.print(format_line(event), soft_wrap=True)
    if not follow and not as_json and not shown:
        console.print("No events on the tap (matching the filters).")
