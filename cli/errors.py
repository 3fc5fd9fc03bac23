"""What the console says when something outside it fails: one or two sentences and an exit code.

Every command runs inside ``ConsoleGroup.invoke``, which turns the failures an operator meets at
3 a.m. (the local stack is not running, a mistyped AWS profile, an expired SSO session, no region, a
stack file that is not JSON) into a sentence saying what is wrong and what to do, instead of a
traceback. The exit codes are documented in the README ("Exit codes") and in ``sp-relay --help``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any
from urllib.parse import urlparse

import typer
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    CredentialRetrievalError,
    EndpointConnectionError,
    InvalidRegionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    SSOError,
    TokenRetrievalError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup


class ExitCode(IntEnum):
    OK = 0
    # Something was refused or failed; the report printed says which and why.
    REFUSED = 1
    # A bad option, a missing setting, an unreadable stack file (click's own usage errors are 2 too).
    USAGE = 2
    # The AWS endpoint (or the local stack) could not be reached.
    UNREACHABLE = 3
    # AWS profile, credentials, SSO session or region missing or wrong.
    CREDENTIALS = 4
    # AWS answered with an error: access denied, no such queue or table.
    AWS_REFUSED = 5
    # Ctrl-C: what was done so far is reported.
    INTERRUPTED = 130


EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 something was refused or failed (the report says what); 2 bad option, "
    "missing setting or unreadable stack file; 3 AWS or the local stack unreachable; 4 AWS profile, "
    "credentials or region missing or wrong; 5 AWS refused the request; 130 interrupted."
)

REFUSED_CREDENTIALS = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException"}
)
MISSING_RESOURCE = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "ResourceNotFoundException"})
LOCAL_STACK_HINT = "Is `sp-relay local` running? Its stack file is rewritten at each start."


class ConsoleError(Exception):
    """A failure the console explains in a sentence (and a hint) and ends with ``code``."""

    def __init__(self, message: str, hint: str | None = None, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


def _is_local(endpoint_url: str | None) -> bool:
    host = urlparse(endpoint_url or "").hostname or ""
    return host in {"localhost", "127.0.0.1", "::1"} or host.endswith(".localhost")


def explain(error: BaseException) -> ConsoleError | None:
    """The sentence for an AWS SDK failure, or None when it is not one the console knows."""
    kwargs: dict[str, Any] = getattr(error, "kwargs", {}) or {}
    endpoint = kwargs.get("endpoint_url")
    if isinstance(
        error, EndpointConnectionError | BotoConnectionError | ConnectionClosedError | ReadTimeoutError
    ):
        if _is_local(endpoint):
            return ConsoleError(
                f"Cannot reach the local stack at {endpoint}.", LOCAL_STACK_HINT, ExitCode.UNREACHABLE
            )
        return ConsoleError(
            f"Cannot reach {endpoint or 'AWS'}.",
            "Check the network, the region (AWS_REGION) and AWS_ENDPOINT_URL if you set one.",
            ExitCode.UNREACHABLE,
        )
    if isinstance(error, ProfileNotFound):
        profile = kwargs.get("profile", "?")
        return ConsoleError(
            f"The AWS profile {profile!r} does not exist.",
            "Check AWS_PROFILE against `aws configure list-profiles`.",
            ExitCode.CREDENTIALS,
        )
    if isinstance(error, SSOError | TokenRetrievalError):
        return ConsoleError(
            "The AWS SSO session has expired or was never started.",
            "Run `aws sso login` (with --profile if you use one) and try again.",
            ExitCode.CREDENTIALS,
        )
    if isinstance(error, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
        return ConsoleError(
            "No usable AWS credentials were found.",
            "Run `aws sso login` or `aws configure`, or set AWS_PROFILE; for the local stack pass "
            "--stack-file.",
            ExitCode.CREDENTIALS,
        )
    if isinstance(error, NoRegionError | InvalidRegionError):
        return ConsoleError(
            "No valid AWS region is set.",
            "Set AWS_REGION (e.g. AWS_REGION=eu-west-1) or a region in your AWS profile.",
            ExitCode.CREDENTIALS,
        )
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code", "?"))
        message = str(details.get("Message", "")).strip()
        operation = getattr(error, "operation_name", "the request")
        if code in {
            "ExpiredToken",
            "ExpiredTokenException",
            "InvalidClientTokenId",
            "UnrecognizedClientException",
        }:
            return ConsoleError(
                f"AWS refused the credentials ({code}).",
                "Run `aws sso login` or refresh the credentials of AWS_PROFILE.",
                ExitCode.CREDENTIALS,
            )
        hint = None
        if (
            "NonExistentQueue" in code
            or code.endswith("QueueDoesNotExist")
            or code == "ResourceNotFoundException"
        ):
            hint = "The stack file or the URL may be from another stack; " + LOCAL_STACK_HINT.lower()
        elif "AccessDenied" in code:
            hint = "The AWS identity in use lacks this permission; check AWS_PROFILE."
        return ConsoleError(
            f"AWS refused {operation}: {code}{': ' + message if message else ''}", hint, ExitCode.AWS_REFUSED
        )
    if isinstance(error, BotoCoreError):
        return ConsoleError(f"AWS SDK error: {error}", None, ExitCode.AWS_REFUSED)
    return None


def report(console: Console, error: ConsoleError) -> None:
    console.print(f"[red]Error:[/red] {escape(error.message)}")
    if error.hint:
        console.print(escape(error.hint))


class ConsoleGroup(TyperGroup):
    """The top-level command group: known failures end in a sentence and an exit code, not a traceback."""

    def invoke(self, ctx: Any) -> Any:  # typer's own (vendored) click Context
        errors = Console(stderr=True)
        try:
            return super().invoke(ctx)
        except ConsoleError as error:
            report(errors, error)
            raise typer.Exit(int(error.code)) from None
        except KeyboardInterrupt:
            errors.print("Interrupted.")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except (BotoCoreError, ClientError) as error:
            explained = explain(error)
            if explained is None:  # pragma: no cover - explain knows every BotoCoreError/ClientError
                raise
            report(errors, explained)
            raise typer.Exit(int(explained.code)) from None
