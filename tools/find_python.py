"""Find an interpreter of one Python version on this machine, such as the Lambda runtime's.

    python3 tools/find_python.py 3.12       # prints the interpreter's path
    python3 tools/find_python.py --lambda   # the version of template.yaml's Runtime (python3.12 → 3.12)

Exits 1 with one line on stderr naming where it looked when there is none. Standard library only: the
Makefile and .ci/run call it with whatever ``python3`` the machine has, before any virtualenv exists.

$LAMBDA_PYTHON, when set, is the only candidate (an override of the wrong version is an error, not
skipped). Otherwise, in order: ``pythonX.Y`` on PATH, pyenv's versions ($PYENV_ROOT, else ~/.pyenv),
then /usr/local/bin and /usr/bin. Each is run to check its version —
pyenv puts shims on PATH for every installed version, and a shim of a version that is not selected
fails when run — and the path printed is the interpreter's own ``sys.executable``, never a shim.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
OVERRIDE_VARIABLE = "LAMBDA_PYTHON"
_PROBE = "import sys; print('%d.%d' % sys.version_info[:2]); print(sys.executable)"


def lambda_runtime_version(template: Path = TEMPLATE) -> str:
    """The Python version of the template's ``Runtime: pythonX.Y`` (Globals; every function inherits it)."""
    runtimes = set(re.findall(r"^\s+Runtime:\s*python(\d+\.\d+)\s*$", template.read_text(), re.MULTILINE))
    if len(runtimes) != 1:
        raise ValueError(f"{template}: expected one python Runtime, found {sorted(runtimes) or 'none'}")
    version: str = runtimes.pop()
    return version


def _candidates(version: str) -> list[str]:
    name = f"python{version}"
    if override := os.environ.get(OVERRIDE_VARIABLE):
        return [override]
    found: list[str] = []
    if on_path := shutil.which(name):
        found.append(on_path)
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    # Newest patch release first: 3.12.10 before 3.12.9.
    versions = sorted(
        (pyenv_root / "versions").glob(f"{version}.*"),
        key=lambda path: [int(part) if part.isdigit() else -1 for part in path.name.split(".")],
        reverse=True,
    )
    found += [str(path / "bin" / name) for path in versions]
    found += [f"/usr/local/bin/{name}", f"/usr/bin/{name}"]
    return found


def find_python(version: str) -> str | None:
    """The path of a working Python ``version`` interpreter ("3.12"), or None."""
    for candidate in _candidates(version):
        try:
            probe = subprocess.run(  # noqa: S603 - our own candidate list, no shell
                [candidate, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        lines = probe.stdout.split()
        if probe.returncode == 0 and len(lines) == 2 and lines[0] == version:
            return lines[1]
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Print the path of a Python X.Y interpreter on this machine."
    )
    wanted = parser.add_mutually_exclusive_group(required=True)
    wanted.add_argument("version", nargs="?", help="the version to find, e.g. 3.12")
    wanted.add_argument("--lambda", dest="lambda_", action="store_true", help="template.yaml's Runtime")
    options = parser.parse_args(argv)
    version: str = lambda_runtime_version() if options.lambda_ else options.version
    found = find_python(version)
    if found is None:
        if override := os.environ.get(OVERRIDE_VARIABLE):
            reason = f"{OVERRIDE_VARIABLE}={override} is not a working Python {version} interpreter"
        else:
            reason = (
                f"no Python {version} interpreter found (looked at python{version} on PATH, pyenv's "
                f"versions, /usr/local/bin, /usr/bin); set {OVERRIDE_VARIABLE}=/path/to/python{version}"
            )
        print(reason, file=sys.stderr)
        return 1
    print(found)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
