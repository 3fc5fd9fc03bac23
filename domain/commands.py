"""Commands: the message contract upstream systems publish, and its validation.

A command is one JSON object: ``type``, ``commandId`` (the producer's idempotency key), ``account``
(which selling partner's credentials), optional ``region`` and ``payload`` — the SP-API request in
SP-API's own field names, path and query parameters included by their API names. The payload is
validated against the operation's parameters model (generated from Amazon's official model) but sent
unchanged: nothing is added, reordered or coerced.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, TypeAdapter, ValidationError, create_model

from domain.catalog import CATALOG, CommandType
from domain.errors import InvalidCommand, UnknownCommandType
from domain.regions import Region

MAX_ERRORS_IN_REASON = 5
# SQS caps a message at 256 KiB; a body beyond that was not produced by an honest producer.
MAX_BODY_BYTES = 256 * 1024

CommandIdField = Annotated[
    StrictStr,
    Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$"),
]
AccountField = Annotated[
    StrictStr,
    Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$"),
]


class CommandEnvelope(BaseModel):
    """The fields common to every command; the payload is checked per type afterwards."""

    model_config = ConfigDict(extra="forbid", strict=True)

    type: StrictStr
    commandId: CommandIdField  # noqa: N815 - the wire name
    account: AccountField
    region: Region | None = None
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CommandIdentity:
    """What a refused body says about itself: each field kept only when it is valid on its own."""

    command_type: str | None = None
    command_id: str | None = None
    account: str | None = None


_IDENTITY_FIELDS: Mapping[str, Any] = {
    "type": TypeAdapter(Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")]),
    "commandId": TypeAdapter(CommandIdField),
    "account": TypeAdapter(AccountField),
}


def readable_identity(body: str | bytes) -> CommandIdentity:
    """The type, commandId and account of a body that is not a valid command, where readable.

    An outcome event of a refused command must still say which command it was; a field that breaks its
    own rule (a commandId with spaces, an account of 500 characters) is left out rather than echoed.
    """
    if len(body) > MAX_BODY_BYTES:
        return CommandIdentity()
    try:
        document = json.loads(body)
    except (RecursionError, UnicodeDecodeError, ValueError):
        return CommandIdentity()
    if not isinstance(document, dict):
        return CommandIdentity()
    found: dict[str, str | None] = {}
    for name, adapter in _IDENTITY_FIELDS.items():
        try:
            found[name] = adapter.validate_python(document.get(name), strict=True)
        except ValidationError:
            found[name] = None
    return CommandIdentity(found["type"], found["commandId"], found["account"])


@dataclass(frozen=True, slots=True)
class Command:
    type: CommandType
    command_id: str
    account: str
    region: Region | None
    payload: Mapping[str, Any]

    def idempotency_data(self) -> dict[str, Any]:
        """What the idempotency store keys on (account, commandId) and compares (type, payload)."""
        return {
            "account": self.account,
            "commandId": self.command_id,
            "type": self.type.name,
            "region": self.region,
            "payload": dict(self.payload),
        }


def describe_validation_error(error: ValidationError, prefix: str = "") -> str:
    """Name each failing field and its reason, never the offending value (it may be an address)."""
    parts = []
    for detail in error.errors(include_input=False, include_url=False)[:MAX_ERRORS_IN_REASON]:
        location = ".".join(str(step) for step in (*([prefix] if prefix else []), *detail["loc"]))
        parts.append(f"{location or '<root>'}: {detail['msg']}")
    hidden = error.error_count() - MAX_ERRORS_IN_REASON
    if hidden > 0:
        parts.append(f"and {hidden} more")
    return "; ".join(parts)


def parse_command(body: str | bytes) -> Command:
    """Turn a raw message body into a validated command, or raise a permanent error naming the problem."""
    raw_size = len(body.encode() if isinstance(body, str) else body)
    if raw_size > MAX_BODY_BYTES:
        raise InvalidCommand(f"body is {raw_size} bytes; a command is at most {MAX_BODY_BYTES} bytes")
    try:
        document = json.loads(body)
    except RecursionError:
        raise InvalidCommand("body is nested too deeply to be a command") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise InvalidCommand(f"body is not valid JSON: {_first_line(error)}") from None
    if not isinstance(document, dict):
        raise InvalidCommand(f"body must be a JSON object, not {type(document).__name__}")
    command_type = document.get("type")
    if isinstance(command_type, str) and command_type not in CATALOG:
        raise UnknownCommandType(unknown_type_reason(command_type))
    try:
        envelope = CommandEnvelope.model_validate(document)
    except ValidationError as error:
        raise InvalidCommand(describe_validation_error(error)) from None
    spec = CATALOG[envelope.type]
    try:
        spec.operation.params_model.model_validate(envelope.payload)
    except ValidationError as error:
        raise InvalidCommand(describe_validation_error(error, prefix="payload")) from None
    except RecursionError:
        raise InvalidCommand("payload is nested too deeply") from None
    return Command(
        type=spec,
        command_id=envelope.commandId,
        account=envelope.account,
        region=envelope.region,
        payload=envelope.payload,
    )


def unknown_type_reason(command_type: str) -> str:
    close = difflib.get_close_matches(command_type, CATALOG, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return (
        f"type: unknown command type {command_type[:80]!r}; {hint}"
        f"`sp-relay schema` lists the {len(CATALOG)} known types"
    )


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0][:200]


def command_models() -> Sequence[type[BaseModel]]:
    """One pydantic model per command type, for the published JSON Schema."""
    models: list[type[BaseModel]] = []
    for name, spec in CATALOG.items():
        model_name = "".join(part.capitalize() for part in name.split("-")) + "Command"
        model: type[BaseModel] = create_model(
            model_name,
            __config__=ConfigDict(extra="forbid", strict=True, title=model_name),
            __doc__=spec.summary,
            type=(Literal[name], ...),
            commandId=(CommandIdField, ...),
            account=(AccountField, ...),
            region=(Region | None, None),
            payload=(spec.operation.params_model, ...),
        )
        models.append(model)
    return models


def command_json_schema() -> dict[str, Any]:
    """The JSON Schema of every command: one ``oneOf`` branch per type, discriminated by ``type``."""
    models = command_models()
    union: Any = models[0]
    for model in models[1:]:
        union = union | model
    adapter: TypeAdapter[Any] = TypeAdapter(Annotated[union, Field(discriminator="type")])
    schema = adapter.json_schema(ref_template="#/$defs/{model}")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "sp-relay command"
    schema["description"] = (
        "A command for sp-relay. payload is the SP-API request in SP-API's own field names; "
        "path and query parameters are included by their API names."
    )
    return schema
