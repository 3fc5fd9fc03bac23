from __future__ import annotations

import pytest

from tests.unit.relay_world import World, make_world


@pytest.fixture
def world() -> World:
    return make_world()
