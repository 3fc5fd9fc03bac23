"""What the emulator keeps of the Notifications API: destinations and subscriptions (the handlers are in
``emulator.operations.notifications``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Subscription:
    client_id: str
    seller_id: str
    notification_type: str
    subscription_id: str
    payload_version: str
    destination_id: str
    processing_directive: dict[str, Any] | None = None

    def view(self) -> dict[str, Any]:
        view: dict[str, Any] = {
            "subscriptionId": self.subscription_id,
            "payloadVersion": self.payload_version,
            "destinationId": self.destination_id,
        }
        if self.processing_directive is not None:
            view["processingDirective"] = self.processing_directive
        return view


@dataclass
class NotificationsState:
    """Destinations by (application, destinationId); subscriptions by subscriptionId. Guarded by the
    emulator state's lock (handlers run under it)."""

    destinations: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    # Test notifications asked for: (application, notificationType, destinationId, testScenario).
    test_notifications: list[tuple[str, str, str, str | None]] = field(default_factory=list)

    def clear(self) -> None:
        self.destinations.clear()
        self.subscriptions.clear()
        self.test_notifications.clear()
