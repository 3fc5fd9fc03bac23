"""Tokens 2021-03-01: restricted data tokens (accepted like access tokens of the same selling partner)."""

from __future__ import annotations

from emulator.registry import CallContext, HandlerRegistry, HandlerResult

RDT_TTL_SECONDS = 3600


def create_restricted_data_token(ctx: CallContext) -> HandlerResult:
    token = ctx.state.issue_token(ctx.client_id, ctx.seller_id, "restricted", ttl_seconds=RDT_TTL_SECONDS)
    return 200, {"restrictedDataToken": token, "expiresIn": RDT_TTL_SECONDS}


def register(registry: HandlerRegistry) -> None:
    registry.add("createRestrictedDataToken", create_restricted_data_token)
