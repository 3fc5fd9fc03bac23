"""Everything the emulator remembers, behind one re-entrant lock.

Tests reach it as ``server.state``; the control API (``/_emulator/...``) calls the same methods.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from emulator.ratelimit import RateLimiter

FaultKind = Literal["status", "timeout", "slow"]
FAULT_KINDS: tuple[FaultKind, ...] = ("status", "timeout", "slow")
TokenKind = Literal["access", "grantless", "restricted"]
TransactionStatus = Literal["Processing", "Success", "Failure"]
TRANSACTION_STATUSES: tuple[TransactionStatus, ...] = ("Processing", "Success", "Failure")
# FulfillmentOrderStatus of fulfillmentOutbound_2020-07-01 (checked against the model by the tests).
ORDER_STATUSES = (
    "New",
    "Received",
    "Planning",
    "Processing",
    "Cancelled",
    "Complete",
    "CompletePartialled",
    "Unfulfillable",
    "Invalid",
)
DEFAULT_TIMEOUT_DELAY = 30.0
DEFAULT_SLOW_DELAY = 3.0


def timestamp() -> str:
    """Now, the way SP-API writes it: ``2020-02-07T01:23:30Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StateError(ValueError):
    """A control request the state cannot honour (unknown id, bad value)."""


@dataclass(frozen=True)
class Account:
    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    seller_id: str


@dataclass
class IssuedToken:
    client_id: str
    seller_id: str | None
    kind: TokenKind
    expires_at: float  # time.monotonic()
    scope: str | None = None


@dataclass
class FulfillmentOrderRecord:
    """``request`` is the create body as received; ``fields`` and ``items`` are the current order (after
    updates), ``fields`` holding the top-level fields other than ``items``."""

    seller_id: str
    seller_fulfillment_order_id: str
    request: dict[str, Any]
    fields: dict[str, Any]
    items: list[dict[str, Any]]
    status: str
    received_date: str
    status_updated_date: str


@dataclass
class TransactionRecord:
    transaction_id: str
    seller_id: str
    operation: str
    created_at: float  # time.monotonic()
    forced_status: TransactionStatus | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Fault:
    """An injected fault. ``count`` limits it to the next N matching calls, ``probability`` makes it random;
    with neither it applies to every matching call until cleared."""

    operation: str = "*"
    kind: FaultKind = "status"
    status: int = 503
    count: int | None = None
    probability: float | None = None
    delay_seconds: float | None = None
    apply_before_fault: bool = False
    code: str | None = None
    message: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise StateError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        if not 100 <= self.status <= 599:
            raise StateError("status must be an HTTP status code")
        if self.count is not None and self.count < 1:
            raise StateError("count must be at least 1")
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise StateError("probability must be between 0 and 1")
        if self.delay_seconds is not None and self.delay_seconds < 0:
            raise StateError("delaySeconds must not be negative")

    @property
    def delay(self) -> float:
        if self.delay_seconds is not None:
            return self.delay_seconds
        return {"timeout": DEFAULT_TIMEOUT_DELAY, "slow": DEFAULT_SLOW_DELAY}.get(self.kind, 0.0)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        known = {
            "operation",
            "kind",
            "status",
            "count",
            "probability",
            "delaySeconds",
            "applyBeforeFault",
            "code",
            "message",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise StateError(f"unknown fault fields: {', '.join(unknown)}")
        try:
            return cls(
                operation=str(data.get("operation", "*")),
                kind=data.get("kind", "status"),
                status=int(data.get("status", 504 if data.get("kind") == "timeout" else 503)),
                count=None if data.get("count") is None else int(data["count"]),
                probability=None if data.get("probability") is None else float(data["probability"]),
                delay_seconds=None if data.get("delaySeconds") is None else float(data["delaySeconds"]),
                apply_before_fault=bool(data.get("applyBeforeFault", False)),
                code=None if data.get("code") is None else str(data["code"]),
                message=None if data.get("message") is None else str(data["message"]),
            )
        except (TypeError, ValueError) as exc:
            raise StateError(f"invalid fault: {exc}") from exc

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "operation": self.operation,
            "kind": self.kind,
            "status": self.status,
            "count": self.count,
            "probability": self.probability,
            "delaySeconds": self.delay,
            "applyBeforeFault": self.apply_before_fault,
            "code": self.code,
            "message": self.message,
        }


@dataclass(frozen=True)
class CallRecord:
    operation_id: str | None
    operation: str | None
    status: int
    seller: str | None
    path: str
    time: float  # time.time()

    def to_json(self) -> dict[str, Any]:
        return {
            "operationId": self.operation_id,
            "operation": self.operation,
            "status": self.status,
            "seller": self.seller,
            "path": self.path,
            "time": self.time,
        }


@dataclass
class EmulatorConfig:
    rate_scale: float = 1.0
    sandbox_usage_plan: bool = False
    token_ttl_seconds: int = 3600
    transaction_settle_seconds: float = 2.0


class EmulatorState:
    """Accounts, tokens, orders, transactions, the call log, applied effects and faults.

    Every public method takes ``lock``; handlers run with ``lock`` held by the request pipeline and may use
    the containers (``orders``, ``transactions``, ...) directly.
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.lock = threading.RLock()
        self._clients: dict[str, str] = {}
        self._accounts: dict[str, Account] = {}  # by refresh token
        self._tokens: dict[str, IssuedToken] = {}
        self._token_requests: Counter[str] = Counter()
        self.orders: dict[tuple[str, str], FulfillmentOrderRecord] = {}
        self.transactions: dict[str, TransactionRecord] = {}
        self.acknowledgements: list[dict[str, Any]] = []
        self._calls: list[CallRecord] = []
        self._effects: dict[str, Counter[str]] = {}
        self._faults: list[Fault] = []
        self.limiter = RateLimiter()

    # -- accounts and tokens ------------------------------------------------------------------------------

    def register_account(
        self, client_id: str, client_secret: str, refresh_token: str, seller_id: str
    ) -> Account:
        if not all((client_id, client_secret, refresh_token, seller_id)):
            raise StateError("client_id, client_secret, refresh_token and seller_id are required")
        account = Account(client_id, client_secret, refresh_token, seller_id)
        with self.lock:
            self._clients[client_id] = client_secret
            self._accounts[refresh_token] = account
        return account

    def accounts(self) -> list[Account]:
        with self.lock:
            return list(self._accounts.values())

    def client_authenticates(self, client_id: str, client_secret: str) -> bool:
        with self.lock:
            known = self._clients.get(client_id)
        return known is not None and secrets.compare_digest(known, client_secret)

    def account_for(self, client_id: str, refresh_token: str) -> Account | None:
        with self.lock:
            account = self._accounts.get(refresh_token)
        return account if account is not None and account.client_id == client_id else None

    def count_token_request(self, client_id: str) -> None:
        with self.lock:
            self._token_requests[client_id] += 1

    def token_request_count(self, client_id: str) -> int:
        with self.lock:
            return self._token_requests[client_id]

    def token_requests(self) -> dict[str, int]:
        with self.lock:
            return dict(self._token_requests)

    def issue_token(
        self,
        client_id: str,
        seller_id: str | None,
        kind: TokenKind,
        *,
        scope: str | None = None,
        ttl_seconds: float | None = None,
    ) -> str:
        prefix = {"access": "Atza|", "grantless": "Atc|", "restricted": "Atz.sprdt|"}[kind]
        token = prefix + secrets.token_urlsafe(48)
        ttl = self.config.token_ttl_seconds if ttl_seconds is None else ttl_seconds
        with self.lock:
            self._tokens[token] = IssuedToken(client_id, seller_id, kind, time.monotonic() + ttl, scope)
        return token

    def lookup_token(self, token: str) -> IssuedToken | None:
        with self.lock:
            return self._tokens.get(token)

    def issued_token_values(self) -> list[str]:
        """Every token issued so far (for tests that check no token reached a log)."""
        with self.lock:
            return list(self._tokens)

    def expire_tokens(self) -> int:
        """Expire every issued token (they stay known, so they answer "expired", not "invalid")."""
        now = time.monotonic()
        with self.lock:
            for issued in self._tokens.values():
                issued.expires_at = min(issued.expires_at, now - 1.0)
            return len(self._tokens)

    # -- calls and effects ----------------------------------------------------------------------------------

    def record_call(self, call: CallRecord) -> None:
        with self.lock:
            self._calls.append(call)

    def calls(self, operation: str | None = None) -> list[CallRecord]:
        """The SP-API calls seen so far; ``operation`` filters on name or operationId."""
        with self.lock:
            calls = list(self._calls)
        if operation is None:
            return calls
        return [c for c in calls if operation in (c.operation, c.operation_id)]

    def record_effect(self, operation: str, key: str) -> None:
        with self.lock:
            self._effects.setdefault(operation, Counter())[key] += 1

    def effects(self) -> dict[str, dict[str, int]]:
        """Applied effects per operation name, keyed by natural key, e.g.
        ``{"createFulfillmentOrder": {"order-1": 1}}``. A count above 1 means the effect happened twice."""
        with self.lock:
            return {op: dict(counter) for op, counter in self._effects.items()}

    def effect_count(self, operation: str, key: str) -> int:
        with self.lock:
            return self._effects.get(operation, Counter())[key]

    # -- faults ---------------------------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> Fault:
        with self.lock:
            self._faults.append(fault)
        return fault

    def faults(self) -> list[Fault]:
        with self.lock:
            return list(self._faults)

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def take_fault(self, names: tuple[str, ...]) -> Fault | None:
        """The first fault that applies to this call (consuming one of its ``count``), if any."""
        with self.lock:
            for fault in list(self._faults):
                if fault.operation != "*" and fault.operation not in names:
                    continue
                if fault.probability is not None and random.random() >= fault.probability:
                    continue
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    # -- orders and transactions ----------------------------------------------------------------------------

    def _find_order(self, order_id: str, seller_id: str | None) -> FulfillmentOrderRecord:
        matches = [
            o
            for (seller, oid), o in self.orders.items()
            if oid == order_id and (seller_id is None or seller == seller_id)
        ]
        if not matches:
            raise StateError(f"unknown fulfillment order {order_id}")
        if len(matches) > 1:
            raise StateError(f"order {order_id} exists for several sellers; give sellerId")
        return matches[0]

    def order(self, order_id: str, seller_id: str | None = None) -> FulfillmentOrderRecord:
        with self.lock:
            return self._find_order(order_id, seller_id)

    def set_order_status(self, order_id: str, status: str, seller_id: str | None = None) -> None:
        if status not in ORDER_STATUSES:
            raise StateError(f"status must be one of {', '.join(ORDER_STATUSES)}")
        with self.lock:
            record = self._find_order(order_id, seller_id)
            record.status = status
            record.status_updated_date = timestamp()

    def new_transaction(self, seller_id: str, operation: str) -> TransactionRecord:
        record = TransactionRecord(str(uuid.uuid4()), seller_id, operation, time.monotonic())
        with self.lock:
            self.transactions[record.transaction_id] = record
        return record

    def transaction_status(self, record: TransactionRecord) -> TransactionStatus:
        if record.forced_status is not None:
            return record.forced_status
        settled = time.monotonic() - record.created_at >= self.config.transaction_settle_seconds
        return "Success" if settled else "Processing"

    def set_transaction_result(
        self, transaction_id: str, status: str, errors: list[dict[str, Any]] | None = None
    ) -> None:
        """Force a transaction's status, e.g. ``Failure`` with ``[{"code", "message", "details"}]``."""
        if status not in TRANSACTION_STATUSES:
            raise StateError(f"status must be one of {', '.join(TRANSACTION_STATUSES)}")
        with self.lock:
            record = self.transactions.get(transaction_id)
            if record is None:
                raise StateError(f"unknown transaction {transaction_id}")
            record.forced_status = status
            record.errors = list(errors or [])

    # -- reset ----------------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget orders, transactions, calls, effects, faults, rate-limit buckets and token-request counts
        (not accounts, not issued tokens)."""
        self.limiter.reset()
        with self.lock:
            self.orders.clear()
            self.transactions.clear()
            self.acknowledgements.clear()
            self._calls.clear()
            self._effects.clear()
            self._faults.clear()
            self._token_requests.clear()
