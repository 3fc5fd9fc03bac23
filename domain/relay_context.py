"""The relay's own context on queue messages, in a form only the relay can write.

Anyone allowed to send to the command queue can set any message attribute, so nothing the relay
trusts may travel as a plain attribute: a producer once forged a "transaction TreatedAsAccepted" event
by setting the follow-up attributes itself. The relay's context (deferral count, transaction
follow-up, and whatever a later step needs to carry through the dead-letter queue and a replay) travels
in one attribute, ``sp-relay-context``, sealed with HMAC-SHA256 under a key only the relay's role can
read (a Secrets Manager secret the stack generates). The seal binds the context to the message body:
copied onto another command it opens to nothing.

Every other inbound ``sp-relay-*`` attribute is ignored, and none is copied forward.

Format: ``v1.<base64url(JSON)>.<base64url(HMAC-SHA256(key, "v1." + base64url(JSON) + "." + SHA-256(body)))>``
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Mapping

from domain.attributes import RELAY_ATTRIBUTE_PREFIX

MIN_KEY_BYTES = 32
_VERSION = "v1"

ContextValue = str | int | float | bool
RelayContext = Mapping[str, ContextValue]


def is_relay_attribute(name: str) -> bool:
    return name.startswith(RELAY_ATTRIBUTE_PREFIX)


class RelayContextSeal:
    """Seals and opens the relay's context. One key per stack; every worker and the CLI's replay share it
    implicitly (a replay copies the sealed value unchanged, it never needs the key)."""

    def __init__(self, key: bytes | Callable[[], bytes]) -> None:
        """``key``, or where to read it on first use (a failure to read it is retried on the next use)."""
        self._key: bytes | None = None
        self._read_key = key if callable(key) else (lambda: key)
        self._lock = threading.Lock()
        if not callable(key):
            self._checked(key)

    def _current_key(self) -> bytes:
        if self._key is None:
            with self._lock:
                if self._key is None:
                    self._key = self._checked(self._read_key())
        return self._key

    @staticmethod
    def _checked(key: bytes) -> bytes:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"relay context key: at least {MIN_KEY_BYTES} bytes are needed, got {len(key)}")
        return key

    def seal(self, body: str, context: RelayContext) -> str:
        document = json.dumps(dict(context), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        payload = _b64(document.encode())
        return f"{_VERSION}.{payload}.{self._mac(payload, body)}"

    def open(self, body: str, sealed: str | None) -> dict[str, ContextValue]:
        """The context sealed for this body; empty when absent, forged, copied from another body, garbled."""
        if not sealed:
            return {}
        version, _, rest = sealed.partition(".")
        payload, _, mac = rest.partition(".")
        if version != _VERSION or not hmac.compare_digest(mac, self._mac(payload, body)):
            return {}
        try:
            document = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except ValueError:
            return {}
        if not isinstance(document, dict):
            return {}
        return {
            str(name): value
            for name, value in document.items()
            if isinstance(value, str | int | float | bool)
        }

    def _mac(self, payload: str, body: str) -> str:
        digest = hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()
        signed = f"{_VERSION}.{payload}.{digest}".encode()
        return _b64(hmac.new(self._current_key(), signed, hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
