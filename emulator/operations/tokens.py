"""Tokens 2021-03-01: restricted data tokens.

An RDT is issued for the caller's selling partner and application, records its ``restrictedResources`` and
is accepted only for those (see :mod:`emulator.restricted`) until it expires (``expiresIn`` 3600). A resource
that is not a restricted operation of the emulator answers 400 the way SP-API does.
"""

from __future__ import annotations

from typing import Any

from emulator.errors import ApiError
from emulator.registry import CallContext, HandlerRegistry, HandlerResult
from emulator.restricted import RDT_ACCESS_DENIED_MESSAGE, names_restricted_resource

RDT_TTL_SECONDS = 3600


def create_restricted_data_token(ctx: CallContext) -> HandlerResult:
    requested: list[dict[str, Any]] = ctx.body.get("restrictedResources", [])
    if not requested:
        raise ApiError(
            400, "InvalidRequest", "Request is missing or has invalid parameters", "Resource not provided."
        )
    resources = tuple((str(r["method"]).upper(), str(r["path"])) for r in requested)
    if not all(names_restricted_resource(method, path) for method, path in resources):
        raise ApiError(400, "InvalidInput", RDT_ACCESS_DENIED_MESSAGE)
    token = ctx.state.issue_token(
        ctx.client_id,
        ctx.seller_id,
        "restricted",
        ttl_seconds=RDT_TTL_SECONDS,
        restricted_resources=resources,
    )
    return 200, {"restrictedDataToken": token, "expiresIn": RDT_TTL_SECONDS}


def register(registry: HandlerRegistry) -> None:
    registry.add("createRestrictedDataToken", create_restricted_data_token)
