"""The vendored SP-API models: operations, routes, usage plans and request/response validation."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from werkzeug.routing import Map, Rule

from local.assets import repository_path

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
SANDBOX_USAGE_PLAN_RATE = 5.0
SANDBOX_USAGE_PLAN_BURST = 15
_MAX_MESSAGE = 300

_USAGE_PLAN_RE = re.compile(
    r"\|\s*Rate \(requests per second\)\s*\|\s*Burst\s*\|\s*\n"
    r"\s*\|[\s\-:|]*\|\s*\n"
    r"\s*\|\s*(?P<rate>[0-9.]+)\s*\|\s*(?P<burst>[0-9]+)\s*\|"
)
# Amazon states a grantless operation in its description ("The `createDestination` operation is grantless").
_GRANTLESS_RE = re.compile(r"The `(?P<operation>[A-Za-z0-9]+)` (?:operation|API) is grantless")
# The LWA scope a grantless token must carry for each API's grantless operations.
GRANTLESS_SCOPES: Mapping[str, str] = {"notifications": "sellingpartnerapi::notifications"}
_PATH_VAR_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SCALAR_KEYWORDS = ("type", "enum", "maxLength", "minLength", "maximum", "minimum", "pattern", "format")

FORMAT_CHECKER = FormatChecker(formats=("date-time",))


@dataclass(frozen=True)
class UsagePlan:
    rate: float
    burst: int


@dataclass(frozen=True, eq=False)
class Parameter:
    name: str
    location: str  # path | query | header | body
    required: bool
    spec: Mapping[str, Any]


@dataclass(frozen=True, eq=False)
class Operation:
    """One SP-API operation of one model.

    ``name`` is the operationId when it is unique among the loaded models, otherwise ``<api>.<operationId>``
    (``submitAcknowledgement`` exists in vendor DF orders and in vendor orders v1). ``name`` keys handlers,
    rate-limit buckets, faults and effects.
    """

    api: str
    model_file: str
    operation_id: str
    name: str
    method: str
    path_template: str
    parameters: tuple[Parameter, ...]
    usage_plan: UsagePlan | None
    responses: Mapping[str, Any]
    document: Mapping[str, Any] = field(repr=False)
    # The LWA scope of the client_credentials token it takes when its description says it is grantless;
    # None: it takes a selling partner's token.
    grantless_scope: str | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.api}.{self.operation_id}"

    @property
    def body_parameter(self) -> Parameter | None:
        return next((p for p in self.parameters if p.location == "body"), None)

    def matches(self, selector: str) -> bool:
        """Whether a selector (``*``, name, operationId or api.operationId) names this operation."""
        return selector in ("*", self.name, self.operation_id, self.qualified_name)


def parse_usage_plan(description: str) -> UsagePlan | None:
    match = _USAGE_PLAN_RE.search(description)
    if match is None:
        return None
    return UsagePlan(rate=float(match.group("rate")), burst=int(match.group("burst")))


def grantless_scope(api: str, operation_id: str, description: str) -> str | None:
    """The scope a grantless operation's token needs, or None when the model does not call it grantless."""
    if not any(m.group("operation") == operation_id for m in _GRANTLESS_RE.finditer(description)):
        return None
    if api not in GRANTLESS_SCOPES:
        raise ValueError(f"{api}.{operation_id} is grantless, and the emulator knows no scope for {api}")
    return GRANTLESS_SCOPES[api]


def api_name(model_file: Path) -> str:
    """``vendorDirectFulfillmentOrders_2021-12-28.json`` -> ``vendorDirectFulfillmentOrders``."""
    return model_file.stem.split("_", 1)[0]


def _rooted(document: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """The whole model document as root schema (``#/definitions/X`` resolves), constrained by ``schema``."""
    root = dict(document)
    root["allOf"] = [schema]
    return root


def _location(error: ValidationError, prefix: str) -> str:
    parts = [prefix]
    for item in error.absolute_path:
        parts.append(f"[{item}]" if isinstance(item, int) else f".{item}")
    return "".join(parts)


def _short(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def schema_errors(validator: Draft4Validator, instance: Any, prefix: str) -> list[str]:
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    return [_short(f"{_location(error, prefix)}: {error.message}") for error in errors]


def _convert(raw: str, spec: Mapping[str, Any]) -> Any:
    """Convert a path/query string to the parameter's declared type; raise ValueError when impossible."""
    kind = spec.get("type", "string")
    if kind == "integer":
        return int(raw)
    if kind == "number":
        return float(raw)
    if kind == "boolean":
        if raw.lower() not in ("true", "false"):
            raise ValueError("expected true or false")
        return raw.lower() == "true"
    if kind == "string" and spec.get("format") == "boolean" and raw.lower() not in ("true", "false"):
        raise ValueError("expected true or false")
    return raw


class ModelCatalog:
    """Every operation of every vendored model, routable by method + path."""

    def __init__(self, models_dir: Path | None = None) -> None:
        """Reads the models in ``models_dir`` (default: the vendored ``spapi-models/``)."""
        models_dir = models_dir if models_dir is not None else repository_path("spapi-models")
        self.models_dir = models_dir
        files = sorted(models_dir.glob("*.json"))
        if not files:
            raise FileNotFoundError(f"no SP-API models in {models_dir}")
        raw: list[tuple[Path, Mapping[str, Any], str, str, Mapping[str, Any], list[Any]]] = []
        for model_file in files:
            document: Mapping[str, Any] = json.loads(model_file.read_text(encoding="utf-8"))
            for path, path_item in document.get("paths", {}).items():
                shared = list(path_item.get("parameters", []))
                for method in HTTP_METHODS:
                    if method in path_item:
                        raw.append((model_file, document, path, method, path_item[method], shared))
        id_counts = Counter(op["operationId"] for *_, op, _ in raw)
        self.operations: dict[str, Operation] = {}
        rules: list[Rule] = []
        for model_file, document, path, method, op, shared in raw:
            api = api_name(model_file)
            operation_id = op["operationId"]
            name = operation_id if id_counts[operation_id] == 1 else f"{api}.{operation_id}"
            params = [self._parameter(document, p) for p in [*shared, *op.get("parameters", [])]]
            operation = Operation(
                api=api,
                model_file=model_file.name,
                operation_id=operation_id,
                name=name,
                method=method.upper(),
                path_template=path,
                parameters=tuple(params),
                usage_plan=parse_usage_plan(op.get("description", "")),
                responses=op.get("responses", {}),
                document=document,
                grantless_scope=grantless_scope(api, operation_id, op.get("description", "")),
            )
            if name in self.operations:
                raise ValueError(f"duplicate operation name {name}")
            self.operations[name] = operation
            rule = _PATH_VAR_RE.sub(lambda m: f"<{m.group(1)}>", path)
            rules.append(Rule(rule, endpoint=name, methods=[operation.method]))
        self.url_map = Map(rules, strict_slashes=False, merge_slashes=False)
        self._body_validators: dict[str, Draft4Validator] = {}
        for operation in self.operations.values():
            body = operation.body_parameter
            if body is not None:
                schema = _rooted(operation.document, body.spec.get("schema", {}))
                self._body_validators[operation.name] = Draft4Validator(schema, format_checker=FORMAT_CHECKER)
        # Built once here: the catalog is shared by the server threads and never changes afterwards.
        self._response_validators: dict[tuple[str, str], Draft4Validator] = {}
        for operation in self.operations.values():
            for code, response in operation.responses.items():
                schema = response.get("schema")
                if schema is not None:
                    self._response_validators[(operation.name, code)] = Draft4Validator(
                        _rooted(operation.document, schema), format_checker=FORMAT_CHECKER
                    )

    @staticmethod
    def _parameter(document: Mapping[str, Any], spec: Mapping[str, Any]) -> Parameter:
        if "$ref" in spec:
            spec = document["parameters"][spec["$ref"].rsplit("/", 1)[-1]]
        return Parameter(
            name=spec["name"], location=spec["in"], required=bool(spec.get("required", False)), spec=spec
        )

    def operation(self, name: str) -> Operation:
        return self.operations[name]

    def find(self, selector: str) -> list[Operation]:
        return [op for op in self.operations.values() if op.matches(selector)]

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]]:
        """Raise werkzeug's NotFound / MethodNotAllowed when nothing matches."""
        endpoint, values = self.url_map.bind("emulator").match(path, method=method)
        return self.operations[str(endpoint)], {k: str(v) for k, v in values.items()}

    # -- requests -----------------------------------------------------------------------------------------

    def validate_parameters(
        self,
        operation: Operation,
        path_params: Mapping[str, str],
        query: Mapping[str, list[str]],
        headers: Mapping[str, str] | None = None,
    ) -> tuple[dict[str, Any], list[str]]:
        """Check path, query and header parameters; return the typed query and header values (headers by
        their model names) and the problems found."""
        values: dict[str, Any] = {}
        problems: list[str] = []
        lowered = {name.lower(): value for name, value in (headers or {}).items()}
        for param in operation.parameters:
            if param.location == "path":
                raw_values = [path_params[param.name]] if param.name in path_params else []
            elif param.location == "query":
                raw_values = list(query.get(param.name, []))
            elif param.location == "header":
                header = lowered.get(param.name.lower())
                raw_values = [] if header is None else [header]
            else:
                continue
            label = f"{param.location} parameter {param.name}"
            if not raw_values or raw_values == [""]:
                if param.required:
                    problems.append(f"Missing required {label}.")
                continue
            try:
                value = self._parameter_value(param, raw_values)
            except ValueError as exc:
                problems.append(_short(f"Invalid {label}: {exc}."))
                continue
            spec = param.spec
            checked: list[Any] = value if isinstance(value, list) else [value]
            item_spec = spec.get("items", {}) if spec.get("type") == "array" else spec
            if spec.get("type") == "array":
                bounds = {k: spec[k] for k in ("maxItems", "minItems") if k in spec}
                for message in schema_errors(Draft4Validator({"type": "array", **bounds}), value, param.name):
                    problems.append(_short(f"Invalid {label}: {message}."))
            schema = {k: item_spec[k] for k in _SCALAR_KEYWORDS if k in item_spec}
            if schema.get("format") not in ("date-time", None):
                schema.pop("format")
            validator = Draft4Validator(schema, format_checker=FORMAT_CHECKER)
            for item in checked:
                for error in validator.iter_errors(item):
                    problems.append(_short(f"Invalid {label}: {error.message}."))
            values[param.name] = value
        return values, problems

    @staticmethod
    def _parameter_value(param: Parameter, raw_values: list[str]) -> Any:
        spec = param.spec
        if spec.get("type") == "array":
            fmt = spec.get("collectionFormat", "csv")
            separators = {"csv": ",", "ssv": " ", "tsv": "\t", "pipes": "|"}
            if fmt == "multi":
                pieces = raw_values
            else:
                pieces = [piece for raw in raw_values for piece in raw.split(separators.get(fmt, ","))]
            try:
                return [_convert(piece, spec.get("items", {})) for piece in pieces]
            except ValueError as exc:
                raise ValueError(
                    f"{exc} (expected {spec.get('items', {}).get('type', 'string')} items)"
                ) from exc
        try:
            return _convert(raw_values[-1], spec)
        except ValueError as exc:
            raise ValueError(f"'{raw_values[-1]}' is not of type {spec.get('type', 'string')}") from exc

    def validate_body(self, operation: Operation, body: Any) -> list[str]:
        validator = self._body_validators.get(operation.name)
        if validator is None:
            return []
        return schema_errors(validator, body, "body")

    # -- responses ----------------------------------------------------------------------------------------

    def response_validator(self, operation: Operation, status: int) -> Draft4Validator | None:
        validators = self._response_validators
        return validators.get((operation.name, str(status))) or validators.get((operation.name, "default"))

    def response_errors(self, operation: Operation, status: int, body: Any) -> list[str]:
        """Problems of a response body against the model's schema for that status (none if no schema)."""
        validator = self.response_validator(operation, status)
        if validator is None:
            return []
        return schema_errors(validator, body, "response")

    def success_status(self, operation: Operation) -> Iterable[int]:
        return sorted(int(code) for code in operation.responses if code.isdigit() and code.startswith("2"))
