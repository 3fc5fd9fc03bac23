"""Settings read from the environment: every wrong value is refused naming the variable and the reason."""

from __future__ import annotations

import pytest

from adapters.settings import DEFAULT_LWA_TOKEN_URL, Settings, SettingsError

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


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_a_missing_required_variable_is_named(missing: str) -> None:
    environment = {name: value for name, value in REQUIRED.items() if name != missing}
    with pytest.raises(SettingsError, match=f"environment variable {missing} is required"):
        Settings.from_env({**environment, missing: "  "})


def test_a_number_that_is_not_one_is_named() -> None:
    with pytest.raises(SettingsError, match=r"MAX_RECEIVE_COUNT must be a number, got 'five'"):
        Settings.from_env({**REQUIRED, "MAX_RECEIVE_COUNT": "five"})


def test_poll_accounts_take_an_optional_region() -> None:
    settings = Settings.from_env({**REQUIRED, "DF_POLL_ACCOUNTS": " shop-a, shop-b:eu ,"})
    assert settings.df_poll_accounts == (("shop-a", None), ("shop-b", "eu"))
    with pytest.raises(SettingsError, match=r"MCF_POLL_ACCOUNTS: region of 'shop' must be na, eu or fe"):
        Settings.from_env({**REQUIRED, "MCF_POLL_ACCOUNTS": "shop:us"})


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
