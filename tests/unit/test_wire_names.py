"""Each wire name has one home: no module of the relay retypes an event detail type, an sp-relay-*
attribute or an environment variable's name. (Tests may spell a value out: that is the contract they
check.) template.yaml sets only the variables named in domain/env_vars.py, and the settings read only
variables the template sets or that domain/env_vars.py says why it does not."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from adapters.metrics import metrics_from_env
from adapters.settings import FUNCTION_ENVIRONMENTS, FunctionEnvironment, Settings
from domain import attributes, env_vars, events
from local.stack import load_template

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    path
    for folder in ("adapters", "domain", "handlers", "cli", "local", "chaos", "emulator", "benchmarks")
    for path in (ROOT / folder).rglob("*.py")
]
HOMES = {ROOT / "domain" / "events.py", ROOT / "domain" / "attributes.py", ROOT / "domain" / "env_vars.py"}
# The same words as a title, not as an event: the command JSON Schema's title.
NOT_EVENTS = {("sp-relay command", "domain/commands.py"), ("sp-relay command", "cli/main.py")}


def wire_names() -> list[str]:
    names = [
        value
        for name, value in vars(events).items()
        if name.isupper() and not name.startswith("_") and name != "EVENT_SOURCE"
    ]
    names += [
        value
        for name, value in vars(attributes).items()
        if name.endswith("_ATTRIBUTE") and isinstance(value, str)
    ]
    return names + environment_variables()


def environment_variables() -> list[str]:
    return [value for name, value in vars(env_vars).items() if name.isupper() and isinstance(value, str)]


@pytest.mark.parametrize("name", wire_names())
def test_a_wire_name_is_spelled_only_in_its_home(name: str) -> None:
    # A variable's name also opens messages ("USAGE_PLAN_OVERRIDES: ..."): any string it begins counts.
    end = r"(?![\w-])" if name in environment_variables() else r"[\"' ]"
    quoted = re.compile(rf"[\"']{re.escape(name)}{end}")
    retyped = [
        str(path.relative_to(ROOT))
        for path in SOURCES
        if path not in HOMES
        and (name, str(path.relative_to(ROOT))) not in NOT_EVENTS
        and quoted.search(path.read_text())
    ]
    assert retyped == [], f"{name!r} is retyped in {retyped}; import it from its home"


def template_variables() -> dict[str, set[str]]:
    """Function resource → the environment variables template.yaml sets on it."""
    return {
        name: set(resource["Properties"].get("Environment", {}).get("Variables", {}))
        for name, resource in load_template()["Resources"].items()
        if resource["Type"] in {"AWS::Serverless::Function", "AWS::Lambda::Function"}
    }


class ReadRecorder(Mapping[str, str]):
    """An environment that records every variable asked for; the required ones answer a value."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._given = dict(values)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self._given[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return self._given.get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return key in self._given

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("the settings name each variable they read; they do not list the environment")

    def __len__(self) -> int:
        return len(self._given)


def variables_read_by(function: FunctionEnvironment) -> set[str]:
    """What ``function``'s settings and metrics read from the environment."""
    env = ReadRecorder({env_vars.RATE_LIMIT_TABLE_NAME: "limits", env_vars.OUTCOME_BUS_NAME: "bus"})
    Settings.from_env(env, function=function)
    metrics_from_env(env)
    return env.read


def variables_read() -> set[str]:
    return set().union(*(variables_read_by(function) for function in FUNCTION_ENVIRONMENTS))


# Read by Powertools' Logger itself (service name and level), not by the relay's settings.
READ_BY_POWERTOOLS_LOGGER = {env_vars.POWERTOOLS_SERVICE_NAME, env_vars.POWERTOOLS_LOG_LEVEL}


def test_each_function_environment_is_a_function_of_the_template() -> None:
    assert sorted(f.function for f in FUNCTION_ENVIRONMENTS) == sorted(template_variables())


@pytest.mark.parametrize("function", FUNCTION_ENVIRONMENTS, ids=lambda f: f.function)
def test_the_template_gives_each_function_exactly_the_variables_its_settings_read(
    function: FunctionEnvironment,
) -> None:
    read = variables_read_by(function)
    # What the settings read is what the function's environment declares (plus the metrics' namespace).
    assert read - {env_vars.POWERTOOLS_METRICS_NAMESPACE} == function.variables
    wanted = (read | READ_BY_POWERTOOLS_LOGGER) - set(env_vars.NOT_SET_BY_TEMPLATE)
    given = template_variables()[function.function]
    assert {"given but not read": sorted(given - wanted), "read but not given": sorted(wanted - given)} == {
        "given but not read": [],
        "read but not given": [],
    }


def test_template_sets_only_variables_named_in_their_home() -> None:
    home = set(environment_variables())
    functions = template_variables()
    assert sorted(functions) == ["NotificationFunction", "PollerFunction", "WorkerFunction"]
    unknown = {function: sorted(names - home) for function, names in functions.items() if names - home}
    assert unknown == {}, f"template.yaml sets variables domain/env_vars.py does not name: {unknown}"


def test_every_variable_the_settings_read_is_set_by_the_template_or_says_why_not() -> None:
    read = variables_read()
    set_by_template = set().union(*template_variables().values())
    assert read - set(environment_variables()) == set()
    unexplained = read - set_by_template - set(env_vars.NOT_SET_BY_TEMPLATE)
    assert unexplained == set(), (
        f"read, but neither set by template.yaml nor in NOT_SET_BY_TEMPLATE: {unexplained}"
    )
    # And the table names only variables that really are read and really are not in the template.
    assert set(env_vars.NOT_SET_BY_TEMPLATE) <= read
    assert set(env_vars.NOT_SET_BY_TEMPLATE) & set_by_template == set()


# Regions and Amazon's endpoints for them (the hosts every account's tokens are sent to): the list of
# regions, the default one, SP-API's host pattern and LWA's host.
REGION_SPELLINGS = {
    "the list of regions": re.compile(r"\bna\b\W{1,6}\beu\b(?:\W|\bor\b){1,8}\bfe\b"),
    "the default region": re.compile(r"[\"']na[\"']"),
    "SP-API's host": re.compile(r"sellingpartnerapi-"),
    "LWA's host": re.compile(r"(?<![\w.-])api\.amazon\.com"),
}


@pytest.mark.parametrize("what", sorted(REGION_SPELLINGS))
def test_regions_and_their_hosts_are_spelled_only_in_domain_regions(what: str) -> None:
    home = ROOT / "domain" / "regions.py"
    assert REGION_SPELLINGS[what].search(home.read_text()), f"{what} is not in its home"
    retyped = [
        str(path.relative_to(ROOT))
        for path in SOURCES
        if path != home and REGION_SPELLINGS[what].search(path.read_text())
    ]
    assert retyped == [], f"{what} is retyped in {retyped}; import it from domain/regions.py"
