"""`make demo` is the first thing a new user runs: its verdict is tested, not only the tour under it."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from cli.demo import run_demo
from domain.catalog import CATALOG

pytestmark = pytest.mark.e2e


def test_the_demo_ends_with_a_clean_verdict() -> None:
    output = io.StringIO()

    exit_code = run_demo(Console(file=output, width=120, color_system=None))

    assert exit_code == 0, output.getvalue()
    assert f"✓ all {len(CATALOG)} command types succeeded" in output.getvalue()
