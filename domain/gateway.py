"""Calling SP-API within its usage plans: a token per call, Restricted Data Tokens where the
operation needs one, every page of a paged answer."""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from domain.errors import DeadlineReached, RetryableError, SpApiFailing, SpApiUnavailable, Throttled
from domain.paging import MAX_PAGES, Paging, dig
from domain.ports import Clock, FailingBuckets, RateLimiter, SpApi
from domain.rate_limits import FailureHolds, UsagePlanBook, bucket_for
from domain.requests import SpApiRequest, SpApiResponse, build_request, raise_for_status
from domain.spapi import find_operation
from domain.spapi.spec import OperationSpec

CREATE_RDT = find_operation("tokens_2021_03_01", "createRestrictedDataToken")
# Use a Restricted Data Token only while it has this much life left.
RDT_REFRESH_MARGIN_SECONDS = 60.0

RemainingSeconds = Callable[[], float]
# The invocation's last moments are never planned on: what follows a request (the answer handled, the
# message ended) needs them. A request is sent only with at least this plus its own time ahead of it.
DEADLINE_MARGIN_SECONDS = 0.5
# The shortest timeout a request is sent with when timeouts shrink with the time left (here, and in the
# HTTP adapter for each request of a call); less could only time out.
MIN_REQUEST_SECONDS = 0.5
# Kept back from an inline token wait for the token's own decision (a DynamoDB conditional write): a
# wait that slept to the edge of the request's time left the decision none, and the token it granted was
# lost to the deadline check that follows it (the full-size chaos run lost throughput so).
TOKEN_DECISION_RESERVE_SECONDS = 0.5


class SendGaps:
    """The seconds between a token's decision and its request leaving, for the last calls of this worker.

    The limiter's arrival margin must cover this gap (adapters/rate_limiter.py); the benchmark prints it.
    """

    def __init__(self, size: int = 4096) -> None:
        self._gaps: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def record(self, seconds: float) -> None:
        with self._lock:
            self._gaps.append(max(0.0, seconds))

    def values(self) -> list[float]:
        with self._lock:
            return list(self._gaps)


@dataclass(frozen=True, slots=True)
class _CachedRdt:
    token: str
    expires_at: float


class SpApiGateway:
    def __init__(
        self,
        spapi: SpApi,
        limiter: RateLimiter,
        clock: Clock,
        *,
        restricted_operations: frozenset[str],
        max_inline_wait_seconds: float,
        grantless_scopes: Mapping[str, str] | None = None,
        plans: UsagePlanBook | None = None,
        max_pages: int = MAX_PAGES,
        request_seconds: float = 0.0,
        failing: FailingBuckets | None = None,
    ) -> None:
        """``request_seconds``: the worst case of one HTTP request, its connect plus read timeout (the
        adapter's defaults). A write's request is sent only with that much time left (see ``send``).
        ``failing``: where SP-API's failures per (account, operation) are kept (none: never held)."""
        self.failing = failing or FailureHolds(clock.now)
        self._spapi = spapi
        self.request_seconds = request_seconds
        # A paged read (the relay's, a poller's) reads at most this many pages and says it was cut.
        self.max_pages = max_pages
        self._limiter = limiter
        self._clock = clock
        self._restricted = restricted_operations
        self._grantless = dict(grantless_scopes or {})
        self._max_inline_wait = max_inline_wait_seconds
        self.plans = plans or UsagePlanBook()
        self.send_gaps = SendGaps()
        self._rdts: dict[tuple[str, str, str, str], _CachedRdt] = {}
        self._rdt_lock = threading.Lock()

    def send(
        self,
        account: str,
        region: str,
        operation: OperationSpec,
        payload: Mapping[str, Any],
        remaining: RemainingSeconds,
        *,
        full_timeout: bool = False,
    ) -> SpApiResponse:
        """One request (one token). Restricted operations get a Restricted Data Token first; grantless
        ones go with the application's client_credentials token of their scope.

        ``remaining``: the time this call may use (the invocation's, less what the caller needs after
        the answer). Every request leaves with its timeouts cut to it; ``full_timeout`` (a write) sends
        the operation only with its whole ``request_seconds`` ahead, since a write cut short leaves its
        outcome unknown. Raises DeadlineReached, before anything is sent, when the time is not there."""
        request = build_request(operation, payload)
        if operation.grantless:
            scope = self._grantless.get(operation.key)
            if scope is None:
                # Sent with the seller's token it could only be refused (domain.catalog checks the catalog's).
                raise ValueError(f"{operation.key} is grantless and the gateway has no scope for it")
            request = replace(request, grantless_scope=scope)
        if operation.key not in self._restricted:
            return self._call(account, region, operation, request, remaining, full_timeout=full_timeout)
        # The Restricted Data Token is worth fetching only if the operation can still go after it.
        self._check_deadline(operation, remaining, self._needed(full_timeout) + self.request_seconds)
        response = self._call(
            account,
            region,
            operation,
            self._with_rdt(account, region, request, remaining),
            remaining,
            full_timeout=full_timeout,
        )
        if response.status in (401, 403):
            # The RDT may have been revoked or expired early: one fresh token, then the answer stands.
            self._forget_rdt(account, region, request)
            response = self._call(
                account,
                region,
                operation,
                self._with_rdt(account, region, request, remaining),
                remaining,
                full_timeout=full_timeout,
            )
        return response

    def worst_case_seconds(self, operation: OperationSpec) -> float:
        """How long one ``send`` of ``operation`` may take at full timeouts: its request, a Restricted
        Data Token's before it, its rate-limit token's decision, and the margin kept before the deadline.
        A token wait is not counted: it only ever spends the time beyond this (``_call``)."""
        requests = 2 if operation.key in self._restricted else 1
        return requests * self.request_seconds + TOKEN_DECISION_RESERVE_SECONDS + DEADLINE_MARGIN_SECONDS

    def _needed(self, full_timeout: bool) -> float:
        return max(self.request_seconds if full_timeout else 0.0, MIN_REQUEST_SECONDS)

    @staticmethod
    def _check_deadline(operation: OperationSpec, remaining: RemainingSeconds, needed: float) -> float:
        """The seconds beyond ``needed`` (and the margin) this call still has; DeadlineReached if none."""
        left = remaining() - DEADLINE_MARGIN_SECONDS
        if left < needed:
            raise DeadlineReached(
                f"{max(left, 0.0):.2f}s left before the invocation's deadline, {operation.operation_id} "
                f"needs {needed:.2f}s: not sent"
            )
        return left - needed

    def _with_rdt(
        self, account: str, region: str, request: SpApiRequest, remaining: RemainingSeconds
    ) -> SpApiRequest:
        try:
            return self._with_fresh_rdt(account, region, request, remaining)
        except SpApiUnavailable as error:
            # The token request failed, not the operation: the operation itself was never sent.
            raise SpApiUnavailable(
                f"{error.message} (before {request.operation_id} was sent)",
                error.status,
                error.request_id,
                may_have_applied=False,
            ) from None

    def pages(
        self,
        account: str,
        region: str,
        operation: OperationSpec,
        payload: Mapping[str, Any],
        *,
        paging: Paging,
        remaining: RemainingSeconds,
        next_token: str | None = None,
        full_timeout: bool = False,
    ) -> Generator[SpApiResponse]:
        """The pages of a paged read, one request each, as they arrive (from ``next_token``'s page when
        given). A failed page raises; the caller, having counted what it got, knows where to go on.
        ``full_timeout``: a page is sent only with its whole timeout ahead (DeadlineReached between pages)."""
        current = dict(payload)
        while True:
            if next_token is not None:
                current[paging.token_parameter] = next_token
            response = self.send(account, region, operation, current, remaining, full_timeout=full_timeout)
            raise_for_status(operation.operation_id, response)
            yield response
            next_token = paging.token_of(response.body)
            if next_token is None:
                return

    # --- tokens of the usage plan --------------------------------------------------------------------------

    def check_bucket(self, account: str, region: str, operation: OperationSpec) -> None:
        """Raise Throttled, without any I/O, when this worker already knows it would not get through:
        SP-API failed for the (account, operation) moments ago (SpApiFailing), or the bucket is empty
        for longer than it would wait. The message is deferred before anything else is spent on it, so
        one failing call defers the rest of its batch for that (account, operation) without calling."""
        held = self.failing.held_for(bucket_for(account, region, operation))
        if held > 0:
            raise SpApiFailing(bucket_for(account, region, operation).key, held)
        bucket = self.plans.bucket_for(account, region, operation)
        wait = self._limiter.known_wait(bucket, self.plans.plan_for(bucket, operation))
        if wait > self._max_inline_wait:
            raise Throttled(bucket.key, wait)

    def _call(
        self,
        account: str,
        region: str,
        operation: OperationSpec,
        request: SpApiRequest,
        remaining: RemainingSeconds,
        *,
        full_timeout: bool = False,
    ) -> SpApiResponse:
        bucket = self.plans.bucket_for(account, region, operation)
        decided: list[float] = []
        needed = self._needed(full_timeout)
        self._check_deadline(operation, remaining, needed)

        def admit() -> float:
            # Called by the adapter once the request is ready to leave: the token is the last thing taken,
            # and only while the request still has its time ahead (an access token may have taken some).
            waited = 0.0
            while True:
                # No token is taken that the request would have no time left to use.
                spare = self._check_deadline(operation, remaining, needed + TOKEN_DECISION_RESERVE_SECONDS)
                decided_at = self._clock.now()
                wait = self._limiter.try_acquire(bucket, self.plans.plan_for(bucket, operation))
                if wait <= 0:
                    # The token's conditional write can itself be slow (DynamoDB stalled for seconds):
                    # the request must still have its time ahead now, or a write would leave with its
                    # timeout cut and end with its outcome unknown. The token granted is then lost:
                    # handing it back would be a second write to the same table that may stall too, and
                    # a token spent unused only paces the bucket one call lower, which SP-API never sees.
                    self._check_deadline(operation, remaining, needed)
                    decided.append(decided_at)
                    return decided_at
                # A token wait spends only the time beyond the request's own worst case.
                budget = min(self._max_inline_wait - waited, spare)
                if wait > budget:
                    raise Throttled(bucket.key, wait)
                self._clock.sleep(wait)
                waited += wait

        # Every HTTP request of the call (an access token's too) is cut to the time left before the margin.
        failing = bucket_for(account, region, operation)
        try:
            response = self._spapi.call(
                account,
                region,
                request,
                admit=admit,
                timeout_seconds=max(remaining() - DEADLINE_MARGIN_SECONDS, MIN_REQUEST_SECONDS),
            )
        except SpApiUnavailable:
            self.failing.failed(failing)  # a timeout, a connection error, LWA failing
            raise
        # A 429 is SP-API answering: its pacing is the shared bucket's to keep (pushed back below, for every
        # worker). Held too, a run of 429s would double the hold to its cap: messages held for 30 s at a
        # time behind a bucket that is empty for one interval.
        if response.status >= 500:
            self.failing.failed(failing)
        else:
            self.failing.answered(failing)
        if decided and response.sent_at is not None:
            self.send_gaps.record(response.sent_at - decided[-1])
        self.plans.record_granted_rate(bucket, response.granted_rate)
        if response.status == 429:
            # Our limiter was ahead of SP-API's bucket: nothing was applied, no delivery is spent, and every
            # worker is told to hold back for an interval.
            plan = self.plans.plan_for(bucket, operation)
            with contextlib.suppress(RetryableError):
                self._limiter.push_back(bucket, plan)
            raise Throttled(bucket.key, plan.interval, answered_by_spapi=True)
        return response

    # --- Restricted Data Tokens ----------------------------------------------------------------------------

    def _with_fresh_rdt(
        self, account: str, region: str, request: SpApiRequest, remaining: RemainingSeconds
    ) -> SpApiRequest:
        key = (account, region, request.method, request.path)
        with self._rdt_lock:
            cached = self._rdts.get(key)
        if cached is None or cached.expires_at <= self._clock.now():
            cached = self._create_rdt(account, region, request, remaining)
            with self._rdt_lock:
                self._rdts[key] = cached
        return replace(request, access_token=cached.token)

    def _forget_rdt(self, account: str, region: str, request: SpApiRequest) -> None:
        with self._rdt_lock:
            self._rdts.pop((account, region, request.method, request.path), None)

    def _create_rdt(
        self, account: str, region: str, request: SpApiRequest, remaining: RemainingSeconds
    ) -> _CachedRdt:
        payload = {"restrictedResources": [{"method": request.method, "path": request.path}]}
        response = self._call(account, region, CREATE_RDT, build_request(CREATE_RDT, payload), remaining)
        raise_for_status(CREATE_RDT.operation_id, response)
        token = dig(response.body, ("restrictedDataToken",))
        lifetime = dig(response.body, ("expiresIn",))
        if not isinstance(token, str) or not isinstance(lifetime, int | float):
            raise SpApiUnavailable(f"SP-API {CREATE_RDT.operation_id} answered without a token")
        return _CachedRdt(str(token), self._clock.now() + float(lifetime) - RDT_REFRESH_MARGIN_SECONDS)
