"""Local Selling Partner API emulator (LWA + SP-API over real HTTP) for development and tests."""

from emulator.registry import CallContext, HandlerRegistry
from emulator.server import EmulatorServer
from emulator.state import EmulatorState, Fault

__all__ = ["CallContext", "EmulatorServer", "EmulatorState", "Fault", "HandlerRegistry"]
