"""Handlers of the SP-API operations the emulator implements, one module per API.

Each module has ``register(registry)``; add a module to ``MODULES`` to make its handlers live.
"""

from __future__ import annotations

from emulator.operations import (
    easy_ship,
    fulfillment,
    fulfillment_2026,
    notifications,
    tokens,
    vendor_direct_fulfillment,
    vendor_orders,
)
from emulator.registry import HandlerRegistry

MODULES = (
    fulfillment,
    fulfillment_2026,
    vendor_direct_fulfillment,
    vendor_orders,
    easy_ship,
    notifications,
    tokens,
)


def default_registry() -> HandlerRegistry:
    """A fresh registry with every operation the emulator implements."""
    registry = HandlerRegistry()
    for module in MODULES:
        module.register(registry)
    return registry
