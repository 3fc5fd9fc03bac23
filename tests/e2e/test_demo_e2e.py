"""`make demo` is the first thing a new user runs: its verdict is tested, not only the tour under it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from domain.catalog import CATALOG

pytestmark = pytest.mark.e2e

DEMO_TIMEOUT = 300


def test_the_demo_ends_with_a_clean_verdict() -> None:
    # Its own process, as a user runs it: the demo starts and stops a whole local stack of its own.
    command = shutil.which("sp-relay", path=str(Path(sys.executable).parent))
    assert command is not None, "the sp-relay entry point is not installed next to this interpreter"
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"}

    done = subprocess.run(  # noqa: S603 - fixed argv, the entry point of this interpreter
        [command, "demo"], capture_output=True, text=True, timeout=DEMO_TIMEOUT, env=env, check=False
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"all {len(CATALOG)} command types succeeded" in done.stdout
