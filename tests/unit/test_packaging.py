"""What a plain install declares: every import of a shipped package is provided by the dependencies of
the install that runs it (the Lambda group, the core install, or the `local` extra)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import distribution, packages_distributions
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from cli.local_extra import LOCAL_EXTRA, LOCAL_EXTRA_MODULES
from local.assets import BUNDLED_PATHS

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SHIPPED = sorted(p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"])
# Which install runs each shipped package: the Lambda package, a plain install, or one with [local].
LAMBDA_PACKAGES = ("domain", "adapters", "handlers")
CORE_PACKAGES = ("cli",)
LOCAL_PACKAGES = ("local", "emulator")


def names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(text).name) for text in requirements}


LAMBDA_GROUP: list[str] = PYPROJECT["dependency-groups"]["lambda"]
CORE: list[str] = PYPROJECT["project"]["dependencies"]
LOCAL: list[str] = PYPROJECT["project"]["optional-dependencies"][LOCAL_EXTRA]


TYPE_CHECKING_TESTS = {"TYPE_CHECKING", "typing.TYPE_CHECKING"}


def runtime_imports(package: str) -> Iterator[tuple[str, str]]:
    """(file:line, top-level module) of every absolute import in ``package`` outside TYPE_CHECKING."""
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        type_checking_only = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and ast.unparse(block.test) in TYPE_CHECKING_TESTS
            for statement in block.body
            for node in ast.walk(statement)
        }
        for node in ast.walk(tree):
            if id(node) in type_checking_only:
                continue
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Import):
                yield from ((where, alias.name.partition(".")[0]) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield where, node.module.partition(".")[0]


def third_party_imports(packages: tuple[str, ...]) -> dict[str, str]:
    """Top-level third-party module → first place it is imported, over ``packages``."""
    found: dict[str, str] = {}
    for package in packages:
        for where, module in runtime_imports(package):
            if module not in sys.stdlib_module_names and module not in SHIPPED:
                found.setdefault(module, where)
    return found


def providers(module: str) -> set[str]:
    return {canonicalize_name(name) for name in packages_distributions().get(module, [])}


def undeclared(packages: tuple[str, ...], declared: set[str]) -> list[str]:
    return [
        f"{where}: {module} (from {sorted(providers(module)) or 'no installed distribution'})"
        for module, where in sorted(third_party_imports(packages).items())
        if not providers(module) & declared
    ]


def test_the_packages_checked_here_are_all_the_shipped_packages() -> None:
    assert sorted([*LAMBDA_PACKAGES, *CORE_PACKAGES, *LOCAL_PACKAGES]) == SHIPPED


def test_the_lambda_group_is_part_of_the_core_dependencies() -> None:
    # A plain install must run the relay's own code too (`sp-relay worker` calls the real handler).
    assert set(LAMBDA_GROUP) <= set(CORE), f"add to [project] dependencies: {set(LAMBDA_GROUP) - set(CORE)}"


def test_the_lambda_package_declares_every_import_of_its_code() -> None:
    assert undeclared(LAMBDA_PACKAGES, names(LAMBDA_GROUP)) == []


def test_a_plain_install_declares_every_import_of_the_cli() -> None:
    assert undeclared(CORE_PACKAGES, names(CORE)) == []


def test_the_local_extra_declares_every_import_of_the_local_stack() -> None:
    assert undeclared(LOCAL_PACKAGES, names(CORE) | names(LOCAL)) == []


def test_the_cli_names_exactly_the_modules_that_only_the_local_extra_provides() -> None:
    only_local = {m for m in third_party_imports(LOCAL_PACKAGES) if not providers(m) & names(CORE)}
    assert only_local == LOCAL_EXTRA_MODULES


def test_the_lambda_requirements_are_compiled_from_the_lambda_group_alone() -> None:
    header = (ROOT / "requirements" / "lambda.txt").read_text(encoding="utf-8").splitlines()[1]
    assert re.search(r"uv pip compile --group lambda .*-o requirements/lambda\.txt$", header), header


def test_every_bundled_repository_file_exists_and_goes_into_the_sdist() -> None:
    manifest = (ROOT / "MANIFEST.in").read_text(encoding="utf-8")
    for name in BUNDLED_PATHS:
        assert (ROOT / name).exists(), name
        assert re.search(rf"^(include|recursive-include) {re.escape(name)}\b", manifest, re.M), name


def test_the_readme_lists_the_top_level_packages_an_install_adds() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"top-level import packages: (.+?)\.\n", readme)
    assert match, "README: 'An install adds these top-level import packages: `a`, `b`.'"
    assert sorted(re.findall(r"`(\w+)`", match.group(1))) == SHIPPED


# ---- requirements/cli.txt: the pins an operator installs the command with ---------------------------

CLI_CONSTRAINTS = ROOT / "requirements" / "cli.txt"
CLI_COMPILE = (
    f"uv pip compile pyproject.toml --extra {LOCAL_EXTRA} --universal --python-version 3.11 "
    "-c requirements/dev.txt -o requirements/cli.txt"
)


def pins(path: Path) -> dict[str, Requirement]:
    """Name → pinned requirement (with its environment marker) of a file ``uv pip compile`` wrote."""
    pinned: dict[str, Requirement] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            requirement = Requirement(line)
            pinned[canonicalize_name(requirement.name)] = requirement
    return pinned


def pinned_version(requirement: Requirement) -> str:
    [specifier] = requirement.specifier
    assert specifier.operator == "==", requirement
    return specifier.version


def applies_here(requirement: Requirement, extras: frozenset[str] = frozenset()) -> bool:
    marker = requirement.marker
    return marker is None or any(marker.evaluate({"extra": extra}) for extra in {"", *extras})


def installed_closure(requirements: list[str]) -> set[str]:
    """Every distribution that installing ``requirements`` on this platform pulls in, read from the
    metadata of this virtualenv (``make install`` synced it to requirements/dev.txt)."""
    visited: set[tuple[str, frozenset[str]]] = set()
    queue = [(Requirement(text), frozenset[str]()) for text in requirements]
    while queue:
        requirement, parent_extras = queue.pop()
        if not applies_here(requirement, parent_extras):
            continue
        node = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if node not in visited:
            visited.add(node)
            queue += [(Requirement(text), node[1]) for text in metadata_requires(node[0])]
    return {name for name, _ in visited}


def metadata_requires(name: str) -> list[str]:
    return distribution(name).requires or []


def test_the_cli_constraints_are_compiled_from_pyproject_against_the_tested_pins() -> None:
    header = CLI_CONSTRAINTS.read_text(encoding="utf-8").splitlines()[1]
    assert header == f"#    {CLI_COMPILE}", f"regenerate requirements/cli.txt with: {CLI_COMPILE}"


def test_the_cli_constraints_pin_each_dependency_of_the_command_and_its_local_extra() -> None:
    pinned = pins(CLI_CONSTRAINTS)
    for text in [*CORE, *LOCAL]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"requirements/cli.txt lacks {name}; regenerate it with: {CLI_COMPILE}"
        assert requirement.specifier.contains(pinned_version(pinned[name]), prereleases=True), (
            f"requirements/cli.txt pins {pinned[name]}, outside pyproject's {text}; regenerate: {CLI_COMPILE}"
        )


def test_the_cli_constraints_are_the_versions_the_tests_run_with() -> None:
    tested = pins(ROOT / "requirements" / "dev.txt")
    pinned = pins(CLI_CONSTRAINTS)
    differ = {
        name: (str(requirement.specifier), str(tested[name].specifier))
        for name, requirement in pinned.items()
        if name in tested and requirement.specifier != tested[name].specifier
    }
    assert differ == {}, f"regenerate requirements/cli.txt with: {CLI_COMPILE}"
    untested = sorted(
        name for name, requirement in pinned.items() if name not in tested and applies_here(requirement)
    )
    assert untested == []


def test_the_cli_constraints_pin_exactly_what_the_install_pulls_in_here() -> None:
    # On this platform; pins for others (colorama on Windows) carry markers that are false here.
    needed = installed_closure([*CORE, *LOCAL])
    pinned_here = {name for name, requirement in pins(CLI_CONSTRAINTS).items() if applies_here(requirement)}
    assert sorted(needed - pinned_here) == [], f"missing pins; regenerate with: {CLI_COMPILE}"
    assert sorted(pinned_here - needed) == [], f"stale pins; regenerate with: {CLI_COMPILE}"
