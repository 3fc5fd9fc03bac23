"""Lambda entry point of the scheduled pollers. Wiring only.

The schedule passes ``{"poller": "df-purchase-orders"}`` (accounts in ``DF_POLL_ACCOUNTS``),
``{"poller": "retail-purchase-orders"}`` (``RETAIL_POLL_ACCOUNTS``) or ``{"poller": "mcf-orders"}``
(``MCF_POLL_ACCOUNTS``); each account is polled in turn, and one account's
failure does not stop the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from domain.errors import RelayError
from domain.pollers import POLLERS, Poller
from handlers.bootstrap import Pollers, container_pollers

logger = Logger(service="sp-relay")
# X-Ray (Tracing: Active in template.yaml); off outside Lambda. The response is kept out of the trace (it
# may name orders). An exception escaping the handler is not: X-Ray's subsegment records its type and
# message whatever capture_error says (False only keeps it out of the metadata), so an account's
# RelayError is reported, not raised (tests/unit/test_tracing.py).
tracer = Tracer(service="sp-relay")


def run_pollers(event: dict[str, Any], context: LambdaContext, pollers: Pollers) -> dict[str, Any]:
    name = event.get("poller")
    if name not in pollers.pollers:
        raise ValueError(f"poller: unknown poller {name!r}; known: {', '.join(POLLERS)}")

    def remaining_seconds() -> float:
        return float(context.get_remaining_time_in_millis()) / 1000

    poller, accounts = pollers.pollers[name]
    try:
        with pollers.aws_deadline.bound_to(remaining_seconds):
            reports = [
                _poll(name, poller, account, region, remaining_seconds) for account, region in accounts
            ]
    finally:
        pollers.metrics.flush()
    return {"poller": name, "reports": reports}


def _poll(
    name: str, poller: Poller, account: str, region: str | None, remaining_seconds: Callable[[], float]
) -> dict[str, Any]:
    try:
        report = asdict(poller.poll(account, region, remaining_seconds))
    except RelayError as error:
        # The watermark stays where it was: the next run covers this window again.
        logger.warning("poll failed", extra={"poller": name, "account": account, "reason": error.code})
        report = {"poller": name, "account": account, "region": region, "errors": [error.message]}
    logger.info("poll finished", extra={k: v for k, v in report.items() if k != "errors"})
    return report


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_pollers(event, context, container_pollers())
