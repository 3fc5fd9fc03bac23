"""What the relay needs to know about one SP-API operation, as read from Amazon's official model."""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import BaseModel

# The package of the generated API modules (``domain.spapi``): this module's own.
_MODELS_PACKAGE = __name__.rpartition(".")[0]


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
    # The class of ``params_model`` in the API's module, e.g. "CreateFulfillmentOrderParams".
    params_model_name: str
    rate: float  # usage plan: requests per second
    burst: int
    success_statuses: tuple[int, ...]  # the 2xx codes the model declares
    # Query parameters of type array (collectionFormat csv): their items are joined with commas.
    list_query_params: tuple[str, ...] = ()
    # Served by the SP-API sandbox only (x-amzn-api-sandbox-only); its plan is the sandbox's 5/s, burst 15.
    sandbox_only: bool = False
    # Header parameters (e.g. ``x-amzn-fulfillment-service-id``): payload fields by their API names, sent
    # as request headers.
    header_params: tuple[str, ...] = ()
    # The model's description says the operation is grantless: it takes an LWA client_credentials token
    # (the application's, for a scope the catalog names), never a selling partner's.
    grantless: bool = False

    @property
    def key(self) -> str:
        """The key of this operation in ``domain.spapi.ALL_OPERATIONS``: ``"<api>.<operationId>"``."""
        return f"{self.api}.{self.operation_id}"

    @property
    def params_model(self) -> type[BaseModel]:
        """The payload model; the first read imports the API's models module (see ``domain.spapi``)."""
        return params_model(self.api, self.params_model_name)


_params_models: dict[tuple[str, str], type[BaseModel]] = {}
_params_models_lock = threading.Lock()


def params_model(api: str, name: str) -> type[BaseModel]:
    """The class ``name`` of the API module ``domain.spapi.<api>``, which is imported on first use.

    Relay threads (the local stack's worker, the pollers) may ask for a new API's model together: one
    of them imports the module while the others wait for the lock and then find the class cached, never
    a module still being executed. The lock is held only while an API module is imported, once per model
    and process; that import takes no lock of ours (the models build themselves later, on first
    validation, under their own lock: ``domain.spapi.base``).
    """
    model = _params_models.get((api, name))
    if model is None:
        with _params_models_lock:
            model = _params_models.get((api, name))
            if model is None:
                module = importlib.import_module(f"{_MODELS_PACKAGE}.{api}")
                found = getattr(module, name)
                model = _params_models[(api, name)] = found
    return model
