"""Each wire name has one home: no module of the relay retypes an event detail type or an sp-relay-*
attribute. (Tests may spell a value out: that is the contract they check.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from domain import attributes, events

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    path
    for folder in ("adapters", "domain", "handlers", "cli", "local", "chaos", "emulator", "benchmarks")
    for path in (ROOT / folder).rglob("*.py")
]
HOMES = {ROOT / "domain" / "events.py", ROOT / "domain" / "attributes.py"}
# The same words as a title, not as an event: the command JSON Schema's title.
NOT_EVENTS = {("sp-relay command", "domain/commands.py"), ("sp-relay command", "cli/main.py")}


def wire_names() -> list[str]:
    names = [value for name, value in vars(events).items() if name.isupper() and name != "EVENT_SOURCE"]
    names += [
        value
        for name, value in vars(attributes).items()
        if name.endswith("_ATTRIBUTE") and isinstance(value, str)
    ]
    return names


@pytest.mark.parametrize("name", wire_names())
def test_a_wire_name_is_spelled_only_in_its_home(name: str) -> None:
    quoted = re.compile(rf"[\"']{re.escape(name)}[\"' ]")
    retyped = [
        str(path.relative_to(ROOT))
        for path in SOURCES
        if path not in HOMES
        and (name, str(path.relative_to(ROOT))) not in NOT_EVENTS
        and quoted.search(path.read_text())
    ]
    assert retyped == [], f"{name!r} is retyped in {retyped}; import it from its home"
