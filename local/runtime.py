"""The embedded local stack: moto server + resources from template.yaml + SP-API emulator + worker loop.

One object starts everything in this process, hands out endpoints and names, and stops it again. The
CLI's ``local`` and ``demo`` commands and the end-to-end tests all use it, so what the tests prove is
what a developer runs.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from adapters.settings import DEFAULT_RETRY_BUDGET_HOURS
from domain import env_vars
from domain.events import COMMAND_EVENT
from domain.regions import DEFAULT_REGION, LWA_TOKEN_URL
from emulator.notification_delivery import NotificationDestination
from emulator.server import EmulatorServer
from handlers.bootstrap import silence_library_debug_logs
from handlers.notifications import lambda_handler as notifications_handler
from handlers.poller import lambda_handler as poller_handler
from handlers.worker import lambda_handler
from local.assets import repository_path
from local.moto import MotoHandle, aws_client_kwargs, start_moto_server
from local.stack import LocalResources, deploy_local_stack, load_template, seed_account_secret
from local.worker_loop import LambdaHandler, LocalEventSourceMapping, LocalLambdaContext, logger


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """A selling-partner account of the local stack: its secret and the emulator's matching account."""

    name: str
    seller_id: str
    region: str = DEFAULT_REGION
    sandbox: bool = False

    @property
    def secret(self) -> dict[str, Any]:
        # Fake credentials known only to the local emulator.
        return {
            "clientId": f"amzn1.application-oa2-client.{self.name}",
            "clientSecret": f"local-secret-{self.name}",
            "refreshToken": f"Atzr|local-refresh-{self.name}",
            "region": self.region,
            "sandbox": self.sandbox,
        }


DEMO_ACCOUNTS = (
    DemoAccount("demo-seller", "A2SELLERDEMO"),
    DemoAccount("demo-vendor", "A3VENDORDEMO"),
    # Stands for an account of the SP-API sandbox: sandbox-only operations are accepted for it.
    DemoAccount("demo-sandbox", "A4SANDBOXDEMO", sandbox=True),
)


@dataclass(slots=True)
class LocalStackOptions:
    spapi_endpoint: str | None = None  # an external SP-API (or sandbox); None: the embedded emulator
    lwa_token_url: str | None = None
    workers: int = 2
    batch_size: int = 10
    function_timeout_seconds: float = 60.0
    max_receive_count: int = 5
    emulator_rate_scale: float = 1.0
    http_timeout_seconds: float = 10.0
    retry_backoff_base_seconds: float = 2.0
    # The worker's RETRY_BUDGET_HOURS, the deployed default unless a test says otherwise; 0: retries
    # count receives.
    retry_budget_hours: float = DEFAULT_RETRY_BUDGET_HOURS
    # Transactions are checked every few seconds here (every minute on AWS), so the loop is watchable.
    follow_up_interval_seconds: int = 2
    follow_up_max_minutes: float = 2.0
    # The emulator shows an acknowledgement in the order's state at once: probes need not wait long.
    acknowledgement_window_seconds: float = 3.0
    # The pollers of template.yaml run on this interval locally (None: the template's PollSchedule).
    poll_interval_seconds: float | None = 30.0
    df_poll_accounts: str = "demo-vendor"
    usage_plan_overrides: str = ""  # USAGE_PLAN_OVERRIDES (JSON), e.g. to match a scaled-up emulator
    mcf_poll_accounts: str = "demo-seller"
    retail_poll_accounts: str = "demo-vendor"
    accounts: tuple[DemoAccount, ...] = DEMO_ACCOUNTS
    start_worker: bool = True
    template_path: Path = field(default_factory=lambda: repository_path("template.yaml"))
    handler: LambdaHandler = field(default=lambda_handler)
    # The notifications Lambda of template.yaml, on NotificationQueue (the emulator sends to it).
    notification_handler: LambdaHandler = field(default=notifications_handler)
    # The emulator delivers every Nth notification twice, as Amazon sometimes does (0: never).
    notification_duplicate_every: int = 0


class LocalStack:
    def __init__(self, options: LocalStackOptions | None = None) -> None:
        self.options = options or LocalStackOptions()
        self.moto: MotoHandle | None = None
        self.emulator: EmulatorServer | None = None
        self.resources: LocalResources | None = None
        self.worker: LocalEventSourceMapping | None = None
        self.notification_worker: LocalEventSourceMapping | None = None
        self._saved_environ: dict[str, str | None] = {}
        self._schedules: dict[str, float] = {}
        self._stopping = threading.Event()
        self._scheduler: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> Self:
        options = self.options
        silence_library_debug_logs()
        self.moto = start_moto_server()
        self.resources = deploy_local_stack(
            self.moto.endpoint_url,
            parameters={"MaxReceiveCount": str(options.max_receive_count)},
            template_path=options.template_path,
        )
        if options.spapi_endpoint is None:
            # The emulator plays SP-API's notifications too: to NotificationQueue, as a destination would.
            destination = NotificationDestination(
                self.resources.notification_queue_url,
                endpoint_url=self.moto.endpoint_url,
                region=self.resources.region,
            )
            self.emulator = EmulatorServer(
                rate_scale=options.emulator_rate_scale, notification_destination=destination
            ).start()
            self.emulator.state.notification_delivery.set_controls(
                duplicate_every=options.notification_duplicate_every
            )
            for account in options.accounts:
                secret = account.secret
                self.emulator.register_account(
                    secret["clientId"], secret["clientSecret"], secret["refreshToken"], account.seller_id
                )
        for account in options.accounts:
            seed_account_secret(
                self.moto.endpoint_url,
                self.resources.region,
                f"{self.resources.account_secret_prefix}{account.name}",
                account.secret,
            )
        self._apply_environment(self.environment())
        self.worker = LocalEventSourceMapping(
            self.client("sqs"),
            self.resources.command_queue_url,
            options.handler,
            region=self.resources.region,
            batch_size=options.batch_size,
            function_timeout_seconds=options.function_timeout_seconds,
            concurrency=options.workers,
        )
        # The same real handler Lambda runs on NotificationQueue (template.yaml's NotificationFunction).
        self.notification_worker = LocalEventSourceMapping(
            self.client("sqs"),
            self.resources.notification_queue_url,
            options.notification_handler,
            region=self.resources.region,
            batch_size=options.batch_size,
            function_timeout_seconds=options.function_timeout_seconds,
            concurrency=1,
            function_name="sp-relay-notifications",
        )
        self._schedules = poller_schedules(load_template(options.template_path))
        if options.start_worker:
            self.worker.start()
            self.notification_worker.start()
            self._start_scheduler()
        return self

    def run_poller(self, name: str) -> dict[str, Any]:
        """Run one scheduled poller now, through its real Lambda handler."""
        context = LocalLambdaContext("sp-relay-poller", timeout_seconds=300.0)
        answer: dict[str, Any] = poller_handler({"poller": name}, cast("LambdaContext", context))
        return answer

    def _start_scheduler(self) -> None:
        def loop() -> None:
            interval = self.options.poll_interval_seconds
            next_runs = {
                name: time.monotonic() + (interval or seconds) for name, seconds in self._schedules.items()
            }
            while not self._stopping.wait(1.0):
                for name, due in next_runs.items():
                    if time.monotonic() < due:
                        continue
                    next_runs[name] = time.monotonic() + (interval or self._schedules[name])
                    try:
                        self.run_poller(name)
                    except Exception:  # noqa: BLE001 - the schedule goes on, as EventBridge's would
                        logger.exception("scheduled poller failed", extra={"poller": name})

        self._stopping.clear()
        self._scheduler = threading.Thread(target=loop, name="local-scheduler", daemon=True)
        self._scheduler.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._scheduler is not None:
            self._scheduler.join(timeout=30)
        if self.worker is not None:
            self.worker.stop()
        if self.notification_worker is not None:
            self.notification_worker.stop()
        if self.emulator is not None:
            self.emulator.stop()
        if self.moto is not None:
            self.moto.stop()
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environ.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- endpoints ---------------------------------------------------------------------------------------

    @property
    def spapi_endpoint(self) -> str:
        if self.options.spapi_endpoint:
            return self.options.spapi_endpoint
        assert self.emulator is not None, "start() first"
        return self.emulator.url

    @property
    def lwa_token_url(self) -> str:
        if self.options.lwa_token_url:
            return self.options.lwa_token_url
        if self.emulator is not None:
            return self.emulator.lwa_token_url
        return LWA_TOKEN_URL

    def environment(self) -> dict[str, str]:
        """The worker's environment variables, as template.yaml sets them on AWS."""
        assert self.moto is not None and self.resources is not None, "start() first"
        resources = self.resources
        return {
            env_vars.AWS_ENDPOINT_URL: self.moto.endpoint_url,
            env_vars.AWS_ACCESS_KEY_ID: "local",
            env_vars.AWS_SECRET_ACCESS_KEY: "local",
            env_vars.AWS_DEFAULT_REGION: resources.region,
            env_vars.AWS_REGION: resources.region,
            env_vars.COMMAND_QUEUE_URL: resources.command_queue_url,
            env_vars.DEAD_LETTER_QUEUE_URL: resources.dead_letter_queue_url,
            env_vars.IDEMPOTENCY_TABLE_NAME: resources.idempotency_table_name,
            env_vars.RATE_LIMIT_TABLE_NAME: resources.rate_limit_table_name,
            env_vars.OUTCOME_BUS_NAME: resources.outcome_bus_name,
            env_vars.OUTCOME_TAP_QUEUE_URL: resources.outcome_tap_queue_url,
            env_vars.ACCOUNT_SECRET_PREFIX: resources.account_secret_prefix,
            env_vars.RELAY_CONTEXT_KEY_SECRET_ID: resources.relay_context_key_secret_id,
            env_vars.MAX_RECEIVE_COUNT: str(resources.max_receive_count),
            # The emulator listens on this machine: the local stack admits loopback endpoints.
            env_vars.ALLOW_LOOPBACK_ENDPOINTS: "true",
            env_vars.SPAPI_ENDPOINT_URL: self.spapi_endpoint,
            env_vars.LWA_TOKEN_URL: self.lwa_token_url,
            env_vars.HTTP_TIMEOUT_SECONDS: str(self.options.http_timeout_seconds),
            env_vars.RETRY_BACKOFF_BASE_SECONDS: str(self.options.retry_backoff_base_seconds),
            env_vars.RETRY_BUDGET_HOURS: str(self.options.retry_budget_hours),
            env_vars.POLLER_STATE_TABLE_NAME: resources.poller_state_table_name,
            env_vars.DF_POLL_ACCOUNTS: self.options.df_poll_accounts,
            env_vars.MCF_POLL_ACCOUNTS: self.options.mcf_poll_accounts,
            env_vars.RETAIL_POLL_ACCOUNTS: self.options.retail_poll_accounts,
            env_vars.USAGE_PLAN_OVERRIDES: self.options.usage_plan_overrides,
            env_vars.FOLLOW_UP_INTERVAL_SECONDS: str(self.options.follow_up_interval_seconds),
            env_vars.FOLLOW_UP_MAX_MINUTES: str(self.options.follow_up_max_minutes),
            env_vars.ACKNOWLEDGEMENT_WINDOW_SECONDS: str(self.options.acknowledgement_window_seconds),
            env_vars.POWERTOOLS_SERVICE_NAME: "sp-relay",
            # The notifications handler's settings (template.yaml's NotificationFunction).
            env_vars.NOTIFICATION_DEAD_LETTER_QUEUE_URL: resources.notification_dead_letter_queue_url,
            env_vars.NOTIFICATION_SELLER_ACCOUNTS: ",".join(
                f"{account.seller_id}={account.name}" for account in self.options.accounts
            ),
        }

    def describe(self) -> dict[str, Any]:
        """Endpoints and resource names, for people and for ``--write-endpoints``."""
        assert self.resources is not None, "start() first"
        return {
            "awsEndpointUrl": self.resources.endpoint_url,
            "spapiEndpointUrl": self.spapi_endpoint,
            "lwaTokenUrl": self.lwa_token_url,
            "region": self.resources.region,
            "commandQueueUrl": self.resources.command_queue_url,
            "deadLetterQueueUrl": self.resources.dead_letter_queue_url,
            "outcomeTapQueueUrl": self.resources.outcome_tap_queue_url,
            "idempotencyTableName": self.resources.idempotency_table_name,
            "rateLimitTableName": self.resources.rate_limit_table_name,
            "outcomeBusName": self.resources.outcome_bus_name,
            "notificationQueueUrl": self.resources.notification_queue_url,
            "notificationDeadLetterQueueUrl": self.resources.notification_dead_letter_queue_url,
            "accounts": [account.name for account in self.options.accounts],
            "environment": self.environment(),
        }

    def client(self, service: str) -> Any:
        assert self.moto is not None and self.resources is not None, "start() first"
        kwargs = aws_client_kwargs(self.moto.endpoint_url, self.resources.region)
        return boto3.client(service, **kwargs)  # type: ignore[call-overload]

    # --- using it ----------------------------------------------------------------------------------------

    def send(self, command: Mapping[str, Any] | str) -> str:
        assert self.resources is not None, "start() first"
        body = command if isinstance(command, str) else json.dumps(command)
        answer = self.client("sqs").send_message(QueueUrl=self.resources.command_queue_url, MessageBody=body)
        return str(answer["MessageId"])

    def wait_until_drained(self, timeout: float = 60.0) -> bool:
        """Until the command queue and then the notification queue stay empty (the notifications the
        commands caused are events by then)."""
        assert self.worker is not None and self.notification_worker is not None, "start() first"
        deadline = time.monotonic() + timeout
        if not self.worker.wait_until_drained(timeout):
            return False
        return self.notification_worker.wait_until_drained(max(0.0, deadline - time.monotonic()))

    def events(self, max_rounds: int = 3) -> list[tuple[str, dict[str, Any]]]:
        """Every event delivered so far to the tap queue, as (detail-type, detail); each is read once."""
        assert self.resources is not None, "start() first"
        events = [json.loads(body) for body in self._drain(self.resources.outcome_tap_queue_url, max_rounds)]
        return [(str(event["detail-type"]), event["detail"]) for event in events]

    def outcomes(self, max_rounds: int = 3) -> list[dict[str, Any]]:
        """The command outcome events delivered so far (other events read meanwhile are dropped)."""
        return [detail for kind, detail in self.events(max_rounds) if kind.startswith(COMMAND_EVENT)]

    def dead_letters(self, max_rounds: int = 3) -> list[dict[str, Any]]:
        """Messages on the DLQ with their reason attributes (each read once, then deleted)."""
        assert self.resources is not None, "start() first"
        return list(self._drain_messages(self.resources.dead_letter_queue_url, max_rounds))

    def _drain(self, queue_url: str, max_rounds: int) -> Iterator[str]:
        for message in self._drain_messages(queue_url, max_rounds):
            yield str(message["body"])

    def _drain_messages(self, queue_url: str, max_rounds: int) -> Iterator[dict[str, Any]]:
        sqs = self.client("sqs")
        empty_rounds = 0
        while empty_rounds < max_rounds:
            answer = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"]
            )
            messages = answer.get("Messages", [])
            if not messages:
                empty_rounds += 1
                continue
            for message in messages:
                attributes = {
                    name: value.get("StringValue")
                    for name, value in message.get("MessageAttributes", {}).items()
                }
                yield {"messageId": message["MessageId"], "body": message["Body"], "attributes": attributes}
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )

    def _apply_environment(self, environment: Mapping[str, str]) -> None:
        for name, value in environment.items():
            self._saved_environ.setdefault(name, os.environ.get(name))
            os.environ[name] = value


def poller_schedules(template: Mapping[str, Any]) -> dict[str, float]:
    """Poller name → interval in seconds, from the Schedule events of template.yaml's functions."""
    default_rate = str(
        template.get("Parameters", {}).get("PollSchedule", {}).get("Default", "rate(5 minutes)")
    )
    schedules: dict[str, float] = {}
    for resource in template.get("Resources", {}).values():
        for event in (resource.get("Properties", {}).get("Events") or {}).values():
            if event.get("Type") != "Schedule":
                continue
            properties = event.get("Properties", {})
            expression = properties.get("Schedule")
            rate = expression if isinstance(expression, str) else default_rate
            schedules[json.loads(properties["Input"])["poller"]] = _rate_seconds(rate)
    return schedules


def _rate_seconds(expression: str) -> float:
    """``rate(5 minutes)`` → 300.0."""
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if match is None:
        raise ValueError(f"only rate(...) schedules run locally, not {expression!r}")
    unit = {"minute": 60, "hour": 3600, "day": 86400}[match.group(2).rstrip("s")]
    return float(match.group(1)) * unit


def sample_commands() -> list[tuple[str, dict[str, Any]]]:
    """The sample commands in ``events/``, by file name."""
    events = repository_path("events")
    return [(path.name, json.loads(path.read_text())) for path in sorted(events.glob("*.json"))]
