"""`sp-relay status`: queue depths and the rate-limit buckets of an account, at a glance."""

from __future__ import annotations

import difflib
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.markup import escape

from cli.errors import ConsoleError, ExitCode, explain
from cli.output import JsonOption, make_console, make_table, print_json
from cli.targets import (
    DlqUrlOption,
    OperatorTarget,
    QueueUrlOption,
    StackFileOption,
    StackNameOption,
    read_stack_file,
    resolve_operator_target,
)
from domain import env_vars
from domain.catalog import CATALOG
from domain.regions import DEFAULT_REGION, REGIONS
from domain.spapi import ALL_OPERATIONS
from domain.spapi.spec import OperationSpec

QUEUE_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


@dataclass(frozen=True, slots=True)
class QueueDepth:
    name: str
    url: str
    visible: int
    in_flight: int
    delayed: int


def queue_depth(sqs: Any, name: str, url: str) -> QueueDepth:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(QUEUE_ATTRIBUTES))["Attributes"]
    return QueueDepth(
        name=name,
        url=url,
        visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
        in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    )


# --- buckets -------------------------------------------------------------------------------------------


def catalog_operations() -> dict[str, OperationSpec]:
    """The operations the relay calls (each command's, and those its state probe reads)."""
    operations: dict[str, OperationSpec] = {}
    for command in CATALOG.values():
        operations[command.operation.key] = command.operation
        for read in command.probe.reads if command.probe is not None else ():
            operations[read.key] = read
    return operations


@dataclass(frozen=True, slots=True)
class BucketLevel:
    account: str
    region: str
    operation: str  # "<api>.<operationId>"
    rate: float | None
    burst: int | None
    tat: float | None  # None: never used (or expired): full

    def available(self, now: float) -> int | None:
        """Tokens available now: floor((now + tau - tat) / T) clipped to [0, burst]."""
        if self.rate is None or self.burst is None:
            return None
        if self.tat is None:
            return self.burst
        interval = 1.0 / self.rate
        tolerance = (self.burst - 1) * interval
        tokens = math.floor((now + tolerance - self.tat) / interval + 1e-9)
        return max(0, min(self.burst, tokens))

    def next_token_in(self, now: float) -> float:
        """Seconds until the next token when the bucket is empty, else 0."""
        if self.rate is None or self.burst is None or self.tat is None:
            return 0.0
        tolerance = (self.burst - 1) / self.rate
        return max(0.0, self.tat - tolerance - now)

    def full_in(self, now: float) -> float:
        """Seconds until ``available`` reaches the burst (tat <= now - T)."""
        if self.tat is None or self.rate is None:
            return 0.0
        return max(0.0, self.tat + 1.0 / self.rate - now)


def parse_bucket_key(key: str) -> tuple[str, str, str] | None:
    parts = key.split("#")
    if len(parts) != 3:
        return None
    return parts[0], parts[1], parts[2]


def _level(
    account: str, region: str, operation: str, tat: float | None, item: Mapping[str, Any] | None = None
) -> BucketLevel:
    """The bucket with the plan the limiter last used (SP-API's granted rate), else the catalog's."""
    spec = ALL_OPERATIONS.get(operation)
    rate = _number(item, "planRate") if item else None
    burst = _number(item, "planBurst") if item else None
    return BucketLevel(
        account=account,
        region=region,
        operation=operation,
        rate=rate if rate is not None else (spec.rate if spec is not None else None),
        burst=int(burst) if burst is not None else (spec.burst if spec is not None else None),
        tat=tat,
    )


def _number(item: Mapping[str, Any], name: str) -> float | None:
    raw = item.get(name, {}).get("N")
    return float(raw) if raw is not None else None


def _tat(item: Mapping[str, Any]) -> float | None:
    return _number(item, "tat")


def scan_buckets(dynamodb: Any, table: str, account: str | None = None) -> list[BucketLevel]:
    """Every bucket in the table (of one account when given)."""
    levels: list[BucketLevel] = []
    request: dict[str, Any] = {"TableName": table}
    if account is not None:
        request["FilterExpression"] = "begins_with(#b, :prefix)"
        request["ExpressionAttributeNames"] = {"#b": "bucket"}
        request["ExpressionAttributeValues"] = {":prefix": {"S": f"{account}#"}}
    while True:
        answer = dynamodb.scan(**request)
        for item in answer.get("Items", []):
            parsed = parse_bucket_key(str(item["bucket"]["S"]))
            if parsed is not None:
                levels.append(_level(*parsed, _tat(item), item))
        if "LastEvaluatedKey" not in answer:
            break
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
    return levels


def account_buckets(
    dynamodb: Any, table: str, account: str, regions: Sequence[str] | None = None
) -> list[BucketLevel]:
    """The account's bucket of every catalog operation; unused buckets show as full.

    Without ``regions``: the regions the account has buckets in (``na`` when it has none yet).
    """
    found = {(level.region, level.operation): level for level in scan_buckets(dynamodb, table, account)}
    wanted_regions = list(regions or sorted({region for region, _ in found}) or [DEFAULT_REGION])
    keys = [*catalog_operations()]
    levels = [
        found.get((region, operation)) or _level(account, region, operation, None)
        for region in wanted_regions
        for operation in keys
    ]
    extra = [
        level for (region, _), level in found.items() if region in wanted_regions and level not in levels
    ]
    return levels + extra


# --- command -------------------------------------------------------------------------------------------

NO_QUEUES = "No queue URLs (--queue-url/--dlq-url, --stack-file, --stack-name or the environment)."
NO_TABLE = "No rate-limit table (--rate-limit-table, --stack-file, --stack-name, RATE_LIMIT_TABLE_NAME)."


def _regions(values: list[str] | None) -> list[str] | None:
    for value in values or ():
        if value not in REGIONS:
            raise typer.BadParameter(f"{value!r} is not an SP-API region; use one of {', '.join(REGIONS)}")
    return values


def check_account(target: OperatorTarget, secret_prefix: str | None, account: str) -> str | None:
    """Why ``account`` is unknown (it has no secret), or None when it has one or this cannot be told."""
    if not secret_prefix:
        return None
    secrets = target.client("secretsmanager")
    try:
        secrets.describe_secret(SecretId=f"{secret_prefix}{account}")
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            return None  # e.g. no permission to describe secrets: show the buckets anyway
    else:
        return None
    known: list[str] = []
    try:
        pages = secrets.get_paginator("list_secrets").paginate(
            Filters=[{"Key": "name", "Values": [secret_prefix]}]
        )
        known = [
            str(entry["Name"]).removeprefix(secret_prefix)
            for page in pages
            for entry in page.get("SecretList", [])
            if str(entry["Name"]).startswith(secret_prefix)
        ]
    except (ClientError, BotoCoreError):
        pass
    close = difflib.get_close_matches(account, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listed = f" Accounts with a secret: {', '.join(sorted(known))}." if known else ""
    return f"The account {account!r} has no secret ({secret_prefix}{account}).{hint}{listed}"


def status(  # noqa: PLR0917 - typer maps each option to a parameter
    account: Annotated[
        str | None,
        typer.Option(help="Show this account's bucket for every catalog operation (default: every bucket)."),
    ] = None,
    region: Annotated[
        list[str] | None,
        typer.Option(
            help=f"SP-API region(s) of the account's buckets: {', '.join(REGIONS)}.", callback=_regions
        ),
    ] = None,
    stack_file: StackFileOption = None,
    stack_name: StackNameOption = None,
    queue_url: QueueUrlOption = None,
    dlq_url: DlqUrlOption = None,
    rate_limit_table: Annotated[
        str | None,
        typer.Option("--rate-limit-table", help="Rate-limit table (default: RATE_LIMIT_TABLE_NAME)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Queue depths (commands, DLQ: waiting, in flight, delayed) and rate-limit bucket levels.

    Bucket levels are read from the shared rate-limit table: tokens available now per operation
    (GCRA: floor((now + tau - tat) / T), clipped to [0, burst]), with the rate SP-API granted (as the
    limiter last used it) or else the catalog's rate, and the burst. With --account, an account that
    has no secret is refused (exit 1) instead of showing full buckets.
    """
    console = make_console()
    target = resolve_operator_target(
        stack_file,
        command_queue_url=queue_url,
        dead_letter_queue_url=dlq_url,
        rate_limit_table_name=rate_limit_table,
        stack_name=stack_name,
    )
    document: dict[str, Any] = {"queues": [], "buckets": []}
    problems = 0
    queues = [
        (name, url)
        for name, url in (
            ("commands", target.command_queue_url),
            ("dead letters", target.dead_letter_queue_url),
        )
        if url
    ]
    if account is not None:
        unknown = check_account(target, _secret_prefix(stack_file), account)
        if unknown:
            raise ConsoleError(unknown, "Check --account; `sp-relay status` without it lists every bucket.",
                               ExitCode.REFUSED)  # fmt: skip
    if queues:
        sqs = target.client("sqs")
        table = make_table("queue", "waiting", "in flight", "delayed", title="sp-relay queues")
        for name, url in queues:
            try:
                depth = queue_depth(sqs, name, url)
            except ClientError as error:
                explained = explain(error)
                reason = explained.message if explained else type(error).__name__
                table.add_row(name, f"[red]{escape(reason)}[/red]", "-", "-")
                document["queues"].append({"queue": name, "url": url, "error": reason})
                problems += 1
                continue
            style = "red" if name == "dead letters" and depth.visible else ""
            waiting = f"[{style}]{depth.visible}[/{style}]" if style else str(depth.visible)
            table.add_row(name, waiting, str(depth.in_flight), str(depth.delayed))
            document["queues"].append(
                {
                    "queue": name,
                    "url": url,
                    "waiting": depth.visible,
                    "inFlight": depth.in_flight,
                    "delayed": depth.delayed,
                }
            )
        if not as_json:
            console.print(table)
    elif not as_json:
        console.print(
            "[yellow]No queue URLs (--queue-url/--dlq-url, --stack-file or the environment).[/yellow]"
        )

    if not target.rate_limit_table_name:
        if as_json:
            print_json(document)
        else:
            console.print(f"[yellow]{NO_TABLE}[/yellow]")
        raise typer.Exit(int(ExitCode.USAGE if not queues else ExitCode.REFUSED if problems else ExitCode.OK))
    dynamodb = target.client("dynamodb")
    if account is None:
        levels = scan_buckets(dynamodb, target.rate_limit_table_name)
    else:
        levels = account_buckets(dynamodb, target.rate_limit_table_name, account, region)
    now = time.time()
    if as_json:
        document["buckets"] = [
            {
                "account": level.account,
                "region": level.region,
                "operation": level.operation,
                "rate": level.rate,
                "burst": level.burst,
                "tokens": level.available(now),
                "fullInSeconds": round(level.full_in(now), 3),
            }
            for level in sorted(levels, key=lambda level: (level.account, level.region, level.operation))
        ]
        print_json(document)
    else:
        print_buckets(console, levels, now, account)
    if problems:
        raise typer.Exit(int(ExitCode.REFUSED))


def _secret_prefix(stack_file: Path | None) -> str | None:
    if stack_file is not None:
        prefix = read_stack_file(stack_file).get("environment", {}).get(env_vars.ACCOUNT_SECRET_PREFIX)
        if prefix:
            return str(prefix)
    return os.environ.get(env_vars.ACCOUNT_SECRET_PREFIX)


def print_buckets(console: Console, levels: Iterable[BucketLevel], now: float, account: str | None) -> None:
    rows = sorted(levels, key=lambda level: (level.account, level.region, level.operation))
    if not rows:
        console.print("No rate-limit buckets in use (every bucket is full).")
        return
    title = f"rate-limit buckets of {account}" if account else "rate-limit buckets"
    # Account and region are in the title when one account is shown, so the table fits 80 columns.
    columns = ["operation", "rate/s", "burst", "tokens", "refill"]
    if account is None:
        columns = ["account", "region", *columns]
    table = make_table(*columns, title=title)
    for level in rows:
        available = level.available(now)
        if available is None:
            tokens = "?"
        elif available == 0:
            tokens = f"[red]0[/red] (next {level.next_token_in(now):.1f}s)"
        elif available == level.burst:
            tokens = f"[green]{available}[/green]"
        else:
            tokens = str(available)
        full_in = level.full_in(now)
        api, _, operation_id = level.operation.rpartition(".")
        cells = [
            f"{operation_id}\n[dim]{api}[/dim]" if api else operation_id,
            f"{level.rate:g}" if level.rate is not None else "?",
            str(level.burst) if level.burst is not None else "?",
            tokens,
            "full" if full_in == 0 else f"full in {full_in:.1f}s",
        ]
        if account is None:
            cells = [level.account, level.region, *cells]
        table.add_row(*cells)
    console.print(table)
