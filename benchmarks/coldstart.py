"""Cold start of the package Lambda runs, not of the dev virtualenv.

The package is built by mk/sam.mk's recipe for this machine (tools/lambda_package.py: on x86_64 the
twin of the arm64 package) and imported by fresh interpreters of the runtime's version that see only
the package and the standard library (``-I -S -B``, as /var/task), with the function's environment.
Three imports, each timed in its process as CPU time (user + system), the fastest of the repetitions,
interleaved. CPU time is what a cold start costs on Lambda's dedicated vCPU share; wall time on this
shared 2-core machine mostly measures the other processes (with medians of wall time the ratio swung
between 1.16 and 1.45 from one run to the next). Wall times are printed beside it:

- ``import handlers.worker`` from the package as shipped, with its bytecode;
- the same from a copy without any bytecode (what mk/sam.mk shipped before: every module compiled
  on every cold start, since /var/task is read-only);
- the handler's third-party modules alone, with their bytecode: the floor the handler adds to;
- the handler and every generated SP-API model module (``domain/spapi/<api>.py``): what the import
  cost while the handler imported them all, and the most that first uses can add later (each API's
  models are imported by the first command that needs them, once per container).

Targets: handler ÷ its dependencies alone <= 1.2 (first-party code and its validators stay cheap to
import); the handler's import loads no SP-API model module; without bytecode ÷ with >= 1.5 (the
shipped bytecode is really used: a .pyc that Python rejects costs as much as none).
``python -m benchmarks.coldstart`` (``make bench-coldstart``) prints them and exits 1 when a target
is missed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from chaos.harness import format_table
from domain.spapi import APIS
from tools.find_python import find_python, lambda_runtime_version
from tools.lambda_package import (
    ISOLATED_FLAGS,
    build_package,
    lambda_environment,
    template_literal_variables,
)

FIRST_PARTY = ("domain", "adapters", "handlers")
HANDLER_MODULE = "handlers.worker"
MAX_HANDLER_TO_DEPENDENCIES = 1.2
MIN_BYTECODE_SPEEDUP = 1.5
REPETITIONS = 9
API_MODULES = tuple(f"domain.spapi.{api}" for api in APIS)

# argv: package, then the modules to import. Prints the modules loaded from the package (in the order
# they were loaded), then the CPU and wall seconds the imports took.
_IMPORT = """
import importlib, json, sys, time
package = sys.argv[1]
sys.path.insert(0, package)
cpu, wall = time.process_time(), time.perf_counter()
for name in sys.argv[2:]:
    importlib.import_module(name)
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
loaded = [n for n, m in list(sys.modules.items()) if (getattr(m, "__file__", None) or "").startswith(package)]
print(json.dumps(loaded))
print(cpu, wall)
"""


@dataclass(frozen=True, slots=True)
class Timing:
    cpu_s: float
    wall_s: float

    @classmethod
    def fastest(cls, timings: list[Timing]) -> Timing:
        return cls(min(t.cpu_s for t in timings), min(t.wall_s for t in timings))

    def __str__(self) -> str:
        return f"{1000 * self.cpu_s:.0f} ms CPU ({1000 * self.wall_s:.0f} ms wall)"


@dataclass(frozen=True, slots=True)
class ColdStart:
    handler: Timing
    handler_without_bytecode: Timing
    dependencies: Timing
    handler_with_every_api: Timing
    dependency_modules: int
    # The generated SP-API model modules that importing the handler loaded (none: they load on first use).
    api_modules_at_import: tuple[str, ...]
    package_modules: int
    package_mib: float
    python: str
    repetitions: int

    @property
    def handler_to_dependencies(self) -> float:
        return self.handler.cpu_s / self.dependencies.cpu_s

    @property
    def bytecode_speedup(self) -> float:
        return self.handler_without_bytecode.cpu_s / self.handler.cpu_s

    def misses(self) -> list[str]:
        missed = []
        if self.handler_to_dependencies > MAX_HANDLER_TO_DEPENDENCIES:
            missed.append(
                f"handler ÷ dependencies alone is {self.handler_to_dependencies:.2f}, "
                f"above {MAX_HANDLER_TO_DEPENDENCIES}"
            )
        if self.api_modules_at_import:
            missed.append(
                "importing the handler loads SP-API models it has no command for yet: "
                + ", ".join(self.api_modules_at_import)
            )
        if self.bytecode_speedup < MIN_BYTECODE_SPEEDUP:
            missed.append(
                f"bytecode makes the import {self.bytecode_speedup:.2f}x faster, less than "
                f"{MIN_BYTECODE_SPEEDUP}x: is the shipped bytecode used?"
            )
        return missed

    def rows(self) -> list[tuple[str, str]]:
        return [
            (
                "package (built by mk/sam.mk for this machine)",
                f"{self.package_modules} modules, "
                f"{self.package_mib:.0f} MiB unzipped, imported by Python {self.python} -I -S -B",
            ),
            ("import handlers.worker, shipped bytecode", str(self.handler)),
            ("import handlers.worker, no bytecode", str(self.handler_without_bytecode)),
            (
                "no bytecode ÷ shipped bytecode (CPU)",
                f"{self.bytecode_speedup:.2f}  (target >= {MIN_BYTECODE_SPEEDUP})",
            ),
            (
                f"its {self.dependency_modules} third-party modules alone, bytecode",
                str(self.dependencies),
            ),
            (
                "handler ÷ its third-party modules alone (CPU)",
                f"{self.handler_to_dependencies:.2f}  (target <= {MAX_HANDLER_TO_DEPENDENCIES})",
            ),
            (
                "SP-API model modules the import loads",
                f"{len(self.api_modules_at_import)} of {len(API_MODULES)}  (target 0: each on first use)",
            ),
            (
                f"handler + all {len(API_MODULES)} SP-API model modules, bytecode",
                str(self.handler_with_every_api),
            ),
        ]


def _run_import(
    python: str, package: Path, names: list[str], environment: dict[str, str]
) -> tuple[list[str], Timing]:
    done = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [python, *ISOLATED_FLAGS, "-c", _IMPORT, str(package), *names],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"importing {names[:3]}... from {package} failed:\n{done.stderr[-3000:]}")
    modules, seconds = done.stdout.splitlines()[-2:]
    cpu, wall = (float(value) for value in seconds.split())
    return json.loads(modules), Timing(cpu, wall)


def third_party_modules(python: str, package: Path, environment: dict[str, str]) -> list[str]:
    """Every module of the package but its own that importing the handler loads, packages first."""
    loaded, _ = _run_import(python, package, [HANDLER_MODULE], environment)
    third_party = [m for m in loaded if m.split(".", 1)[0] not in FIRST_PARTY]
    return [m for m in third_party if "." not in m] + [m for m in third_party if "." in m]


def measure(repetitions: int = REPETITIONS) -> ColdStart:
    version = lambda_runtime_version()
    python = find_python(version)
    if python is None:
        raise SystemExit(
            f"cold start: no Python {version} (the Lambda runtime) on this machine to import the package "
            "with; set LAMBDA_PYTHON=/path/to/python" + version
        )
    with tempfile.TemporaryDirectory(prefix="coldstart-") as scratch:
        package = build_package(Path(scratch) / "WorkerFunction", lambda_python=python)
        bare = Path(scratch) / "without-bytecode"
        shutil.copytree(package, bare, ignore=shutil.ignore_patterns("__pycache__"))
        environment = lambda_environment(package, "sp-relay-worker", template_literal_variables())
        dependencies = third_party_modules(python, package, environment)
        loaded, _ = _run_import(python, package, [HANDLER_MODULE], environment)
        handler: list[Timing] = []
        without: list[Timing] = []
        alone: list[Timing] = []
        every_api: list[Timing] = []
        for _ in range(repetitions):
            handler.append(_run_import(python, package, [HANDLER_MODULE], environment)[1])
            without.append(_run_import(python, bare, [HANDLER_MODULE], environment)[1])
            alone.append(_run_import(python, package, dependencies, environment)[1])
            every_api.append(_run_import(python, package, [HANDLER_MODULE, *API_MODULES], environment)[1])
        files = [p for p in package.rglob("*") if p.is_file()]
        return ColdStart(
            handler=Timing.fastest(handler),
            handler_without_bytecode=Timing.fastest(without),
            dependencies=Timing.fastest(alone),
            handler_with_every_api=Timing.fastest(every_api),
            dependency_modules=len(dependencies),
            api_modules_at_import=tuple(m for m in loaded if m in API_MODULES),
            package_modules=sum(1 for p in files if p.suffix == ".py"),
            package_mib=sum(p.stat().st_size for p in files) / 2**20,
            python=version,
            repetitions=repetitions,
        )


def report(cold: ColdStart) -> str:
    return format_table(
        f"cold start of the built package (fresh interpreters, fastest of {cold.repetitions})", cold.rows()
    )


def main() -> int:
    cold = measure()
    print(report(cold))
    for miss in cold.misses():
        print(f"MISSED: {miss}", file=sys.stderr)
    return 1 if cold.misses() else 0


if __name__ == "__main__":
    raise SystemExit(main())
