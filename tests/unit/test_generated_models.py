"""The generated SP-API models match Amazon's official models and validate payloads the way SP-API does."""

from __future__ import annotations

import copy
import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from domain import spapi
from domain.spapi import ALL_OPERATIONS, find_operation
from domain.spapi import fulfillment_outbound_2020_07_01 as fba_outbound
from domain.spapi.spec import OperationSpec
from tools.generate_models import MODULE_NAMES, GeneratorError, ModuleGenerator, pascal

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
MODELS = sorted((ROOT / "spapi-models").glob("*.json"))
FBA = "fulfillment_outbound_2020_07_01"

CREATE_ORDER: dict[str, Any] = {
    "marketplaceId": "ATVPDKIKX0DER",
    "sellerFulfillmentOrderId": "MCF-2024-000123",
    "displayableOrderId": "MCF-2024-000123",
    "displayableOrderDate": "2024-05-01T12:34:56Z",
    "displayableOrderComment": "Thank you for your order!",
    "shippingSpeedCategory": "Standard",
    "destinationAddress": {
        "name": "Jane Doe",
        "addressLine1": "1 Main Street",
        "city": "Seattle",
        "stateOrRegion": "WA",
        "postalCode": "98101",
        "countryCode": "US",
        "phone": "+1 206 555 0100",
    },
    "fulfillmentAction": "Ship",
    "fulfillmentPolicy": "FillOrKill",
    "notificationEmails": ["jane@example.com"],
    "items": [
        {
            "sellerSku": "SKU-1",
            "sellerFulfillmentOrderItemId": "item-1",
            "quantity": 2,
            "perUnitDeclaredValue": {"currencyCode": "USD", "value": "19.99"},
        }
    ],
}


def _errors(error: pytest.ExceptionInfo[ValidationError]) -> list[tuple[tuple[str | int, ...], str]]:
    return [(tuple(e["loc"]), e["type"]) for e in error.value.errors()]


def _create(payload: dict[str, Any]) -> BaseModel:
    return fba_outbound.CreateFulfillmentOrderParams.model_validate(payload)


# ---- the generator --------------------------------------------------------------------------------


def test_generated_files_are_in_sync_with_the_official_models() -> None:
    result = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / "tools" / "generate_models.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_model_file_has_a_module() -> None:
    assert {model.stem for model in MODELS} == set(MODULE_NAMES)
    assert set(spapi.APIS) == set(MODULE_NAMES.values())


# ---- createFulfillmentOrder -----------------------------------------------------------------------


def test_realistic_create_fulfillment_order_validates_from_dict_and_json() -> None:
    from_dict = _create(copy.deepcopy(CREATE_ORDER))
    from_json = fba_outbound.CreateFulfillmentOrderParams.model_validate_json(json.dumps(CREATE_ORDER))
    assert from_dict == from_json
    assert isinstance(from_dict, fba_outbound.CreateFulfillmentOrderParams)
    assert isinstance(from_dict.destinationAddress, fba_outbound.Address)
    assert isinstance(from_dict.items[0], fba_outbound.CreateFulfillmentOrderItem)
    assert from_dict.model_dump(exclude_none=True) == CREATE_ORDER


def test_41_char_seller_fulfillment_order_id_is_rejected_naming_the_field() -> None:
    with pytest.raises(ValidationError) as error:
        _create({**CREATE_ORDER, "sellerFulfillmentOrderId": "x" * 41})
    assert _errors(error) == [(("sellerFulfillmentOrderId",), "string_too_long")]
    assert "sellerFulfillmentOrderId" in str(error.value)
    _create({**CREATE_ORDER, "sellerFulfillmentOrderId": "x" * 40})


def test_unknown_fields_are_rejected_at_every_level() -> None:
    with pytest.raises(ValidationError) as error:
        _create({**CREATE_ORDER, "priority": "high"})
    assert _errors(error) == [(("priority",), "extra_forbidden")]
    nested = copy.deepcopy(CREATE_ORDER)
    nested["destinationAddress"]["floor"] = "3"
    with pytest.raises(ValidationError) as error:
        _create(nested)
    assert _errors(error) == [(("destinationAddress", "floor"), "extra_forbidden")]


def test_wrong_enum_value_is_rejected() -> None:
    with pytest.raises(ValidationError) as error:
        _create({**CREATE_ORDER, "shippingSpeedCategory": "Fast"})
    assert _errors(error) == [(("shippingSpeedCategory",), "literal_error")]


@pytest.mark.parametrize("quantity", ["5", 5.0, True])
def test_quantity_is_not_coerced(quantity: object) -> None:
    payload = copy.deepcopy(CREATE_ORDER)
    payload["items"][0]["quantity"] = quantity
    with pytest.raises(ValidationError) as error:
        _create(payload)
    assert _errors(error) == [(("items", 0, "quantity"), "int_type")]
    with pytest.raises(ValidationError):
        fba_outbound.CreateFulfillmentOrderParams.model_validate_json(json.dumps(payload))


def test_strings_are_not_coerced_either() -> None:
    with pytest.raises(ValidationError) as error:
        _create({**CREATE_ORDER, "displayableOrderId": 123})
    assert _errors(error) == [(("displayableOrderId",), "string_type")]


@pytest.mark.parametrize(
    "timestamp", ["2024-05-01T12:34:56Z", "2024-05-01T12:34:56.789+02:00", "2024-05-01T12:34:56"]
)
def test_date_time_is_checked_and_kept_exactly_as_given(timestamp: str) -> None:
    order = _create({**CREATE_ORDER, "displayableOrderDate": timestamp})
    assert isinstance(order, fba_outbound.CreateFulfillmentOrderParams)
    assert order.displayableOrderDate == timestamp
    assert order.model_dump()["displayableOrderDate"] == timestamp


@pytest.mark.parametrize("timestamp", ["2024-05-01", "yesterday", "2024-13-01T00:00:00Z", ""])
def test_invalid_date_time_is_rejected(timestamp: str) -> None:
    with pytest.raises(ValidationError) as error:
        _create({**CREATE_ORDER, "displayableOrderDate": timestamp})
    assert _errors(error) == [(("displayableOrderDate",), "value_error")]


def test_missing_required_fields_are_named() -> None:
    payload = {k: v for k, v in CREATE_ORDER.items() if k not in ("items", "destinationAddress")}
    with pytest.raises(ValidationError) as error:
        _create(payload)
    assert sorted(_errors(error)) == [(("destinationAddress",), "missing"), (("items",), "missing")]


def test_explicit_null_is_rejected_even_for_optional_fields() -> None:
    with pytest.raises(ValidationError) as error:
        fba_outbound.CreateFulfillmentOrderParams.model_validate_json(
            json.dumps({**CREATE_ORDER, "marketplaceId": None})
        )
    assert _errors(error) == [(("marketplaceId",), "value_error")]


def test_update_requires_the_seller_fulfillment_order_id_path_parameter() -> None:
    with pytest.raises(ValidationError) as error:
        fba_outbound.UpdateFulfillmentOrderParams.model_validate({"displayableOrderComment": "new"})
    assert _errors(error) == [(("sellerFulfillmentOrderId",), "missing")]
    fba_outbound.UpdateFulfillmentOrderParams.model_validate(
        {"sellerFulfillmentOrderId": "MCF-1", "displayableOrderComment": "new"}
    )


def test_cancel_takes_only_the_path_parameter() -> None:
    spec = find_operation(FBA, "cancelFulfillmentOrder")
    assert spec.params_model is fba_outbound.CancelFulfillmentOrderParams
    assert (spec.method, spec.path_params, spec.query_params, spec.has_body) == (
        "PUT",
        ("sellerFulfillmentOrderId",),
        (),
        False,
    )
    assert spec.path == "/fba/outbound/2020-07-01/fulfillmentOrders/{sellerFulfillmentOrderId}/cancel"


# ---- operation table ------------------------------------------------------------------------------


def test_operations_are_keyed_by_api_and_operation_id() -> None:
    dfo = find_operation("vendor_df_orders_2021_12_28", "submitAcknowledgement")
    retail = find_operation("vendor_orders_v1", "submitAcknowledgement")
    assert dfo is not retail
    assert dfo.path == "/vendor/directFulfillment/orders/2021-12-28/acknowledgements"
    assert retail.path == "/vendor/orders/v1/acknowledgements"
    assert dfo.success_statuses == retail.success_statuses == (202,)
    for key, spec in ALL_OPERATIONS.items():
        assert key == f"{spec.api}.{spec.operation_id}" == spec.key
    with pytest.raises(KeyError, match="unknown SP-API operation"):
        find_operation(FBA, "submitAcknowledgement")


def _operations(api: str) -> dict[str, OperationSpec]:
    return {spec.operation_id: spec for spec in ALL_OPERATIONS.values() if spec.api == api}


def test_usage_plans() -> None:
    fba = _operations(FBA)
    assert len(fba) == 14
    for operation_id, spec in fba.items():
        expected = {"deliveryOffers": (5.0, 30), "submitFulfillmentOrderStatusUpdate": (5.0, 15)}.get(
            operation_id, (2.0, 30)
        )
        assert (spec.rate, spec.burst) == expected, operation_id
        assert spec.sandbox_only == (operation_id == "submitFulfillmentOrderStatusUpdate")
    dfo = _operations("vendor_df_orders_2021_12_28")
    assert set(dfo) == {"getOrders", "getOrder", "submitAcknowledgement"}
    assert {(spec.rate, spec.burst) for spec in dfo.values()} == {(10.0, 10)}
    easy_ship = _operations("easy_ship_2022_03_23")
    assert len(easy_ship) == 5
    assert {(spec.rate, spec.burst) for spec in easy_ship.values()} == {(1.0, 5)}
    token = find_operation("tokens_2021_03_01", "createRestrictedDataToken")
    assert (token.rate, token.burst) == (1.0, 10)
    ack = find_operation("vendor_orders_v1", "submitAcknowledgement")
    assert (ack.rate, ack.burst) == (10.0, 10)
    transaction = find_operation("vendor_transaction_status_v1", "getTransaction")
    assert (transaction.rate, transaction.burst) == (10.0, 20)


# ---- every definition and operation against the official JSON ------------------------------------


def _module(model: Path) -> ModuleType:
    return importlib.import_module(f"domain.spapi.{MODULE_NAMES[model.stem]}")


def _api_names(model: type[BaseModel]) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()}


def _required(model: type[BaseModel]) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items() if info.is_required()}


def _objects(name: str, schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(class name, schema) of an object schema and of the inline objects nested in it."""
    if "$ref" in schema:
        return
    if schema.get("type") == "array" and "items" in schema:
        yield from _objects(name + "Item", schema["items"])
    if schema.get("properties"):
        yield name, schema
        for prop, sub in schema["properties"].items():
            yield from _objects(name + pascal(prop), sub)


@pytest.mark.parametrize("model", MODELS, ids=lambda path: path.stem)
def test_every_definition_has_the_official_properties_and_required_list(model: Path) -> None:
    document = json.loads(model.read_text(encoding="utf-8"))
    module = _module(model)
    checked = 0
    for definition, schema in document["definitions"].items():
        assert hasattr(module, definition), definition
        for class_name, object_schema in _objects(definition, schema):
            generated = getattr(module, class_name)
            assert issubclass(generated, BaseModel), class_name
            assert _api_names(generated) == set(object_schema["properties"]), class_name
            assert _required(generated) == set(object_schema.get("required", [])), class_name
            assert generated.model_config.get("extra") == "forbid"
            assert generated.model_config.get("strict") is True
            checked += 1
    assert checked > 0


@pytest.mark.parametrize("model", MODELS, ids=lambda path: path.stem)
def test_every_operation_params_model_matches_the_official_parameters(model: Path) -> None:
    document = json.loads(model.read_text(encoding="utf-8"))
    api = MODULE_NAMES[model.stem]
    operations = _operations(api)
    seen = set()
    for path, item in document["paths"].items():
        for method in ("get", "put", "post", "delete", "patch"):
            if method not in item:
                continue
            operation = item[method]
            spec = operations[operation["operationId"]]
            assert spec.sandbox_only == bool(item.get("x-amzn-api-sandbox-only"))
            seen.add(spec.operation_id)
            assert (spec.method, spec.path) == (method.upper(), path)
            expected: set[str] = set()
            required: set[str] = set()
            for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
                if parameter["in"] in ("path", "query", "header"):
                    expected.add(parameter["name"])
                    if parameter.get("required"):
                        required.add(parameter["name"])
                elif parameter["in"] == "body":
                    body = document["definitions"][parameter["schema"]["$ref"].rsplit("/", 1)[1]]
                    expected |= set(body["properties"])
                    required |= set(body.get("required", []))
            assert spec.has_body == any(p["in"] == "body" for p in operation.get("parameters", []))
            assert _api_names(spec.params_model) == expected, spec.operation_id
            assert _required(spec.params_model) == required, spec.operation_id
            assert set(spec.path_params) | set(spec.query_params) <= expected
            headers = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
            assert spec.header_params == tuple(headers), spec.operation_id
            assert spec.success_statuses and all(200 <= code < 300 for code in spec.success_statuses)
            assert spec.params_model.__name__ == pascal(spec.operation_id) + "Params"
            assert getattr(_module(model), spec.params_model.__name__) is spec.params_model
    assert seen == set(operations)


# ---- the generator fails loudly -------------------------------------------------------------------

_PLAN = "**Usage plan:**\n\n| Rate (requests per second) | Burst |\n| ---- | ---- |\n| 2 | 30 |\n"


def _tiny_model(description: str, body_property: str) -> dict[str, Any]:
    return {
        "swagger": "2.0",
        "info": {"title": "Tiny", "version": "1"},
        "paths": {
            "/things/{thingId}": {
                "put": {
                    "operationId": "putThing",
                    "description": description,
                    "parameters": [
                        {"name": "thingId", "in": "path", "required": True, "type": "string"},
                        {
                            "name": "body",
                            "in": "body",
                            "required": True,
                            "schema": {"$ref": "#/definitions/Thing"},
                        },
                    ],
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
        "definitions": {
            "Thing": {"type": "object", "properties": {body_property: {"type": "string"}}},
        },
    }


def _generate(document: dict[str, Any]) -> str:
    return ModuleGenerator(Path("tiny.json"), "tiny", document).generate()


def test_generator_accepts_the_tiny_model() -> None:
    generator = ModuleGenerator(Path("tiny.json"), "tiny", _tiny_model(_PLAN, "name"))
    source = generator.generate()
    assert "class PutThingParams(SpApiModel):" in source
    assert "OperationSpec(" not in source  # the operations are the package's, the module has models only
    operations = "\n".join(generator.operation_lines())
    assert 'params_model_name="PutThingParams",' in operations
    assert "rate=2.0," in operations


def test_generator_fails_on_a_body_property_named_like_a_parameter() -> None:
    with pytest.raises(GeneratorError, match="'thingId' collides"):
        _generate(_tiny_model(_PLAN, "thingId"))


def test_generator_fails_without_a_usage_plan() -> None:
    with pytest.raises(GeneratorError, match="no usage plan"):
        _generate(_tiny_model("No table here.", "name"))
