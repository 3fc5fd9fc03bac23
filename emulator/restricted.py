"""Restricted operations and restricted data tokens (RDT, Tokens API 2021-03-01).

An operation that returns PII answers only to an RDT that names its method and path; the path may be
the concrete one (``.../purchaseOrders/2JK3S9VC``) or the model's template
(``.../purchaseOrders/{purchaseOrderNumber}``, good for any value). An RDT is good for nothing else: it
is not an access token for other operations.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from emulator.models import Operation

# (method, path template) of the restricted operations the emulator serves.
RESTRICTED_RESOURCES: tuple[tuple[str, str], ...] = (
    ("GET", "/vendor/directFulfillment/orders/2021-12-28/purchaseOrders"),
    ("GET", "/vendor/directFulfillment/orders/2021-12-28/purchaseOrders/{purchaseOrderNumber}"),
    ("POST", "/easyShip/2022-03-23/packages/bulk"),
)

RDT_REQUIRED_DETAILS = (
    "This operation returns restricted data: call it with a Restricted Data Token for {0} {1}."
)
RDT_NOT_GRANTED_DETAILS = "The Restricted Data Token does not grant access to {0} {1}."
RDT_ACCESS_DENIED_MESSAGE = "Application do not have access to some or all requested resource"

_PLACEHOLDER = re.compile(r"\\\{[^/{}]+\\\}")


@lru_cache(maxsize=256)
def _pattern(path: str) -> re.Pattern[str]:
    """``{name}`` stands for one path segment."""
    return re.compile(_PLACEHOLDER.sub("[^/]+", re.escape(_normal(path))) + r"\Z")


def _normal(path: str) -> str:
    return path.rstrip("/") or "/"


def is_restricted(operation: Operation) -> bool:
    return (operation.method, operation.path_template) in RESTRICTED_RESOURCES


def grants(resources: Iterable[tuple[str, str]], method: str, path: str) -> bool:
    """Whether an RDT with these ``(method, path)`` resources may call ``method path``."""
    return any(
        granted_method.upper() == method.upper() and _pattern(granted_path).match(_normal(path))
        for granted_method, granted_path in resources
    )


def names_restricted_resource(method: str, path: str) -> bool:
    """Whether a requested RDT resource is (an instance of) a restricted operation of the emulator."""
    return any(
        restricted_method == method.upper() and _pattern(template).match(_normal(path))
        for restricted_method, template in RESTRICTED_RESOURCES
    )
