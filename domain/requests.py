"""Turning a command payload into an SP-API request, and an SP-API answer into a result or an error."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from domain.errors import SpApiRejected, SpApiUnavailable
from domain.spapi.spec import OperationSpec


@dataclass(frozen=True, slots=True)
class SpApiRequest:
    operation_id: str
    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    body: Mapping[str, Any] | None = None
    # The operation's header parameters the payload gives (``x-amzn-fulfillment-service-id``).
    headers: tuple[tuple[str, str], ...] = ()
    # A Restricted Data Token to send instead of the account's LWA access token. repr=False: a request
    # printed in a log or a traceback must not show it.
    access_token: str | None = field(default=None, repr=False)
    # A grantless operation: send the application's client_credentials token of this scope, not the
    # selling partner's (domain.catalog.GRANTLESS_SCOPES).
    grantless_scope: str | None = None


@dataclass(frozen=True, slots=True)
class SpApiResponse:
    status: int
    body: Any
    request_id: str | None = None
    # x-amzn-RateLimit-Limit: the rate SP-API actually granted this caller for the operation.
    granted_rate: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # When the request left (its headers were written), Clock.now() seconds; None when not measured.
    sent_at: float | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def errors(self) -> list[dict[str, Any]]:
        if isinstance(self.body, dict) and isinstance(self.body.get("errors"), list):
            return [e for e in self.body["errors"] if isinstance(e, dict)]
        return []


def build_request(operation: OperationSpec, payload: Mapping[str, Any]) -> SpApiRequest:
    """Split the payload into path, query, header and body by the operation's parameter names.

    The body is exactly the remaining payload fields, in the producer's order: nothing is injected.
    """
    path = operation.path
    for name in operation.path_params:
        path = path.replace("{" + name + "}", quote(str(payload[name]), safe=""))
    query = tuple(
        (name, _query_value(payload[name]))
        for name in operation.query_params
        if payload.get(name) is not None
    )
    headers = tuple(
        (name, str(payload[name])) for name in operation.header_params if payload.get(name) is not None
    )
    parameter_names = set(operation.path_params) | set(operation.query_params) | set(operation.header_params)
    body = {key: value for key, value in payload.items() if key not in parameter_names}
    return SpApiRequest(
        operation_id=operation.operation_id,
        method=operation.method,
        path=path,
        query=query,
        body=body if operation.has_body else None,
        headers=headers,
    )


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(_query_value(item) for item in value)
    return str(value)


def is_retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


def raise_for_status(operation_id: str, response: SpApiResponse) -> None:
    """Classify a non-2xx answer: 429 and 5xx are retryable, every other 4xx is permanent."""
    if response.ok:
        return
    if is_retryable_status(response.status):
        # A 429 is refused before any processing; a 5xx may come after the effect was applied.
        raise SpApiUnavailable(
            f"SP-API {operation_id} answered {response.status}",
            status=response.status,
            request_id=response.request_id,
            may_have_applied=response.status != 429,
        )
    raise SpApiRejected(operation_id, response.status, response.errors(), response.request_id)
