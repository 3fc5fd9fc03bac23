"""A fake of the SQS API that implements the DLQ redrive (StartMessageMoveTask), which moto lacks.

It is an HTTP server in front of the moto server: StartMessageMoveTask, ListMessageMoveTasks and
CancelMessageMoveTask (SQS's JSON protocol, told apart by ``X-Amz-Target``) are answered here, every
other request is passed to moto unchanged. A task moves, as SQS does, the messages that were on the
source queue when it started, body and message attributes as they are, at most
``MaxNumberOfMessagesPerSecond`` a second, and then reports COMPLETED.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import boto3
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

_TARGET_PREFIX = "AmazonSQS."
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class MoveTask:
    handle: str
    source_arn: str
    destination_arn: str
    rate: int | None
    started: float
    to_move: int = 0
    moved: int = 0
    status: str = "RUNNING"
    failure: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "Status": self.status,
            "SourceArn": self.source_arn,
            "DestinationArn": self.destination_arn,
            "ApproximateNumberOfMessagesMoved": self.moved,
            "ApproximateNumberOfMessagesToMove": self.to_move,
            "StartedTimestamp": int(self.started * 1000),
        }
        if self.status == "RUNNING":
            entry["TaskHandle"] = self.handle
        if self.rate:
            entry["MaxNumberOfMessagesPerSecond"] = self.rate
        if self.failure:
            entry["FailureReason"] = self.failure
        return entry


class MoveTaskSqs:
    """The WSGI application: move tasks here, the rest of SQS at ``moto_endpoint``."""

    def __init__(self, moto_endpoint: str, region: str) -> None:
        self._moto = urlparse(moto_endpoint)
        self._sqs = boto3.client(
            "sqs",
            endpoint_url=moto_endpoint,
            region_name=region,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        self.tasks: list[MoveTask] = []
        self._lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        target = request.headers.get("X-Amz-Target", "")
        handlers = {
            "StartMessageMoveTask": self._start,
            "ListMessageMoveTasks": self._list,
            "CancelMessageMoveTask": self._cancel,
        }
        handler = handlers.get(target.removeprefix(_TARGET_PREFIX))
        response = handler(json.loads(request.get_data() or b"{}")) if handler else self._forward(request)
        return response(environ, start_response)

    # --- the move tasks ----------------------------------------------------------------------------------

    def _queue_url(self, arn: str) -> str:
        name = arn.rsplit(":", 1)[-1]
        return str(self._sqs.get_queue_url(QueueName=name)["QueueUrl"])

    def _start(self, body: dict[str, Any]) -> Response:
        with self._lock:
            if any(t.status == "RUNNING" and t.source_arn == body["SourceArn"] for t in self.tasks):
                return _error(400, "AWS.SimpleQueueService.UnsupportedOperation", "a task is running")
            task = MoveTask(
                handle=uuid.uuid4().hex,
                source_arn=str(body["SourceArn"]),
                destination_arn=str(body["DestinationArn"]),
                rate=body.get("MaxNumberOfMessagesPerSecond"),
                started=time.time(),
            )
            source = self._queue_url(task.source_arn)
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=source, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            task.to_move = int(attributes["ApproximateNumberOfMessages"])
            self.tasks.append(task)
        threading.Thread(target=self._move, args=(task, source), daemon=True).start()
        return _json({"TaskHandle": task.handle})

    def _move(self, task: MoveTask, source: str) -> None:
        destination = self._queue_url(task.destination_arn)
        interval = 1.0 / task.rate if task.rate else 0.0
        try:
            while task.moved < task.to_move and not task.cancel.is_set():
                answer = self._sqs.receive_message(
                    QueueUrl=source,
                    MaxNumberOfMessages=1,
                    WaitTimeSeconds=1,
                    MessageAttributeNames=["All"],
                    MessageSystemAttributeNames=["SentTimestamp"],
                )
                messages = answer.get("Messages", [])
                if not messages:
                    break
                message = messages[0]
                if int(message["Attributes"]["SentTimestamp"]) / 1000 > task.started:
                    # Arrived after the task started: not part of this move.
                    self._sqs.change_message_visibility(
                        QueueUrl=source, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                    )
                    break
                request: dict[str, Any] = {"QueueUrl": destination, "MessageBody": message["Body"]}
                if message.get("MessageAttributes"):
                    request["MessageAttributes"] = message["MessageAttributes"]
                self._sqs.send_message(**request)
                self._sqs.delete_message(QueueUrl=source, ReceiptHandle=message["ReceiptHandle"])
                task.moved += 1
                time.sleep(interval)
            task.status = "CANCELLED" if task.cancel.is_set() else "COMPLETED"
        except Exception as error:  # noqa: BLE001 - a fake reports every failure as SQS would: FAILED
            task.status, task.failure = "FAILED", f"{type(error).__name__}: {error}"

    def _list(self, body: dict[str, Any]) -> Response:
        tasks = [t for t in reversed(self.tasks) if t.source_arn == body.get("SourceArn")]
        return _json({"Results": [t.entry() for t in tasks[: int(body.get("MaxResults", 1))]]})

    def _cancel(self, body: dict[str, Any]) -> Response:
        for task in self.tasks:
            if task.handle == body.get("TaskHandle") and task.status == "RUNNING":
                task.cancel.set()
                return _json({"ApproximateNumberOfMessagesMoved": task.moved})
        return _error(400, "ResourceNotFoundException", "no running task with this handle")

    # --- everything else: moto ---------------------------------------------------------------------------

    def _forward(self, request: Request) -> Response:
        connection = http.client.HTTPConnection(
            self._moto.hostname or "127.0.0.1", self._moto.port, timeout=30
        )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        path = request.full_path if request.query_string else request.path
        connection.request(request.method, path, body=request.get_data(), headers=headers)
        answer = connection.getresponse()
        response = Response(answer.read(), status=answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in _HOP_BY_HOP:
                response.headers[name] = value
        connection.close()
        return response


def _json(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=200, content_type="application/x-amz-json-1.0")


def _error(status: int, code: str, message: str) -> Response:
    return Response(
        json.dumps({"__type": code, "message": message}),
        status=status,
        content_type="application/x-amz-json-1.0",
    )


@contextmanager
def move_task_sqs(moto_endpoint: str, region: str) -> Iterator[tuple[str, MoveTaskSqs]]:
    """Serve the fake on a free local port; yields its endpoint URL and the application."""
    application = MoveTaskSqs(moto_endpoint, region)
    server = make_server("127.0.0.1", 0, application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", application
    finally:
        server.shutdown()
        thread.join(timeout=5)
