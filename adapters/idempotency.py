"""Exactly-once effects per (account, commandId), kept by Powertools idempotency in DynamoDB."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyKeyError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from domain.commands import Command
from domain.errors import CommandIdReused, CommandInProgress, DependencyUnavailable, InvalidCommand

# Fixed, so that a renamed function or a replay through another worker still finds the record.
KEY_PREFIX = "sp-relay#command"
# Producers' duplicates and DLQ replays arrive within the DLQ's 14-day retention.
DEFAULT_RECORD_TTL_SECONDS = 14 * 24 * 3600


class PowertoolsIdempotency:
    """Implements the ``IdempotencyGuard`` port.

    The in-progress lease is tied to the remaining time of the invocation that holds it, so a worker
    that dies mid-call frees the command for a retry when its Lambda would have timed out anyway.
    """

    def __init__(
        self, client: Any, table_name: str, record_ttl_seconds: int = DEFAULT_RECORD_TTL_SECONDS
    ) -> None:
        self._store = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)
        self._ttl = record_ttl_seconds
        self._invocation = threading.local()

    def bind(self, lambda_context: LambdaContext) -> None:
        """Tie the leases taken by this thread to the invocation's remaining time."""
        self._invocation.context = lambda_context

    def run_once(self, command: Command, action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        config = IdempotencyConfig(
            event_key_jmespath="[account, commandId]",
            payload_validation_jmespath="[type, region, payload]",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=self._ttl,
        )
        context = getattr(self._invocation, "context", None)
        if context is not None:
            config.register_lambda_context(context)

        def run_action(command: dict[str, Any]) -> dict[str, Any]:
            return action()

        run: Callable[..., dict[str, Any]] = idempotent_function(
            run_action,
            data_keyword_argument="command",
            persistence_store=self._store,
            config=config,
            key_prefix=KEY_PREFIX,
        )

        try:
            result: dict[str, Any] = run(command=command.idempotency_data())
        except IdempotencyValidationError:
            raise CommandIdReused(
                f"commandId: {command.command_id!r} was already used by account {command.account!r} "
                "with a different type or payload"
            ) from None
        except IdempotencyAlreadyInProgressError:
            raise CommandInProgress(
                f"commandId {command.command_id!r} is being processed by another worker"
            ) from None
        except IdempotencyKeyError:
            raise InvalidCommand("commandId and account are required for idempotency") from None
        except IdempotencyInconsistentStateError:
            # The record changed between Powertools' write and its read-back: looking again later settles it.
            raise DependencyUnavailable("idempotency store answered inconsistently; retrying") from None
        except IdempotencyPersistenceLayerError as error:
            raise DependencyUnavailable(
                f"idempotency store failed: {type(error.__cause__).__name__}"
            ) from None
        return result
