"""The chaos harness's personal-data scan looks for the personal values of every write type in its mix."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from chaos.harness import WRITE_SHARES, CommandFactory, find_leaks, follow_up
from domain.commands import parse_command
from domain.requests import build_request
from tests.unit.test_contract import official_operation

pytestmark = pytest.mark.unit

# Field names whose values are personal in the SP-API request models of the mix.
PERSONAL_FIELDS = frozenset(
    {
        "name",
        "addressLine1",
        "phone",
        "email",
        "notificationEmails",
        "displayableOrderComment",
        "deliveryNotes",
        "returnComment",
        "taxRegistrationNumber",
    }
)
# The personal fields each write type of the mix carries: every one its request model has among
# PERSONAL_FIELDS (Easy Ship's, the cancels' and the 2026 update's models have none).
CARRIED = {
    "create-fulfillment": {"name", "addressLine1", "phone", "displayableOrderComment", "notificationEmails"},
    "update-fulfillment": {"name", "addressLine1", "phone", "displayableOrderComment", "notificationEmails"},
    "cancel-fulfillment": set(),
    "create-fulfillment-return": {"returnComment"},
    "acknowledge-po": {"name", "addressLine1", "phone", "taxRegistrationNumber"},
    "acknowledge-retail-po": {"name", "addressLine1", "phone", "taxRegistrationNumber"},
    "create-mcf-order": {"name", "addressLine1", "phone", "email", "deliveryNotes"},
    "update-mcf-order": set(),
    "cancel-mcf-order": set(),
    "create-scheduled-package": set(),
    "update-scheduled-packages": set(),
    "create-scheduled-package-bulk": set(),
}


def personal_values(node: Any) -> Iterator[tuple[str, str]]:
    """(field, value) of every personal field anywhere in ``node`` (a list of strings: each)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in PERSONAL_FIELDS:
                for one in value if isinstance(value, list) else [value]:
                    yield key, one
            else:
                yield from personal_values(value)
    elif isinstance(node, list):
        for item in node:
            yield from personal_values(item)


class NoShipping:
    """follow_up needs the emulator only to ship an order before its return."""

    def ship_order(self, order_id: str, seller_id: str) -> dict[str, str]:
        return {"amazonShipmentId": f"SHIP-{order_id}"}


def one_of_each_type(factory: CommandFactory) -> dict[str, dict[str, Any]]:
    creates = {
        "create-fulfillment": factory.create(),
        "acknowledge-po": factory.acknowledge(),
        "acknowledge-retail-po": factory.retail_acknowledge(),
        "create-mcf-order": factory.mcf_create(),
        "create-scheduled-package": factory.scheduled_package(),
        "create-scheduled-package-bulk": factory.scheduled_package_bulk(),
    }
    parents = {
        "update-fulfillment": "create-fulfillment",
        "cancel-fulfillment": "create-fulfillment",
        "create-fulfillment-return": "create-fulfillment",
        "update-mcf-order": "create-mcf-order",
        "cancel-mcf-order": "create-mcf-order",
        "update-scheduled-packages": "create-scheduled-package",
    }
    follow_ups = {
        kind: follow_up(factory, NoShipping(), kind, creates[parent])  # type: ignore[arg-type]
        for kind, parent in parents.items()
    }
    return {**creates, **follow_ups}


def test_every_write_type_of_the_mix_is_classified() -> None:
    assert set(CARRIED) == set(WRITE_SHARES)


@pytest.mark.parametrize("kind", sorted(CARRIED))
def test_each_write_type_carries_its_personal_fields_and_the_scan_looks_for_them(kind: str) -> None:
    factory = CommandFactory(seed=11, run_id="NEEDLE")
    command = one_of_each_type(factory)[kind]
    assert command["type"] == kind

    carried = list(personal_values(command["payload"]))

    assert {field for field, _ in carried} == CARRIED[kind]
    needles = factory.needles()
    assert [(field, value) for field, value in carried if value not in needles] == []
    # find_leaks refuses needles too short to scan for; each of these is long enough.
    assert find_leaks([" ".join(value for _, value in carried)], needles) or not carried


@pytest.mark.parametrize("kind", sorted(CARRIED))
def test_each_command_with_its_personal_fields_is_valid_for_the_relay_and_sp_api(kind: str) -> None:
    """The personal fields are where SP-API's models put them: the relay accepts the command and the
    request it builds matches the official model, so the chaos run sends them through to the emulator."""
    command = parse_command(json.dumps(one_of_each_type(CommandFactory(seed=11, run_id="NEEDLE"))[kind]))
    operation = command.type.operation
    request = build_request(operation, command.payload)
    model, _path, _method, official = official_operation(operation.api, operation.operation_id)
    body_parameters = [p for p in official.get("parameters", []) if p["in"] == "body"]
    if body_parameters:
        schema = {**body_parameters[0]["schema"], "definitions": model["definitions"]}
        jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(request.body)
