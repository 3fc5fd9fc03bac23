"""Settings read from the environment: every wrong value is refused naming the variable and the reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.settings import (
    DEFAULT_LWA_TOKEN_URL,
    NOTIFICATIONS_ENVIRONMENT,
    POLLER_ENVIRONMENT,
    Settings,
    SettingsError,
)
from domain.regions import LWA_TOKEN_URL, REGIONS, SPAPI_HOSTS

pytestmark = pytest.mark.unit

REQUIRED = {
    "COMMAND_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/commands",
    "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/dlq",
    "IDEMPOTENCY_TABLE_NAME": "idempotency",
    "RATE_LIMIT_TABLE_NAME": "rate-limits",
    "OUTCOME_BUS_NAME": "outcomes",
}


def test_the_defaults_of_a_minimal_environment() -> None:
    settings = Settings.from_env(REQUIRED)

    assert settings.lwa_token_url == DEFAULT_LWA_TOKEN_URL
    assert settings.spapi_endpoint_url is None
    assert (settings.max_receive_count, settings.spapi_sandbox) == (5, False)
    assert settings.df_poll_accounts == ()


@pytest.mark.parametrize("missing", ["RATE_LIMIT_TABLE_NAME", "OUTCOME_BUS_NAME"])
def test_a_missing_required_variable_is_named(missing: str) -> None:
    environment = {name: value for name, value in REQUIRED.items() if name != missing}
    with pytest.raises(SettingsError, match=f"environment variable {missing} is required"):
        Settings.from_env({**environment, missing: "  "})


@pytest.mark.parametrize(
    "missing",
    ["COMMAND_QUEUE_URL", "DEAD_LETTER_QUEUE_URL", "IDEMPOTENCY_TABLE_NAME", "RELAY_CONTEXT_KEY_SECRET_ID"],
)
def test_the_worker_names_each_of_its_own_variables_it_misses(missing: str) -> None:
    from handlers.bootstrap import build_worker  # noqa: PLC0415

    environment = {**REQUIRED, "RELAY_CONTEXT_KEY_SECRET_ID": "arn:aws:secretsmanager:us-east-1:1:secret:k"}
    settings = Settings.from_env({name: value for name, value in environment.items() if name != missing})
    with pytest.raises(SettingsError, match=f"environment variable {missing} is required by the worker"):
        build_worker(settings)


def test_the_pollers_need_none_of_the_workers_resources() -> None:
    from handlers.bootstrap import build_pollers  # noqa: PLC0415

    poller_only = {
        "RATE_LIMIT_TABLE_NAME": "rate-limits",
        "OUTCOME_BUS_NAME": "outcomes",
        "POLLER_STATE_TABLE_NAME": "poller-state",
        "AWS_REGION": "us-east-1",
        "DF_POLL_ACCOUNTS": "shop-a",
        "RETAIL_POLL_ACCOUNTS": "vendor-b:eu",
    }
    # Nothing is called while building.
    pollers = build_pollers(Settings.from_env(poller_only, function=POLLER_ENVIRONMENT))
    assert set(pollers.pollers) == {"df-purchase-orders", "retail-purchase-orders", "mcf-orders"}
    assert pollers.pollers["df-purchase-orders"][1] == (("shop-a", None),)
    assert pollers.pollers["retail-purchase-orders"][1] == (("vendor-b", "eu"),)


def test_a_number_that_is_not_one_is_named() -> None:
    with pytest.raises(SettingsError, match=r"MAX_RECEIVE_COUNT must be a number, got 'five'"):
        Settings.from_env({**REQUIRED, "MAX_RECEIVE_COUNT": "five"})


def test_poll_accounts_take_an_optional_region() -> None:
    settings = Settings.from_env(
        {**REQUIRED, "DF_POLL_ACCOUNTS": " shop-a, shop-b:eu ,"}, function=POLLER_ENVIRONMENT
    )
    assert settings.df_poll_accounts == (("shop-a", None), ("shop-b", "eu"))
    with pytest.raises(
        SettingsError, match=r"MCF_POLL_ACCOUNTS: region of 'shop' must be one of na, eu, fe, got 'us'"
    ):
        Settings.from_env({**REQUIRED, "MCF_POLL_ACCOUNTS": "shop:us"}, function=POLLER_ENVIRONMENT)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[1]", "must be a JSON object"),
        ("{", "must be a JSON object"),
        ('{"nope.op": {"rate": 1, "burst": 1}}', "unknown operation 'nope.op'"),
        (
            '{"fulfillment_outbound_2020_07_01.createFulfillmentOrder": {"rate": 0, "burst": 1}}',
            "needs a positive rate",
        ),
    ],
)
def test_usage_plan_overrides_are_checked(text: str, reason: str) -> None:
    with pytest.raises(SettingsError, match=reason):
        Settings.from_env({**REQUIRED, "USAGE_PLAN_OVERRIDES": text})


def test_settings_are_hashable_so_a_container_builds_once_per_configuration() -> None:
    assert hash(Settings.from_env(REQUIRED)) == hash(Settings.from_env(dict(REQUIRED)))


# --- endpoints: credentials go only to Amazon ---------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "url"),
    [
        ("SPAPI_ENDPOINT_URL", "https://sellingpartnerapi-eu.amazon.com"),
        ("SPAPI_ENDPOINT_URL", "https://sandbox.sellingpartnerapi-fe.amazon.com/"),
        ("LWA_TOKEN_URL", "https://api.amazon.com/auth/o2/token"),
    ],
)
def test_amazon_https_endpoints_are_accepted(variable: str, url: str) -> None:
    settings = Settings.from_env({**REQUIRED, variable: url})
    assert url in (settings.spapi_endpoint_url, settings.lwa_token_url)


@pytest.mark.parametrize(
    ("variable", "url"),
    [
        ("SPAPI_ENDPOINT_URL", "http://sellingpartnerapi-na.amazon.com"),
        ("SPAPI_ENDPOINT_URL", "https://sellingpartnerapi-na.amazon.com.evil.example"),
        ("SPAPI_ENDPOINT_URL", "https://evil.example/sellingpartnerapi-na.amazon.com"),
        ("SPAPI_ENDPOINT_URL", "https://user:pass@sellingpartnerapi-na.amazon.com"),
        ("SPAPI_ENDPOINT_URL", "http://127.0.0.1:8000"),
        ("LWA_TOKEN_URL", "http://api.amazon.com/auth/o2/token"),
        ("LWA_TOKEN_URL", "https://api.amazon.com.attacker.example/auth/o2/token"),
        ("LWA_TOKEN_URL", "https://sellingpartnerapi-na.amazon.com/auth/o2/token"),
        ("LWA_TOKEN_URL", "http://localhost:9000/auth/o2/token"),
    ],
)
def test_any_other_endpoint_is_refused_naming_the_variable(variable: str, url: str) -> None:
    with pytest.raises(SettingsError, match=f"^{variable}: "):
        Settings.from_env({**REQUIRED, variable: url})


def test_loopback_endpoints_need_the_explicit_local_setting() -> None:
    local = {
        "SPAPI_ENDPOINT_URL": "http://127.0.0.1:8000",
        "LWA_TOKEN_URL": "http://localhost:8000/auth/o2/token",
    }
    settings = Settings.from_env({**REQUIRED, **local, "ALLOW_LOOPBACK_ENDPOINTS": "true"})
    assert settings.spapi_endpoint_url == "http://127.0.0.1:8000"
    with pytest.raises(SettingsError, match="ALLOW_LOOPBACK_ENDPOINTS=true"):
        Settings.from_env({**REQUIRED, **local})
    with pytest.raises(SettingsError, match="ALLOW_LOOPBACK_ENDPOINTS must be true or false"):
        Settings.from_env({**REQUIRED, "ALLOW_LOOPBACK_ENDPOINTS": "sure"})


def test_the_spapi_endpoint_takes_a_path_and_port_443_and_replaces_every_regions_host() -> None:
    """What SpApiEndpointUrl's description (template.yaml, README) says of it, as the code does it."""
    from adapters.spapi import spapi_base_url  # noqa: PLC0415

    url = "https://sellingpartnerapi-eu.amazon.com:443/relay/"
    assert Settings.from_env({**REQUIRED, "SPAPI_ENDPOINT_URL": url}).spapi_endpoint_url == url
    with pytest.raises(SettingsError, match=r"^SPAPI_ENDPOINT_URL: "):
        Settings.from_env({**REQUIRED, "SPAPI_ENDPOINT_URL": "https://sellingpartnerapi-eu.amazon.com:8443"})
    # One URL for every region, and it wins over the sandbox (SpApiSandbox or the account's own flag).
    bases = {spapi_base_url(r, sandbox=s, endpoint_override=url) for r in REGIONS for s in (False, True)}
    assert bases == {"https://sellingpartnerapi-eu.amazon.com:443/relay"}
    # Empty: the region's host, its sandbox twin when the sandbox is on.
    assert (
        spapi_base_url("fe", sandbox=True, endpoint_override=None)
        == "https://sandbox.sellingpartnerapi-fe.amazon.com"
    )


def test_the_template_allows_only_amazon_endpoints() -> None:
    import re  # noqa: PLC0415

    from local.stack import load_template  # noqa: PLC0415

    parameters = load_template()["Parameters"]
    spapi, lwa = parameters["SpApiEndpointUrl"]["AllowedPattern"], parameters["LwaTokenUrl"]["AllowedPattern"]
    assert re.fullmatch(spapi, "") and re.fullmatch(spapi, "https://sandbox.sellingpartnerapi-eu.amazon.com")
    assert not re.fullmatch(spapi, "http://sellingpartnerapi-eu.amazon.com")
    assert not re.fullmatch(spapi, "https://sellingpartnerapi-eu.amazon.com.evil.example")
    assert re.fullmatch(lwa, "https://api.amazon.com/auth/o2/token")
    assert not re.fullmatch(lwa, "http://127.0.0.1:8000/auth/o2/token")
    # The template cannot import domain/regions.py: its patterns admit exactly the hosts named there.
    assert re.fullmatch(lwa, LWA_TOKEN_URL)
    for host in SPAPI_HOSTS:
        assert re.fullmatch(spapi, f"https://{host}"), host
    [alternatives] = re.findall(r"\(((?:[a-z]+\|)+[a-z]+)\)", spapi)
    assert tuple(alternatives.split("|")) == REGIONS


def test_secret_max_age_is_a_setting() -> None:
    assert Settings.from_env(REQUIRED).secret_max_age_seconds == 300.0
    assert Settings.from_env({**REQUIRED, "SECRET_MAX_AGE_SECONDS": "60"}).secret_max_age_seconds == 60.0


def test_the_composition_root_gives_relay_gateway_limiter_and_caches_one_clock() -> None:
    from handlers.bootstrap import build_worker  # noqa: PLC0415
    from tests.fakes import FakeClock  # noqa: PLC0415

    clock = FakeClock()
    environment = {**REQUIRED, "RELAY_CONTEXT_KEY_SECRET_ID": "k", "AWS_REGION": "us-east-1"}
    worker = build_worker(Settings.from_env(environment), clock=clock)

    assert worker.relay.ports.clock is clock
    assert worker.relay.gateway._clock is clock
    timed: list[Any] = [worker.limiter, worker.tokens, worker.relay.ports.accounts]
    for adapter in timed:
        assert adapter._clock == clock.now, type(adapter).__name__


def test_shared_rate_buckets_put_an_operation_in_another_operations_bucket() -> None:
    from domain.rate_limits import UsagePlanBook  # noqa: PLC0415
    from domain.spapi import find_operation  # noqa: PLC0415
    from handlers.bootstrap import usage_plans  # noqa: PLC0415

    old = "fulfillment_outbound_2020_07_01.createFulfillmentOrder"
    new = find_operation("fulfillment_outbound_2026_07_04", "createOrder")
    settings = Settings.from_env({**REQUIRED, "SHARED_RATE_BUCKETS": json.dumps({new.key: old})})
    shared, separate = usage_plans(settings), UsagePlanBook()

    assert shared.bucket_for("acme", "na", new).operation == old
    assert separate.bucket_for("acme", "na", new).operation == new.key  # per version by default
    with pytest.raises(SettingsError, match="unknown operation"):
        Settings.from_env({**REQUIRED, "SHARED_RATE_BUCKETS": json.dumps({new.key: "nope.nothing"})})
    with pytest.raises(SettingsError, match="JSON object"):
        Settings.from_env({**REQUIRED, "SHARED_RATE_BUCKETS": "[1]"})


def test_the_notifications_handler_needs_no_rate_limit_table_nor_reads_the_workers_variables() -> None:
    """NotificationFunction has no limiter (and NotificationRole no right on the table): its settings
    neither require RATE_LIMIT_TABLE_NAME nor read the worker's or the pollers' variables."""
    from handlers.bootstrap import build_notifications  # noqa: PLC0415

    notifications_only = {
        "OUTCOME_BUS_NAME": "outcomes",
        "IDEMPOTENCY_TABLE_NAME": "idempotency",
        "NOTIFICATION_DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/notification-dlq",
        "AWS_REGION": "us-east-1",
    }
    settings = Settings.from_env(
        {**notifications_only, "COMMAND_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/commands"},
        function=NOTIFICATIONS_ENVIRONMENT,
    )
    assert (settings.rate_limit_table_name, settings.command_queue_url) == ("", "")
    build_notifications(settings)  # nothing is called while building
