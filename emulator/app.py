"""The emulator's WSGI application: LWA, the control API and the SP-API request pipeline.

SP-API pipeline: route (from the models) -> access token -> usage plan -> request validation -> fault
injection -> handler -> response self-check against the model. Nothing here logs tokens, secrets or bodies.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from emulator.errors import (
    EXPIRED_TOKEN_DETAILS,
    GRANTLESS_REQUIRED_DETAILS,
    INVALID_TOKEN_DETAILS,
    SCOPE_NOT_GRANTED_DETAILS,
    SELLER_REQUIRED_DETAILS,
    UNAUTHORIZED_MESSAGE,
    ApiError,
    error_body,
)
from emulator.models import (
    SANDBOX_USAGE_PLAN_BURST,
    SANDBOX_USAGE_PLAN_RATE,
    ModelCatalog,
    Operation,
    UsagePlan,
)
from emulator.notification_delivery import NotificationDestination
from emulator.registry import CallContext, HandlerRegistry, HandlerResult
from emulator.restricted import RDT_NOT_GRANTED_DETAILS, RDT_REQUIRED_DETAILS, grants, is_restricted
from emulator.state import CallRecord, EmulatorState, Fault, IssuedToken, StateError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger("emulator")

LWA_TOKEN_PATH = "/auth/o2/token"  # noqa: S105 - a URL path
CONTROL_PREFIX = "/_emulator/"
MAX_BODY_BYTES = 5 * 1024 * 1024


class _Request(Request):
    max_content_length = MAX_BODY_BYTES
    max_form_memory_size = MAX_BODY_BYTES


def format_rate(rate: float) -> str:
    return str(float(rate))


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    if status == 204:  # No Content (the sandbox-only updateOrderStatus/updatePackage): no body at all
        response = Response(b"", status=status)
    else:
        response = Response(json.dumps(body), status=status, content_type="application/json")
    response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def api_error_response(error: ApiError) -> Response:
    return json_response(error.status, error.body())


class EmulatorApp:
    def __init__(
        self,
        state: EmulatorState,
        catalog: ModelCatalog,
        registry: HandlerRegistry,
        stopping: threading.Event | None = None,
    ) -> None:
        self.state = state
        self.catalog = catalog
        self.registry = registry
        self.stopping = stopping or threading.Event()
        # Each control endpoint is declared once: method, path under the prefix, handler.
        routes: list[tuple[str, str, Callable[[Request, dict[str, str]], Response]]] = [
            ("POST", "/accounts", self._post_account),
            ("POST", "/expire-tokens", self._expire_tokens),
            ("GET", "/faults", self._get_faults),
            ("POST", "/faults", self._post_fault),
            ("DELETE", "/faults", self._delete_faults),
            ("GET", "/orders", self._get_orders),
            ("POST", "/orders/<path:order_id>/status", self._post_order_status),
            ("POST", "/orders/<path:order_id>/ship", self._post_ship),
            ("POST", "/packages/<int:package_number>/status", self._post_package_status),
            ("POST", "/inventory", self._post_inventory),
            ("POST", "/mcf-2026/accept-later", self._post_mcf_accept_later),
            ("GET", "/notifications", self._get_notifications),
            ("POST", "/notifications", self._post_notifications),
            ("GET", "/df-orders", self._get_df_orders),
            ("POST", "/df-orders", self._post_df_orders),
            ("GET", "/easy-ship/packages", self._get_easy_ship_packages),
            ("POST", "/retail-orders/state-lag", self._post_retail_state_lag),
            ("POST", "/transaction-outcome", self._post_transaction_outcome),
            ("GET", "/restricted-tokens", self._get_restricted_tokens),
            ("GET", "/grantless-token-requests", self._get_grantless_token_requests),
            ("POST", "/transactions/<path:transaction_id>/status", self._post_transaction_status),
            ("GET", "/calls", self._get_calls),
            ("GET", "/effects", self._get_effects),
            ("GET", "/token-requests", self._get_token_requests),
            ("POST", "/reset", self._reset),
            ("GET", "/health", self._health),
            ("GET", "/operations", self._get_operations),
        ]
        prefix = CONTROL_PREFIX.rstrip("/")
        self._control = {f"{method} {path}": handler for method, path, handler in routes}
        self._control_map = Map(
            [
                Rule(prefix + path, endpoint=f"{method} {path}", methods=[method])
                for method, path, _ in routes
            ],
            strict_slashes=False,
        )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = _Request(environ)
        if request.path == LWA_TOKEN_PATH:
            response = self.lwa(request)
        elif request.path.startswith(CONTROL_PREFIX):
            response = self.control(request)
        else:
            response = self.spapi(request)
        # Notifications the request caused go out now, after the state's lock was released.
        self.state.deliver_notifications()
        return response(environ, start_response)

    # -- Login with Amazon --------------------------------------------------------------------------------

    @staticmethod
    def _lwa_error(status: int, error: str, description: str) -> Response:
        return json_response(
            status, {"error": error, "error_description": description}, {"Cache-Control": "no-store"}
        )

    def lwa(self, request: Request) -> Response:
        if request.method != "POST":
            return self._lwa_error(405, "invalid_request", "The token endpoint only accepts POST.")
        try:
            params: Mapping[str, Any] = request.form
            if request.is_json:
                data = request.get_json(silent=True)
                params = data if isinstance(data, dict) else {}
        except HTTPException as exc:
            return self._lwa_error(exc.code or 400, "invalid_request", "The request could not be read.")
        client_id = str(params.get("client_id") or "")
        client_secret = str(params.get("client_secret") or "")
        auth = request.authorization
        if auth is not None and auth.type == "basic":
            client_id = client_id or (auth.username or "")
            client_secret = client_secret or (auth.password or "")
        if client_id:
            self.state.count_token_request(client_id)
        grant_type = params.get("grant_type")
        if not grant_type:
            return self._lwa_error(
                400, "invalid_request", "The request is missing a required parameter : grant_type"
            )
        if grant_type not in ("refresh_token", "client_credentials"):
            return self._lwa_error(400, "unsupported_grant_type", f"Unsupported grant type : {grant_type}")
        if (
            not client_id
            or not client_secret
            or not self.state.client_authenticates(client_id, client_secret)
        ):
            return self._lwa_error(401, "invalid_client", "Client authentication failed")
        ttl = self.state.config.token_ttl_seconds
        if grant_type == "refresh_token":
            refresh_token = str(params.get("refresh_token") or "")
            if not refresh_token:
                return self._lwa_error(
                    400, "invalid_request", "The request is missing a required parameter : refresh_token"
                )
            account = self.state.account_for(client_id, refresh_token)
            if account is None:
                return self._lwa_error(
                    400, "invalid_grant", "The request has an invalid grant parameter : refresh_token"
                )
            token = self.state.issue_token(client_id, account.seller_id, "access")
            body = {
                "access_token": token,
                "refresh_token": refresh_token,
                "token_type": "bearer",
                "expires_in": ttl,
            }
            return json_response(200, body, {"Cache-Control": "no-store"})
        scope = str(params.get("scope") or "")
        if not scope:
            return self._lwa_error(
                400, "invalid_scope", "The request is missing a required parameter : scope"
            )
        token = self.state.issue_token(client_id, None, "grantless", scope=scope)
        body = {"access_token": token, "scope": scope, "token_type": "bearer", "expires_in": ttl}
        return json_response(200, body, {"Cache-Control": "no-store"})

    # -- SP-API ---------------------------------------------------------------------------------------------

    def usage_plan(self, operation: Operation) -> UsagePlan:
        """The plan enforced: the model's (or the sandbox's) rate times ``rate_scale``, same burst."""
        config = self.state.config
        sandbox = UsagePlan(SANDBOX_USAGE_PLAN_RATE, SANDBOX_USAGE_PLAN_BURST)
        base = sandbox if config.sandbox_usage_plan else operation.usage_plan or sandbox
        return UsagePlan(base.rate * config.rate_scale, base.burst)

    def _authenticate(self, request: Request, operation: Operation) -> tuple[str, str, IssuedToken]:
        """The caller: a seller's token (access or restricted) for a seller's operation; a grantless token
        of the operation's scope for a grantless one (it has no seller: ``""``). Each kind is refused
        where the other belongs, as SP-API does."""
        token = request.headers.get("x-amz-access-token", "")
        issued = self.state.lookup_token(token) if token else None
        if issued is None:
            raise ApiError(403, "Unauthorized", UNAUTHORIZED_MESSAGE, INVALID_TOKEN_DETAILS)
        if issued.expires_at <= time.monotonic():
            raise ApiError(403, "Unauthorized", UNAUTHORIZED_MESSAGE, EXPIRED_TOKEN_DETAILS)
        if operation.grantless_scope is not None:
            if issued.kind != "grantless":
                details = GRANTLESS_REQUIRED_DETAILS.format(operation.operation_id, operation.grantless_scope)
                raise ApiError(403, "Unauthorized", UNAUTHORIZED_MESSAGE, details)
            if issued.scope != operation.grantless_scope:
                details = SCOPE_NOT_GRANTED_DETAILS.format(operation.grantless_scope)
                raise ApiError(403, "Unauthorized", UNAUTHORIZED_MESSAGE, details)
            return "", issued.client_id, issued
        if issued.seller_id is None:
            details = SELLER_REQUIRED_DETAILS.format(operation.operation_id)
            raise ApiError(403, "Unauthorized", UNAUTHORIZED_MESSAGE, details)
        return issued.seller_id, issued.client_id, issued

    @staticmethod
    def _authorize(request: Request, operation: Operation, issued: IssuedToken) -> None:
        """Restricted operations need an RDT naming their method and path; an RDT is good for nothing else."""
        if issued.kind == "restricted":
            if not grants(issued.restricted_resources, request.method, request.path):
                details = RDT_NOT_GRANTED_DETAILS.format(request.method, request.path)
                raise ApiError(403, "Unauthorized", UNAUTHORIZED_MESSAGE, details)
        elif is_restricted(operation):
            details = RDT_REQUIRED_DETAILS.format(request.method, request.path)
            raise ApiError(403, "Unauthorized", UNAUTHORIZED_MESSAGE, details)

    def spapi(self, request: Request) -> Response:
        operation: Operation | None = None
        seller: str | None = None
        try:
            try:
                operation, path_params = self.catalog.match(request.method, request.path)
            except MethodNotAllowed as exc:
                raise ApiError(
                    405, "MethodNotAllowed", f"{request.method} is not supported on {request.path}"
                ) from exc
            except NotFound as exc:
                raise ApiError(404, "NotFound", f"Resource {request.path} is not found.") from exc
            seller, client_id, issued = self._authenticate(request, operation)
            self._authorize(request, operation, issued)
            response = self._call(request, operation, path_params, seller, client_id)
        except ApiError as error:
            response = api_error_response(error)
        self.state.record_call(
            CallRecord(
                operation_id=operation.operation_id if operation else None,
                operation=operation.name if operation else None,
                status=response.status_code,
                seller=seller or None,
                path=request.path,
                time=time.time(),
                next_token=request.args.get("nextToken"),
            )
        )
        return response

    def _call(
        self, request: Request, operation: Operation, path_params: dict[str, str], seller: str, client_id: str
    ) -> Response:
        plan = self.usage_plan(operation)
        # A grantless call has no seller: its bucket is the application's.
        caller = seller or f"application:{client_id}"
        if not self.state.limiter.try_acquire((caller, operation.name), plan.rate, plan.burst):
            raise ApiError(429, "QuotaExceeded", "You exceeded your quota for the requested resource.")
        query, problems = self.catalog.validate_parameters(
            operation, path_params, request.args.to_dict(flat=False), dict(request.headers)
        )
        body = self._body(request, operation, problems)
        if problems:
            raise ApiError(400, "InvalidInput", "; ".join(problems))
        handler = self.registry.resolve(operation)
        if handler is None:
            raise ApiError(501, "NotImplemented", f"The emulator does not implement {operation.name}.")
        context = CallContext(operation, seller, client_id, path_params, query, body, self.state)
        status, answer = self._with_faults(operation, context, lambda: self._run(handler, context))
        headers: dict[str, str] = {}
        if 200 <= status < 300:
            problems = self.catalog.response_errors(operation, status, answer)
            if problems:
                logger.error("emulator answer of %s does not match the model: %s", operation.name, problems)
                raise ApiError(
                    500, "InternalFailure", "Emulator answer does not match the model: " + problems[0]
                )
            headers["x-amzn-RateLimit-Limit"] = format_rate(plan.rate)
            # A header parameter the answer declares too (x-amzn-fulfillment-service-id) is echoed.
            for param in operation.parameters:
                declared = operation.responses.get(str(status), {}).get("headers", {})
                if param.location == "header" and param.name in declared and param.name in query:
                    headers[param.name] = str(query[param.name])
        return json_response(status, answer, headers)

    def _body(self, request: Request, operation: Operation, problems: list[str]) -> Any:
        parameter = operation.body_parameter
        if parameter is None:
            return None
        try:
            data = request.get_data(cache=False)
        except HTTPException as exc:
            raise ApiError(exc.code or 400, None, "The request body could not be read.") from exc
        if not data.strip():
            if parameter.required:
                problems.append("Missing required request body.")
            return None
        try:
            body = json.loads(data)
        except json.JSONDecodeError as exc:
            problems.append(f"Request body is not valid JSON: {exc.msg} at position {exc.pos}.")
            return None
        problems.extend(self.catalog.validate_body(operation, body))
        return body

    def _run(self, handler: Callable[[CallContext], HandlerResult], context: CallContext) -> HandlerResult:
        try:
            with self.state.lock:
                return handler(context)
        except ApiError as error:
            return error.status, error.body()
        except Exception:  # the server boundary: an emulator bug becomes a 500, not a dead thread
            logger.exception("emulator handler for %s failed", context.operation.name)
            return 500, error_body("InternalFailure", "We encountered an internal error. Please try again.")

    def _with_faults(
        self, operation: Operation, context: CallContext, run: Callable[[], HandlerResult]
    ) -> HandlerResult:
        fault = self.state.take_fault((operation.name, operation.operation_id, operation.qualified_name))
        if fault is None:
            return run()
        if fault.kind == "slow":
            if fault.apply_before_fault:
                result = run()
                self.stopping.wait(fault.delay)
                return result
            self.stopping.wait(fault.delay)
            return run()
        if fault.apply_before_fault:
            run()
        if fault.kind == "timeout":
            self.stopping.wait(fault.delay)
            return 504, ApiError(504, fault.code, fault.message).body()
        return fault.status, ApiError(fault.status, fault.code, fault.message).body()

    # -- control API ----------------------------------------------------------------------------------------

    def control(self, request: Request) -> Response:
        try:
            endpoint, values = self._control_map.bind("emulator").match(request.path, method=request.method)
            return self._control[str(endpoint)](request, {k: str(v) for k, v in values.items()})
        except MethodNotAllowed:
            return json_response(405, error_body("MethodNotAllowed", f"{request.method} {request.path}"))
        except NotFound:
            return json_response(404, error_body("NotFound", f"No control endpoint {request.path}"))
        except (StateError, ApiError) as exc:
            return json_response(400, error_body("InvalidInput", str(exc)))

    @staticmethod
    def _json_object(request: Request) -> dict[str, Any]:
        data = request.get_json(silent=True, force=True)
        if data is None and not request.get_data().strip():
            return {}
        if not isinstance(data, dict):
            raise StateError("expected a JSON object")
        return data

    def _post_account(self, request: Request, _: dict[str, str]) -> Response:
        data = self._json_object(request)
        fields = ("client_id", "client_secret", "refresh_token", "seller_id")
        account = self.state.register_account(*(str(data.get(f) or "") for f in fields))
        return json_response(201, {"client_id": account.client_id, "seller_id": account.seller_id})

    def _expire_tokens(self, _request: Request, _: dict[str, str]) -> Response:
        return json_response(200, {"expired": self.state.expire_tokens()})

    def _get_faults(self, _request: Request, _: dict[str, str]) -> Response:
        return json_response(200, [fault.to_json() for fault in self.state.faults()])

    def _post_fault(self, request: Request, _: dict[str, str]) -> Response:
        fault = Fault.from_json(self._json_object(request))
        if fault.operation != "*" and not self.catalog.find(fault.operation):
            raise StateError(f"unknown operation {fault.operation}")
        return json_response(201, self.state.add_fault(fault).to_json())

    def _delete_faults(self, _request: Request, _: dict[str, str]) -> Response:
        self.state.clear_faults()
        return json_response(200, {})

    def _get_orders(self, _request: Request, _: dict[str, str]) -> Response:
        with self.state.lock:
            orders = [
                {
                    "sellerId": o.seller_id,
                    "sellerFulfillmentOrderId": o.seller_fulfillment_order_id,
                    "status": o.status,
                }
                for o in self.state.orders.values()
            ]
        return json_response(200, orders)

    def _post_order_status(self, request: Request, values: dict[str, str]) -> Response:
        data = self._json_object(request)
        seller = data.get("sellerId")
        self.state.set_order_status(
            values["order_id"], str(data.get("status")), None if seller is None else str(seller)
        )
        return json_response(200, {})

    def _post_mcf_accept_later(self, request: Request, _: dict[str, str]) -> Response:
        """``{"enabled": true}``: createOrder (2026-07-04) answers 202 "accepted, processed later"."""
        enabled = self._json_object(request).get("enabled", True)
        with self.state.lock:
            self.state.mcf_accept_later = bool(enabled)
        return json_response(200, {"enabled": self.state.mcf_accept_later})

    def _get_notifications(self, _request: Request, _: dict[str, str]) -> Response:
        delivery = self.state.notification_delivery
        return json_response(200, {**delivery.to_json(), "messages": list(delivery.messages())})

    def _post_notifications(self, request: Request, _: dict[str, str]) -> Response:
        """``{"destination": {"queueUrl", "endpointUrl"?, "region"?} | null, "duplicateEvery": N,
        "missNext": N}``, each optional: where FULFILLMENT_ORDER_STATUS notifications go, every Nth one
        delivered twice (0: never), the next N not delivered."""
        data = self._json_object(request)
        delivery = self.state.notification_delivery
        try:
            if "destination" in data:
                destination = data["destination"]
                if destination is not None and not isinstance(destination, dict):
                    raise StateError("destination must be an object or null")
                delivery.configure(
                    None if destination is None else NotificationDestination.from_json(destination)
                )
            delivery.set_controls(
                duplicate_every=self._optional_int(data, "duplicateEvery"),
                miss_next=self._optional_int(data, "missNext"),
            )
        except ValueError as error:
            raise StateError(str(error)) from None
        return json_response(200, delivery.to_json())

    @staticmethod
    def _optional_int(data: Mapping[str, Any], name: str) -> int | None:
        value = data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise StateError(f"{name} must be an integer")
        return value

    def _post_transaction_status(self, request: Request, values: dict[str, str]) -> Response:
        data = self._json_object(request)
        errors = self._errors_field(data)
        self.state.set_transaction_result(values["transaction_id"], str(data.get("status")), errors)
        return json_response(200, {})

    @staticmethod
    def _errors_field(data: Mapping[str, Any]) -> list[dict[str, Any]]:
        errors = data.get("errors") or []
        if not isinstance(errors, list) or not all(isinstance(e, dict) for e in errors):
            raise StateError("errors must be a list of {code, message, details}")
        return errors

    def _post_transaction_outcome(self, request: Request, _: dict[str, str]) -> Response:
        data = self._json_object(request)
        self.state.set_transaction_outcome(str(data.get("status")), self._errors_field(data))
        return json_response(200, {})

    @staticmethod
    def _optional_str(data: Mapping[str, Any], name: str) -> str | None:
        value = data.get(name)
        return None if value is None else str(value)

    def _post_ship(self, request: Request, values: dict[str, str]) -> Response:
        data = self._json_object(request)
        items = data.get("items")
        if items is not None and (not isinstance(items, list) or not all(isinstance(i, dict) for i in items)):
            raise StateError("items must be a list of {sellerFulfillmentOrderItemId, quantity}")
        shipped = self.state.ship_order(
            values["order_id"],
            self._optional_str(data, "sellerId"),
            items=items,
            carrier_code=str(data.get("carrierCode") or "UPS"),
            tracking_number=self._optional_str(data, "trackingNumber"),
        )
        return json_response(200, shipped)

    def _post_package_status(self, request: Request, values: dict[str, str]) -> Response:
        data = self._json_object(request)
        self.state.set_package_status(int(values["package_number"]), str(data.get("currentStatus")))
        return json_response(200, {})

    def _post_inventory(self, request: Request, _: dict[str, str]) -> Response:
        data = self._json_object(request)
        items = data.get("items")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise StateError("items must be a list of {sellerSku, quantity, asin?, fnSku?}")
        skus = self.state.set_inventory(self._optional_str(data, "sellerId"), items)
        return json_response(200, {"sellerSkus": skus})

    def _get_df_orders(self, _request: Request, _: dict[str, str]) -> Response:
        with self.state.lock:
            orders = [
                {
                    "sellerId": o.seller_id,
                    "purchaseOrderNumber": o.purchase_order_number,
                    "orderStatus": o.order["orderDetails"]["orderStatus"],
                    "orderDate": o.order["orderDetails"]["orderDate"],
                }
                for o in self.state.df_orders.values()
            ]
        return json_response(200, orders)

    def _post_df_orders(self, request: Request, _: dict[str, str]) -> Response:
        data = self._json_object(request)
        try:
            count = int(data.get("count", 1))
        except (TypeError, ValueError) as exc:
            raise StateError("count must be an integer") from exc
        numbers = self.state.seed_df_orders(
            self._optional_str(data, "sellerId"),
            count,
            status=str(data.get("status") or "NEW"),
            ship_from_party_id=str(data.get("shipFromPartyId") or "WH1"),
        )
        return json_response(201, {"purchaseOrderNumbers": numbers})

    def _post_retail_state_lag(self, request: Request, _: dict[str, str]) -> Response:
        """``{"seconds": N}``: an acknowledged retail order's purchaseOrderState stays New N seconds."""
        seconds = self._json_object(request).get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= 86400:
            raise StateError("seconds must be a number from 0 to 86400")
        with self.state.lock:
            self.state.retail_state_lag_seconds = float(seconds)
        return json_response(200, {"seconds": self.state.retail_state_lag_seconds})

    def _get_easy_ship_packages(self, _request: Request, _: dict[str, str]) -> Response:
        with self.state.lock:
            packages = [
                {"sellerId": p.seller_id, "amazonOrderId": p.amazon_order_id, "package": p.package}
                for p in self.state.easy_ship_packages.values()
            ]
        return json_response(200, packages)

    def _get_restricted_tokens(self, _request: Request, _: dict[str, str]) -> Response:
        return json_response(200, {"issued": self.state.rdt_issues()})

    def _get_grantless_token_requests(self, _request: Request, _: dict[str, str]) -> Response:
        return json_response(200, self.state.grantless_token_requests())

    def _get_calls(self, _request: Request, _: dict[str, str]) -> Response:
        return json_response(200, [call.to_json() for call in self.state.calls()])

    def _get_effects(self, _request: Request, _: dict[str, str]) -> Response:
        return json_response(200, self.state.effects())

    def _get_token_requests(self, _request: Request, _: dict[str, str]) -> Response:
        return json_response(200, self.state.token_requests())

    def _reset(self, _request: Request, _: dict[str, str]) -> Response:
        self.state.reset()
        return json_response(200, {})

    def _health(self, _request: Request, _: dict[str, str]) -> Response:
        return json_response(200, {"status": "ok"})

    def _get_operations(self, _request: Request, _: dict[str, str]) -> Response:
        operations = []
        for operation in self.catalog.operations.values():
            plan = self.usage_plan(operation)
            operations.append(
                {
                    "name": operation.name,
                    "operationId": operation.operation_id,
                    "api": operation.api,
                    "method": operation.method,
                    "path": operation.path_template,
                    "implemented": self.registry.resolve(operation) is not None,
                    "rate": plan.rate,
                    "burst": plan.burst,
                }
            )
        return json_response(200, operations)
