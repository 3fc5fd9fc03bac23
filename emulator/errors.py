"""The SP-API error vocabulary the emulator answers with: ``{"errors": [{"code", "message", "details"}]}``."""

from __future__ import annotations

from typing import Any

DEFAULT_CODES: dict[int, str] = {
    400: "InvalidInput",
    403: "Unauthorized",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    429: "QuotaExceeded",
    500: "InternalFailure",
    501: "NotImplemented",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}

DEFAULT_MESSAGES: dict[int, str] = {
    429: "You exceeded your quota for the requested resource.",
    500: "We encountered an internal error. Please try again.",
    503: "Service temporarily unavailable. Please try again.",
    504: "The request timed out.",
}

UNAUTHORIZED_MESSAGE = "Access to requested resource is denied."
INVALID_TOKEN_DETAILS = "The access token you provided is revoked, malformed or invalid."  # noqa: S105
EXPIRED_TOKEN_DETAILS = "The access token you provided has expired."  # noqa: S105
# A token of the wrong kind. These details avoid "access token": the relay's client takes that phrase for a
# stale token and refreshes it once, which cannot help when the kind is wrong.
GRANTLESS_REQUIRED_DETAILS = "{} is a grantless operation: it needs a client_credentials grant of scope {}."
SCOPE_NOT_GRANTED_DETAILS = "The grantless grant does not include the scope {}."
SELLER_REQUIRED_DETAILS = "{} needs a selling partner's authorization; a grantless grant cannot call it."


def error_body(code: str, message: str, details: str = "") -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message, "details": details}]}


def default_code(status: int) -> str:
    return DEFAULT_CODES.get(status, f"Error{status}")


def default_message(status: int) -> str:
    return DEFAULT_MESSAGES.get(status, f"The request failed with status {status}.")


class ApiError(Exception):
    """Raised by the pipeline and the handlers; turned into an SP-API error answer."""

    def __init__(self, status: int, code: str | None = None, message: str | None = None, details: str = ""):
        self.status = status
        self.code = code if code is not None else default_code(status)
        self.message = message if message is not None else default_message(status)
        self.details = details
        super().__init__(f"{status} {self.code}: {self.message}")

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)
