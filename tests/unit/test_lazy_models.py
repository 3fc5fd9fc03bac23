"""The SP-API models load per API on first use, not at a cold start (``make bench-coldstart``).

Each check runs in a fresh interpreter: this test process has long imported every API's models.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from domain.spapi import APIS

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"

# Prints the API modules loaded after the handlers' import, and after each command parsed (argv: the
# sample names, in order).
_LOADED_AS_USED = """
import json, sys
from pathlib import Path

def api_modules():
    return sorted(
        name.rpartition(".")[2] for name in sys.modules
        if name.startswith("domain.spapi.") and name not in ("domain.spapi.spec", "domain.spapi.base")
    )

import handlers.worker, handlers.poller, domain.catalog, domain.commands, cli.status
steps = [["import", api_modules()]]
from domain.commands import parse_command
for name in sys.argv[1:]:
    parse_command((Path("events") / f"{name}.json").read_text())
    steps.append([name, api_modules()])
print(json.dumps(steps))
"""

# Threads that all parse the first command of an API at once, while that API's module takes long to
# execute: it sits in sys.modules, still empty, for SLOW seconds (what a thread reading sys.modules
# instead of waiting for the import would find).
_THREADS_AT_FIRST_USE = """
import importlib.abc, importlib.machinery, json, sys, threading, time
from pathlib import Path

TARGET, THREADS, SLOW = "domain.spapi.vendor_orders_v1", 8, 0.3
executed = []

class SlowLoader(importlib.abc.Loader):
    def __init__(self, real):
        self.real = real
    def create_module(self, spec):
        return self.real.create_module(spec)
    def exec_module(self, module):
        executed.append(module.__name__)
        time.sleep(SLOW)
        self.real.exec_module(module)

class SlowFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        spec.loader = SlowLoader(spec.loader)
        return spec

sys.meta_path.insert(0, SlowFinder())
from domain.commands import parse_command
body = Path("events/acknowledge-retail-po.json").read_text()
barrier = threading.Barrier(THREADS)
models, errors = [], []

def first_use():
    barrier.wait()
    try:
        models.append(parse_command(body).type.operation.params_model)
    except Exception as error:
        errors.append(repr(error))

threads = [threading.Thread(target=first_use) for _ in range(THREADS)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({
    "errors": errors,
    "models": sorted({f"{m.__module__}.{m.__qualname__}" for m in models}),
    "uses": len(models),
    "executed": executed,
}))
"""


def _run(script: str, *arguments: str) -> Any:
    done = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, "-c", script, *arguments],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_the_handlers_import_no_api_models_and_each_command_loads_only_its_own_api() -> None:
    steps = _run(_LOADED_AS_USED, "create-fulfillment", "cancel-fulfillment", "acknowledge-po")

    assert steps == [
        ["import", []],
        ["create-fulfillment", ["fulfillment_outbound_2020_07_01"]],
        ["cancel-fulfillment", ["fulfillment_outbound_2020_07_01"]],
        ["acknowledge-po", ["fulfillment_outbound_2020_07_01", "vendor_df_orders_2021_12_28"]],
    ]
    assert {"fulfillment_outbound_2020_07_01", "vendor_df_orders_2021_12_28"} < set(APIS)


def test_threads_using_a_new_api_together_wait_for_its_module_and_share_one_model() -> None:
    result = _run(_THREADS_AT_FIRST_USE)

    assert result["errors"] == []
    assert result["uses"] == 8
    assert result["models"] == ["domain.spapi.vendor_orders_v1.SubmitAcknowledgementParams"]
    assert result["executed"] == ["domain.spapi.vendor_orders_v1"]  # imported once, by one thread
