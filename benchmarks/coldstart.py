"""Cold-start import time of handlers.worker against importing its third-party dependencies alone."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from chaos.harness import REPO_ROOT

FIRST_PARTY = ("domain", "adapters", "handlers")

_LIST_DEPS = """
import sys, json
before = set(sys.modules)
import handlers.worker
mods = [m for m in sys.modules if m not in before]
print(json.dumps(mods))
"""
_TIME = """
import time, importlib
t = time.perf_counter()
for name in {names!r}:
    try:
        importlib.import_module(name)
    except Exception:
        pass
print(time.perf_counter() - t)
"""


def _stdlib(name: str) -> bool:
    return name.split(".", 1)[0] in sys.stdlib_module_names


def third_party_modules() -> list[str]:
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", _LIST_DEPS], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    modules: list[str] = json.loads(out)
    return [m for m in modules if not m.startswith(FIRST_PARTY) and not _stdlib(m) and "." not in m] + [
        m for m in modules if not m.startswith(FIRST_PARTY) and not _stdlib(m) and "." in m
    ]


def _timed(names: list[str]) -> float:
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-X", "frozen_modules=on", "-c", _TIME.format(names=names)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out.strip())


def measure(repetitions: int = 7) -> dict[str, float]:
    deps = third_party_modules()
    handler = [_timed(["handlers.worker"]) for _ in range(repetitions)]
    alone = [_timed(deps) for _ in range(repetitions)]
    return {
        "handler_s": statistics.median(handler),
        "deps_s": statistics.median(alone),
        "ratio": statistics.median(handler) / statistics.median(alone),
        "third_party_modules": float(len(deps)),
        "repetitions": float(repetitions),
    }
