"""sp-relay command line: run the local stack, publish commands, print the command schema.

Every command reads its AWS endpoint the usual way (``AWS_ENDPOINT_URL``, profile, region), so the
same flags work against AWS and against the local stack; ``--stack-file`` reads the names and
endpoints that ``sp-relay local`` wrote.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from datetime import UTC, datetime
from enum import StrEnum
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cli.dlq import app as dlq_app
from cli.errors import EXIT_CODES_HELP, ConsoleError, ConsoleGroup, ExitCode
from cli.events import events as events_command
from cli.local_extra import local_stack_installed
from cli.send import send as send_command
from cli.status import status as status_command
from cli.targets import OperatorTarget, StackFileOption, TargetError, resolve_operator_target
from domain.catalog import CATALOG
from domain.commands import command_json_schema, parse_command, unknown_type_reason
from local.assets import MissingRepositoryFile, repository_path
from local.sample_dates import SAMPLES_WRITTEN, moved_to

app = typer.Typer(
    name="sp-relay",
    cls=ConsoleGroup,
    help="Durable command relay from Amazon SQS to the Selling Partner API.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals can hold credentials
)
console = Console()
errors = Console(stderr=True)
# Operators' tools (cli/send.py, cli/dlq.py, cli/status.py, cli/events.py).
app.command("send")(send_command)
app.add_typer(dlq_app, name="dlq")
app.command("status")(status_command)
app.command("events")(events_command)


def _version(show: bool) -> None:
    if show:
        try:
            number = version("sp-relay")
        except PackageNotFoundError:
            number = "unknown (not installed)"
        typer.echo(f"sp-relay {number}")
        raise typer.Exit


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Durable command relay from Amazon SQS to the Selling Partner API."""


def resolve_target(queue_url: str | None, stack_file: Path | None) -> tuple[OperatorTarget, str]:
    """The operator target and its command queue URL (exits 2 with a sentence when there is none)."""
    target = resolve_operator_target(stack_file, command_queue_url=queue_url)
    try:
        return target, target.require_command_queue()
    except TargetError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(int(ExitCode.USAGE)) from None


# --- schema --------------------------------------------------------------------------------------------


TypeOption = Annotated[
    str | None,
    typer.Option("--type", help="Only this command type's schema (e.g. create-fulfillment)."),
]


@app.command()
def schema(
    command_type: TypeOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the schema to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of every command (or of one type), for producers in any language."""
    document = command_json_schema()
    if command_type is not None:
        document = type_schema(document, _known_type(command_type))
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        console.print(f"Wrote the command schema to {output}")


@app.command()
def example(
    command_type: Annotated[str, typer.Argument(help="A command type, e.g. create-fulfillment.")],
    as_written: Annotated[
        bool,
        typer.Option(
            "--as-written",
            help=f"Keep the sample's dates (written {SAMPLES_WRITTEN.isoformat()}), not moved to today.",
        ),
    ] = False,
) -> None:
    """Print a valid example command of a type (the sample from events/), ready to edit and send.

    Its dates are moved to today by whole days: a search window ends today, a delivery date is still ahead.
    """
    name = _known_type(command_type)
    try:
        path = repository_path("events") / f"{name}.json"
        text = path.read_text(encoding="utf-8")
    except (MissingRepositoryFile, OSError) as error:
        raise ConsoleError(f"No example of {name} in this installation: {error}") from None
    document = json.loads(text)
    if not as_written:
        document = moved_to(document, datetime.now(UTC).date())
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    parse_command(text)  # the samples are the demo's and the tests' inputs: always valid
    sys.stdout.write(text)


def _known_type(command_type: str) -> str:
    if command_type not in CATALOG:
        raise ConsoleError(unknown_type_reason(command_type).removeprefix("type: "))
    return command_type


def type_schema(full: dict[str, Any], command_type: str) -> dict[str, Any]:
    """One type's branch of the command schema, with only the definitions it refers to."""
    root = full["discriminator"]["mapping"][command_type]
    definitions: dict[str, Any] = full["$defs"]
    wanted: dict[str, Any] = {}
    pending = [root]
    while pending:
        name = pending.pop().rsplit("/", 1)[-1]
        if name in wanted:
            continue
        wanted[name] = definitions[name]
        pending.extend(_refs(definitions[name]))
    return {
        "$schema": full["$schema"],
        "title": f"sp-relay command {command_type}",
        "$ref": root,
        "$defs": wanted,
    }


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [str(node["$ref"])] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


class LogFormat(StrEnum):
    HUMAN = "human"
    JSON = "json"


LogFormatOption = Annotated[
    LogFormat,
    typer.Option(
        "--log-format",
        help="human: one short line per log record; json: Powertools' JSON, as on Lambda.",
        case_sensitive=False,
    ),
]


def _set_log_format(log_format: LogFormat) -> None:
    if log_format is LogFormat.HUMAN:
        from local.log_format import use_human_logs  # noqa: PLC0415 - after the handler made its loggers

        use_human_logs()


# --- local stack and worker ----------------------------------------------------------------------------


@app.command()
def local(  # noqa: PLR0917 - typer maps each option to a parameter
    spapi_endpoint: Annotated[
        str | None,
        typer.Option(help="Use this SP-API endpoint (e.g. the sandbox) instead of the embedded emulator."),
    ] = None,
    lwa_token_url: Annotated[
        str | None, typer.Option(help="LWA token URL to use with --spapi-endpoint.")
    ] = None,
    write_endpoints: Annotated[
        Path | None, typer.Option(help="Write the endpoints and resource names to this JSON file.")
    ] = Path("local-stack.json"),
    workers: Annotated[int, typer.Option(min=1, max=32, help="Concurrent worker loops.")] = 2,
    max_receive_count: Annotated[int, typer.Option(min=1, help="Deliveries before the DLQ.")] = 5,
    log_format: LogFormatOption = LogFormat.HUMAN,
) -> None:
    """Run the whole relay on this machine until Ctrl-C.

    Starts a moto server, creates the resources from template.yaml in it, seeds the demo accounts'
    secrets, starts the SP-API emulator (unless --spapi-endpoint is given) and the worker loop.
    Needs the local extra (pip install 'sp-relay[local]'); exits 2 without it.
    """
    with local_stack_installed("local"):
        from local.runtime import LocalStack, LocalStackOptions  # noqa: PLC0415 - needs the local extra

        options = LocalStackOptions(
            spapi_endpoint=spapi_endpoint,
            lwa_token_url=lwa_token_url,
            workers=workers,
            max_receive_count=max_receive_count,
        )
        with console.status("Starting moto server, local stack, SP-API emulator and worker…"):
            stack = LocalStack(options).start()
        _set_log_format(log_format)
    try:
        described = stack.describe()
        table = Table("what", "where", title="sp-relay local stack")
        for key, value in described.items():
            if key != "environment":
                table.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
        console.print(table)
        if write_endpoints is not None:
            write_endpoints.write_text(json.dumps(described, indent=2) + "\n")
            console.print(f"Endpoints written to {write_endpoints}. In another shell:")
            sample = repository_path("events") / "create-fulfillment.json"
            console.print(f"  sp-relay send {sample} --stack-file {write_endpoints}")
        console.print("Worker running. Ctrl-C stops everything.")
        _wait_for_interrupt()
    finally:
        with console.status("Stopping…"):
            stack.stop()


@app.command()
def worker(  # noqa: PLR0917 - typer maps each option to a parameter
    queue_url: Annotated[
        str | None, typer.Option(help="Command queue URL (default: COMMAND_QUEUE_URL).")
    ] = None,
    stack_file: StackFileOption = None,
    concurrency: Annotated[int, typer.Option(min=1, max=32, help="Concurrent pollers.")] = 2,
    batch_size: Annotated[int, typer.Option(min=1, max=10, help="Messages per handler invocation.")] = 10,
    function_timeout: Annotated[float, typer.Option(help="Seconds each invocation may run.")] = 60.0,
    log_format: LogFormatOption = LogFormat.HUMAN,
) -> None:
    """Poll the command queue like Lambda's event source mapping and call the real handler.

    The handler reads its settings from the environment (see the README's configuration table); with
    --stack-file they are taken from the file that `sp-relay local` wrote.
    """
    import os  # noqa: PLC0415

    from handlers.worker import lambda_handler  # noqa: PLC0415
    from local.worker_loop import LocalEventSourceMapping  # noqa: PLC0415

    if stack_file is not None:
        os.environ.update(json.loads(stack_file.read_text())["environment"])
    target, command_queue = resolve_target(queue_url, stack_file)
    mapping = LocalEventSourceMapping(
        target.client("sqs"),
        command_queue,
        lambda_handler,
        region=target.region or "us-east-1",
        batch_size=batch_size,
        function_timeout_seconds=function_timeout,
        concurrency=concurrency,
    )
    _set_log_format(log_format)
    mapping.start()
    console.print(f"Polling {command_queue} with {concurrency} workers. Ctrl-C stops.")
    try:
        _wait_for_interrupt()
    finally:
        mapping.stop()
        stats = mapping.stats
        console.print(f"{stats.received} received, {stats.deleted} done, {stats.failed} returned for retry")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _wait_for_interrupt() -> None:
    # Set, not inherited: a process started in the background of a non-interactive shell (nohup, a CI
    # job) begins with SIGINT ignored, and Python then never raises KeyboardInterrupt for it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        console.print("Interrupted.")


@app.command()
def demo(
    workers: Annotated[int, typer.Option(min=1, max=32, help="Concurrent worker loops.")] = 2,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each step to finish.")] = 60.0,
) -> None:
    """Run the main job on the embedded local stack and show what happened.

    Publishes the sample commands from events/ (plus a producer duplicate and two broken commands),
    then prints every outcome event and what landed in the dead-letter queue. Exits 1 if anything
    did not end as expected. Needs the local extra (pip install 'sp-relay[local]'); exits 2 without it.
    """
    with local_stack_installed("demo"):
        from cli.demo import run_demo  # noqa: PLC0415 - needs the local extra

        status = run_demo(console, workers=workers, timeout=timeout)
    raise typer.Exit(status)


if __name__ == "__main__":  # pragma: no cover
    app()
