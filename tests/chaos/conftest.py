"""The reliability suite (``make chaos`` / ``make chaos-ci``): its own local stack, sized by CHAOS_SIZE.

Chaos tests take minutes, so they run only when selected: ``pytest -m chaos`` (or CHAOS_SIZE set).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from chaos.harness import CHAOS_SIZE, ChaosSize, set_queue_visibility
from domain import env_vars
from local.runtime import LocalStack, LocalStackOptions

# Local timings: short enough for minutes-long runs, in the deployed proportions. A write starts only with
# its worst case ahead (its request at full timeouts, the reserve and margin, what follows the answer):
# 18.45 s of the template's 60 s function (0.31), 6.45 s here with 1.5 s HTTP timeouts. An 8 s function
# (0.81) left 1.55 s for a batch's other writes: most of each batch was deferred (DeadlineReached), 5
# deferrals per SP-API call, and full size did not drain in its time. Visibility > timeout, as deployed.
FUNCTION_TIMEOUT_SECONDS = 20.0
QUEUE_VISIBILITY_SECONDS = 40
HTTP_TIMEOUT_SECONDS = 1.5
CHAOS_TEST_TIMEOUT_SECONDS = 2400


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = "chaos" in (config.getoption("markexpr", "") or "") or bool(os.environ.get(CHAOS_SIZE))
    if selected:
        for item in items:
            if item.get_closest_marker("chaos") is not None:
                # A full-size run takes many minutes: it is bounded by its own phase timeouts instead.
                item.add_marker(pytest.mark.timeout(CHAOS_TEST_TIMEOUT_SECONDS))
        return
    skip = pytest.mark.skip(reason="reliability suite: run `make chaos` or `pytest -m chaos`")
    for item in items:
        if item.get_closest_marker("chaos") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def chaos_size() -> ChaosSize:
    return ChaosSize.from_env()


@pytest.fixture(scope="session")
def chaos_stack() -> Iterator[LocalStack]:
    # Acknowledgements are followed by transaction-status checks; the emulator settles them in 2 s.
    saved = os.environ.get(env_vars.FOLLOW_UP_INTERVAL_SECONDS)
    os.environ[env_vars.FOLLOW_UP_INTERVAL_SECONDS] = "2"
    options = LocalStackOptions(
        workers=4,
        max_receive_count=5,
        http_timeout_seconds=HTTP_TIMEOUT_SECONDS,
        retry_backoff_base_seconds=0.5,
        function_timeout_seconds=FUNCTION_TIMEOUT_SECONDS,
        emulator_rate_scale=20.0,
        # The scheduled pollers would add SP-API calls of their own to the counts: not in this suite.
        poll_interval_seconds=24 * 3600.0,
    )
    with LocalStack(options) as stack:
        assert stack.resources is not None
        set_queue_visibility(stack.client("sqs"), stack.resources.command_queue_url, QUEUE_VISIBILITY_SECONDS)
        yield stack
    if saved is None:
        os.environ.pop(env_vars.FOLLOW_UP_INTERVAL_SECONDS, None)
    else:
        os.environ[env_vars.FOLLOW_UP_INTERVAL_SECONDS] = saved


@pytest.fixture
def stack(chaos_stack: LocalStack) -> Iterator[LocalStack]:
    assert chaos_stack.emulator is not None
    chaos_stack.emulator.state.reset()
    chaos_stack.outcomes(max_rounds=1)
    chaos_stack.dead_letters(max_rounds=1)
    yield chaos_stack
    chaos_stack.emulator.state.clear_faults()
