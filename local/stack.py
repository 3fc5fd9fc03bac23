"""Deploy the local stack from ``template.yaml`` itself, so local and AWS cannot drift apart.

Steps of :func:`deploy_local_stack`:

1. load ``template.yaml`` with a YAML loader that turns CloudFormation short-form tags
   (``!Ref``, ``!GetAtt``, ``!Sub``, ...) into their long form;
2. apply the SAM transform locally with ``samtranslator`` (no AWS call: the managed-policy map is a
   static table, the region and account come from the arguments);
3. force ``EnableOutcomeTap=true`` (tests and the demo read outcomes from the tap queue);
4. drop what moto cannot run: the Lambda function, its event source mapping, permissions, versions
   and everything that references them, plus IAM roles/policies only they used. The local worker
   loop plays the event source mapping's part;
5. work around moto's CloudFormation quirks (``Ref`` to an ``AWS::Events::EventBus`` resolves to a
   Python object instead of the bus name: rewritten to ``Fn::GetAtt <bus>.Name``);
6. create the stack through CloudFormation on the moto server (real HTTP) and wait for
   ``CREATE_COMPLETE``;
7. moto reports ``CREATE_COMPLETE`` even for resource types it skips and ignores some properties, so
   every resource the worker needs (queues with their redrive policy, tables with keys and TTL, the
   bus, the tap rule with its target, the tap queue policy) is checked through the service APIs
   and created or repaired from the template's own properties;
8. the result (:class:`LocalResources`) is computed by evaluating the template's ``Outputs`` against
   the verified resources, so names never come from a second, hand-written list.

Re-deploying an existing stack name deletes that stack (and the resources moto created for it) and
creates it again: every deploy starts from empty queues and tables. Resources that had to be created
by hand get deterministic names (``<stack>-<LogicalId>``) and are reused by the next deploy.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import boto3
import yaml
from botocore.exceptions import ClientError

from local.assets import repository_path
from local.moto import aws_client_kwargs

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

logger = logging.getLogger(__name__)

# A placeholder artifact location: the SAM transform wants an S3 URI, the function is dropped anyway.
_LOCAL_CODE_URI: Final = "s3://sp-relay-local-artifacts/worker.zip"
_FORCED_PARAMETERS: Final[Mapping[str, str]] = {"EnableOutcomeTap": "true"}
_STACK_TIMEOUT_SECONDS: Final = 60.0
_POLL_SECONDS: Final = 0.1

# Resource types moto cannot run locally (Lambda needs Docker; its SQS poller ignores partial batch
# responses). Anything referencing them is dropped too.
_UNRUNNABLE_TYPES: Final = frozenset(
    {
        "AWS::Lambda::Function",
        "AWS::Lambda::EventSourceMapping",
        "AWS::Lambda::Permission",
        "AWS::Lambda::Version",
        "AWS::Lambda::Alias",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::Lambda::Url",
    }
)
# Dropped as well when only dropped resources referenced them (the function's execution role).
_ORPHANABLE_TYPES: Final = frozenset({"AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"})

# SAM attaches these by ARN; a name->ARN map is only needed for policies named in `Policies:`.
_MANAGED_POLICIES: Final[Mapping[str, str]] = {
    "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "AWSLambdaSQSQueueExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
    "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}

_SQS_ATTRIBUTE_PROPERTIES: Final = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "RedrivePolicy",
    "RedriveAllowPolicy",
)


class LocalStackError(RuntimeError):
    """The local stack could not be created or does not match the template."""


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class LocalResources:
    """Where the local stack lives; everything a local worker, CLI or test needs to talk to it."""

    command_queue_url: str
    dead_letter_queue_url: str
    idempotency_table_name: str
    rate_limit_table_name: str
    poller_state_table_name: str
    outcome_bus_name: str
    outcome_tap_queue_url: str
    max_receive_count: int
    account_secret_prefix: str
    region: str
    endpoint_url: str
    relay_context_key_secret_id: str
    # SP-API writes notifications to NotificationQueue; the notifications handler keeps the unknown ones.
    notification_queue_url: str = ""
    notification_dead_letter_queue_url: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LocalResources:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("LocalResources JSON must be an object")
        return cls(
            command_queue_url=str(data["command_queue_url"]),
            dead_letter_queue_url=str(data["dead_letter_queue_url"]),
            idempotency_table_name=str(data["idempotency_table_name"]),
            rate_limit_table_name=str(data["rate_limit_table_name"]),
            poller_state_table_name=str(data["poller_state_table_name"]),
            outcome_bus_name=str(data["outcome_bus_name"]),
            outcome_tap_queue_url=str(data["outcome_tap_queue_url"]),
            max_receive_count=int(data["max_receive_count"]),
            account_secret_prefix=str(data["account_secret_prefix"]),
            region=str(data["region"]),
            endpoint_url=str(data["endpoint_url"]),
            relay_context_key_secret_id=str(data["relay_context_key_secret_id"]),
            notification_queue_url=str(data.get("notification_queue_url", "")),
            notification_dead_letter_queue_url=str(data.get("notification_dead_letter_queue_url", "")),
        )


# --------------------------------------------------------------------------- template loading


class CloudFormationLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that understands CloudFormation short-form intrinsic functions."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no other node kinds
        raise yaml.constructor.ConstructorError(
            None, None, f"unexpected node for !{tag_suffix}", node.start_mark
        )
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{tag_suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path | None = None) -> dict[str, Any]:
    """Load a CloudFormation/SAM YAML template (default: the project's template.yaml); short-form tags
    become long-form dicts."""
    path = path if path is not None else repository_path("template.yaml")
    with path.open(encoding="utf-8") as stream:
        document = yaml.load(stream, Loader=CloudFormationLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise LocalStackError(f"{path} is not a CloudFormation template")
    return document


class _StaticManagedPolicyLoader:
    """samtranslator's ManagedPolicyLoader interface without the IAM ListPolicies call."""

    def load(self) -> dict[str, str]:
        return dict(_MANAGED_POLICIES)


def sam_translate(
    template: Mapping[str, Any], *, parameters: Mapping[str, str], region: str
) -> dict[str, Any]:
    """Apply the SAM transform locally. Returns a plain CloudFormation template (a new dict)."""
    from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics  # noqa: PLC0415 - dev-only
    from samtranslator.model.exceptions import InvalidDocumentException  # noqa: PLC0415
    from samtranslator.parser.parser import Parser  # noqa: PLC0415
    from samtranslator.translator.translator import Translator  # noqa: PLC0415

    sam_template = copy.deepcopy(dict(template))
    for resource in sam_template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            # `sam build` would rewrite CodeUri; the transform only checks that it is an S3 URI.
            resource.setdefault("Properties", {})["CodeUri"] = _LOCAL_CODE_URI
    session = boto3.Session(
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106
    )
    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())
    translator = Translator(None, Parser(), boto_session=session, metrics=metrics)
    loader = _StaticManagedPolicyLoader()
    try:
        translated: dict[str, Any] = translator.translate(
            sam_template, parameter_values=dict(parameters), get_managed_policy_map=loader.load
        )
    except InvalidDocumentException as error:
        messages = "; ".join(str(cause) for cause in error.causes)
        raise LocalStackError(f"SAM transform failed: {messages}") from error
    finally:
        metrics.publish()  # to the dummy publisher; silences samtranslator's "unpublished metrics" warning
    return translated


# --------------------------------------------------------------------------- references


def _refs_in_sub(text: str) -> Iterator[str]:
    for match in re.finditer(r"\$\{([^}!][^}]*)\}", text):
        name = match.group(1).strip()
        if not name.startswith("AWS::"):
            yield name.split(".", 1)[0]


def references(value: Any) -> set[str]:
    """Logical IDs (resources or parameters) referenced by a template fragment."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if len(node) == 1:
                ((key, arg),) = node.items()
                if key == "Ref" and isinstance(arg, str):
                    found.add(arg)
                    return
                if key == "Fn::GetAtt":
                    target = arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0]
                    found.add(str(target))
                    walk(arg[1:] if isinstance(arg, list) else None)
                    return
                if key == "Fn::Sub":
                    text, variables = (arg[0], arg[1]) if isinstance(arg, list) else (arg, {})
                    found.update(name for name in _refs_in_sub(str(text)) if name not in variables)
                    walk(variables)
                    return
            for item in node.values():
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(value)
    return found


def _resource_dependencies(resource: Mapping[str, Any]) -> set[str]:
    deps = references(resource.get("Properties", {}))
    depends_on = resource.get("DependsOn", [])
    deps.update([depends_on] if isinstance(depends_on, str) else depends_on)
    return deps


def localize_template(template: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Drop what moto cannot run and apply moto workarounds. Returns (template, dropped logical IDs)."""
    result = copy.deepcopy(dict(template))
    resources: dict[str, Any] = result["Resources"]
    dropped = {name for name, res in resources.items() if res.get("Type") in _UNRUNNABLE_TYPES}
    changed = True
    while changed:  # transitive closure: whatever depends on a dropped resource goes too
        changed = False
        for name, res in resources.items():
            if name not in dropped and _resource_dependencies(res) & dropped:
                dropped.add(name)
                changed = True
    referenced_by_kept = set().union(
        *(_resource_dependencies(res) for name, res in resources.items() if name not in dropped)
    )
    referenced_by_dropped = set().union(*(_resource_dependencies(resources[name]) for name in dropped))
    dropped.update(
        name
        for name, res in resources.items()
        if res.get("Type") in _ORPHANABLE_TYPES
        and name in referenced_by_dropped
        and name not in referenced_by_kept
    )
    for name in dropped:
        del resources[name]
    outputs: dict[str, Any] = result.get("Outputs", {})
    for key in [key for key, out in outputs.items() if references(out.get("Value")) & dropped]:
        del outputs[key]
    buses = {name for name, res in resources.items() if res.get("Type") == "AWS::Events::EventBus"}
    result["Resources"] = _rewrite_bus_refs(resources, buses)
    result["Outputs"] = _rewrite_bus_refs(outputs, buses)
    return result, sorted(dropped)


def _rewrite_bus_refs(node: Any, buses: set[str]) -> Any:
    """moto quirk: ``Ref`` to an EventBus yields an object, ``GetAtt <bus>.Name`` yields the name."""
    if isinstance(node, dict):
        if len(node) == 1 and node.get("Ref") in buses:
            return {"Fn::GetAtt": [node["Ref"], "Name"]}
        return {key: _rewrite_bus_refs(value, buses) for key, value in node.items()}
    if isinstance(node, list):
        return [_rewrite_bus_refs(item, buses) for item in node]
    return node


# --------------------------------------------------------------------------- intrinsic evaluation


class _NoValue:
    """``AWS::NoValue``: removes the enclosing key or list item."""


_NO_VALUE: Final = _NoValue()


class _Evaluator:
    """Evaluates the intrinsic functions the template uses, against verified local resources."""

    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, str], pseudo: Mapping[str, str]):
        self._template = template
        self.parameters = dict(parameters)
        self._pseudo = dict(pseudo)
        self.resources: dict[str, dict[str, str]] = {}  # logical id -> {"Ref": ..., "Arn": ..., ...}
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            definition = self._template.get("Conditions", {}).get(name)
            if definition is None:
                raise LocalStackError(f"unknown condition {name}")
            self._conditions[name] = bool(self.evaluate(definition))
        return self._conditions[name]

    def evaluate(self, node: Any) -> Any:
        if isinstance(node, list):
            return [item for item in (self.evaluate(i) for i in node) if item is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self._ref(str(arg))
            if key == "Fn::GetAtt":
                resource, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self._get_att(str(resource), str(self.evaluate(attribute)))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                separator, items = arg
                return str(separator).join(str(item) for item in self.evaluate(items))
            if key == "Fn::Select":
                index, items = arg
                return self.evaluate(items)[int(self.evaluate(index))]
            if key == "Fn::Split":
                separator, text = arg
                return str(self.evaluate(text)).split(str(separator))
            if key == "Fn::If":
                name, if_true, if_false = arg
                return self.evaluate(if_true if self.condition(name) else if_false)
            if key == "Fn::Equals":
                left, right = (self.evaluate(item) for item in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.evaluate(arg[0])
            if key == "Fn::And":
                return all(self.evaluate(item) for item in arg)
            if key == "Fn::Or":
                return any(self.evaluate(item) for item in arg)
            if key == "Condition":
                return self.condition(str(arg))
            if key.startswith("Fn::"):
                raise LocalStackError(f"intrinsic {key} is not supported by the local stack")
        evaluated = {key: self.evaluate(value) for key, value in node.items()}
        return {key: value for key, value in evaluated.items() if value is not _NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self._get_att(name, "Ref")

    def _get_att(self, resource: str, attribute: str) -> str:
        try:
            return self.resources[resource][attribute]
        except KeyError:
            raise LocalStackError(f"cannot resolve {resource}.{attribute} locally") from None

    def _sub(self, arg: Any) -> str:
        text, variables = (arg[0], arg[1]) if isinstance(arg, list) else (arg, {})
        values = {key: str(self.evaluate(value)) for key, value in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in values:
                return values[name]
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return self._get_att(resource, attribute)
            return str(self._ref(name))

        return re.sub(r"\$\{([^}]*)\}", replace, str(text))


# --------------------------------------------------------------------------- resource checks


@dataclass
class _Clients:
    cloudformation: CloudFormationClient
    sqs: SQSClient
    dynamodb: DynamoDBClient
    events: EventBridgeClient
    secretsmanager: SecretsManagerClient


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _fallback_name(stack_name: str, logical_id: str, limit: int) -> str:
    return f"{stack_name}-{logical_id}"[:limit]


def _normalize_json_attribute(value: Any) -> Any:
    """RedrivePolicy & co: compare as JSON with scalars as strings (SQS returns numbers either way)."""

    def normalize(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: normalize(item) for key, item in node.items()}
        if isinstance(node, list):
            return [normalize(item) for item in node]
        return str(node).lower() if isinstance(node, bool) else str(node)

    return normalize(json.loads(value) if isinstance(value, str) else value)


def _sqs_attribute_value(name: str, value: Any) -> str:
    if name in {"RedrivePolicy", "RedriveAllowPolicy"}:
        return value if isinstance(value, str) else json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Reconciler:
    """Checks each needed resource through its service API; creates or repairs what moto skipped."""

    def __init__(self, clients: _Clients, evaluator: _Evaluator, stack_name: str):
        self._clients = clients
        self._evaluator = evaluator
        self._stack_name = stack_name
        self.repairs: list[str] = []

    def _note(self, message: str) -> None:
        logger.warning("local stack %s: %s", self._stack_name, message)
        self.repairs.append(message)

    def ensure(self, logical_id: str, resource: Mapping[str, Any], physical_id: str | None) -> None:
        handlers: dict[str, Callable[[str, dict[str, Any], str | None], dict[str, str]]] = {
            "AWS::SQS::Queue": self._queue,
            "AWS::SQS::QueuePolicy": self._queue_policy,
            "AWS::DynamoDB::Table": self._table,
            "AWS::Events::EventBus": self._event_bus,
            "AWS::Events::Rule": self._rule,
            "AWS::SecretsManager::Secret": self._secret,
        }
        handler = handlers.get(str(resource.get("Type")))
        if handler is None:
            # Not needed by the worker (log group, alarm, ...): keep whatever moto made of it.
            if not physical_id:
                logger.info(
                    "local stack %s: %s (%s) skipped by moto",
                    self._stack_name,
                    logical_id,
                    resource.get("Type"),
                )
            self._evaluator.resources[logical_id] = {"Ref": physical_id or logical_id}
            return
        properties = self._evaluator.evaluate(resource.get("Properties", {}))
        self._evaluator.resources[logical_id] = handler(logical_id, properties, physical_id)

    # -- Secrets Manager

    def _secret(self, logical_id: str, props: dict[str, Any], physical_id: str | None) -> dict[str, str]:
        """A stack-generated secret (GenerateSecretString), which moto's CloudFormation does not create."""
        secrets = self._clients.secretsmanager
        name = str(props.get("Name") or _fallback_name(self._stack_name, logical_id, 256))
        try:
            arn = secrets.describe_secret(SecretId=physical_id or name)["ARN"]
        except ClientError as error:
            if _error_code(error) != "ResourceNotFoundException":
                raise
            generate = props.get("GenerateSecretString", {})
            length = int(generate.get("PasswordLength", 64))
            value = secrets.get_random_password(PasswordLength=length, ExcludePunctuation=True)[
                "RandomPassword"
            ]
            arn = secrets.create_secret(Name=name, SecretString=value)["ARN"]
            self._note(f"created {logical_id} ({name}) with a generated value")
        return {"Ref": arn}

    # -- SQS

    def _queue(self, logical_id: str, props: dict[str, Any], physical_id: str | None) -> dict[str, str]:
        sqs = self._clients.sqs
        name = physical_id.rstrip("/").rsplit("/", 1)[-1] if physical_id else None
        url: str | None = None
        if name:
            try:
                url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            except ClientError as error:
                if "NonExistentQueue" not in _error_code(error):
                    raise
        if url is None:
            name = str(props.get("QueueName") or _fallback_name(self._stack_name, logical_id, 80))
            if props.get("FifoQueue") and not name.endswith(".fifo"):
                name = name[:75] + ".fifo"
            attributes = {
                key: _sqs_attribute_value(key, props[key])
                for key in (*_SQS_ATTRIBUTE_PROPERTIES, "FifoQueue", "ContentBasedDeduplication")
                if key in props
            }
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]  # type: ignore[arg-type]
            self._note(f"created queue {logical_id} ({name})")
        actual = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        fixes: dict[str, str] = {}
        for key in _SQS_ATTRIBUTE_PROPERTIES:
            if key not in props:
                continue
            wanted = _sqs_attribute_value(key, props[key])
            have = actual.get(key)
            same = (
                have is not None and _normalize_json_attribute(have) == _normalize_json_attribute(wanted)
                if key in {"RedrivePolicy", "RedriveAllowPolicy"}
                else str(have).lower() == wanted.lower()
            )
            if not same:
                fixes[key] = wanted
        if fixes:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=fixes)  # type: ignore[arg-type]
            self._note(f"set {', '.join(sorted(fixes))} on queue {logical_id}")
        arn = actual["QueueArn"]
        return {"Ref": url, "QueueUrl": url, "Arn": arn, "QueueName": arn.rsplit(":", 1)[-1]}

    def _queue_policy(
        self, logical_id: str, props: dict[str, Any], physical_id: str | None
    ) -> dict[str, str]:
        sqs = self._clients.sqs
        wanted = props["PolicyDocument"]
        for url in props.get("Queues", []):
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get(
                "Attributes", {}
            )
            have = attributes.get("Policy")
            if have is None or json.loads(have) != wanted:
                sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(wanted)})
                self._note(f"set queue policy {logical_id} on {url.rsplit('/', 1)[-1]}")
        return {"Ref": physical_id or f"{self._stack_name}-{logical_id}"}

    # -- DynamoDB

    def _table(self, logical_id: str, props: dict[str, Any], physical_id: str | None) -> dict[str, str]:
        ddb = self._clients.dynamodb
        name = physical_id or str(props.get("TableName") or _fallback_name(self._stack_name, logical_id, 255))
        try:
            table = ddb.describe_table(TableName=name)["Table"]
        except ddb.exceptions.ResourceNotFoundException:
            create: dict[str, Any] = {
                "TableName": name,
                "AttributeDefinitions": props["AttributeDefinitions"],
                "KeySchema": props["KeySchema"],
                "BillingMode": props.get("BillingMode", "PROVISIONED"),
            }
            for key in ("ProvisionedThroughput", "GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
                if key in props:
                    create[key] = props[key]
            # CloudFormation and the DynamoDB API spell these two differently.
            if "SSESpecification" in props:
                sse = props["SSESpecification"]
                create["SSESpecification"] = {
                    "Enabled": str(sse.get("SSEEnabled")).lower() == "true",
                    **{k: sse[k] for k in ("SSEType", "KMSMasterKeyId") if k in sse},
                }
            if "StreamSpecification" in props:
                view = props["StreamSpecification"]["StreamViewType"]
                create["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view}
            table = ddb.create_table(**create)["TableDescription"]
            self._note(f"created table {logical_id} ({name})")
        wanted_keys = sorted((k["AttributeName"], k["KeyType"]) for k in props["KeySchema"])
        have_keys = sorted((k["AttributeName"], k["KeyType"]) for k in table.get("KeySchema", []))
        if wanted_keys != have_keys:
            raise LocalStackError(
                f"table {logical_id} ({name}) has keys {have_keys}, template wants {wanted_keys}"
            )
        ttl_spec = props.get("TimeToLiveSpecification")
        if ttl_spec and str(ttl_spec.get("Enabled")).lower() == "true":
            ttl = ddb.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
            if ttl.get("TimeToLiveStatus") not in {"ENABLED", "ENABLING"} or ttl.get(
                "AttributeName"
            ) != ttl_spec.get("AttributeName"):
                ddb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"AttributeName": ttl_spec["AttributeName"], "Enabled": True},
                )
                self._note(f"enabled TTL on {ttl_spec['AttributeName']} of table {logical_id}")
        attrs = {"Ref": name, "Arn": table["TableArn"]}
        if "LatestStreamArn" in table:
            attrs["StreamArn"] = table["LatestStreamArn"]
        return attrs

    # -- EventBridge

    def _event_bus(self, logical_id: str, props: dict[str, Any], physical_id: str | None) -> dict[str, str]:
        events = self._clients.events
        name = str(props.get("Name") or physical_id or _fallback_name(self._stack_name, logical_id, 256))
        try:
            bus = events.describe_event_bus(Name=name)
            arn = bus["Arn"]
        except events.exceptions.ResourceNotFoundException:
            arn = events.create_event_bus(Name=name)["EventBusArn"]
            self._note(f"created event bus {logical_id} ({name})")
        return {"Ref": name, "Name": name, "Arn": arn}

    def _rule(self, logical_id: str, props: dict[str, Any], physical_id: str | None) -> dict[str, str]:
        events = self._clients.events
        bus = str(props.get("EventBusName") or "default").rsplit("/", 1)[-1]
        name = str(props.get("Name") or (physical_id or "").rsplit("|", 1)[-1]) or _fallback_name(
            self._stack_name, logical_id, 64
        )
        try:
            arn = events.describe_rule(Name=name, EventBusName=bus)["Arn"]
        except events.exceptions.ResourceNotFoundException:
            rule: dict[str, Any] = {"Name": name, "EventBusName": bus, "State": props.get("State", "ENABLED")}
            if "EventPattern" in props:
                pattern = props["EventPattern"]
                rule["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
            for key in ("ScheduleExpression", "Description", "RoleArn"):
                if key in props:
                    rule[key] = props[key]
            arn = events.put_rule(**rule)["RuleArn"]
            self._note(f"created rule {logical_id} ({name}) on bus {bus}")
        have = {
            target["Id"]: target["Arn"]
            for target in events.list_targets_by_rule(Rule=name, EventBusName=bus).get("Targets", [])
        }
        missing = [t for t in props.get("Targets", []) if have.get(t["Id"]) != t["Arn"]]
        if missing:
            events.put_targets(Rule=name, EventBusName=bus, Targets=missing)
            self._note(f"put targets {[t['Id'] for t in missing]} on rule {logical_id}")
        return {"Ref": name, "Arn": arn}


def _creation_order(resources: Mapping[str, Any]) -> list[str]:
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise LocalStackError(f"circular dependency at {name}")
        state[name] = "visiting"
        for dep in sorted(_resource_dependencies(resources[name])):
            if dep in resources:
                visit(dep)
        state[name] = "done"
        order.append(name)

    for name in resources:
        visit(name)
    return order


# --------------------------------------------------------------------------- CloudFormation


def _stack_status(cfn: CloudFormationClient, stack_name: str) -> str | None:
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if _error_code(error) == "ValidationError":  # "Stack with id X does not exist"
            return None
        raise
    return stacks[0]["StackStatus"] if stacks else None


def _wait_for(cfn: CloudFormationClient, stack_name: str, done: set[str | None]) -> str | None:
    deadline = time.monotonic() + _STACK_TIMEOUT_SECONDS
    while True:
        status = _stack_status(cfn, stack_name)
        if status in done:
            return status
        if status is not None and (status.endswith("_FAILED") or "ROLLBACK" in status):
            reasons = [
                f"{e.get('LogicalResourceId')}: {e.get('ResourceStatusReason')}"
                for e in cfn.describe_stack_events(StackName=stack_name).get("StackEvents", [])
                if e.get("ResourceStatusReason")
            ]
            raise LocalStackError(f"stack {stack_name} is {status}: {reasons}")
        if time.monotonic() > deadline:
            raise LocalStackError(f"stack {stack_name} still {status} after {_STACK_TIMEOUT_SECONDS:.0f}s")
        time.sleep(_POLL_SECONDS)


def _stack_resources(cfn: CloudFormationClient, stack_name: str) -> dict[str, str]:
    physical: dict[str, str] = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for summary in page["StackResourceSummaries"]:
            if summary.get("LogicalResourceId") and summary.get("PhysicalResourceId"):
                physical[summary["LogicalResourceId"]] = summary["PhysicalResourceId"]
    return physical


def _parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
    declared: dict[str, Any] = template.get("Parameters", {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise ValueError(f"unknown template parameters: {unknown}")
    values = {name: str(spec["Default"]) for name, spec in declared.items() if "Default" in spec}
    values.update({name: str(value) for name, value in overrides.items()})
    missing = sorted(set(declared) - set(values))
    if missing:
        raise ValueError(f"template parameters without a value: {missing}")
    return values


def _clients(endpoint_url: str, region: str) -> _Clients:
    kwargs = aws_client_kwargs(endpoint_url, region)
    return _Clients(
        cloudformation=boto3.client("cloudformation", **kwargs),
        sqs=boto3.client("sqs", **kwargs),
        dynamodb=boto3.client("dynamodb", **kwargs),
        events=boto3.client("events", **kwargs),
        secretsmanager=boto3.client("secretsmanager", **kwargs),
    )


def _account_id(endpoint_url: str, region: str) -> str:
    sts = boto3.client("sts", **aws_client_kwargs(endpoint_url, region))
    return str(sts.get_caller_identity()["Account"])


def deploy_local_stack(
    endpoint_url: str,
    *,
    stack_name: str = "sp-relay-local",
    region: str = "us-east-1",
    parameters: Mapping[str, str] | None = None,
    template_path: Path | None = None,
) -> LocalResources:
    """Create the stack of ``template_path`` (default: the project's template.yaml) on a moto server at
    ``endpoint_url``; see the module doc.

    An existing stack of the same name is deleted first (fresh, empty queues and tables).
    """
    sam_template = load_template(template_path)
    values = _parameter_values(sam_template, {**(parameters or {}), **_FORCED_PARAMETERS})
    translated = sam_translate(sam_template, parameters=values, region=region)
    template, dropped = localize_template(translated)
    logger.info("local stack %s: left out %s (the local worker loop plays their part)", stack_name, dropped)

    clients = _clients(endpoint_url, region)
    cfn = clients.cloudformation
    if _stack_status(cfn, stack_name) not in {None, "DELETE_COMPLETE"}:
        cfn.delete_stack(StackName=stack_name)
        _wait_for(cfn, stack_name, {None, "DELETE_COMPLETE"})
    cfn.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(template),
        Parameters=[
            {"ParameterKey": key, "ParameterValue": value}
            for key, value in values.items()
            if key in template.get("Parameters", {})
        ],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    _wait_for(cfn, stack_name, {"CREATE_COMPLETE"})

    pseudo = {
        "AWS::Region": region,
        "AWS::AccountId": _account_id(endpoint_url, region),
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": stack_name,
        "AWS::StackId": cfn.describe_stacks(StackName=stack_name)["Stacks"][0].get("StackId", stack_name),
    }
    evaluator = _Evaluator(template, values, pseudo)
    reconciler = _Reconciler(clients, evaluator, stack_name)
    physical = _stack_resources(cfn, stack_name)
    resources: dict[str, Any] = template["Resources"]
    for logical_id in _creation_order(resources):
        resource = resources[logical_id]
        if "Condition" in resource and not evaluator.condition(str(resource["Condition"])):
            continue
        reconciler.ensure(logical_id, resource, physical.get(logical_id))

    outputs = {
        key: str(evaluator.evaluate(out["Value"]))
        for key, out in template.get("Outputs", {}).items()
        if "Condition" not in out or evaluator.condition(str(out["Condition"]))
    }
    try:
        return LocalResources(
            command_queue_url=outputs["CommandQueueUrl"],
            dead_letter_queue_url=outputs["DeadLetterQueueUrl"],
            idempotency_table_name=outputs["IdempotencyTableName"],
            rate_limit_table_name=outputs["RateLimitTableName"],
            poller_state_table_name=outputs["PollerStateTableName"],
            outcome_bus_name=outputs["OutcomeBusName"],
            outcome_tap_queue_url=outputs["OutcomeTapQueueUrl"],
            max_receive_count=int(values["MaxReceiveCount"]),
            account_secret_prefix=values["AccountSecretPrefix"],
            region=region,
            endpoint_url=endpoint_url,
            relay_context_key_secret_id=outputs["RelayContextKeySecretId"],
            notification_queue_url=outputs["NotificationQueueUrl"],
            notification_dead_letter_queue_url=outputs["NotificationDeadLetterQueueUrl"],
        )
    except KeyError as error:
        raise LocalStackError(f"template output or parameter {error} is missing") from error


# --------------------------------------------------------------------------- secrets


def seed_account_secret(endpoint_url: str, region: str, secret_name: str, value: Mapping[str, Any]) -> None:
    """Create (or overwrite) one selling-partner account secret, JSON like the operator stores it."""
    client = boto3.client("secretsmanager", **aws_client_kwargs(endpoint_url, region))
    secret_string = json.dumps(dict(value))
    try:
        client.create_secret(Name=secret_name, SecretString=secret_string)
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=secret_name, SecretString=secret_string)
