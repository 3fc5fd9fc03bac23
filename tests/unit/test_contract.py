"""The published contract: sample commands, the JSON Schema file, and request bodies against the
official models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from domain.catalog import CATALOG
from domain.commands import command_json_schema, parse_command
from domain.errors import InvalidCommand
from domain.requests import build_request
from tools.generate_models import MODULE_NAMES

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
MODEL_FILES = {module: f"{stem}.json" for stem, module in MODULE_NAMES.items()}
SAMPLES = sorted((ROOT / "events").glob("*.json"))


def official_operation(api: str, operation_id: str) -> tuple[dict[str, Any], str, str, dict[str, Any]]:
    model: dict[str, Any] = json.loads((ROOT / "spapi-models" / MODEL_FILES[api]).read_text())
    for path, operations in model["paths"].items():
        for method, operation in operations.items():
            if isinstance(operation, dict) and operation.get("operationId") == operation_id:
                return model, path, method.upper(), operation
    raise AssertionError(f"{operation_id} not in {api}")


def test_there_is_a_sample_for_every_command_type() -> None:
    assert {path.stem for path in SAMPLES} == set(CATALOG)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_each_request_the_relay_builds_matches_the_official_model(sample: Path) -> None:
    command = parse_command(sample.read_text())
    operation = command.type.operation
    request = build_request(operation, command.payload)
    model, path, method, official = official_operation(operation.api, operation.operation_id)

    assert (request.method, operation.path) == (method, path)
    body_parameters = [p for p in official.get("parameters", []) if p["in"] == "body"]
    if body_parameters:
        schema = {**body_parameters[0]["schema"], "definitions": model["definitions"]}
        jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(request.body)
    else:
        assert request.body is None
    sent_query = dict(request.query)
    for parameter in official.get("parameters", []):
        if parameter["in"] == "path":
            assert "{" not in request.path and str(command.payload[parameter["name"]]) in request.path
        if parameter["in"] == "query":
            if parameter.get("required"):
                assert parameter["name"] in sent_query
            if parameter["name"] in sent_query:
                value: Any = sent_query[parameter["name"]]
                if parameter.get("type") == "integer":
                    value = int(value)
                if parameter.get("type") == "array":  # sent as csv, the model's default collectionFormat
                    value = value.split(",")
                schema = {
                    k: v for k, v in parameter.items() if k not in {"name", "in", "required", "description"}
                }
                jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(value)
    assert set(sent_query) <= {p["name"] for p in official.get("parameters", []) if p["in"] == "query"}
    official_headers = {p["name"]: p for p in official.get("parameters", []) if p["in"] == "header"}
    for name, value in request.headers:
        assert name in official_headers
        schema = {k: v for k, v in official_headers[name].items() if k in {"type", "maxLength", "enum"}}
        jsonschema.Draft4Validator(schema).validate(value)


def test_the_body_is_exactly_the_payload_without_path_parameters() -> None:
    command = parse_command((ROOT / "events" / "update-fulfillment.json").read_text())
    request = build_request(command.type.operation, command.payload)

    assert request.body == {k: v for k, v in command.payload.items() if k != "sellerFulfillmentOrderId"}
    assert list(request.body) == [k for k in command.payload if k != "sellerFulfillmentOrderId"]


def test_a_header_parameter_is_a_payload_field_sent_as_a_header_not_in_the_body() -> None:
    command = parse_command((ROOT / "events" / "create-mcf-order.json").read_text())
    request = build_request(command.type.operation, command.payload)

    assert request.headers == (("x-amzn-fulfillment-service-id", "FS01-o8vlfw8b1tiu1"),)
    assert request.body is not None and "x-amzn-fulfillment-service-id" not in request.body
    too_long = {**command.payload, "x-amzn-fulfillment-service-id": "F" * 41}
    with pytest.raises(InvalidCommand):
        parse_command(
            json.dumps(
                {**json.loads((ROOT / "events" / "create-mcf-order.json").read_text()), "payload": too_long}
            )
        )


def test_the_published_schema_file_is_in_sync() -> None:
    published = json.loads((ROOT / "schema" / "commands.schema.json").read_text())
    assert published == command_json_schema(), "run `sp-relay schema -o schema/commands.schema.json`"


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_the_published_schema_accepts_every_sample(sample: Path) -> None:
    schema = json.loads((ROOT / "schema" / "commands.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads(sample.read_text()))


def test_the_published_schema_refuses_what_the_relay_refuses() -> None:
    schema = json.loads((ROOT / "schema" / "commands.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    command = json.loads((ROOT / "events" / "cancel-fulfillment.json").read_text())
    command["payload"]["sellerFulfillmentOrderId"] = "X" * 41

    assert not validator.is_valid(command)


def test_the_readme_lists_every_command_type_with_its_sample() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in CATALOG:
        assert f"| `{name}` |" in readme and f"(events/{name}.json)" in readme, name
    operations = {(spec.operation.api, spec.operation.operation_id) for spec in CATALOG.values()}
    counted = f"{len(CATALOG)} command types cover {len(operations)} SP-API operations"
    assert counted in readme, f"README should say: {counted}"
