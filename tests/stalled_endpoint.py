"""An AWS endpoint that stalls: it takes connections and requests and never answers."""

from __future__ import annotations

import socket
import threading


class StalledEndpoint:
    """Accepts connections and reads requests, and never answers: AWS stalled in the middle of a call."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self._held: list[socket.socket] = []
        self._running = True
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def connections(self) -> int:
        """Connections taken so far (each held open, unanswered)."""
        return len(self._held)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.getsockname()[1]}"

    def _accept(self) -> None:
        while self._running:
            try:
                connection, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._held.append(connection)

    def close(self) -> None:
        self._running = False
        self._thread.join()
        for connection in self._held:
            connection.close()
        self._server.close()
