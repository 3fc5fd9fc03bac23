"""`sp-relay status`: queue depths and the rate-limit buckets of an account, at a glance."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.table import Table

from cli.targets import DlqUrlOption, QueueUrlOption, StackFileOption, resolve_operator_target
from domain.catalog import CATALOG
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
    """The operations the relay calls (each command's, and those that confirm a duplicate)."""
    operations: dict[str, OperationSpec] = {}
    for command in CATALOG.values():
        operations[command.operation.key] = command.operation
        if command.already_done is not None and command.already_done.confirm_with is not None:
            confirm = command.already_done.confirm_with
            operations[confirm.key] = confirm
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


def _level(account: str, region: str, operation: str, tat: float | None) -> BucketLevel:
    spec = ALL_OPERATIONS.get(operation)
    return BucketLevel(
        account=account,
        region=region,
        operation=operation,
        rate=spec.rate if spec is not None else None,
        burst=spec.burst if spec is not None else None,
        tat=tat,
    )


def _tat(item: Mapping[str, Any]) -> float | None:
    raw = item.get("tat", {}).get("N")
    return float(raw) if raw is not None else None


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
                levels.append(_level(*parsed, _tat(item)))
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
    wanted_regions = list(regions or sorted({region for region, _ in found}) or ["na"])
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


def status(  # noqa: PLR0917 - typer maps each option to a parameter
    account: Annotated[
        str | None,
        typer.Option(help="Show this account's bucket for every catalog operation (default: every bucket)."),
    ] = None,
    region: Annotated[
        list[str] | None, typer.Option(help="Region(s) of the account's buckets: na, eu, fe.")
    ] = None,
    stack_file: StackFileOption = None,
    queue_url: QueueUrlOption = None,
    dlq_url: DlqUrlOption = None,
    rate_limit_table: Annotated[
        str | None,
        typer.Option("--rate-limit-table", help="Rate-limit table (default: RATE_LIMIT_TABLE_NAME)."),
    ] = None,
) -> None:
    """Queue depths (commands, DLQ: waiting, in flight, delayed) and rate-limit bucket levels.

    Bucket levels are read from the shared rate-limit table: tokens available now per operation
    (GCRA: floor((now + tau - tat) / T), clipped to [0, burst]), with the catalog's rate and burst.
    """
    console = Console()
    target = resolve_operator_target(
        stack_file,
        command_queue_url=queue_url,
        dead_letter_queue_url=dlq_url,
        rate_limit_table_name=rate_limit_table,
    )
    problems = 0
    queues = [
        (name, url)
        for name, url in (
            ("commands", target.command_queue_url),
            ("dead letters", target.dead_letter_queue_url),
        )
        if url
    ]
    if queues:
        sqs = target.client("sqs")
        table = Table("queue", "waiting", "in flight", "delayed", title="sp-relay queues")
        for name, url in queues:
            try:
                depth = queue_depth(sqs, name, url)
            except (ClientError, BotoCoreError) as error:
                table.add_row(name, f"[red]{type(error).__name__}[/red]", "-", "-")
                problems += 1
                continue
            style = "red" if name == "dead letters" and depth.visible else ""
            waiting = f"[{style}]{depth.visible}[/{style}]" if style else str(depth.visible)
            table.add_row(name, waiting, str(depth.in_flight), str(depth.delayed))
        console.print(table)
    else:
        console.print(
            "[yellow]No queue URLs (--queue-url/--dlq-url, --stack-file or the environment).[/yellow]"
        )

    if not target.rate_limit_table_name:
        console.print(
            "[yellow]No rate-limit table (--rate-limit-table, --stack-file, RATE_LIMIT_TABLE_NAME).[/yellow]"
        )
        raise typer.Exit(2 if not queues else 0)
    dynamodb = target.client("dynamodb")
    try:
        if account is None:
            levels = scan_buckets(dynamodb, target.rate_limit_table_name)
        else:
            levels = account_buckets(dynamodb, target.rate_limit_table_name, account, region)
    except (ClientError, BotoCoreError) as error:
        console.print(f"[red]Cannot read {target.rate_limit_table_name}: {type(error).__name__}[/red]")
        raise typer.Exit(1) from None
    print_buckets(console, levels, time.time(), account)
    if problems:
        raise typer.Exit(1)


def print_buckets(console: Console, levels: Iterable[BucketLevel], now: float, account: str | None) -> None:
    rows = sorted(levels, key=lambda level: (level.account, level.region, level.operation))
    if not rows:
        console.print("No rate-limit buckets in use (every bucket is full).")
        return
    title = f"rate-limit buckets of {account}" if account else "rate-limit buckets"
    table = Table(
        "account", "region", "api", "operation", "rate/s", "burst", "tokens now", "refill", title=title
    )
    for level in rows:
        available = level.available(now)
        if available is None:
            tokens = "?"
        elif available == 0:
            tokens = f"[red]0[/red] (next in {level.next_token_in(now):.1f}s)"
        elif available == level.burst:
            tokens = f"[green]{available}[/green]"
        else:
            tokens = str(available)
        full_in = level.full_in(now)
        table.add_row(
            level.account,
            level.region,
            level.operation.split(".", 1)[0] if "." in level.operation else "?",
            level.operation.split(".", 1)[-1],
            f"{level.rate:g}" if level.rate is not None else "?",
            str(level.burst) if level.burst is not None else "?",
            tokens,
            "full" if full_in == 0 else f"full in {full_in:.1f}s",
        )
    console.print(table)
