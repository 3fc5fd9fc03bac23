"""SP-API over httpx: LWA access tokens, host by region, one refresh on an expired token."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

import httpx
from aws_lambda_powertools import Logger
from httpx import USE_CLIENT_DEFAULT
from httpx._client import UseClientDefault

from domain.errors import CredentialsRejected, DeadlineReached, SpApiUnavailable
from domain.gateway import MIN_REQUEST_SECONDS
from domain.ports import Admission
from domain.regions import spapi_host
from domain.requests import SpApiRequest, SpApiResponse

logger = Logger(service="sp-relay", child=True)

USER_AGENT = "sp-relay/0.1 (Language=Python)"
# Failures before the request left this process: SP-API cannot have applied it. Every other transport
# failure (a read timeout, a reset after sending) may come after the effect.
NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
# Refresh an access token this long before LWA says it expires: a request in flight must not carry a dead one.
REFRESH_MARGIN_SECONDS = 60.0
CONNECT_TIMEOUT_SECONDS = 5.0

# httpx's per-request timeouts (connect, read, write, pool), or the client's own.
RequestTimeout = httpx.Timeout | UseClientDefault


def request_seconds(timeout: httpx.Timeout) -> float:
    """The worst case of one request under ``timeout``: its connect plus its read timeout. Writing a
    request body of a few KiB and taking a connection from a pool larger than the worker's threads take
    milliseconds, and are not counted."""
    return float(timeout.connect or 0.0) + float(timeout.read or 0.0)


def timeout_within(default: httpx.Timeout, seconds: float) -> httpx.Timeout:
    """``default``, or, when its connect plus read timeout would not end within ``seconds``, both cut in
    the same proportion so that they do."""
    full = request_seconds(default)
    if full <= seconds:
        return default
    share = seconds / full
    connect, read = float(default.connect or 0.0) * share, float(default.read or 0.0) * share
    return httpx.Timeout(read, connect=connect, write=read, pool=connect)


class CredentialsSource(Protocol):
    def credentials(self, account: str) -> Any: ...

    def forget(self, account: str) -> None:
        """The account's credentials were refused: read them afresh next time."""
        ...


def spapi_base_url(region: str, *, sandbox: bool, endpoint_override: str | None) -> str:
    if endpoint_override:
        return endpoint_override.rstrip("/")
    return f"https://{spapi_host(region, sandbox=sandbox)}"


@dataclass(slots=True)
class _CachedToken:
    value: str
    expires_at: float


class LwaTokenCache:
    """Access tokens per account, exchanged from the refresh token and cached until shortly before expiry."""

    def __init__(
        self,
        http: httpx.Client,
        token_url: str,
        credentials: CredentialsSource,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self._token_url = token_url
        self._credentials = credentials
        self._clock = clock
        self._tokens: dict[str, _CachedToken] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self.exchanges = 0  # how many token requests this container made (benchmarks read it)

    def access_token(self, account: str, timeout: RequestTimeout = USE_CLIENT_DEFAULT) -> str:
        """``timeout``: of the exchange, when one is needed (the caller's time may be short)."""
        token = self._tokens.get(account)
        if token is not None and token.expires_at > self._clock():
            return token.value
        with self._lock_for(account):
            token = self._tokens.get(account)
            if token is None or token.expires_at <= self._clock():
                token = self._tokens[account] = self._exchange(account, timeout)
            return token.value

    def grantless_token(self, account: str, scope: str, timeout: RequestTimeout = USE_CLIENT_DEFAULT) -> str:
        """A grantless access token (client_credentials) for ``scope``, e.g. ``sellingpartnerapi::migration``.

        Cached per (application, scope): every account of the same application shares it. ``timeout``:
        of the exchange, when one is needed.
        """
        credentials = self._credentials.credentials(account)
        key = _grantless_key(credentials.client_id, scope)
        token = self._tokens.get(key)
        if token is not None and token.expires_at > self._clock():
            return token.value
        with self._lock_for(key):
            token = self._tokens.get(key)
            if token is None or token.expires_at <= self._clock():
                form = {
                    "grant_type": "client_credentials",
                    "scope": scope,
                    "client_id": credentials.client_id,
                    "client_secret": credentials.client_secret,
                }
                token = self._tokens[key] = self._request_token(account, form, timeout)
            return token.value

    def invalidate(self, account: str, rejected_token: str, *, scope: str | None = None) -> None:
        """Forget the token SP-API rejected (the account's, or with ``scope`` the application's grantless
        token), unless another thread already replaced it."""
        key = (
            account
            if scope is None
            else _grantless_key(self._credentials.credentials(account).client_id, scope)
        )
        with self._lock_for(key):
            token = self._tokens.get(key)
            if token is not None and token.value == rejected_token:
                del self._tokens[key]

    def _lock_for(self, account: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(account, threading.Lock())

    def _exchange(self, account: str, timeout: RequestTimeout = USE_CLIENT_DEFAULT) -> _CachedToken:
        credentials = self._credentials.credentials(account)
        form = {
            "grant_type": "refresh_token",
            "refresh_token": credentials.refresh_token,
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
        }
        return self._request_token(account, form, timeout)

    def _request_token(
        self, account: str, form: dict[str, str], timeout: RequestTimeout = USE_CLIENT_DEFAULT
    ) -> _CachedToken:
        self.exchanges += 1
        try:
            response = self._http.post(
                self._token_url, data=form, headers={"accept": "application/json"}, timeout=timeout
            )
        except httpx.TransportError as error:
            raise SpApiUnavailable(
                f"LWA token request failed: {type(error).__name__}", may_have_applied=False
            ) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise SpApiUnavailable(
                f"LWA answered {response.status_code}", status=response.status_code, may_have_applied=False
            )
        answer = _json_or_none(response)
        if response.status_code != 200 or not isinstance(answer, dict) or "access_token" not in answer:
            reason = (
                answer.get("error", "unexpected answer") if isinstance(answer, dict) else "unexpected answer"
            )
            self._credentials.forget(account)
            raise CredentialsRejected(
                f"LWA refused the credentials of account {account!r}: {response.status_code} {reason}"
            )
        lifetime = float(answer.get("expires_in", 3600))
        logger.debug("LWA access token exchanged", extra={"account": account, "expires_in": lifetime})
        return _CachedToken(str(answer["access_token"]), self._clock() + lifetime - REFRESH_MARGIN_SECONDS)


def _grantless_key(client_id: str, scope: str) -> str:
    return f"grantless#{client_id}#{scope}"


class SpApiHttpClient:
    """Implements the ``SpApi`` port. The body sent is exactly the request body: nothing injected."""

    def __init__(
        self,
        http: httpx.Client,
        tokens: LwaTokenCache,
        credentials: CredentialsSource,
        *,
        endpoint_override: str | None = None,
        sandbox: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self._tokens = tokens
        self._credentials = credentials
        self._endpoint_override = endpoint_override
        self._sandbox = sandbox
        self._clock = clock

    def call(
        self,
        account: str,
        region: str,
        request: SpApiRequest,
        *,
        admit: Admission | None = None,
        timeout_seconds: float | None = None,
    ) -> SpApiResponse:
        sandbox = self._sandbox or bool(self._credentials.credentials(account).sandbox)
        url = (
            spapi_base_url(region, sandbox=sandbox, endpoint_override=self._endpoint_override) + request.path
        )
        content = None if request.body is None else json.dumps(request.body, ensure_ascii=False).encode()
        # Every request of this call (an access token's, a resend's) ends within timeout_seconds.
        ends_by = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        # A Restricted Data Token is sent as is; the caller renews it if SP-API refuses it.
        attempts = (1,) if request.access_token else (1, 2)
        for attempt in attempts:
            # Everything the request needs is ready before its rate-limit token is taken (admit).
            token = request.access_token or self._login_token(account, request.grantless_scope, ends_by)
            sent = _SendTime(self._clock)
            outgoing = self._http.build_request(
                request.method,
                url,
                params=list(request.query),
                content=content,
                headers={**dict(request.headers), **self._headers(token, has_body=content is not None)},
                extensions={"trace": sent.trace},
            )
            decided_at = admit() if admit is not None else None
            # Cut after the token wait, which spent some of the time.
            timeout = self._timeout_until(ends_by, request.operation_id)
            if isinstance(timeout, httpx.Timeout):
                outgoing.extensions["timeout"] = timeout.as_dict()
            started = time.perf_counter()
            try:
                response = self._http.send(outgoing)
            except NOT_SENT_ERRORS as error:
                raise SpApiUnavailable(
                    f"SP-API {request.operation_id} was not reached ({type(error).__name__})",
                    may_have_applied=False,
                ) from None
            except httpx.TimeoutException as error:
                raise SpApiUnavailable(
                    f"SP-API {request.operation_id} timed out ({type(error).__name__})"
                ) from None
            except httpx.TransportError as error:
                raise SpApiUnavailable(
                    f"SP-API {request.operation_id} connection failed ({type(error).__name__})"
                ) from None
            answer = replace(_to_response(response), sent_at=sent.at)
            logger.info(
                "SP-API call",
                extra={
                    "operation": request.operation_id,
                    "account": account,
                    "region": region,
                    "status": answer.status,
                    "request_id": answer.request_id,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "token_to_send_ms": (
                        round((sent.at - decided_at) * 1000, 1)
                        if sent.at is not None and decided_at is not None
                        else None
                    ),
                },
            )
            if request.access_token or not _token_rejected(answer):
                return answer
            self._tokens.invalidate(account, token, scope=request.grantless_scope)
            if attempt == 2:
                break
        self._credentials.forget(account)
        raise CredentialsRejected(
            f"SP-API rejected the access token of account {account!r} again after a refresh ({answer.status})"
        )

    def _login_token(self, account: str, grantless_scope: str | None, ends_by: float | None) -> str:
        """The account's access token, or the application's grantless one of ``grantless_scope``."""
        timeout = self._timeout_until(ends_by, "LWA token request")
        if grantless_scope is not None:
            return self._tokens.grantless_token(account, grantless_scope, timeout)
        return self._tokens.access_token(account, timeout)

    def _timeout_until(self, ends_by: float | None, what: str) -> RequestTimeout:
        """The client's timeouts, cut to end by ``ends_by`` (monotonic); DeadlineReached when too little
        is left for a request to be worth sending: it could only time out, and a write that times out
        leaves its outcome unknown."""
        if ends_by is None:
            return USE_CLIENT_DEFAULT
        left = ends_by - time.monotonic()
        if left < MIN_REQUEST_SECONDS:
            raise DeadlineReached(f"{what}: {max(left, 0.0):.2f}s left of the call's time, not sent")
        return timeout_within(self._http.timeout, left)

    @staticmethod
    def _headers(token: str, *, has_body: bool) -> dict[str, str]:
        headers = {"x-amz-access-token": token, "user-agent": USER_AGENT, "accept": "application/json"}
        if has_body:
            headers["content-type"] = "application/json"
        return headers


class _SendTime:
    """Notes when the request's headers start going out on the connection (httpcore's trace hook)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.at: float | None = None

    def trace(self, event: str, _info: Mapping[str, Any]) -> None:
        if self.at is None and event.endswith("send_request_headers.started"):
            self.at = self._clock()


def _token_rejected(response: SpApiResponse) -> bool:
    if response.status not in (401, 403):
        return False
    text = " ".join(f"{e.get('message', '')} {e.get('details', '')}" for e in response.errors()).lower()
    return "access token" in text or response.status == 401


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _to_response(response: httpx.Response) -> SpApiResponse:
    rate = response.headers.get("x-amzn-RateLimit-Limit")
    try:
        granted = float(rate) if rate else None
    except ValueError:
        granted = None
    return SpApiResponse(
        status=response.status_code,
        body=_json_or_none(response) if response.content else None,
        request_id=response.headers.get("x-amzn-RequestId"),
        granted_rate=granted,
    )
