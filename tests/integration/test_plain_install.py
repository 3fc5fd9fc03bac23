"""A plain install, as an operator makes it: the wheel into a fresh virtualenv outside the checkout.

The wheel is built the way `uv build` builds it (an sdist first, then the wheel from the sdist), so a
file missing from MANIFEST.in or from setup.py's bundle fails here. Dependencies are installed with
the constraints the README gives operators (requirements/cli.txt, the versions requirements/dev.txt
tests), offline from the uv cache that `make install` filled.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli.local_extra import LOCAL_EXTRA, LOCAL_EXTRA_MODULES, NOT_INSTALLED_EXIT
from domain.commands import command_json_schema
from local.assets import BUNDLE_DIR_NAME as BUNDLED

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).parent / "uv"
STEP_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Installed:
    venv: Path
    elsewhere: Path  # the working directory of every command: not the checkout, not under it

    def env(self) -> dict[str, str]:
        # Only the new virtualenv on PATH; nothing pointing back at the checkout or its .venv.
        keep = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
        return {**keep, "PATH": f"{self.venv / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin"}

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - fixed argv, the test's own virtualenv
            [str(self.venv / "bin" / args[0]), *args[1:]],
            cwd=self.elsewhere,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT_SECONDS,
            check=False,
        )


def attempt(command: Sequence[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argv: uv, python, the built wheel
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_SECONDS,
        check=False,
    )


def checked(command: Sequence[str | Path], cwd: Path) -> None:
    result = attempt(command, cwd)
    assert result.returncode == 0, f"{' '.join(map(str, command))}:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    # No build isolation: the pinned setuptools of requirements/dev.txt builds it, offline.
    checked(
        [UV, "build", "--quiet", "--no-build-isolation", "--python", sys.executable, "-o", dist, ROOT], dist
    )
    (built,) = dist.glob("*.whl")
    return built


def install(wheel: Path, base: Path, extras: str = "") -> Installed:
    assert not base.resolve().is_relative_to(ROOT.resolve()), "the install must live outside the checkout"
    venv, elsewhere = base / "venv", base / "elsewhere"
    elsewhere.mkdir()
    checked([sys.executable, "-m", "venv", "--without-pip", venv], base)
    pins = ROOT / "requirements" / "cli.txt"
    python = venv / "bin" / "python"
    command: list[str | Path] = [UV, "pip", "install", "--quiet", "--python", python, f"{wheel}{extras}"]
    command += ["--constraint", pins]
    # Offline from the cache `make install` filled with these pins; the index only if the cache lacks one.
    if attempt([*command, "--offline"], base).returncode != 0:
        checked(command, base)
    return Installed(venv, elsewhere)


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return install(wheel, tmp_path_factory.mktemp("plain-install"))


@pytest.fixture(scope="module")
def installed_with_local(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return install(wheel, tmp_path_factory.mktemp("local-install"), extras=f"[{LOCAL_EXTRA}]")


def test_the_install_runs_its_own_copy_with_the_bundled_repository_files(installed: Installed) -> None:
    probe = (
        "import json, cli, local.assets as a; "
        "print(json.dumps([cli.__file__, *(str(a.repository_path(n)) for n in a.BUNDLED_PATHS)]))"
    )
    result = installed.run("python", "-c", probe)
    assert result.returncode == 0, result.stderr
    paths = [Path(p) for p in json.loads(result.stdout)]
    site_packages = installed.venv / "lib"
    assert all(p.is_relative_to(site_packages) for p in paths), paths
    assert all(p.exists() for p in paths), paths


def test_a_plain_install_adds_none_of_the_local_extra(installed: Installed) -> None:
    probe = "import importlib.util as u, sys; print(*[m for m in sys.argv[1:] if u.find_spec(m)])"
    result = installed.run("python", "-c", probe, *sorted(LOCAL_EXTRA_MODULES))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == []


@pytest.mark.parametrize("which", ["plain", "with the local extra"])
def test_every_installed_distribution_is_the_version_the_constraints_pin(
    which: str, installed: Installed, installed_with_local: Installed
) -> None:
    venv = (installed if which == "plain" else installed_with_local).venv
    result = attempt([UV, "pip", "freeze", "--python", venv / "bin" / "python"], venv)
    assert result.returncode == 0, result.stderr
    frozen = dict(line.split("==", 1) for line in result.stdout.splitlines() if "==" in line)
    pinned = {
        line.split("==", 1)[0]: line.split("==", 1)[1].split(" ;")[0].strip()
        for line in (ROOT / "requirements" / "cli.txt").read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith("#")
    }
    assert {name: version for name, version in frozen.items() if pinned.get(name) != version} == {}


def test_help_lists_the_commands(installed: Installed) -> None:
    result = installed.run("sp-relay", "--help")
    assert result.returncode == 0, result.stderr
    for command in ("send", "schema", "dlq", "status", "worker", "local", "demo"):
        assert f" {command} " in result.stdout, (command, result.stdout)


def test_schema_prints_the_command_schema(installed: Installed) -> None:
    result = installed.run("sp-relay", "schema")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == command_json_schema()


def test_send_validates_a_bundled_sample(installed: Installed) -> None:
    sample = installed.venv.glob(f"lib/python*/site-packages/local/{BUNDLED}/events/create-fulfillment.json")
    result = installed.run("sp-relay", "send", "--dry-run", str(next(sample)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 valid, 0 refused" in result.stdout


@pytest.mark.parametrize("command", ["demo", "local"])
def test_the_local_stack_commands_name_the_missing_extra_in_one_line(
    installed: Installed, command: str
) -> None:
    result = installed.run("sp-relay", command)
    assert result.returncode == NOT_INSTALLED_EXIT, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert f"sp-relay[{LOCAL_EXTRA}]" in lines[0]
    assert f"sp-relay {command} needs the '{LOCAL_EXTRA}' extra" in lines[0]


def test_with_the_extra_the_local_stack_runs_outside_the_checkout(installed_with_local: Installed) -> None:
    """`sp-relay local` from the wheel alone: template.yaml, the models and a sample come from the wheel."""
    stack_file = installed_with_local.elsewhere / "local-stack.json"
    local = subprocess.Popen(  # noqa: S603 - fixed argv, the test's own virtualenv
        [str(installed_with_local.venv / "bin" / "sp-relay"), "local", "--write-endpoints", str(stack_file)],
        cwd=installed_with_local.elsewhere,
        env=installed_with_local.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + STEP_TIMEOUT_SECONDS
        while not stack_file.exists() and local.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert stack_file.exists(), f"sp-relay local wrote no {stack_file.name} (exit {local.poll()})"
        time.sleep(0.5)  # the file is written whole before the hint is printed; let it land
        sample = next(installed_with_local.venv.glob(f"lib/python*/site-packages/local/{BUNDLED}/events"))
        sent = installed_with_local.run(
            "sp-relay", "send", str(sample / "create-fulfillment.json"), "--stack-file", str(stack_file)
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "1 sent, 0 refused" in sent.stdout
        status = installed_with_local.run("sp-relay", "status", "--stack-file", str(stack_file))
        assert status.returncode == 0, status.stdout + status.stderr
    finally:
        local.send_signal(signal.SIGTERM)
        output, _ = local.communicate(timeout=STEP_TIMEOUT_SECONDS)
    assert local.returncode == 0, output
    assert "Traceback" not in output, output
