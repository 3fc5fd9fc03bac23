"""Where the operator commands look: queue URLs, the rate-limit table and the AWS endpoint.

Every value comes, in this order, from a command-line option, the stack file that ``sp-relay local``
wrote (``--stack-file``), the outputs of a deployed CloudFormation stack (``--stack-name``), or the
environment (``COMMAND_QUEUE_URL``, ``DEAD_LETTER_QUEUE_URL``, ``RATE_LIMIT_TABLE_NAME``,
``OUTCOME_TAP_QUEUE_URL``, ``AWS_ENDPOINT_URL``, ``AWS_REGION``). So the same flags work against AWS
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
from botocore.exceptions import ClientError

from cli.errors import ConsoleError, ExitCode
from domain import env_vars

StackFileOption = Annotated[
    Path | None,
    typer.Option(
        "--stack-file",
        help="JSON file written by `sp-relay local`; supplies the endpoint, queue URLs and table names.",
        dir_okay=False,
    ),
]
StackNameOption = Annotated[
    str | None,
    typer.Option(
        "--stack-name",
        help="A deployed sp-relay CloudFormation stack; its outputs supply the queue URLs and table names.",
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


class TargetError(ConsoleError):
    """A required queue or table could not be found in options, stack file or environment."""

    def __init__(self, message: str) -> None:
        super().__init__(message, None, ExitCode.USAGE)


# Stack file keys (what `sp-relay local` writes) and the CloudFormation outputs of template.yaml.
STACK_OUTPUTS = {
    "commandQueueUrl": "CommandQueueUrl",
    "deadLetterQueueUrl": "DeadLetterQueueUrl",
    "rateLimitTableName": "RateLimitTableName",
    "outcomeTapQueueUrl": "OutcomeTapQueueUrl",
}


@dataclass(frozen=True, slots=True)
class OperatorTarget:
    command_queue_url: str | None
    dead_letter_queue_url: str | None
    rate_limit_table_name: str | None
    endpoint_url: str | None
    region: str | None
    outcome_tap_queue_url: str | None = None

    def client(self, service: str, *, max_attempts: int | None = None) -> Any:
        extra: dict[str, str] = {}
        if self.endpoint_url and "amazonaws.com" not in self.endpoint_url:
            # A local endpoint (moto): never sign with the operator's real credentials.
            extra = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
        config = OPERATOR_CLIENT_CONFIG
        if max_attempts is not None:
            config = config.merge(Config(retries={"mode": "standard", "max_attempts": max_attempts}))
        # A local endpoint needs some region; on AWS the region comes from the environment or the
        # profile, and a missing one is reported (NoRegionError) instead of silently using us-east-1.
        region = self.region or ("us-east-1" if extra else None)
        return boto3.client(  # type: ignore[call-overload]
            service, endpoint_url=self.endpoint_url, region_name=region, config=config, **extra
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

    def require_outcome_tap_queue(self) -> str:
        if not self.outcome_tap_queue_url:
            raise TargetError(
                "No outcome tap queue: pass --tap-queue-url, --stack-file, --stack-name of a stack deployed "
                "with EnableOutcomeTap=true, or set OUTCOME_TAP_QUEUE_URL."
            )
        return self.outcome_tap_queue_url

    def require_rate_limit_table(self) -> str:
        if not self.rate_limit_table_name:
            raise TargetError(
                "No rate-limit table: pass --rate-limit-table, --stack-file, or set RATE_LIMIT_TABLE_NAME."
            )
        return self.rate_limit_table_name


def read_stack_file(path: Path) -> dict[str, Any]:
    """The stack file as a JSON object, or a sentence saying why it cannot be used."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConsoleError(
            f"The stack file {path} does not exist.",
            "Start `sp-relay local` (it writes local-stack.json) or pass the file it wrote.",
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConsoleError(f"Cannot read the stack file {path}: {error}.") from None
    try:
        described = json.loads(text)
    except ValueError as error:
        raise ConsoleError(
            f"The stack file {path} is not JSON ({error}).",
            "It is the file `sp-relay local --write-endpoints` writes; start `sp-relay local` again.",
        ) from None
    if not isinstance(described, dict):
        raise ConsoleError(f"The stack file {path} is not a JSON object.")
    return described


def read_stack_outputs(stack_name: str, endpoint_url: str | None, region: str | None) -> dict[str, str]:
    """The stack file keys, filled from a deployed stack's CloudFormation outputs."""
    target = OperatorTarget(None, None, None, endpoint_url, region)
    cloudformation = target.client("cloudformation")
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ValidationError":
            raise ConsoleError(
                f"There is no CloudFormation stack {stack_name!r} in this account and region.",
                "Check --stack-name, AWS_REGION and AWS_PROFILE (`aws cloudformation list-stacks`).",
                ExitCode.AWS_REFUSED,
            ) from None
        raise
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}
    return {key: outputs[name] for key, name in STACK_OUTPUTS.items() if name in outputs}


def resolve_operator_target(
    stack_file: Path | None = None,
    *,
    command_queue_url: str | None = None,
    dead_letter_queue_url: str | None = None,
    rate_limit_table_name: str | None = None,
    outcome_tap_queue_url: str | None = None,
    stack_name: str | None = None,
    environ: dict[str, str] | None = None,
) -> OperatorTarget:
    env = dict(os.environ) if environ is None else environ
    described: dict[str, Any] = read_stack_file(stack_file) if stack_file else {}
    if stack_name:
        endpoint = described.get("awsEndpointUrl") or env.get(env_vars.AWS_ENDPOINT_URL)
        region = (
            described.get("region") or env.get(env_vars.AWS_REGION) or env.get(env_vars.AWS_DEFAULT_REGION)
        )
        described = {**read_stack_outputs(stack_name, endpoint, region), **described}

    def pick(option: str | None, key: str, variable: str) -> str | None:
        value = option or described.get(key) or env.get(variable)
        return str(value) if value else None

    return OperatorTarget(
        command_queue_url=pick(command_queue_url, "commandQueueUrl", env_vars.COMMAND_QUEUE_URL),
        dead_letter_queue_url=pick(
            dead_letter_queue_url, "deadLetterQueueUrl", env_vars.DEAD_LETTER_QUEUE_URL
        ),
        rate_limit_table_name=pick(
            rate_limit_table_name, "rateLimitTableName", env_vars.RATE_LIMIT_TABLE_NAME
        ),
        endpoint_url=pick(None, "awsEndpointUrl", env_vars.AWS_ENDPOINT_URL),
        region=pick(None, "region", env_vars.AWS_REGION) or env.get(env_vars.AWS_DEFAULT_REGION) or None,
        outcome_tap_queue_url=pick(
            outcome_tap_queue_url, "outcomeTapQueueUrl", env_vars.OUTCOME_TAP_QUEUE_URL
        ),
    )
