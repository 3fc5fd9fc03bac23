"""Typed settings read from the environment once, when the composition root is built."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import overload
from urllib.parse import urlsplit

from adapters.rate_limiter import DEFAULT_ARRIVAL_MARGIN_SECONDS
from domain import env_vars
from domain.errors import PermanentError
from domain.regions import LWA_HOST, LWA_TOKEN_URL, REGIONS, SPAPI_HOSTS
from domain.spapi import ALL_OPERATIONS

DEFAULT_LWA_TOKEN_URL = LWA_TOKEN_URL
DEFAULT_SECRET_PREFIX = "sp-relay/accounts/"  # noqa: S105 - a name prefix


class SettingsError(PermanentError):
    code = "SettingsError"


# Every account's access token, refresh token and client secret is sent to these hosts: only Amazon's,
# over https. ALLOW_LOOPBACK_ENDPOINTS=true (the local stack, the emulator) also admits this machine.
LWA_HOSTS = frozenset({LWA_HOST})
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def checked_endpoint(variable: str, url: str, amazon_hosts: frozenset[str], *, allow_loopback: bool) -> str:
    """``url`` when it points at one of ``amazon_hosts`` over https (or, when allowed, at this machine)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise SettingsError(f"{variable}: {url[:200]!r} is not a URL") from None
    if parts.username or parts.password:
        raise SettingsError(f"{variable}: credentials in the URL are not accepted")
    if parts.scheme == "https" and host in amazon_hosts and parts.port in (None, 443):
        return url
    if allow_loopback and parts.scheme in ("http", "https") and host in LOOPBACK_HOSTS:
        return url
    allowed = ", ".join(sorted(amazon_hosts))
    raise SettingsError(
        f"{variable}: {url[:200]!r} is not an Amazon endpoint; credentials are sent only to https://"
        f"{{{allowed}}} (set {env_vars.ALLOW_LOOPBACK_ENDPOINTS}=true to use an emulator on this machine)"
    )


@dataclass(frozen=True, slots=True)
class FunctionEnvironment:
    """The environment variables one Lambda function's settings read, and which of them it cannot do
    without. ``Settings.from_env`` reads no other, and template.yaml gives the function exactly these
    (less the tuning ones of ``env_vars.NOT_SET_BY_TEMPLATE``, plus Powertools' own):
    tests/unit/test_wire_names.py compares the two per function."""

    function: str  # the function's logical id in template.yaml
    variables: frozenset[str]
    required: frozenset[str]


# What the AWS SDK clients of every function read.
_AWS_SDK_VARIABLES = frozenset({env_vars.AWS_ENDPOINT_URL, env_vars.AWS_REGION, env_vars.AWS_DEFAULT_REGION})
# SP-API, its credentials, the shared limiter and the outcome bus (handlers/bootstrap.py build_spapi_side):
# the worker's and the pollers'.
_SPAPI_SIDE_VARIABLES = _AWS_SDK_VARIABLES | {
    env_vars.RATE_LIMIT_TABLE_NAME,
    env_vars.OUTCOME_BUS_NAME,
    env_vars.ACCOUNT_SECRET_PREFIX,
    env_vars.SPAPI_ENDPOINT_URL,
    env_vars.LWA_TOKEN_URL,
    env_vars.SPAPI_SANDBOX,
    env_vars.ALLOW_LOOPBACK_ENDPOINTS,
    env_vars.HTTP_TIMEOUT_SECONDS,
    env_vars.SECRET_MAX_AGE_SECONDS,
    env_vars.RATE_LIMIT_ARRIVAL_MARGIN_SECONDS,
    env_vars.MAX_INLINE_WAIT_SECONDS,
    env_vars.RETRY_BACKOFF_BASE_SECONDS,
    env_vars.USAGE_PLAN_OVERRIDES,
    env_vars.SHARED_RATE_BUCKETS,
}
WORKER_ENVIRONMENT = FunctionEnvironment(
    "WorkerFunction",
    _SPAPI_SIDE_VARIABLES
    | {
        env_vars.COMMAND_QUEUE_URL,
        env_vars.DEAD_LETTER_QUEUE_URL,
        env_vars.IDEMPOTENCY_TABLE_NAME,
        env_vars.RELAY_CONTEXT_KEY_SECRET_ID,
        env_vars.ALLOWED_ACCOUNTS,
        env_vars.SENDER_ACCOUNTS,
        env_vars.MAX_RECEIVE_COUNT,
        env_vars.RETRY_BUDGET_HOURS,
        env_vars.FOLLOW_UP_INTERVAL_SECONDS,
        env_vars.FOLLOW_UP_MAX_MINUTES,
        env_vars.ACKNOWLEDGEMENT_WINDOW_SECONDS,
    },
    # build_worker names the worker's own resources it misses.
    frozenset({env_vars.RATE_LIMIT_TABLE_NAME, env_vars.OUTCOME_BUS_NAME}),
)
POLLER_ENVIRONMENT = FunctionEnvironment(
    "PollerFunction",
    _SPAPI_SIDE_VARIABLES
    | {
        env_vars.POLLER_STATE_TABLE_NAME,
        env_vars.DF_POLL_ACCOUNTS,
        env_vars.MCF_POLL_ACCOUNTS,
        env_vars.RETAIL_POLL_ACCOUNTS,
    },
    frozenset({env_vars.RATE_LIMIT_TABLE_NAME, env_vars.OUTCOME_BUS_NAME}),
)
# No SP-API, no limiter: notifications arrive from SP-API, nothing is sent to it.
NOTIFICATIONS_ENVIRONMENT = FunctionEnvironment(
    "NotificationFunction",
    _AWS_SDK_VARIABLES
    | {
        env_vars.NOTIFICATION_DEAD_LETTER_QUEUE_URL,
        env_vars.IDEMPOTENCY_TABLE_NAME,
        env_vars.OUTCOME_BUS_NAME,
        env_vars.NOTIFICATION_SELLER_ACCOUNTS,
        env_vars.POLLER_STATE_TABLE_NAME,
        env_vars.MAX_RECEIVE_COUNT,
    },
    frozenset({env_vars.OUTCOME_BUS_NAME}),
)
FUNCTION_ENVIRONMENTS = (WORKER_ENVIRONMENT, POLLER_ENVIRONMENT, NOTIFICATIONS_ENVIRONMENT)


class _FunctionVariables:
    """The environment as one function's settings see it: a variable it does not use reads as unset, so
    no function depends on a variable the template does not give it."""

    def __init__(self, environ: Mapping[str, str], function: FunctionEnvironment) -> None:
        self._environ = environ
        self._function = function

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        return self._environ.get(name, default) if name in self._function.variables else default


# Several hours: SP-API incidents last minutes to hours; well within the command queue's retention
# (4 days), and each retry is a fresh copy with a retention of its own.
DEFAULT_RETRY_BUDGET_HOURS = 6.0


@dataclass(frozen=True, slots=True)
class Settings:
    outcome_bus_name: str
    # The worker's and the pollers' (the notifications handler has no limiter).
    rate_limit_table_name: str = ""
    # The worker's own resources (build_worker requires them; the pollers have none of them).
    command_queue_url: str = ""
    dead_letter_queue_url: str = ""
    idempotency_table_name: str = ""
    account_secret_prefix: str = DEFAULT_SECRET_PREFIX
    # One base URL replacing the SP-API host of every region and account, sandbox ones too (it overrides
    # spapi_sandbox): an Amazon SP-API host over https (a path and port 443 allowed; checked_endpoint),
    # or the local emulator with ALLOW_LOOPBACK_ENDPOINTS. None: the region's host, or its sandbox twin.
    spapi_endpoint_url: str | None = None
    lwa_token_url: str = DEFAULT_LWA_TOKEN_URL
    spapi_sandbox: bool = False
    max_receive_count: int = 5
    max_inline_wait_seconds: float = 2.0
    retry_backoff_base_seconds: float = 2.0
    # How long a command is retried while SP-API or a dependency fails (delayed copies, no receive
    # counted), from its first attempt; 0: retries count receives up to max_receive_count.
    retry_budget_hours: float = DEFAULT_RETRY_BUDGET_HOURS
    follow_up_interval_seconds: int = 60
    follow_up_max_minutes: float = 30.0
    http_timeout_seconds: float = 10.0
    # How long a vendor acknowledgement may take to show in the purchase order's state (see domain.probes).
    acknowledgement_window_seconds: float = 15 * 60.0
    # How long a container keeps an account's secret before reading it again (it is also re-read at
    # once when LWA or SP-API refuses the credentials).
    secret_max_age_seconds: float = 300.0
    # How late a request may reach SP-API after its token was decided (adapters/rate_limiter.py).
    rate_limit_arrival_margin_seconds: float = DEFAULT_ARRIVAL_MARGIN_SECONDS
    aws_endpoint_url: str | None = None
    aws_region: str | None = None
    # Pollers: where they keep watermarks, and which accounts ("name" or "name:region") each polls.
    poller_state_table_name: str | None = None
    df_poll_accounts: tuple[tuple[str, str | None], ...] = ()
    mcf_poll_accounts: tuple[tuple[str, str | None], ...] = ()
    retail_poll_accounts: tuple[tuple[str, str | None], ...] = ()
    # Raised usage plans: ("<api>.<operationId>", rate per second, burst).
    usage_plan_overrides: tuple[tuple[str, float, int], ...] = ()
    # Operations limited in another operation's bucket: ("<api>.<operationId>", "<api>.<operationId>").
    shared_rate_buckets: tuple[tuple[str, str], ...] = ()
    # The Secrets Manager secret holding the key that seals the relay's own message context
    # (domain/relay_context.py); the stack generates it. Required by the worker.
    relay_context_key_secret_id: str | None = None
    # Producer-to-account authorization (domain/authorization.py); None: not restricted.
    allowed_accounts: tuple[str, ...] | None = None
    sender_accounts: tuple[tuple[str, tuple[str, ...]], ...] | None = None
    # The notifications handler: its DLQ, and the relay's account name of each SP-API seller id.
    notification_dead_letter_queue_url: str = ""
    notification_seller_accounts: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, function: FunctionEnvironment = WORKER_ENVIRONMENT
    ) -> Settings:
        """The settings of ``function``, from the variables it uses (any other is left at its default)."""
        env = _FunctionVariables(os.environ if environ is None else environ, function)

        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value and name in function.required:
                raise SettingsError(f"environment variable {name} is required")
            return value

        def flag(name: str) -> bool:
            raw = env.get(name, "").strip().lower()
            if raw not in {"", "0", "1", "true", "false", "yes", "no"}:
                raise SettingsError(f"environment variable {name} must be true or false, got {raw[:40]!r}")
            return raw in {"1", "true", "yes"}

        def number(name: str, default: float) -> float:
            raw = env.get(name, "").strip()
            try:
                return float(raw) if raw else default
            except ValueError:
                raise SettingsError(f"environment variable {name} must be a number, got {raw!r}") from None

        loopback = flag(env_vars.ALLOW_LOOPBACK_ENDPOINTS)
        return cls(
            command_queue_url=env.get(env_vars.COMMAND_QUEUE_URL, "").strip(),
            dead_letter_queue_url=env.get(env_vars.DEAD_LETTER_QUEUE_URL, "").strip(),
            idempotency_table_name=env.get(env_vars.IDEMPOTENCY_TABLE_NAME, "").strip(),
            rate_limit_table_name=required(env_vars.RATE_LIMIT_TABLE_NAME),
            outcome_bus_name=required(env_vars.OUTCOME_BUS_NAME),
            account_secret_prefix=env.get(env_vars.ACCOUNT_SECRET_PREFIX) or DEFAULT_SECRET_PREFIX,
            spapi_endpoint_url=(
                checked_endpoint(env_vars.SPAPI_ENDPOINT_URL, spapi_url, SPAPI_HOSTS, allow_loopback=loopback)
                if (spapi_url := env.get(env_vars.SPAPI_ENDPOINT_URL, "").strip())
                else None
            ),
            lwa_token_url=checked_endpoint(
                env_vars.LWA_TOKEN_URL,
                env.get(env_vars.LWA_TOKEN_URL, "").strip() or DEFAULT_LWA_TOKEN_URL,
                LWA_HOSTS,
                allow_loopback=loopback,
            ),
            spapi_sandbox=flag(env_vars.SPAPI_SANDBOX),
            max_receive_count=int(number(env_vars.MAX_RECEIVE_COUNT, 5)),
            max_inline_wait_seconds=number(env_vars.MAX_INLINE_WAIT_SECONDS, 2.0),
            retry_backoff_base_seconds=number(env_vars.RETRY_BACKOFF_BASE_SECONDS, 2.0),
            retry_budget_hours=number(env_vars.RETRY_BUDGET_HOURS, DEFAULT_RETRY_BUDGET_HOURS),
            follow_up_interval_seconds=int(number(env_vars.FOLLOW_UP_INTERVAL_SECONDS, 60)),
            follow_up_max_minutes=number(env_vars.FOLLOW_UP_MAX_MINUTES, 30.0),
            http_timeout_seconds=number(env_vars.HTTP_TIMEOUT_SECONDS, 10.0),
            acknowledgement_window_seconds=number(env_vars.ACKNOWLEDGEMENT_WINDOW_SECONDS, 15 * 60.0),
            secret_max_age_seconds=number(env_vars.SECRET_MAX_AGE_SECONDS, 300.0),
            rate_limit_arrival_margin_seconds=number(
                env_vars.RATE_LIMIT_ARRIVAL_MARGIN_SECONDS, DEFAULT_ARRIVAL_MARGIN_SECONDS
            ),
            aws_endpoint_url=env.get(env_vars.AWS_ENDPOINT_URL) or None,
            aws_region=env.get(env_vars.AWS_REGION) or env.get(env_vars.AWS_DEFAULT_REGION) or None,
            poller_state_table_name=env.get(env_vars.POLLER_STATE_TABLE_NAME) or None,
            df_poll_accounts=parse_poll_accounts(
                env_vars.DF_POLL_ACCOUNTS, env.get(env_vars.DF_POLL_ACCOUNTS, "")
            ),
            mcf_poll_accounts=parse_poll_accounts(
                env_vars.MCF_POLL_ACCOUNTS, env.get(env_vars.MCF_POLL_ACCOUNTS, "")
            ),
            retail_poll_accounts=parse_poll_accounts(
                env_vars.RETAIL_POLL_ACCOUNTS, env.get(env_vars.RETAIL_POLL_ACCOUNTS, "")
            ),
            usage_plan_overrides=parse_usage_plan_overrides(env.get(env_vars.USAGE_PLAN_OVERRIDES, "")),
            shared_rate_buckets=parse_shared_rate_buckets(env.get(env_vars.SHARED_RATE_BUCKETS, "")),
            relay_context_key_secret_id=env.get(env_vars.RELAY_CONTEXT_KEY_SECRET_ID, "").strip() or None,
            allowed_accounts=parse_allowed_accounts(env.get(env_vars.ALLOWED_ACCOUNTS, "")),
            sender_accounts=parse_sender_accounts(env.get(env_vars.SENDER_ACCOUNTS, "")),
            notification_dead_letter_queue_url=env.get(
                env_vars.NOTIFICATION_DEAD_LETTER_QUEUE_URL, ""
            ).strip(),
            notification_seller_accounts=parse_seller_accounts(
                env.get(env_vars.NOTIFICATION_SELLER_ACCOUNTS, "")
            ),
        )


def parse_poll_accounts(variable: str, text: str) -> tuple[tuple[str, str | None], ...]:
    """``"shop-a, shop-b:eu"`` → ``(("shop-a", None), ("shop-b", "eu"))``."""
    accounts: list[tuple[str, str | None]] = []
    for item in text.split(","):
        name, _, region = item.strip().partition(":")
        if not name:
            continue
        if region and region not in REGIONS:
            raise SettingsError(
                f"{variable}: region of {name!r} must be one of {', '.join(REGIONS)}, got {region!r}"
            )
        accounts.append((name, region or None))
    return tuple(accounts)


def parse_seller_accounts(text: str) -> tuple[tuple[str, str], ...]:
    """``"A2SELLERDEMO=shop-a, A3OTHER=shop-b"`` → ``(("A2SELLERDEMO", "shop-a"), ...)``."""
    pairs: list[tuple[str, str]] = []
    for item in text.split(","):
        if not item.strip():
            continue
        seller, _, account = (part.strip() for part in item.partition("="))
        if not seller or not _ACCOUNT_NAME.match(account):
            raise SettingsError(
                f"{env_vars.NOTIFICATION_SELLER_ACCOUNTS}: {item.strip()[:80]!r} is not <sellerId>=<account>"
            )
        pairs.append((seller, account))
    return tuple(pairs)


def parse_usage_plan_overrides(text: str) -> tuple[tuple[str, float, int], ...]:
    """``{"fulfillment_outbound_2020_07_01.createFulfillmentOrder": {"rate": 20, "burst": 30}}``."""
    if not text.strip():
        return ()
    try:
        document = json.loads(text)
    except ValueError:
        raise SettingsError(f"{env_vars.USAGE_PLAN_OVERRIDES} must be a JSON object") from None
    if not isinstance(document, dict):
        raise SettingsError(f"{env_vars.USAGE_PLAN_OVERRIDES} must be a JSON object")
    overrides = []
    for key, plan in sorted(document.items()):
        if key not in ALL_OPERATIONS:
            raise SettingsError(
                f"{env_vars.USAGE_PLAN_OVERRIDES}: unknown operation {key!r} (use <api>.<operationId>)"
            )
        rate, burst = (plan.get("rate"), plan.get("burst")) if isinstance(plan, dict) else (None, None)
        if not isinstance(rate, int | float) or rate <= 0 or not isinstance(burst, int) or burst < 1:
            raise SettingsError(
                f"{env_vars.USAGE_PLAN_OVERRIDES}: {key} needs a positive rate and an integer burst >= 1"
            )
        overrides.append((key, float(rate), burst))
    return tuple(overrides)


def parse_shared_rate_buckets(text: str) -> tuple[tuple[str, str], ...]:
    """``{"<api>.<operationId>": "<api>.<operationId>"}``, e.g. 2026-07-04 ``createOrder`` to 2020-07-01
    ``createFulfillmentOrder``: the first operation takes its tokens from the second's bucket (and plan)."""
    if not text.strip():
        return ()
    try:
        document = json.loads(text)
    except ValueError:
        raise SettingsError(f"{env_vars.SHARED_RATE_BUCKETS} must be a JSON object") from None
    if not isinstance(document, dict):
        raise SettingsError(f"{env_vars.SHARED_RATE_BUCKETS} must be a JSON object")
    for key, target in document.items():
        for name in (key, target):
            if not isinstance(name, str) or name not in ALL_OPERATIONS:
                raise SettingsError(
                    f"{env_vars.SHARED_RATE_BUCKETS}: unknown operation {name!r} (use <api>.<operationId>)"
                )
        if target in document:
            raise SettingsError(
                f"{env_vars.SHARED_RATE_BUCKETS}: {target} shares a bucket itself; name the last one"
            )
    return tuple(sorted(document.items()))


_ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")


def parse_allowed_accounts(text: str) -> tuple[str, ...] | None:
    """``"shop-a, shop-b"`` → ``("shop-a", "shop-b")``; empty: every account (None)."""
    names = tuple(sorted({name.strip() for name in text.split(",") if name.strip()}))
    for name in names:
        if not _ACCOUNT_NAME.match(name):
            raise SettingsError(f"{env_vars.ALLOWED_ACCOUNTS}: {name[:80]!r} is not an account name")
    return names or None


def parse_sender_accounts(text: str) -> tuple[tuple[str, tuple[str, ...]], ...] | None:
    """``{"AROAEXAMPLEID": ["shop-a"], "AIDAOPERATOR": ["*"]}``: per SQS SenderId, the accounts it may
    act for (``*``: every account). Empty: any sender acts for any account (None)."""
    if not text.strip():
        return None
    try:
        document = json.loads(text)
    except ValueError:
        raise SettingsError(
            f"{env_vars.SENDER_ACCOUNTS} must be a JSON object of sender id to account list"
        ) from None
    if not isinstance(document, dict) or not document:
        raise SettingsError(
            f"{env_vars.SENDER_ACCOUNTS} must be a non-empty JSON object of sender id to account list"
        )
    senders = []
    for sender, accounts in sorted(document.items()):
        if not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts):
            raise SettingsError(f"{env_vars.SENDER_ACCOUNTS}: {sender[:80]!r} needs a list of account names")
        for account in accounts:
            if account != "*" and not _ACCOUNT_NAME.match(account):
                raise SettingsError(
                    f"{env_vars.SENDER_ACCOUNTS}: {account[:80]!r} of {sender[:80]!r} is not an account name"
                )
        senders.append((sender, tuple(sorted(set(accounts)))))
    return tuple(senders)
