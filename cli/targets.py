"""Where the operator commands look: queue URLs, the rate-limit table and the AWS endpoint.

Every value comes, in this order, from a command-line option, the stack file that ``sp-relay local``
wrote (``--stack-file``), or the environment (``COMMAND_QUEUE_URL``, ``DEAD_LETTER_QUEUE_URL``,
``RATE_LIMIT_TABLE_NAME``, ``AWS_ENDPOINT_URL``, ``AWS_REGION``). So the same flags work against AWS
(credentials and region from the usual profile/environment) and against the local stack.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import boto3
import typer
from botocore.config import Config

StackFileOption = Annotated[
    Path | None,
    typer.Option(
        "--stack-file",
        help="JSON file written by `sp-relay local`; supplies the endpoint, queue URLs and table names.",
        exists=True,
        dir_okay=False,
    ),
]
QueueUrlOption = Annotated[
    str | None, typer.Option("--queue-url", help="Command queue URL (default: COMMAND_QUEUE_URL).")
]
DlqUrlOption = Annotated[
    str | None,
    typer.Option("--dlq-url", help="Dead-letter queue URL (default: DEAD_LETTER_QUEUE_URL)."),
]

# The operator's clients fail fast; a 3 a.m. tool that hangs in SDK retries is worse than an error.
OPERATOR_CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard"})


class TargetError(Exception):
    """A required queue or table could not be found in options, stack file or environment."""


@dataclass(frozen=True, slots=True)
class OperatorTarget:
    command_queue_url: str | None
    dead_letter_queue_url: str | None
    rate_limit_table_name: str | None
    endpoint_url: str | None
    region: str | None

    def client(self, service: str, *, max_attempts: int | None = None) -> Any:
        extra: dict[str, str] = {}
        if self.endpoint_url and "amazonaws.com" not in self.endpoint_url:
            # A local endpoint (moto): never sign with the operator's real credentials.
            extra = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
        config = OPERATOR_CLIENT_CONFIG
        if max_attempts is not None:
            config = config.merge(Config(retries={"mode": "standard", "max_attempts": max_attempts}))
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region or "us-east-1",
            config=config,
            **extra,
        )

    def require_command_queue(self) -> str:
        if not self.command_queue_url:
            raise TargetError("No command queue: pass --queue-url, --stack-file, or set COMMAND_QUEUE_URL.")
        return self.command_queue_url

    def require_dead_letter_queue(self) -> str:
        if not self.dead_letter_queue_url:
            raise TargetError(
                "No dead-letter queue: pass --dlq-url, --stack-file, or set DEAD_LETTER_QUEUE_URL."
            )
        return self.dead_letter_queue_url

    def require_rate_limit_table(self) -> str:
        if not self.rate_limit_table_name:
            raise TargetError(
                "No rate-limit table: pass --rate-limit-table, --stack-file, or set RATE_LIMIT_TABLE_NAME."
            )
        return self.rate_limit_table_name


def resolve_operator_target(
    stack_file: Path | None = None,
    *,
    command_queue_url: str | None = None,
    dead_letter_queue_url: str | None = None,
    rate_limit_table_name: str | None = None,
    environ: dict[str, str] | None = None,
) -> OperatorTarget:
    env = dict(os.environ) if environ is None else environ
    described: dict[str, Any] = json.loads(stack_file.read_text()) if stack_file else {}

    def pick(option: str | None, key: str, variable: str) -> str | None:
        value = option or described.get(key) or env.get(variable)
        return str(value) if value else None

    return OperatorTarget(
        command_queue_url=pick(command_queue_url, "commandQueueUrl", "COMMAND_QUEUE_URL"),
        dead_letter_queue_url=pick(dead_letter_queue_url, "deadLetterQueueUrl", "DEAD_LETTER_QUEUE_URL"),
        rate_limit_table_name=pick(rate_limit_table_name, "rateLimitTableName", "RATE_LIMIT_TABLE_NAME"),
        endpoint_url=pick(None, "awsEndpointUrl", "AWS_ENDPOINT_URL"),
        region=pick(None, "region", "AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
    )
