"""The cold-start benchmark's verdict: each missed target is named (`make bench-coldstart` exits 1)."""

from __future__ import annotations

import pytest

from benchmarks.coldstart import MAX_HANDLER_TO_DEPENDENCIES, MIN_BYTECODE_SPEEDUP, ColdStart, Timing

pytestmark = pytest.mark.unit


def cold_start(
    handler: float, without_bytecode: float, dependencies: float, api_modules: tuple[str, ...] = ()
) -> ColdStart:
    return ColdStart(
        # Wall times twice the CPU times, as on a loaded machine: the verdict reads CPU time only.
        handler=Timing(handler, 2 * handler),
        handler_without_bytecode=Timing(without_bytecode, 2 * without_bytecode),
        dependencies=Timing(dependencies, 2 * dependencies),
        handler_with_every_api=Timing(handler + 0.1, 2 * handler + 0.2),
        dependency_modules=341,
        api_modules_at_import=api_modules,
        package_modules=810,
        package_mib=44.0,
        python="3.12",
        repetitions=7,
    )


def test_a_run_within_both_targets_misses_nothing() -> None:
    assert cold_start(handler=0.70, without_bytecode=1.80, dependencies=0.65).misses() == []


def test_a_handler_much_slower_than_its_dependencies_is_a_miss() -> None:
    [miss] = cold_start(handler=1.0, without_bytecode=3.0, dependencies=0.7).misses()
    assert f"above {MAX_HANDLER_TO_DEPENDENCIES}" in miss


def test_bytecode_that_does_not_speed_the_import_up_is_a_miss() -> None:
    # What a package whose .pyc files Python rejects (wrong magic, stale timestamps) would measure.
    [miss] = cold_start(handler=1.8, without_bytecode=1.9, dependencies=1.7).misses()
    assert f"less than {MIN_BYTECODE_SPEEDUP}x" in miss


def test_a_handler_that_imports_api_models_at_its_cold_start_is_a_miss() -> None:
    loaded = ("domain.spapi.fulfillment_outbound_2020_07_01",)
    [miss] = cold_start(handler=0.70, without_bytecode=1.80, dependencies=0.65, api_modules=loaded).misses()
    assert "domain.spapi.fulfillment_outbound_2020_07_01" in miss
