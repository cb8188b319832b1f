"""HTTP face of the stand-in: gatekeeping, the route table, the envelope and the casing.

Every API request goes through `_api`, which applies the real API's order of checks — auth
(401) → version (400) → rate limit (429) → route (404) → validation (400/422) — then the
latency, hang and error-injection knobs, then one small handler from `ROUTES`. Handlers get a
`Call` and return a `Reply`; they never build HTTP responses themselves, so the envelope
(``{"data": ...}``, ``metadata.pagination``) and the casing rules live in one place.

Casing, as the real API shows it: ``2025-11-20`` answers snake_case everywhere; ``2024-05-20``
answers snake_case too, except for a single API key (``GET``/``POST``/``PATCH`` ``/api-keys``
items), which comes back camelCase (``rateLimit``, ``createdAt``, ``disabledAt``).

``/_sandbox/*`` are control endpoints without auth (fault knobs and counters), for the sandbox
console and multi-process benchmarks; they are not recorded as API requests.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from sandbox.fingerprint.fake import VERSION_2024, VERSION_2025, VERSIONS, FakeFingerprint
from sandbox.fingerprint.pagination import parse_limit
from sandbox.fingerprint.state import (
    ApiError,
    PlanLimitError,
    bad_request,
    camel_case,
    normalize_keys,
    not_found,
)

FAKE_KEY = web.AppKey("fake", FakeFingerprint)
T = TypeVar("T")

_HANG_POLL = 0.02


# --------------------------------------------------------------------------------------------
# Calls and replies


@dataclass
class Call:
    """What a handler needs from one request."""

    fake: FakeFingerprint
    version: str
    params: dict[str, str]
    query: Mapping[str, str]
    raw_body: bytes

    def body(self) -> dict[str, Any]:
        """The JSON object sent, keys in snake_case; 400 if it is not a JSON object."""
        if not self.raw_body.strip():
            return {}
        try:
            decoded = json.loads(self.raw_body)
        except (ValueError, UnicodeDecodeError):
            raise bad_request("Request body is not valid JSON") from None
        if not isinstance(decoded, dict):
            raise bad_request("Request body must be a JSON object")
        return normalize_keys(decoded)

    def page(self, resource: str, items: Sequence[T], order: Callable[[T], int]) -> Reply:
        """A list reply with cursor pagination over ``items``."""
        page = self.fake.paginator.page(
            resource,
            items,
            order,
            limit=parse_limit(self.query.get("limit")),
            cursor=self.query.get("cursor"),
        )
        return Reply(200, page.items, pagination=(page.next_cursor, page.prev_cursor))


@dataclass
class Reply:
    status: int
    data: Any = None
    pagination: tuple[str | None, str | None] | None = None
    camel: bool = False
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Call], Reply]


# --------------------------------------------------------------------------------------------
# Handlers


def hello(call: Call) -> Reply:
    return Reply(200, {"message": "Hello from the fpbot stand-in", "api_version": call.version})


def list_environments(call: Call) -> Reply:
    envs = list(call.fake.workspace.environments.values())
    reply = call.page("environments", envs, lambda e: e.seq)
    reply.data = [e.to_json() for e in reply.data]
    return reply


def create_environment(call: Call) -> Reply:
    return Reply(201, call.fake.workspace.create_environment(call.body()).to_json())


def update_environment(call: Call) -> Reply:
    env = call.fake.workspace.update_environment(call.params["id"], call.body())
    return Reply(200, env.to_json())


def delete_environment(call: Call) -> Reply:
    call.fake.workspace.delete_environment(call.params["id"])
    return Reply(204)


def _single_key_camel(call: Call) -> bool:
    return call.version == VERSION_2024


def list_api_keys(call: Call) -> Reply:
    keys = call.fake.workspace.list_api_keys(
        type=call.query.get("type"),
        status=call.query.get("status"),
        environment=call.query.get("environment"),
    )
    reply = call.page("api-keys", keys, lambda k: k.seq)
    reply.data = [k.to_json() for k in reply.data]
    return reply


def get_api_key(call: Call) -> Reply:
    key = call.fake.workspace.get_api_key(call.params["id"])
    return Reply(200, key.to_json(), camel=_single_key_camel(call))


def create_api_key(call: Call) -> Reply:
    key = call.fake.workspace.create_api_key(call.body())
    return Reply(201, key.to_json(created=True), camel=_single_key_camel(call))


def update_api_key(call: Call) -> Reply:
    key = call.fake.workspace.update_api_key(call.params["id"], call.body())
    return Reply(200, key.to_json(), camel=_single_key_camel(call))


def delete_api_key(call: Call) -> Reply:
    call.fake.workspace.delete_api_key(call.params["id"])
    return Reply(204)


def list_webhooks(call: Call) -> Reply:
    hooks = call.fake.workspace.list_webhooks(
        status=call.query.get("status"), environment=call.query.get("environment")
    )
    reply = call.page("webhooks", hooks, lambda w: w.seq)
    reply.data = [w.to_json() for w in reply.data]
    return reply


def get_webhook(call: Call) -> Reply:
    return Reply(200, call.fake.workspace.get_webhook(call.params["id"]).to_json())


def create_webhook(call: Call) -> Reply:
    return Reply(201, call.fake.workspace.create_webhook(call.body()).to_json(created=True))


def update_webhook(call: Call) -> Reply:
    hook = call.fake.workspace.update_webhook(call.params["id"], call.body())
    return Reply(200, hook.to_json())


def delete_webhook(call: Call) -> Reply:
    call.fake.workspace.delete_webhook(call.params["id"])
    return Reply(204)


def verify_webhook(call: Call) -> Reply:
    return Reply(200, call.fake.workspace.verify_webhook(call.params["id"]).to_json())


def replace_origin_rules(call: Call) -> Reply:
    return Reply(200, call.fake.workspace.replace_origin_rules(call.body()).to_json())


def patch_origin_rules(call: Call) -> Reply:
    return Reply(200, call.fake.workspace.patch_origin_rules(call.body()).to_json())


def list_expression_rules(call: Call) -> Reply:
    rules = call.fake.workspace.list_expression_rules(environment=call.query.get("environment"))
    return Reply(200, [r.to_json() for r in rules])


def get_expression_rule(call: Call) -> Reply:
    return Reply(200, call.fake.workspace.get_expression_rule(call.params["id"]).to_json())


def create_expression_rule(call: Call) -> Reply:
    return Reply(201, call.fake.workspace.create_expression_rule(call.body()).to_json())


def create_expression_rules(call: Call) -> Reply:
    rules = call.fake.workspace.create_expression_rules(call.body())
    return Reply(201, [r.to_json() for r in rules])


def update_expression_rule(call: Call) -> Reply:
    rule = call.fake.workspace.update_expression_rule(call.params["id"], call.body())
    return Reply(200, rule.to_json())


def delete_expression_rule(call: Call) -> Reply:
    call.fake.workspace.delete_expression_rule(call.params["id"])
    return Reply(204)


def try_expression(call: Call) -> Reply:
    return Reply(200, call.fake.workspace.test_expression(call.body()))


# --------------------------------------------------------------------------------------------
# Route table


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler
    versions: tuple[str, ...] = VERSIONS

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template) + "$")


ROUTES: tuple[Route, ...] = (
    Route("GET", "/hello", hello),
    Route("GET", "/environments", list_environments),
    Route("POST", "/environments", create_environment),
    Route("POST", "/environments/{id}", update_environment),
    Route("DELETE", "/environments/{id}", delete_environment),
    Route("GET", "/api-keys", list_api_keys),
    Route("POST", "/api-keys", create_api_key),
    Route("GET", "/api-keys/{id}", get_api_key),
    Route("PATCH", "/api-keys/{id}", update_api_key),
    Route("DELETE", "/api-keys/{id}", delete_api_key),
    Route("GET", "/webhooks", list_webhooks),
    Route("POST", "/webhooks", create_webhook),
    Route("GET", "/webhooks/{id}", get_webhook),
    Route("PATCH", "/webhooks/{id}", update_webhook),
    Route("DELETE", "/webhooks/{id}", delete_webhook),
    Route("POST", "/webhooks/{id}/verification", verify_webhook),
    Route("POST", "/filtering-rules", replace_origin_rules, (VERSION_2024,)),
    Route("PATCH", "/filtering-rules", patch_origin_rules, (VERSION_2024,)),
    Route("GET", "/filtering-rules", list_expression_rules, (VERSION_2025,)),
    Route("POST", "/filtering-rules", create_expression_rule, (VERSION_2025,)),
    Route("POST", "/filtering-rules/bulk", create_expression_rules, (VERSION_2025,)),
    Route("POST", "/filtering-rules/test", try_expression, (VERSION_2025,)),
    Route("GET", "/filtering-rules/{id}", get_expression_rule, (VERSION_2025,)),
    Route("POST", "/filtering-rules/{id}", update_expression_rule, (VERSION_2025,)),
    Route("DELETE", "/filtering-rules/{id}", delete_expression_rule, (VERSION_2025,)),
)
_COMPILED = tuple((route, route.pattern) for route in ROUTES)


def resolve(method: str, path: str, version: str) -> tuple[Handler, dict[str, str]]:
    """The handler for a request, or 404 (an unknown path, method or version-only route)."""
    for route, pattern in _COMPILED:
        if route.method == method and version in route.versions:
            match = pattern.match(path)
            if match:
                return route.handler, match.groupdict()
    raise not_found(f"Route {method} {path} not found")


# --------------------------------------------------------------------------------------------
# Rendering


def camelize(value: Any) -> Any:
    """Every object key in camelCase, recursively."""
    if isinstance(value, dict):
        return {camel_case(k): camelize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camelize(v) for v in value]
    return value


def _seconds(value: float) -> str:
    return f"{value:g}"


def render(reply: Reply) -> web.Response:
    if reply.status == 204:
        return web.Response(status=204, headers=reply.headers)
    data = camelize(reply.data) if reply.camel else reply.data
    body: dict[str, Any] = {"data": data}
    if reply.pagination is not None:
        next_cursor, prev_cursor = reply.pagination
        body["metadata"] = {"pagination": {"next_cursor": next_cursor, "prev_cursor": prev_cursor}}
    return web.json_response(body, status=reply.status, headers=reply.headers)


def render_error(error: ApiError, fake: FakeFingerprint) -> web.Response:
    if isinstance(error, PlanLimitError):
        status, code = fake.plan_limit_status()
        error = ApiError(status, code, error.message)
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = _seconds(error.retry_after)
    return web.json_response(error.body(), status=error.status, headers=headers)


# --------------------------------------------------------------------------------------------
# The API entry point


async def _hold(request: web.Request, fake: FakeFingerprint) -> bool:
    """Apply latency and hang; False when the caller went away meanwhile."""
    if fake.faults.latency > 0:
        await asyncio.sleep(fake.faults.latency)
    # Polled, not an Event: the knob is a plain attribute that tests flip in-process.
    while fake.faults.hang and not fake.closing:  # noqa: ASYNC110
        await asyncio.sleep(_HANG_POLL)
    transport = request.transport
    return transport is not None and not transport.is_closing()


async def _admit(request: web.Request, fake: FakeFingerprint, at: float) -> tuple[Handler, Call]:
    """The gatekeeper, in the real API's order; raises the first refusal."""
    key = fake.authenticate(request.headers.get("Authorization"))
    version = fake.check_version(request.headers.get("X-API-Version"))
    fake.check_rate(key, at)
    handler, params = resolve(request.method, request.path, version)
    return handler, Call(fake, version, params, request.query, await request.read())


async def _api(request: web.Request) -> web.StreamResponse:
    fake = request.app[FAKE_KEY]
    entry = fake.record(request.method, request.path, request.query)
    admitted: tuple[Handler, Call] | ApiError
    try:
        admitted = await _admit(request, fake, entry.at)
    except ApiError as refused:
        admitted = refused
    if not await _hold(request, fake):
        entry.status = 499
        return web.Response(status=499)
    try:
        if isinstance(admitted, ApiError):
            raise admitted
        injected = fake.injected_error()
        if injected is not None:
            raise injected
        handler, call = admitted
        response = render(handler(call))
    except ApiError as error:
        response = render_error(error, fake)
    entry.status = response.status
    return response


# --------------------------------------------------------------------------------------------
# Control endpoints


async def _get_faults(request: web.Request) -> web.Response:
    return web.json_response(request.app[FAKE_KEY].faults.to_json())


async def _post_faults(request: web.Request) -> web.Response:
    fake = request.app[FAKE_KEY]
    try:
        changes = await request.json()
        if not isinstance(changes, dict):
            raise ValueError("body must be a JSON object of knobs")
        fake.faults.merge(changes)
    except ValueError as error:
        return web.json_response(
            {"error": {"code": "general.bad-request", "message": str(error)}}, status=400
        )
    return web.json_response(fake.faults.to_json())


async def _reset_faults(request: web.Request) -> web.Response:
    fake = request.app[FAKE_KEY]
    fake.reset_faults()
    return web.json_response(fake.faults.to_json())


async def _stats(request: web.Request) -> web.Response:
    try:
        window = float(request.query.get("window", "1"))
    except ValueError:
        window = 1.0
    return web.json_response(request.app[FAKE_KEY].stats(window))


async def _reset_stats(request: web.Request) -> web.Response:
    fake = request.app[FAKE_KEY]
    fake.clear_requests()
    return web.json_response(fake.stats())


def create_app(fake: FakeFingerprint) -> web.Application:
    """The aiohttp application serving ``fake``: control endpoints first, then the API."""
    app = web.Application()
    app[FAKE_KEY] = fake
    app.router.add_get("/_sandbox/faults", _get_faults)
    app.router.add_post("/_sandbox/faults", _post_faults)
    app.router.add_post("/_sandbox/reset-faults", _reset_faults)
    app.router.add_get("/_sandbox/stats", _stats)
    app.router.add_post("/_sandbox/reset-stats", _reset_stats)
    app.router.add_route("*", "/{tail:.*}", _api)
    return app
