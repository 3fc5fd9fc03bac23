"""An in-process moto server: SQS, DynamoDB, Secrets Manager, EventBridge and CloudFormation over HTTP.

The local stack talks to it exactly as it would talk to AWS: boto3 clients with an explicit
``endpoint_url`` (see :func:`aws_client_kwargs`), so nothing depends on ``AWS_ENDPOINT_URL`` being set.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TypedDict

from moto.core.common_models import BaseModel
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.server import ThreadedMotoServer
from moto.sqs.models import SQSBackend
from werkzeug.serving import make_server

# moto accepts any credentials; these make sure a misconfigured client can never sign for a real account.
FAKE_ACCESS_KEY_ID = "testing"
FAKE_SECRET_ACCESS_KEY = "testing"  # noqa: S105 - not a secret: moto's fake credentials
DEFAULT_REGION = "us-east-1"


class AwsClientKwargs(TypedDict):
    """``boto3.client(service, **kwargs)`` arguments (a TypedDict, so type checkers see each key)."""

    endpoint_url: str
    region_name: str
    aws_access_key_id: str
    aws_secret_access_key: str


@dataclass
class MotoHandle:
    """A running moto server. ``stop()`` is idempotent."""

    endpoint_url: str
    host: str
    port: int
    _server: Any = field(repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stopped: bool = field(default=False, repr=False)

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._server.stop()

    def __enter__(self) -> MotoHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _AtomicDynamoDb:
    """DynamoDB applies each conditional write atomically; moto's threaded server checks the condition
    and writes without a lock, so two concurrent writers can both pass a condition only one of them
    should: two claims of one write-ledger item, or two workers taking the last rate-limit token (seen:
    tat 19.3 -> 19.8 -> 20.3 from two writes whose conditions both read 19.3, which SP-API then answered
    with a 429). Requests are served one at a time per table here (different tables stay concurrent),
    which is at least as strict as DynamoDB's per-item ordering."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            return self._app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        with contextlib.ExitStack() as held:
            # Sorted, so a transaction over several tables never waits in a cycle with another.
            for table in sorted(_tables_of(body)):
                held.enter_context(self._lock_for(table))
            # The body is produced inside the locks: moto builds it before returning.
            return list(self._app(environ, start_response))

    def _lock_for(self, table: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(table, threading.Lock())


def _tables_of(body: bytes) -> set[str]:
    """The tables a DynamoDB request touches (every one for a transaction or a batch)."""
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return set()
    if not isinstance(request, dict):
        return set()
    tables = {request["TableName"]} if isinstance(request.get("TableName"), str) else set()
    for item in request.get("TransactItems") or []:
        for action in item.values() if isinstance(item, dict) else []:
            if isinstance(action, dict) and isinstance(action.get("TableName"), str):
                tables.add(action["TableName"])
    tables.update(name for name in request.get("RequestItems") or {} if isinstance(name, str))
    return tables


class _AtomicMotoServer(ThreadedMotoServer):
    def _server_entry(self) -> None:
        self._server = make_server(
            self._ip_address,
            self._port,
            _AtomicDynamoDb(DomainDispatcherApplication(create_backend_app)),
            True,
            request_handler=MotoRequestHandler,
        )
        self._server_ready_event.set()
        self._server.serve_forever()


_RECEIVE_LOCK = threading.Lock()
# A short pause when visible messages cannot be handed out yet (a FIFO group in flight), so the wait
# below does not spin.
_RECEIVE_RETRY_SECONDS = 0.02


def _one_receiver_at_a_time() -> None:
    """SQS hands a message to one consumer until its visibility timeout ends; moto's threaded server picks
    and marks messages without a lock, so two workers polling at once could both receive the same one
    (seen: one command dead-lettered twice in one run). Messages are picked one receive at a time here;
    the long-poll wait happens outside the lock, so a waiting poll never holds up another."""
    original = SQSBackend.receive_message
    if getattr(original, "one_at_a_time", False):
        return

    def receive_message(  # noqa: PLR0917 - moto's own signature, called positionally
        self: SQSBackend,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> Any:
        deadline = time.monotonic() + wait_seconds_timeout
        while True:
            with _RECEIVE_LOCK:
                received = original(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
            remaining = deadline - time.monotonic()
            if received or remaining <= 0:
                return received
            self.get_queue(queue_name).wait_for_messages(min(1.0, remaining))  # type: ignore[arg-type]
            time.sleep(min(_RECEIVE_RETRY_SECONDS, max(0.0, deadline - time.monotonic())))

    receive_message.one_at_a_time = True  # type: ignore[attr-defined]
    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]


def _no_instance_tracking() -> None:
    """moto's ``BaseModel.__new__`` appends every model instance it ever creates to its class's
    ``instances_tracked`` list, which only moto's dashboard reads. Nothing is ever removed: every item a
    table ever held stays alive (seen: 75,182 live DynamoDB ``Item``s and 571,248 ``DynamoType``s after
    240 chaos commands, while the tables held 689 items), and every garbage collection walks them all, in
    pauses that grow with the run. Instances are created untracked here, so memory is what the tables
    and queues hold."""
    if getattr(BaseModel.__new__, "untracked", False):
        return

    def untracked_new(cls: type[BaseModel], *args: Any, **kwargs: Any) -> BaseModel:
        return super(BaseModel, cls).__new__(cls)

    untracked_new.untracked = True  # type: ignore[attr-defined]
    BaseModel.__new__ = staticmethod(untracked_new)  # type: ignore[method-assign]


def start_moto_server(host: str = "127.0.0.1", port: int = 0) -> MotoHandle:
    """Start moto's threaded server on ``host:port`` (``port=0``: a free port chosen by the OS).

    The socket is bound before this returns, so the endpoint is usable immediately.
    """
    # werkzeug logs every request at INFO: hundreds of lines that drown the relay's own logs.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    _one_receiver_at_a_time()
    _no_instance_tracking()
    server = _AtomicMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    url_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    return MotoHandle(
        endpoint_url=f"http://{url_host}:{bound_port}",
        host=bound_host,
        port=int(bound_port),
        _server=server,
    )


def aws_client_kwargs(endpoint_url: str, region: str = DEFAULT_REGION) -> AwsClientKwargs:
    """Keyword arguments for ``boto3.client(service, **kwargs)`` against a local endpoint.

    Explicit fake credentials and region: the result never depends on (or leaks to) the caller's
    AWS profile or environment.
    """
    return {
        "endpoint_url": endpoint_url,
        "region_name": region,
        "aws_access_key_id": FAKE_ACCESS_KEY_ID,
        "aws_secret_access_key": FAKE_SECRET_ACCESS_KEY,
    }
