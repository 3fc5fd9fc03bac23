"""The environment variables the relay's functions read: their one home.

template.yaml sets them on AWS, adapters/settings.py and adapters/metrics.py read them, the local stack
(local/runtime.py) sets them as the template does, the operator's console falls back to them; all
import the names from here. Which function reads which is adapters/settings.py's FunctionEnvironment
of each. tests/unit/test_wire_names.py checks that every variable the template sets is named here, that
every variable the settings read is set by the template or listed in ``NOT_SET_BY_TEMPLATE`` with its
reason, and that the template gives each function exactly the variables its settings read.
"""

from __future__ import annotations

from typing import Final

# --- the worker's own resources (template.yaml: WorkerFunction; the notifications function shares two)
COMMAND_QUEUE_URL: Final = "COMMAND_QUEUE_URL"
DEAD_LETTER_QUEUE_URL: Final = "DEAD_LETTER_QUEUE_URL"
IDEMPOTENCY_TABLE_NAME: Final = "IDEMPOTENCY_TABLE_NAME"
RELAY_CONTEXT_KEY_SECRET_ID: Final = "RELAY_CONTEXT_KEY_SECRET_ID"  # noqa: S105 - a name, not a secret
ALLOWED_ACCOUNTS: Final = "ALLOWED_ACCOUNTS"
SENDER_ACCOUNTS: Final = "SENDER_ACCOUNTS"
MAX_RECEIVE_COUNT: Final = "MAX_RECEIVE_COUNT"
RETRY_BUDGET_HOURS: Final = "RETRY_BUDGET_HOURS"

# --- the worker and the pollers (SP-API and its limiter; OUTCOME_BUS_NAME: every function)
RATE_LIMIT_TABLE_NAME: Final = "RATE_LIMIT_TABLE_NAME"
OUTCOME_BUS_NAME: Final = "OUTCOME_BUS_NAME"
ACCOUNT_SECRET_PREFIX: Final = "ACCOUNT_SECRET_PREFIX"  # noqa: S105 - a name, not a secret
SPAPI_ENDPOINT_URL: Final = "SPAPI_ENDPOINT_URL"
LWA_TOKEN_URL: Final = "LWA_TOKEN_URL"  # noqa: S105 - a name, not a secret
SPAPI_SANDBOX: Final = "SPAPI_SANDBOX"

# --- the notifications function
NOTIFICATION_DEAD_LETTER_QUEUE_URL: Final = "NOTIFICATION_DEAD_LETTER_QUEUE_URL"
NOTIFICATION_SELLER_ACCOUNTS: Final = "NOTIFICATION_SELLER_ACCOUNTS"

# --- the pollers
POLLER_STATE_TABLE_NAME: Final = "POLLER_STATE_TABLE_NAME"
DF_POLL_ACCOUNTS: Final = "DF_POLL_ACCOUNTS"
MCF_POLL_ACCOUNTS: Final = "MCF_POLL_ACCOUNTS"
RETAIL_POLL_ACCOUNTS: Final = "RETAIL_POLL_ACCOUNTS"

# --- Powertools' own names (logger, metrics)
POWERTOOLS_SERVICE_NAME: Final = "POWERTOOLS_SERVICE_NAME"
POWERTOOLS_LOG_LEVEL: Final = "POWERTOOLS_LOG_LEVEL"
POWERTOOLS_METRICS_NAMESPACE: Final = "POWERTOOLS_METRICS_NAMESPACE"

# --- tuning, read by the settings with a default; the template does not set them
ALLOW_LOOPBACK_ENDPOINTS: Final = "ALLOW_LOOPBACK_ENDPOINTS"
MAX_INLINE_WAIT_SECONDS: Final = "MAX_INLINE_WAIT_SECONDS"
RETRY_BACKOFF_BASE_SECONDS: Final = "RETRY_BACKOFF_BASE_SECONDS"
FOLLOW_UP_INTERVAL_SECONDS: Final = "FOLLOW_UP_INTERVAL_SECONDS"
FOLLOW_UP_MAX_MINUTES: Final = "FOLLOW_UP_MAX_MINUTES"
HTTP_TIMEOUT_SECONDS: Final = "HTTP_TIMEOUT_SECONDS"
ACKNOWLEDGEMENT_WINDOW_SECONDS: Final = "ACKNOWLEDGEMENT_WINDOW_SECONDS"
SECRET_MAX_AGE_SECONDS: Final = "SECRET_MAX_AGE_SECONDS"  # noqa: S105 - a name, not a secret
RATE_LIMIT_ARRIVAL_MARGIN_SECONDS: Final = "RATE_LIMIT_ARRIVAL_MARGIN_SECONDS"
USAGE_PLAN_OVERRIDES: Final = "USAGE_PLAN_OVERRIDES"
SHARED_RATE_BUCKETS: Final = "SHARED_RATE_BUCKETS"

# --- the AWS SDK's and Lambda's own names
AWS_ENDPOINT_URL: Final = "AWS_ENDPOINT_URL"
AWS_REGION: Final = "AWS_REGION"
AWS_DEFAULT_REGION: Final = "AWS_DEFAULT_REGION"
AWS_ACCESS_KEY_ID: Final = "AWS_ACCESS_KEY_ID"
AWS_SECRET_ACCESS_KEY: Final = "AWS_SECRET_ACCESS_KEY"  # noqa: S105 - a name, not a secret

# --- local only: the local stack's outcome tap queue, which the operator's console reads events from
OUTCOME_TAP_QUEUE_URL: Final = "OUTCOME_TAP_QUEUE_URL"

# Read by the settings but not set by template.yaml, each with why: a name missing from both the
# template and this table is a typo or a forgotten template entry (tests/unit/test_wire_names.py).
NOT_SET_BY_TEMPLATE: Final[dict[str, str]] = {
    ALLOW_LOOPBACK_ENDPOINTS: "local only: admits an emulator on this machine; never on AWS",
    MAX_INLINE_WAIT_SECONDS: "tuning: the default fits the function's timeout",
    RETRY_BACKOFF_BASE_SECONDS: "tuning: the local stack shortens it",
    FOLLOW_UP_INTERVAL_SECONDS: "tuning: the local stack and the chaos suite shorten it",
    FOLLOW_UP_MAX_MINUTES: "tuning: the local stack shortens it",
    HTTP_TIMEOUT_SECONDS: "tuning: the local stack shortens it",
    ACKNOWLEDGEMENT_WINDOW_SECONDS: "tuning: the local stack shortens it",
    SECRET_MAX_AGE_SECONDS: "tuning: the default (300 s) is the documented one",
    RATE_LIMIT_ARRIVAL_MARGIN_SECONDS: "tuning: see docs/performance.md",
    AWS_ENDPOINT_URL: "local only: points boto3 at a moto server",
    AWS_REGION: "set by the Lambda runtime",
    AWS_DEFAULT_REGION: "set by the Lambda runtime",
}
