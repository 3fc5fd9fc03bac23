"""Deferred SP-API models are built safely by concurrent threads (the local stack relays in threads).

pydantic builds a ``defer_build`` model on first use and its rebuild is not thread-safe: a thread
checks that the model's schema is set, then deletes it to rebuild; a second thread that checked in
between deletes it again (``AttributeError: ... has no attribute '__pydantic_core_schema__'``). It
dead-lettered a create in the demo. Here deleting a class attribute and describing a field are slow
and the threads start a little apart, so without the lock the second delete fails on every run.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from pydantic import GetCoreSchemaHandler
from pydantic._internal._model_construction import ModelMetaclass
from pydantic_core import core_schema

from domain.spapi.base import SpApiModel

pytestmark = pytest.mark.unit

THREADS = 6
DELETE_SECONDS = 0.02
DESCRIBE_SECONDS = 0.1
STAGGER_SECONDS = 0.004


class SlowToForget(ModelMetaclass):
    """Deleting a class attribute takes a moment, so two threads that both saw it both delete it."""

    def __delattr__(self, name: str) -> None:
        time.sleep(DELETE_SECONDS)
        super().__delattr__(name)


class SlowToDescribe(str):
    """A string whose schema takes long to generate, so a deleted schema stays missing a while."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        time.sleep(DESCRIBE_SECONDS)
        return core_schema.str_schema()


def _use_concurrently(uses: list[tuple[type[SpApiModel], dict[str, Any]]]) -> list[str]:
    errors: list[str] = []

    def use(model: type[SpApiModel], document: dict[str, Any], delay: float) -> None:
        time.sleep(delay)
        try:
            model.model_validate(document).model_dump(by_alias=True)
        except Exception as error:  # noqa: BLE001 - any failure is what this test counts
            errors.append(repr(error))

    threads = [
        threading.Thread(target=use, args=(model, document, i * STAGGER_SECONDS))
        for i, (model, document) in enumerate(uses)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_threads_validating_a_new_model_together_all_succeed() -> None:
    class Order(SpApiModel, metaclass=SlowToForget):
        name: SlowToDescribe

    errors = _use_concurrently([(Order, {"name": "a"})] * THREADS)

    assert errors == []
    assert Order.__pydantic_complete__


def test_a_nested_model_used_alone_while_its_parent_is_built() -> None:
    class Leaf(SpApiModel, metaclass=SlowToForget):
        name: SlowToDescribe

    class Order(SpApiModel, metaclass=SlowToForget):
        leaf: Leaf
        leaves: list[Leaf]

    errors = _use_concurrently(
        [(Order, {"leaf": {"name": "a"}, "leaves": [{"name": "b"}]}), (Leaf, {"name": "c"})] * (THREADS // 2)
    )

    assert errors == []
