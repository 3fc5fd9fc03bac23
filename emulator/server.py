"""``EmulatorServer``: the emulator on a werkzeug threaded HTTP server in a background thread."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from emulator.app import EmulatorApp
from emulator.models import ModelCatalog
from emulator.notification_delivery import NotificationDestination
from emulator.operations import default_registry
from emulator.registry import Handler, HandlerRegistry
from emulator.state import Account, EmulatorConfig, EmulatorState

logger = logging.getLogger("emulator")


class _QuietRequestHandler(WSGIRequestHandler):
    """Logs at most ``METHOD /path status`` (never the query string, headers or body), and only on request."""

    log_requests = False

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.log_requests:
            path = self.path.split("?", 1)[0]
            logger.info("%s %s %s", self.command, path, code)

    def log_error(self, format: str, *args: Any) -> None:
        # The stdlib passes the raw request line (with its query string) in ``args``: log the status only.
        status = args[0] if args and isinstance(args[0], int) else "-"
        logger.warning("emulator HTTP error, status %s", status)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _VerboseRequestHandler(_QuietRequestHandler):
    log_requests = True


class EmulatorServer:
    """A local SP-API + LWA emulator over real HTTP.

    >>> with EmulatorServer(rate_scale=10) as server:
    ...     server.register_account("client", "secret", "Atzr|refresh", "SELLER1")
    ...     token_url = server.url + "/auth/o2/token"
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        rate_scale: float = 1.0,
        sandbox_usage_plan: bool = False,
        token_ttl_seconds: int = 3600,
        transaction_settle_seconds: float = 2.0,
        page_size: int = 2,
        models_dir: Path | None = None,
        registry: HandlerRegistry | None = None,
        log_requests: bool = False,
        notification_destination: NotificationDestination | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.state = EmulatorState(
            EmulatorConfig(
                rate_scale=rate_scale,
                sandbox_usage_plan=sandbox_usage_plan,
                token_ttl_seconds=token_ttl_seconds,
                transaction_settle_seconds=transaction_settle_seconds,
                page_size=page_size,
            )
        )
        # The sender (a boto3 SQS client) is made here, from what is passed in: nothing at import time.
        self.state.notification_delivery.configure(notification_destination)
        self.catalog = ModelCatalog(models_dir)
        self.registry = registry if registry is not None else default_registry()
        self._stopping = threading.Event()
        self.app = EmulatorApp(self.state, self.catalog, self.registry, self._stopping)
        self._log_requests = log_requests
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return f"http://{self.host}:{self._server.server_port}"

    @property
    def lwa_token_url(self) -> str:
        return f"{self.url}/auth/o2/token"

    def register_account(
        self, client_id: str, client_secret: str, refresh_token: str, seller_id: str
    ) -> Account:
        return self.state.register_account(client_id, client_secret, refresh_token, seller_id)

    def register_handler(self, name: str, handler: Handler) -> None:
        """Serve operation ``name`` (operationId or ``<api>.<operationId>``) with ``handler``."""
        self.registry.add(name, handler)

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._stopping.clear()
        handler = _VerboseRequestHandler if self._log_requests else _QuietRequestHandler
        self._server = make_server(self.host, self.port, self.app, threaded=True, request_handler=handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sp-api-emulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Run in the calling thread (for ``python -m emulator``); returns after ``stop()`` or Ctrl-C."""
        self._stopping.clear()
        handler = _VerboseRequestHandler if self._log_requests else _QuietRequestHandler
        self._server = make_server(self.host, self.port, self.app, threaded=True, request_handler=handler)
        logger.info("SP-API emulator on %s (LWA: /auth/o2/token, control: /_emulator/)", self.url)
        try:
            self._server.serve_forever()
        finally:
            self._stopping.set()
            self._server.server_close()
            self._server = None

    def stop(self) -> None:
        """Stop serving; requests sleeping in an injected timeout or slow fault wake up and finish."""
        self._stopping.set()
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
