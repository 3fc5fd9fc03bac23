"""The Lambda package as ``sam build`` makes it, built for this machine and run as Lambda runs it.

:func:`build_package` runs the recipe ``sam build`` runs (``make build-WorkerFunction``, mk/sam.mk)
with this machine's platform: on x86_64 the twin of the arm64 package that is deployed, differing only
in native wheels. :class:`IsolatedHandler` calls a handler of such a package in a fresh interpreter of
the runtime's version that sees nothing but the package and the standard library, as Lambda's
/var/task: ``-I`` (no environment, no user site, no script directory), ``-S`` (no site-packages),
``-B`` (/var/task is read-only: nothing is compiled into it). It is a ``LambdaHandler``, so the local
event source mapping can drive it with real SQS batches.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKER_HANDLER = "handlers.worker.lambda_handler"

# Isolated flags of the interpreter Lambda would start for the package (see the module docstring).
ISOLATED_FLAGS = ("-I", "-S", "-B")

# Runs in the package's interpreter: standard library only. argv: package, handler, result file; the
# request (event and context) on stdin. Stdout and stderr are the function's logs (EMF included).
_BOOTSTRAP = r"""
import importlib, json, sys, sysconfig, time
package, handler_name, result_path = sys.argv[1:4]
sys.path.insert(0, package)
request = json.load(sys.stdin)

class Context:
    def __init__(self, remaining_ms, **attributes):
        self.__dict__.update(attributes)
        self._deadline = time.monotonic() + remaining_ms / 1000
    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))

module_name, _, function_name = handler_name.rpartition(".")
started = time.perf_counter()
handler = getattr(importlib.import_module(module_name), function_name)
import_seconds = time.perf_counter() - started
response = handler(request["event"], Context(**request["context"]))
allowed = (package.rstrip("/") + "/", *{sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")})
foreign = sorted(
    name for name, module in list(sys.modules.items())
    if getattr(module, "__file__", None) and not module.__file__.startswith(allowed)
)
with open(result_path, "w") as out:
    json.dump({
        "response": response,
        "foreignModules": foreign,
        "handlerFile": sys.modules[module_name].__file__,
        "importSeconds": import_seconds,
        "python": "%d.%d" % sys.version_info[:2],
    }, out)
"""


def host_platform() -> str:
    """The pip platform tag of this machine's Lambda twin (Lambda offers x86_64 and arm64)."""
    machine = platform.machine().lower()
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    if arch not in {"x86_64", "aarch64"}:
        raise RuntimeError(f"platform: Lambda has no {machine} architecture to build a twin for")
    return f"manylinux2014_{arch}"


def build_package(destination: Path, *, lambda_python: str, function: str = "WorkerFunction") -> Path:
    """``make build-<function>`` into ``destination`` for this machine's platform; returns it."""
    command = [
        "make",
        "--no-print-directory",
        f"build-{function}",
        f"ARTIFACTS_DIR={destination}",
        f"LAMBDA_PLATFORM={host_platform()}",
    ]
    # The caller's make variables (a `make pytest VENV=...` around this) are not the build's.
    environment = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}}
    environment["LAMBDA_PYTHON"] = lambda_python
    done = subprocess.run(  # noqa: S603 - fixed argv, no shell
        command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return destination


def template_literal_variables(function: str = "WorkerFunction") -> dict[str, str]:
    """The function's environment variables that template.yaml sets to a literal value (no !Ref)."""
    from local.stack import load_template  # noqa: PLC0415 - needs the dev virtualenv (PyYAML)

    variables = load_template()["Resources"][function]["Properties"]["Environment"]["Variables"]
    return {name: value for name, value in variables.items() if isinstance(value, str)}


# The machine's clock, not the function's configuration: under tools/future_clock (libfaketime) the
# package must see the same moved calendar as the stack it talks to, or a poller's window misses orders.
_MACHINE_CLOCK_VARIABLES = ("LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC")


def lambda_environment(package: Path, function_name: str, variables: dict[str, str]) -> dict[str, str]:
    """The environment of a Lambda function: its own variables and the ones the runtime sets."""
    return {
        **{name: os.environ[name] for name in _MACHINE_CLOCK_VARIABLES if name in os.environ},
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(package),
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        **variables,
    }


@dataclass(slots=True)
class Invocation:
    response: dict[str, Any]
    foreign_modules: list[str]
    handler_file: str
    import_seconds: float
    python: str
    logs: str


@dataclass(slots=True)
class IsolatedHandler:
    """A handler of a built package, each call a cold start in a fresh isolated interpreter."""

    python: str
    package: Path
    environment: dict[str, str]
    handler: str = WORKER_HANDLER
    invocations: list[Invocation] = field(default_factory=list)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        remaining_ms = int(context.get_remaining_time_in_millis())
        request = {
            "event": event,
            "context": {
                "remaining_ms": remaining_ms,
                "function_name": context.function_name,
                "function_version": context.function_version,
                "invoked_function_arn": context.invoked_function_arn,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "aws_request_id": context.aws_request_id,
                "log_group_name": context.log_group_name,
                "log_stream_name": context.log_stream_name,
            },
        }
        with tempfile.TemporaryDirectory(prefix="lambda-invocation-") as scratch:
            result_path = Path(scratch) / "result.json"
            done = subprocess.run(  # noqa: S603 - fixed argv, no shell
                [
                    self.python,
                    *ISOLATED_FLAGS,
                    "-c",
                    _BOOTSTRAP,
                    str(self.package),
                    self.handler,
                    str(result_path),
                ],
                input=json.dumps(request),
                env=self.environment,
                cwd=scratch,
                capture_output=True,
                text=True,
                timeout=remaining_ms / 1000 + 30,  # plus the cold start, which Lambda's init phase gets
                check=False,
            )
            logs = done.stdout + done.stderr
            if done.returncode != 0 or not result_path.exists():
                raise RuntimeError(f"{self.handler} crashed (exit {done.returncode}):\n{logs[-4000:]}")
            result = json.loads(result_path.read_text())
        invocation = Invocation(
            response=result["response"],
            foreign_modules=result["foreignModules"],
            handler_file=result["handlerFile"],
            import_seconds=result["importSeconds"],
            python=result["python"],
            logs=logs,
        )
        self.invocations.append(invocation)
        return invocation.response
