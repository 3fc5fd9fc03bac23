"""What the relay needs to know about one SP-API operation, as read from Amazon's official model."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel


@dataclass(frozen=True, slots=True)
class OperationSpec:
    """One SP-API operation: where to send it, how to split a payload, and its usage plan.

    A command payload is validated with ``params_model``: its fields are the path parameters, the query
    parameters (both by their API names) and the properties of the JSON body, flattened. Whatever is
    not a path or query parameter is the request body.
    """

    api: str  # module key in domain.spapi, e.g. "fulfillment_outbound_2020_07_01"
    operation_id: str  # e.g. "createFulfillmentOrder"
    method: str  # "GET" | "POST" | "PUT" | "DELETE" | "PATCH"
    path: str  # template, e.g. "/fba/outbound/2020-07-01/fulfillmentOrders/{sellerFulfillmentOrderId}"
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]
    has_body: bool
    params_model: type[BaseModel]
    rate: float  # usage plan: requests per second
    burst: int
    success_statuses: tuple[int, ...]  # the 2xx codes the model declares
    # Query parameters of type array (collectionFormat csv): their items are joined with commas.
    list_query_params: tuple[str, ...] = ()
    # Served by the SP-API sandbox only (x-amzn-api-sandbox-only); its plan is the sandbox's 5/s, burst 15.
    sandbox_only: bool = False

    @property
    def key(self) -> str:
        """The key of this operation in ``domain.spapi.ALL_OPERATIONS``: ``"<api>.<operationId>"``."""
        return f"{self.api}.{self.operation_id}"
