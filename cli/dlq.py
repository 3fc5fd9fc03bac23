"""`sp-relay dlq`: look into the dead-letter queue and replay what failed, safely."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.dead_letters.filters import Filters, format_age, parse_duration
from cli.dead_letters.fixups import FixUp
from cli.dead_letters.grouping import find, group
from cli.dead_letters.letter import DeadLetter
from cli.dead_letters.masking import masked_body
from cli.dead_letters.replay import (
    Pacer,
    ReplaySummary,
    StopRequests,
    is_permanent,
    native_move_progress,
    replay_one,
    try_native_move,
)
from cli.dead_letters.scan import DeadLetterScan, read_all
from cli.errors import ExitCode
from cli.output import JsonOption, make_table, print_json, styled
from cli.targets import (
    DlqUrlOption,
    QueueUrlOption,
    StackFileOption,
    StackNameOption,
    TargetError,
    resolve_operator_target,
)

READ_SAFETY = (
    "Reading never removes anything: messages are received with a short visibility timeout, never "
    "deleted, and made visible again (visibility 0) when the scan ends. While the scan runs they are "
    "invisible to other readers."
)

app = typer.Typer(
    name="dlq",
    help="Inspect and replay the dead-letter queue. " + READ_SAFETY,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

VisibilityOption = Annotated[
    int,
    typer.Option(
        "--visibility-timeout",
        min=1,
        max=43200,
        help="Seconds each message stays hidden from others while this command reads it.",
    ),
]
NATIVE_POLL_SECONDS = 2.0
MaxMessagesOption = Annotated[
    int, typer.Option("--max-messages", min=1, help="Read at most this many messages.")
]


def _console() -> Console:
    # Built per command, so the terminal width (COLUMNS) is read when the command runs.
    return Console()


def _fail(console: Console, message: str, code: int = 2) -> typer.Exit:
    console.print(f"[red]{message}[/red]")
    return typer.Exit(code)


@app.command("list")
def list_dead_letters(
    stack_file: StackFileOption = None,
    dlq_url: DlqUrlOption = None,
    visibility_timeout: VisibilityOption = 30,
    max_messages: MaxMessagesOption = 100_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the groups as JSON.")] = False,
) -> None:
    """What is on the dead-letter queue: counts and ages by command type, account and failure reason.

    Reading never removes anything: messages are received with a short visibility timeout, never
    deleted, and made visible again (visibility 0) when the scan ends.
    """
    console = _console()
    target = resolve_operator_target(stack_file, dead_letter_queue_url=dlq_url)
    try:
        url = target.require_dead_letter_queue()
    except TargetError as error:
        raise _fail(console, str(error)) from None
    sqs = target.client("sqs")
    letters = read_all(sqs, url, visibility_timeout=visibility_timeout, max_messages=max_messages)
    now = time.time()
    groups = group(letters, now)
    if as_json:
        document = [
            {
                "type": g.command_type,
                "account": g.account,
                "reason": g.reason,
                "count": g.count,
                "oldestAgeSeconds": int(g.oldest),
                "newestAgeSeconds": int(g.newest),
                "commandIds": g.command_ids,
            }
            for g in groups
        ]
        console.print_json(json.dumps(document))
        return
    if not letters:
        console.print("The dead-letter queue is empty.")
        return
    table = make_table(
        "type", "account", "reason", "count", "oldest", "newest", title="sp-relay dead letters"
    )
    for entry in groups:
        table.add_row(
            entry.command_type,
            entry.account,
            entry.reason,
            str(entry.count),
            format_age(entry.oldest),
            format_age(entry.newest),
        )
    console.print(table)
    console.print(
        f"{len(letters)} message(s) in {len(groups)} group(s); nothing was removed. "
        "`sp-relay dlq show ID` prints one, `sp-relay dlq replay --dry-run` shows what a replay would move."
    )


@app.command()
def show(  # noqa: PLR0917 - typer maps each option to a parameter
    message_id: Annotated[
        str, typer.Argument(help="DLQ message id, original message id (before the DLQ), or commandId.")
    ],
    stack_file: StackFileOption = None,
    dlq_url: DlqUrlOption = None,
    visibility_timeout: VisibilityOption = 30,
    max_messages: MaxMessagesOption = 100_000,
    as_json: JsonOption = False,
) -> None:
    """Print one dead letter: why it failed (with SP-API's own message), how often it was tried, and
    its body (masked).

    Customer names, addresses, phone numbers, e-mails and secret-looking values are masked. Reading
    never removes anything: the message is made visible again right after.
    """
    console = _console()
    target = resolve_operator_target(stack_file, dead_letter_queue_url=dlq_url)
    try:
        url = target.require_dead_letter_queue()
    except TargetError as error:
        raise _fail(console, str(error)) from None
    letters = read_all(
        target.client("sqs"), url, visibility_timeout=visibility_timeout, max_messages=max_messages
    )
    letter = find(letters, message_id)
    if letter is None:
        raise _fail(console, f"No message {message_id!r} on the dead-letter queue ({len(letters)} read).", 1)
    if as_json:
        print_json(_letter_document(letter, time.time()))
    else:
        _print_letter(console, letter, time.time())


def _letter_document(letter: DeadLetter, now: float) -> dict[str, Any]:
    return {
        "messageId": letter.message_id,
        "originalMessageId": letter.source_message_id,
        "type": letter.command_type,
        "commandId": letter.command_id,
        "account": letter.account,
        "outcome": letter.outcome,
        "reason": letter.reason,
        "detail": letter.detail,
        "attempts": letter.attempts,
        "failedAt": letter.failed_at_text,
        "ageSeconds": int(letter.age(now)),
        "dlqReceives": letter.receive_count,
        "body": masked_body(letter),
    }


def _print_letter(console: Console, letter: DeadLetter, now: float) -> None:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    rows = [
        ("message id", letter.message_id),
        ("original message id", letter.source_message_id or "-"),
        ("type", letter.command_type or "(unparsable)"),
        ("commandId", letter.command_id or "-"),
        ("account", letter.account or "-"),
        ("outcome", letter.outcome or "-"),
        ("reason", letter.reason),
        ("detail", letter.detail or "-"),
        ("attempts", str(letter.attempts) if letter.attempts is not None else "-"),
        ("failed", f"{letter.failed_at_text or '-'} ({format_age(letter.age(now))} ago)"),
        ("DLQ receives", str(letter.receive_count)),
    ]
    for name, value in rows:
        facts.add_row(name, value)
    console.print(Panel(facts, title="dead letter", expand=False))
    console.print(Panel(masked_body(letter), title="body (personal data and secrets masked)", expand=False))


REPLAY_EXAMPLES = """Examples (a fixed command is validated again; a refused one stays on the DLQ):

sp-relay dlq replay --reason SpApiUnavailable --dry-run

sp-relay dlq replay --command-id ID --set payload.items.0.quantity=2

sp-relay dlq replay --command-id ID --set 'payload.displayableOrderComment="Thanks"'

sp-relay dlq replay --command-id ID --unset payload.giftMessage
"""


@app.command(epilog=REPLAY_EXAMPLES)
def replay(  # noqa: PLR0917 - typer maps each option to a parameter
    stack_file: StackFileOption = None,
    stack_name: StackNameOption = None,
    queue_url: QueueUrlOption = None,
    dlq_url: DlqUrlOption = None,
    command_type: Annotated[
        list[str] | None, typer.Option("--type", help="Only this command type (repeatable).")
    ] = None,
    account: Annotated[list[str] | None, typer.Option(help="Only this account (repeatable).")] = None,
    reason: Annotated[
        list[str] | None,
        typer.Option(help="Only this failure reason, e.g. SpApiRejected, InvalidCommand (repeatable)."),
    ] = None,
    command_id: Annotated[
        list[str] | None, typer.Option("--command-id", help="Only this commandId (repeatable).")
    ] = None,
    older_than: Annotated[
        str | None, typer.Option(help="Only messages that failed longer ago than this (90s, 15m, 2h, 3d).")
    ] = None,
    newer_than: Annotated[
        str | None, typer.Option(help="Only messages that failed more recently than this.")
    ] = None,
    set_fields: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="FIELD=JSON",
            help="Fix a field before the move (examples below); commandId and account cannot change.",
        ),
    ] = None,
    unset_fields: Annotated[
        list[str] | None,
        typer.Option("--unset", metavar="FIELD", help="Remove a field before the move (dot path)."),
    ] = None,
    include_permanent: Annotated[
        bool,
        typer.Option(
            "--include-permanent",
            help=(
                "Also replay permanent failures (outcome rejected) without a fix-up, e.g. after fixing "
                "an account's secret. Without it they are held back with a warning."
            ),
        ),
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would move; move nothing.")] = False,
    rate: Annotated[
        float, typer.Option(min=0, help="At most this many messages per second (0: no cap).")
    ] = 10.0,
    native: Annotated[
        bool,
        typer.Option(
            help=(
                "With no filter and no fix-up, use SQS's own StartMessageMoveTask (falls back to "
                "receive-send-delete when the endpoint lacks it). It keeps the sp-relay-* attributes."
            )
        ),
    ] = True,
    visibility_timeout: VisibilityOption = 300,
    max_messages: MaxMessagesOption = 100_000,
    as_json: JsonOption = False,
) -> None:
    """Move dead letters back to the command queue, all or filtered, optionally fixed.

    Only the messages on the DLQ when the replay starts are moved, each once: a replayed command that
    fails again lands on the DLQ as a new message and stays there. Every message is validated before
    it is sent and deleted from the DLQ only after the send succeeded; messages that do not match, or
    whose fix is refused, stay. Permanent failures without a fix-up are held back unless
    --include-permanent. Replays keep their commandId and account, so a command that already
    succeeded is not applied again. Ctrl-C stops after the message in hand, with true counts.
    Exits 1 when something was refused, failed or held back, 130 when interrupted.
    """
    console = _console()
    try:
        filters = Filters(
            types=tuple(command_type or ()),
            accounts=tuple(account or ()),
            reasons=tuple(reason or ()),
            command_ids=tuple(command_id or ()),
            older_than=parse_duration(older_than) if older_than else None,
            newer_than=parse_duration(newer_than) if newer_than else None,
        )
        fixups = [FixUp.parse_set(text) for text in set_fields or ()] + [
            FixUp.parse_unset(text) for text in unset_fields or ()
        ]
    except ValueError as error:
        raise _fail(console, str(error)) from None
    target = resolve_operator_target(
        stack_file, command_queue_url=queue_url, dead_letter_queue_url=dlq_url, stack_name=stack_name
    )
    try:
        dlq = target.require_dead_letter_queue()
        commands = target.require_command_queue()
    except TargetError as error:
        raise _fail(console, str(error)) from None
    sqs = target.client("sqs")

    if native and filters.is_empty and not fixups and not dry_run:
        permanent = 0 if include_permanent else sum(map(is_permanent, read_all(sqs, dlq)))
        if permanent:
            note = f"{permanent} permanent failure(s) on the DLQ must be held back"
        else:
            handle, note = try_native_move(target.client("sqs", max_attempts=1), dlq, commands, rate or None)
            if handle is not None:
                _follow_native_move(console, sqs, dlq, handle, as_json=as_json)
                return
        if not as_json:
            console.print(f"{note}: falling back to receive-send-delete.")

    summary = ReplaySummary(method="dry run" if dry_run else "receive-send-delete")
    pacer = Pacer(rate or None)
    now = time.time()
    with (
        StopRequests() as stop,
        DeadLetterScan(sqs, dlq, visibility_timeout=visibility_timeout, max_messages=max_messages) as scan,
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[moved]} moved"),
            TimeElapsedColumn(),
            console=console,
            disable=as_json or not console.is_terminal,
        ) as progress,
    ):
        summary.expected = scan.expected
        task = progress.add_task("dry run" if dry_run else "replaying", total=scan.expected or None, moved=0)
        for batch in scan.batches():
            for letter in batch:
                if stop.requested:
                    break
                summary.scanned += 1
                if filters.matches(letter, now):
                    summary.items.append(
                        replay_one(
                            letter,
                            sqs=sqs,
                            scan=scan,
                            command_queue_url=commands,
                            fixups=fixups,
                            dry_run=dry_run,
                            pacer=pacer,
                            include_permanent=include_permanent,
                        )
                    )
                progress.update(
                    task, advance=1, total=max(scan.expected, summary.scanned), moved=summary.moved
                )
            if stop.requested:
                summary.interrupted = True
                break
        summary.arrived_later = scan.arrived_later
    if as_json:
        print_json(_summary_document(summary, filters, fixups))
    else:
        _print_summary(console, summary, filters, fixups)
    if summary.interrupted:
        raise typer.Exit(int(ExitCode.INTERRUPTED))
    if summary.count("refused", "failed", "held back"):
        raise typer.Exit(int(ExitCode.REFUSED))


def _summary_document(summary: ReplaySummary, filters: Filters, fixups: Sequence[FixUp]) -> dict[str, Any]:
    return {
        "method": summary.method,
        "filters": filters.describe(),
        "fixUps": [f.describe() for f in fixups],
        "interrupted": summary.interrupted,
        "counts": summary.counts(),
        "messages": [
            {
                "messageId": item.letter.message_id,
                "type": item.letter.command_type,
                "commandId": item.letter.command_id,
                "account": item.letter.account,
                "reason": item.letter.reason,
                "result": item.action,
                "detail": item.detail,
            }
            for item in summary.items
        ],
    }


def _print_summary(
    console: Console, summary: ReplaySummary, filters: Filters, fixups: Sequence[FixUp]
) -> None:
    if summary.items:
        table = make_table("commandId / type", "reason", "result", "detail", title="sp-relay dlq replay")
        for item in summary.items:
            letter = item.letter
            table.add_row(
                escape(f"{letter.command_id or letter.message_id}\n{letter.command_type or '(unparsable)'}"),
                escape(letter.reason),
                styled(item.action),
                escape(item.detail),
            )
        console.print(table)
    counts = summary.counts()
    done = f"would move {counts['wouldMove']}" if summary.method == "dry run" else f"moved {summary.moved}"
    lines = [
        f"method: {summary.method}",
        f"filters: {filters.describe()}",
        f"fix-ups: {'; '.join(f.describe() for f in fixups) or 'none'}",
        f"scanned {summary.scanned}, matched {summary.matched}, {done}, "
        f"held back {counts['heldBack']}, refused {counts['refused']}, failed {counts['failed']}",
        f"left on the DLQ {summary.left} of the {summary.scanned} read",
    ]
    if summary.arrived_later:
        lines.append(
            f"{summary.arrived_later} message(s) reached the DLQ during the replay and were not replayed "
            "(a replayed command that failed again stays on the DLQ)"
        )
    if summary.interrupted:
        unread = max(0, summary.expected - summary.scanned)
        lines.append(f"interrupted: about {unread} message(s) were not read and stay on the DLQ")
    if counts["heldBack"]:
        lines.append(
            f"{counts['heldBack']} permanent failure(s) held back: replayed unchanged they fail again. "
            "Fix them with --set/--unset, or pass --include-permanent once the cause is fixed elsewhere."
        )
    if counts["movedNotDeleted"]:
        lines.append(
            "some messages were sent but could not be deleted from the DLQ; replaying them again is "
            "harmless (idempotency on account + commandId)"
        )
    console.print(Panel("\n".join(lines), title="summary", expand=False))


def _follow_native_move(console: Console, sqs: object, dlq_url: str, handle: str, *, as_json: bool) -> None:
    if not as_json:
        console.print(
            f"StartMessageMoveTask started (task {handle}); following it. Ctrl-C stops watching only: "
            f"the move goes on (`aws sqs cancel-message-move-task --task-handle {handle}` stops it)."
        )
    state: dict[str, Any] | None = None
    with Progress(
        TextColumn("[bold]moving"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=as_json or not console.is_terminal,
    ) as progress:
        task = progress.add_task("moving", total=None)
        while True:
            state = native_move_progress(sqs, dlq_url) or state
            if state is None:
                break
            progress.update(
                task,
                completed=int(state.get("ApproximateNumberOfMessagesMoved", 0)),
                total=int(state.get("ApproximateNumberOfMessagesToMove", 0)) or None,
            )
            if state.get("Status") in {"COMPLETED", "CANCELLED", "FAILED"}:
                break
            time.sleep(NATIVE_POLL_SECONDS)
    state = state or {}
    moved = int(state.get("ApproximateNumberOfMessagesMoved", 0))
    to_move = int(state.get("ApproximateNumberOfMessagesToMove", 0))
    status = str(state.get("Status", "unknown"))
    if as_json:
        print_json(
            {
                "method": "StartMessageMoveTask",
                "taskHandle": handle,
                "status": status,
                "failureReason": state.get("FailureReason"),
                "counts": {"onTheDlqAtStart": to_move, "moved": moved},
            }
        )
    else:
        failure = f" ({state['FailureReason']})" if state.get("FailureReason") else ""
        console.print(
            Panel(
                "method: StartMessageMoveTask (SQS native redrive)\n"
                f"task {status}{failure}: moved {moved} of the {to_move} on the DLQ when it started\n"
                "every message moved as is, sp-relay-* attributes included "
                "(the worker ignores and replaces them)",
                title="summary",
                expand=False,
            )
        )
    if status != "COMPLETED":
        raise typer.Exit(int(ExitCode.REFUSED))
