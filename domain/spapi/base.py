"""Building blocks shared by the generated SP-API models (hand-written; the generator only imports it).

Validation must accept exactly what SP-API accepts, because the relay forwards the producer's payload
unchanged. Hence every generated model:

- rejects unknown fields (``extra="forbid"``);
- never coerces (``strict=True``): ``"5"`` is not an integer, ``1`` is not a string, ``true`` is not
  ``"true"``. Nested models still validate from plain dicts and from JSON text;
- rejects an explicit ``null`` for every field unless the model marks it ``x-nullable`` (listed in
  ``__spapi_nullable__``): optional fields are omitted, not null;
- validates fields by their API (JSON) names only. A field whose API name is not a usable Python name
  gets a Python name plus ``Field(alias=<API name>)``; the Python name is not accepted in payloads,
  since SP-API would not understand it.

Formatted strings are checked but kept exactly as given (no conversion to ``datetime``).
"""

from __future__ import annotations

import ipaddress
import re
import threading
from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, TypeAlias

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

_DATE_TIME_PREFIX = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def check_date_time(value: str) -> str:
    """Accept an ISO 8601 / RFC 3339 date-time (``2024-05-01T12:00:00Z``, offset or naive); keep it as is."""
    if _DATE_TIME_PREFIX.match(value) is None:
        raise ValueError("expected an ISO 8601 date-time such as 2024-05-01T12:00:00Z")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("expected an ISO 8601 date-time such as 2024-05-01T12:00:00Z") from None
    return value


def check_date(value: str) -> str:
    """Accept an ISO 8601 calendar date (``2024-05-01``); keep it as is."""
    if _DATE.fullmatch(value) is None:
        raise ValueError("expected an ISO 8601 date such as 2024-05-01")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValueError("expected an ISO 8601 date such as 2024-05-01") from None
    return value


def check_ip_address(value: str) -> str:
    """Accept an IPv4 or IPv6 address; keep it as is."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError("expected an IPv4 or IPv6 address") from None
    return value


DateTimeStr: TypeAlias = Annotated[str, AfterValidator(check_date_time)]
DateStr: TypeAlias = Annotated[str, AfterValidator(check_date)]
IpAddressStr: TypeAlias = Annotated[str, AfterValidator(check_ip_address)]
Int32: TypeAlias = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
Int64: TypeAlias = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


_MODEL_BUILD_LOCK = threading.RLock()


class SpApiModel(BaseModel):
    """Base of every generated model: strict, closed, and null-rejecting (see the module docstring)."""

    # defer_build: hundreds of models are generated, a Lambda validates a handful of them. Each one's
    # validator is built on first use, so a cold start does not pay for the rest.
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    @classmethod
    def model_rebuild(
        cls,
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: Mapping[str, Any] | None = None,
    ) -> bool | None:
        # A deferred model is built by whichever thread uses it first, and pydantic's rebuild is not
        # thread-safe: two relay threads validating the same new model raced, one deleting the schema
        # the other had just built (AttributeError). One lock for all models, re-entrant because
        # building a model may build the models it nests; the second thread finds the model complete.
        with _MODEL_BUILD_LOCK:
            return super().model_rebuild(
                force=force,
                raise_errors=raise_errors,
                # One frame deeper than pydantic counts: this override sits between it and the caller.
                _parent_namespace_depth=_parent_namespace_depth + 1 if _parent_namespace_depth > 0 else 0,
                _types_namespace=_types_namespace,
            )

    # Python names of the fields whose schema says x-nullable: true (they accept an explicit null).
    __spapi_nullable__: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _reject_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.__spapi_nullable__:
            raise ValueError("null is not allowed here; omit the field instead")
        return value
