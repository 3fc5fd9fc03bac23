"""The operation catalog: which SP-API operation each command type calls, and what the models cannot say.

Paths, parameters and usage plans come from the generated ``domain.spapi`` package (Amazon's official
models). This module adds the command's name, whether it changes anything at Amazon (writes are applied
once per commandId; reads are simply repeated), how SP-API signals that a write already happened, how
a read pages, which operations need a Restricted Data Token, and which transaction a write leaves
behind to follow.

Adding a command type: an entry here and a sample in ``events/``; the catalog tests say what else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from domain.order_status import OrderStatusAt
from domain.paging import Paging, dig
from domain.probes import (
    CANCEL_FULFILLMENT_PROBE,
    CANCEL_MCF_ORDER_PROBE,
    CREATE_FULFILLMENT_PROBE,
    CREATE_MCF_ORDER_PROBE,
    CREATE_RETURN_PROBE,
    CREATE_SCHEDULED_PACKAGE_BULK_PROBE,
    CREATE_SCHEDULED_PACKAGE_PROBE,
    DF_ACKNOWLEDGEMENT_PROBE,
    RETAIL_ACKNOWLEDGEMENT_PROBE,
    UPDATE_FULFILLMENT_PROBE,
    UPDATE_MCF_ORDER_PROBE,
    UPDATE_SCHEDULED_PACKAGES_PROBE,
    StateProbe,
)
from domain.spapi import find_operation
from domain.spapi.spec import OperationSpec
from domain.subscription_probes import (
    CREATE_DESTINATION_PROBE,
    CREATE_SUBSCRIPTION_PROBE,
    DELETE_DESTINATION_PROBE,
    DELETE_SUBSCRIPTION_PROBE,
)

FULFILLMENT_OUTBOUND = "fulfillment_outbound_2020_07_01"
FULFILLMENT_OUTBOUND_2026 = "fulfillment_outbound_2026_07_04"
VENDOR_DF_ORDERS = "vendor_df_orders_2021_12_28"
VENDOR_DF_TRANSACTIONS = "vendor_df_transactions_2021_12_28"
VENDOR_ORDERS = "vendor_orders_v1"
VENDOR_TRANSACTION_STATUS = "vendor_transaction_status_v1"
EASY_SHIP = "easy_ship_2022_03_23"
NOTIFICATIONS = "notifications_v1"

SpApiErrors = Sequence[Mapping[str, Any]]

# Operations that return personal data and need a Restricted Data Token instead of the LWA token.
RESTRICTED_OPERATIONS = frozenset(
    {
        f"{VENDOR_DF_ORDERS}.getOrders",
        f"{VENDOR_DF_ORDERS}.getOrder",
        f"{EASY_SHIP}.createScheduledPackageBulk",
    }
)


@dataclass(frozen=True, slots=True)
class AlreadyDone:
    """How SP-API says "this already happened", and how to confirm it before counting the command done.

    ``matches`` looks at a 4xx answer's errors. ``confirm``, when set, is the type's state probe: "already
    done" counts only when the probe finds the effect (a create's order id taken by another order is a
    rejection with that reason); without it the signal alone settles the command.
    """

    matches: Callable[[SpApiErrors], bool]
    description: str
    confirm: bool = False


@dataclass(frozen=True, slots=True)
class Grantless:
    """The operation takes a grantless token: LWA ``client_credentials`` of the application for ``scope``,
    not the selling partner's. The model says which operations are grantless (``OperationSpec.grantless``,
    from their descriptions); the catalog names the scope, and a mismatch stops the import."""

    scope: str


NOTIFICATIONS_GRANTLESS = Grantless("sellingpartnerapi::notifications")


@dataclass(frozen=True, slots=True)
class TransactionStatus:
    """Where a transaction-status answer keeps the status and the errors."""

    status: tuple[str, ...]
    errors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A write whose result arrives later: follow its transactionId with ``status_command``."""

    status_command: str
    transaction_id: tuple[str, ...]  # where the write's answer puts the transactionId


@dataclass(frozen=True, slots=True)
class OrderSequence:
    """Writes on one seller-named order, which a standard queue may deliver out of order.

    The create (``creates``) records that the relay holds a create of the order; any other write that
    SP-API answers "not found" waits while that create's outcome is still open, instead of failing.
    """

    order_id: tuple[str, ...]  # where the payload names the order
    creates: bool = False

    def order_of(self, payload: Mapping[str, Any]) -> str | None:
        value = dig(payload, self.order_id)
        return value if isinstance(value, str) and value else None


MCF_ORDER = OrderSequence(("sellerFulfillmentOrderId",))
MCF_ORDER_CREATE = OrderSequence(("sellerFulfillmentOrderId",), creates=True)
# 2026-07-04 names the seller's order ``orderId``.
MCF_2026_ORDER = OrderSequence(("orderId",))
MCF_2026_ORDER_CREATE = OrderSequence(("orderId",), creates=True)


@dataclass(frozen=True, slots=True)
class AcceptedLater:
    """A write SP-API may answer 202 "accepted, processed later": a success whose final state is read
    with ``status_command`` (the outcome says so under ``acceptedForProcessing``)."""

    status_command: str


@dataclass(frozen=True, slots=True)
class CommandType:
    name: str
    operation: OperationSpec
    summary: str
    # Reads change nothing at Amazon: they skip the idempotency store and are repeated if redelivered.
    reads: bool = False
    already_done: AlreadyDone | None = None
    # How to tell whether an earlier attempt already took effect (domain.probes); None: nothing can, and
    # a write whose outcome is unknown goes to the DLQ as OutcomeUnknown instead of being sent again.
    probe: StateProbe | None = None
    paging: Paging | None = None
    follow_up: FollowUp | None = None
    transaction_status: TransactionStatus | None = None
    order_sequence: OrderSequence | None = None
    # Where the answer shows the order's status: the outcome carries it normalized (domain.order_status).
    order_status: OrderStatusAt | None = None
    accepted_later: AcceptedLater | None = None
    # None: the selling partner's LWA token (or a Restricted Data Token, RESTRICTED_OPERATIONS).
    grantless: Grantless | None = None

    @property
    def sandbox_only(self) -> bool:
        return self.operation.sandbox_only


def _error_text(errors: SpApiErrors) -> str:
    return " ".join(f"{e.get('code', '')} {e.get('message', '')} {e.get('details', '')}" for e in errors)


def _create_already_exists(errors: SpApiErrors) -> bool:
    return "already exists" in _error_text(errors).lower()


def _duplicate_cancel(errors: SpApiErrors) -> bool:
    return "DuplicateCancelRequest" in _error_text(errors)


def _conflict(errors: SpApiErrors) -> bool:
    """409 of a Notifications create: "A destination with arn X already exists for the application"
    (``Conflict``), "Subscription already exist for notification type X" (``StateConflict``)."""
    return any(str(e.get("code", "")) in ("Conflict", "StateConflict") for e in errors)


def _not_found_error(errors: SpApiErrors) -> bool:
    return any(str(e.get("code", "")) == "NotFound" for e in errors)


def _notifications(operation_id: str) -> OperationSpec:
    return find_operation(NOTIFICATIONS, operation_id)


def _fba(operation_id: str) -> OperationSpec:
    return find_operation(FULFILLMENT_OUTBOUND, operation_id)


def _mcf(operation_id: str) -> OperationSpec:
    return find_operation(FULFILLMENT_OUTBOUND_2026, operation_id)


MCF_2026_ORDER_STATUS = OrderStatusAt((("order", "status"),))


def _read(name: str, operation: OperationSpec, summary: str, **options: Any) -> CommandType:
    return CommandType(name=name, operation=operation, summary=summary, reads=True, **options)


_ENTRIES = (
    # --- Fulfillment Outbound 2020-07-01 (Multi-Channel Fulfillment) ------------------------------------
    _read("get-fulfillment-preview", _fba("getFulfillmentPreview"), "Preview fulfillment options and fees."),
    _read("get-delivery-offers", _fba("deliveryOffers"), "Delivery offers for a product and destination."),
    _read(
        "list-fulfillment-orders",
        _fba("listAllFulfillmentOrders"),
        "All fulfillment orders updated since queryStartDate (every page, joined).",
        paging=Paging(("payload", "nextToken"), "nextToken", ("payload", "fulfillmentOrders")),
    ),
    CommandType(
        name="create-fulfillment",
        operation=_fba("createFulfillmentOrder"),
        summary="Create a Multi-Channel Fulfillment order.",
        already_done=AlreadyDone(
            matches=_create_already_exists,
            description="a create request already exists for this sellerFulfillmentOrderId",
            confirm=True,
        ),
        probe=CREATE_FULFILLMENT_PROBE,
        order_sequence=MCF_ORDER_CREATE,
    ),
    _read("get-package-tracking", _fba("getPackageTrackingDetails"), "Tracking details of a package."),
    _read("list-return-reason-codes", _fba("listReturnReasonCodes"), "Return reason codes for a seller SKU."),
    CommandType(
        name="create-fulfillment-return",
        operation=_fba("createFulfillmentReturn"),
        summary="Create a return authorization for items of a fulfillment order.",
        probe=CREATE_RETURN_PROBE,
        order_sequence=MCF_ORDER,
    ),
    _read(
        "get-fulfillment-order",
        _fba("getFulfillmentOrder"),
        "One fulfillment order with shipments.",
        order_status=OrderStatusAt((("payload", "fulfillmentOrder", "fulfillmentOrderStatus"),)),
    ),
    CommandType(
        name="update-fulfillment",
        operation=_fba("updateFulfillmentOrder"),
        summary="Update a Multi-Channel Fulfillment order.",
        probe=UPDATE_FULFILLMENT_PROBE,
        order_sequence=MCF_ORDER,
    ),
    CommandType(
        name="cancel-fulfillment",
        operation=_fba("cancelFulfillmentOrder"),
        summary="Cancel a Multi-Channel Fulfillment order.",
        already_done=AlreadyDone(
            matches=_duplicate_cancel,
            description="the order already has a cancel request (DuplicateCancelRequest)",
        ),
        probe=CANCEL_FULFILLMENT_PROBE,
        order_sequence=MCF_ORDER,
    ),
    CommandType(
        name="submit-fulfillment-order-status-update",
        operation=_fba("submitFulfillmentOrderStatusUpdate"),
        summary="Move a fulfillment order to another status (SP-API sandbox accounts only).",
        order_sequence=MCF_ORDER,
    ),
    _read("get-features", _fba("getFeatures"), "MCF features available in a marketplace."),
    _read(
        "get-feature-inventory",
        _fba("getFeatureInventory"),
        "SKUs eligible for an MCF feature (every page, joined).",
        paging=Paging(("payload", "nextToken"), "nextToken", ("payload", "featureSkus")),
    ),
    _read("get-feature-sku", _fba("getFeatureSKU"), "Whether one SKU is eligible for an MCF feature."),
    # --- Fulfillment Outbound 2026-07-04 (Multi-Channel Fulfillment, the newer version) ---------------------
    CommandType(
        name="create-mcf-order",
        operation=_mcf("createOrder"),
        summary=(
            "Create a Multi-Channel Fulfillment order (2026-07-04); a 202 answer is a success whose final "
            "state is read with get-mcf-order."
        ),
        already_done=AlreadyDone(
            matches=_create_already_exists,
            description="a create request already exists for this orderId",
            confirm=True,
        ),
        probe=CREATE_MCF_ORDER_PROBE,
        order_sequence=MCF_2026_ORDER_CREATE,
        # 200 answers the order; 202 (CreateOrderAcceptedResponse) only its orderId and status.
        order_status=OrderStatusAt((("order", "status"), ("status",))),
        accepted_later=AcceptedLater("get-mcf-order"),
    ),
    _read(
        "get-mcf-order",
        _mcf("getOrder"),
        "One fulfillment order (2026-07-04).",
        order_status=MCF_2026_ORDER_STATUS,
    ),
    _read(
        "list-mcf-orders",
        _mcf("listOrders"),
        "Fulfillment orders (2026-07-04) updated after updatedAfter (every page, in parts).",
        paging=Paging(("pagination", "nextToken"), "pageToken", ("orders",)),
    ),
    CommandType(
        name="update-mcf-order",
        operation=_mcf("updateOrder"),
        summary="Update a held Multi-Channel Fulfillment order (2026-07-04; SP-API answers 202).",
        probe=UPDATE_MCF_ORDER_PROBE,
        order_sequence=MCF_2026_ORDER,
    ),
    CommandType(
        name="cancel-mcf-order",
        operation=_mcf("cancelOrder"),
        summary="Cancel a Multi-Channel Fulfillment order (2026-07-04; SP-API answers 202).",
        already_done=AlreadyDone(
            matches=_duplicate_cancel,
            description="the order already has a cancel request (DuplicateCancelRequest)",
        ),
        probe=CANCEL_MCF_ORDER_PROBE,
        order_sequence=MCF_2026_ORDER,
    ),
    CommandType(
        name="update-mcf-order-status",
        operation=_mcf("updateOrderStatus"),
        summary="Move a 2026-07-04 fulfillment order to another status (SP-API sandbox accounts only).",
        order_sequence=MCF_2026_ORDER,
    ),
    CommandType(
        name="update-mcf-package",
        operation=_mcf("updatePackage"),
        summary="Set a package's status and tracking on a 2026-07-04 order (SP-API sandbox accounts only).",
        order_sequence=MCF_2026_ORDER,
    ),
    _read(
        "get-mcf-order-preview",
        _mcf("getOrderPreview"),
        "Preview planned shipments, offers and fees of an order (2026-07-04).",
    ),
    _read("get-mcf-offers", _mcf("getOffers"), "Delivery offers per item (2026-07-04)."),
    # --- Vendor Direct Fulfillment 2021-12-28 -------------------------------------------------------------
    _read(
        "list-df-purchase-orders",
        find_operation(VENDOR_DF_ORDERS, "getOrders"),
        "Direct Fulfillment purchase orders created in a window (every page, joined; addresses redacted).",
        paging=Paging(("pagination", "nextToken"), "nextToken", ("orders",)),
    ),
    _read(
        "get-df-purchase-order",
        find_operation(VENDOR_DF_ORDERS, "getOrder"),
        "One Direct Fulfillment purchase order (addresses redacted).",
    ),
    CommandType(
        name="acknowledge-po",
        operation=find_operation(VENDOR_DF_ORDERS, "submitAcknowledgement"),
        summary=(
            "Acknowledge Direct Fulfillment purchase orders; the outcome carries the transactionId and "
            "sp-relay follows the transaction to its final status."
        ),
        follow_up=FollowUp("get-df-transaction-status", ("transactionId",)),
        probe=DF_ACKNOWLEDGEMENT_PROBE,
    ),
    _read(
        "get-df-transaction-status",
        find_operation(VENDOR_DF_TRANSACTIONS, "getTransactionStatus"),
        "Status of a Direct Fulfillment transaction (Processing, Success, Failure).",
        # Here errors is an ErrorList object ({"errors": [...]}); in the retail model it is the array itself.
        transaction_status=TransactionStatus(
            ("transactionStatus", "status"), ("transactionStatus", "errors", "errors")
        ),
    ),
    # --- Retail Procurement (vendor orders v1) -------------------------------------------------------------
    _read(
        "list-retail-purchase-orders",
        find_operation(VENDOR_ORDERS, "getPurchaseOrders"),
        "Retail Procurement purchase orders created or changed in a window of at most 7 days (every page, "
        "joined).",
        paging=Paging(("payload", "pagination", "nextToken"), "nextToken", ("payload", "orders")),
    ),
    _read(
        "get-retail-purchase-order",
        find_operation(VENDOR_ORDERS, "getPurchaseOrder"),
        "One Retail Procurement purchase order with its details.",
    ),
    _read(
        "list-retail-purchase-order-statuses",
        find_operation(VENDOR_ORDERS, "getPurchaseOrdersStatus"),
        "Retail purchase orders' status and each line's confirmation and receive status (every page, "
        "joined).",
        paging=Paging(("payload", "pagination", "nextToken"), "nextToken", ("payload", "ordersStatus")),
    ),
    CommandType(
        name="acknowledge-retail-po",
        operation=find_operation(VENDOR_ORDERS, "submitAcknowledgement"),
        summary=(
            "Acknowledge Retail Procurement purchase orders (vendor orders v1); sp-relay follows the "
            "transaction to its final status."
        ),
        follow_up=FollowUp("get-retail-transaction", ("payload", "transactionId")),
        probe=RETAIL_ACKNOWLEDGEMENT_PROBE,
    ),
    _read(
        "get-retail-transaction",
        find_operation(VENDOR_TRANSACTION_STATUS, "getTransaction"),
        "Status of a Retail Procurement transaction.",
        transaction_status=TransactionStatus(
            ("payload", "transactionStatus", "status"), ("payload", "transactionStatus", "errors")
        ),
    ),
    # --- Easy Ship 2022-03-23 -----------------------------------------------------------------------------
    _read(
        "list-handover-slots",
        find_operation(EASY_SHIP, "listHandoverSlots"),
        "Handover slots available for an Easy Ship order.",
    ),
    _read(
        "get-scheduled-package",
        find_operation(EASY_SHIP, "getScheduledPackage"),
        "The scheduled Easy Ship package of an order.",
    ),
    CommandType(
        name="create-scheduled-package",
        operation=find_operation(EASY_SHIP, "createScheduledPackage"),
        summary="Schedule an Easy Ship package in a handover slot.",
        probe=CREATE_SCHEDULED_PACKAGE_PROBE,
    ),
    CommandType(
        name="update-scheduled-packages",
        operation=find_operation(EASY_SHIP, "updateScheduledPackages"),
        summary="Move 1 to 500 Easy Ship packages to other handover slots.",
        probe=UPDATE_SCHEDULED_PACKAGES_PROBE,
    ),
    CommandType(
        name="create-scheduled-package-bulk",
        operation=find_operation(EASY_SHIP, "createScheduledPackageBulk"),
        summary="Schedule Easy Ship packages for many orders at once (uses a Restricted Data Token).",
        probe=CREATE_SCHEDULED_PACKAGE_BULK_PROBE,
    ),
    # --- Notifications v1 (destinations are the application's: grantless; subscriptions a seller's) ---------
    CommandType(
        name="create-destination",
        operation=_notifications("createDestination"),
        summary="Create a destination (an SQS queue or EventBridge) for the application's notifications.",
        already_done=AlreadyDone(
            matches=_conflict,
            description="a destination for this resource already exists (409 Conflict)",
            confirm=True,
        ),
        probe=CREATE_DESTINATION_PROBE,
        grantless=NOTIFICATIONS_GRANTLESS,
    ),
    _read(
        "list-destinations",
        _notifications("getDestinations"),
        "Every destination of the application.",
        grantless=NOTIFICATIONS_GRANTLESS,
    ),
    _read(
        "get-destination",
        _notifications("getDestination"),
        "One destination of the application.",
        grantless=NOTIFICATIONS_GRANTLESS,
    ),
    CommandType(
        name="delete-destination",
        operation=_notifications("deleteDestination"),
        summary="Delete a destination of the application (it must have no subscriptions).",
        already_done=AlreadyDone(
            matches=_not_found_error, description="the destination does not exist (404 NotFound)"
        ),
        probe=DELETE_DESTINATION_PROBE,
        grantless=NOTIFICATIONS_GRANTLESS,
    ),
    CommandType(
        name="create-subscription",
        operation=_notifications("createSubscription"),
        summary="Subscribe the selling partner to a notification type, delivered to a destination.",
        already_done=AlreadyDone(
            matches=_conflict,
            description="the seller already has a subscription of this type (409 StateConflict)",
            confirm=True,
        ),
        probe=CREATE_SUBSCRIPTION_PROBE,
    ),
    _read(
        "get-subscription",
        _notifications("getSubscription"),
        "The selling partner's subscription of a notification type (latest payload version by default).",
    ),
    _read(
        "list-subscriptions",
        _notifications("getSubscriptions"),
        "The selling partner's subscriptions of a notification type (every page, joined).",
        paging=Paging(("payload", "nextToken"), "nextToken", ("payload", "subscriptions")),
    ),
    _read(
        "get-subscription-by-id",
        _notifications("getSubscriptionById"),
        "One subscription of the application, by its id.",
        grantless=NOTIFICATIONS_GRANTLESS,
    ),
    CommandType(
        name="delete-subscription-by-id",
        operation=_notifications("deleteSubscriptionById"),
        summary="Delete a subscription of the application by its id: its notifications stop.",
        already_done=AlreadyDone(
            matches=_not_found_error, description="the subscription does not exist (404 NotFound)"
        ),
        probe=DELETE_SUBSCRIPTION_PROBE,
        grantless=NOTIFICATIONS_GRANTLESS,
    ),
    CommandType(
        name="send-test-notification",
        operation=_notifications("sendTestNotification"),
        summary="Have SP-API send a test notification of a type to a destination (sandbox accounts only).",
        grantless=NOTIFICATIONS_GRANTLESS,
    ),
)

CATALOG: Mapping[str, CommandType] = {entry.name: entry for entry in _ENTRIES}


# Grantless operations and the scope of their token: every catalog entry's, and the reads of its probe.
GRANTLESS_SCOPES: Mapping[str, str] = {
    entry.operation.key: entry.grantless.scope for entry in _ENTRIES if entry.grantless is not None
}


def _check_catalog() -> None:
    for entry in _ENTRIES:
        if entry.operation.grantless != (entry.grantless is not None):
            says = "grantless" if entry.operation.grantless else "the seller's token"
            raise ValueError(f"{entry.name}: the model says {entry.operation.operation_id} takes {says}")
        for read in entry.probe.reads if entry.probe is not None else ():
            if read.grantless and read.key not in GRANTLESS_SCOPES:
                raise ValueError(f"{entry.name}: its probe reads grantless {read.key}, which has no scope")
        later = entry.accepted_later
        if later is not None and not CATALOG[later.status_command].reads:
            raise ValueError(f"{entry.name} is read back with {later.status_command}, which is no read")
        follow = entry.follow_up
        if follow is not None and CATALOG[follow.status_command].transaction_status is None:
            raise ValueError(
                f"{entry.name} follows with {follow.status_command}, which reads no transaction status"
            )


_check_catalog()
