"""HTTP face of the stand-in: gatekeeping, the route table, the envelope and the casing.

Every API request goes through `_api`, which applies the real API's order of checks — auth
(401) → version (400) → rate limit (429) → route (404) → validation (400/422) — then the
latency, hang and error-injection knobs, then one small handler from `ROUTES`. Handlers get a
`Call` and return a `Reply`; they never build HTTP responses themselves, so the envelope
(``{"data": ...}``, ``metadata.pagination``) and the casing rules live in one place.

Versions: every request is answered by the version its ``X-API-Version`` names. Both have
environments, API keys and webhooks; ``2024-05-20`` has origin-list filtering rules,
``2025-11-20`` expression rules, encryption keys and subdomains; a route of the other version
is a 404, as an unknown route is.

Casing, as the real API shows it: ``2025-11-20`` answers snake_case everywhere; ``2024-05-20``
answers snake_case too, except for a single API key (``GET``/``POST``/``PATCH`` ``/api-keys``
items), which comes back camelCase (``rateLimit``, ``createdAt``, ``disabledAt``). The
``camel_case`` fault knob answers everything in camelCase.

``/_sandbox/*`` are control endpoints without auth (fault knobs, counters, and
``/_sandbox/outside-change``: a change as if made in the dashboard), for the sandbox console,
tests and multi-process benchmarks; they are not recorded as API requests.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from sandbox.fingerprint import encryption, filtering, subdomains
from sandbox.fingerprint.fake import VERSION_2024, VERSION_2025, VERSIONS, FakeFingerprint
from sandbox.fingerprint.outside import outside_change
from sandbox.fingerprint.pagination import parse_limit
from sandbox.fingerprint.state import (
    ApiError,
    PlanLimitError,
    Subdomain,
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
    """What a handler answers; `render` adds the envelope. ``camel`` turns the object's keys
    to camelCase, ``bare`` leaves out the ``{"data": …}`` envelope."""

    status: int
    data: Any = None
    pagination: tuple[str | None, str | None] | None = None
    camel: bool = False
    bare: bool = False
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


#: What a create answers with the ``terse_creates`` knob: Fingerprint's CLI fixtures' fields.
TERSE_KEY_FIELDS = ("id", "type", "status", "token")


def create_api_key(call: Call) -> Reply:
    key = call.fake.workspace.create_api_key(call.body())
    answer = key.to_json(created=True)
    if call.fake.faults.terse_creates:
        answer = {name: answer[name] for name in TERSE_KEY_FIELDS if name in answer}
    return Reply(201, answer, camel=_single_key_camel(call))


def update_api_key(call: Call) -> Reply:
    try:
        key = call.fake.workspace.update_api_key(call.params["id"], call.body())
    except ApiError as error:
        if error.status != 422 or call.fake.faults.key_validation_status != 400:
            raise
        raise ApiError(
            400,
            "general.bad-request",
            "API key can't be updated due to validation errors",
            error.violations,
        ) from None
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


def list_origin_rules(call: Call) -> Reply:
    """Not documented for ``2024-05-20``: answered in the shape the writes return, unless the
    ``origin_rules_unreadable`` knob makes it the 404 the real API may give."""
    if call.fake.faults.origin_rules_unreadable:
        raise not_found("Route GET /filtering-rules not found")
    lists = filtering.origin_lists(call.fake.workspace, call.query.get("environment"))
    return Reply(200, [entry.to_json() for entry in lists])


def replace_origin_rules(call: Call) -> Reply:
    lists = filtering.replace_origin_lists(call.fake.workspace, call.body())
    return Reply(200, [lists.to_json()])


def patch_origin_rules(call: Call) -> Reply:
    lists = filtering.patch_origin_lists(call.fake.workspace, call.body())
    return Reply(200, [lists.to_json()])


def list_expression_rules(call: Call) -> Reply:
    rules = filtering.list_rules(
        call.fake.workspace,
        environment=call.query.get("environment"),
        status=call.query.get("status"),
        name=call.query.get("name"),
    )
    return Reply(200, [r.to_json() for r in rules])


def get_expression_rule(call: Call) -> Reply:
    return Reply(200, filtering.get_rule(call.fake.workspace, call.params["id"]).to_json())


def create_expression_rule(call: Call) -> Reply:
    return Reply(201, filtering.create_rule(call.fake.workspace, call.body()).to_json())


def bulk_expression_rules(call: Call) -> Reply:
    rules = filtering.bulk_rules(call.fake.workspace, call.body())
    return Reply(201, [r.to_json() for r in rules])


def update_expression_rule(call: Call) -> Reply:
    rule = filtering.update_rule(call.fake.workspace, call.params["id"], call.body())
    return Reply(200, rule.to_json())


def delete_expression_rule(call: Call) -> Reply:
    filtering.delete_rule(call.fake.workspace, call.params["id"])
    return Reply(204)


def test_expression_rules(call: Call) -> Reply:
    result = filtering.test_rules(call.fake.workspace, call.body())
    return Reply(200, result, bare=call.fake.faults.bare_test_result)


def list_encryption_keys(call: Call) -> Reply:
    keys = encryption.list_keys(
        call.fake.workspace,
        status=call.query.get("status"),
        environment=call.query.get("environment"),
    )
    reply = call.page("encryption-keys", keys, lambda k: k.seq)
    reply.data = [k.to_json() for k in reply.data]
    return reply


def get_encryption_key(call: Call) -> Reply:
    return Reply(200, encryption.get_key(call.fake.workspace, call.params["id"]).to_json())


def update_encryption_key(call: Call) -> Reply:
    key = encryption.update_key(call.fake.workspace, call.params["id"], call.body())
    return Reply(200, key.to_json())


def rotate_encryption_key(call: Call) -> Reply:
    return Reply(200, encryption.rotate_key(call.fake.workspace, call.params["id"]).to_json())


def revert_encryption_key(call: Call) -> Reply:
    return Reply(200, encryption.revert_key(call.fake.workspace, call.params["id"]).to_json())


def _subdomains_enabled(call: Call) -> None:
    if call.fake.faults.subdomains_disabled:
        raise ApiError(503, "general.unavailable", "Service unavailable. Try again later.")


def list_subdomains(call: Call) -> Reply:
    _subdomains_enabled(call)
    reply = call.page("subdomains", subdomains.list_subdomains(call.fake.workspace), _seq)
    reply.data = [s.to_json(full=False) for s in reply.data]
    return reply


def get_subdomain(call: Call) -> Reply:
    _subdomains_enabled(call)
    return Reply(200, subdomains.get_subdomain(call.fake.workspace, call.params["id"]).to_json())


def create_subdomain(call: Call) -> Reply:
    _subdomains_enabled(call)
    created = subdomains.create_subdomain(call.fake.workspace, call.body())
    return Reply(201, created.to_json(created=True))


def verify_subdomain(call: Call) -> Reply:
    _subdomains_enabled(call)
    verified = subdomains.verify_subdomain(call.fake.workspace, call.params["id"])
    return Reply(200, verified.to_json())


def delete_subdomain(call: Call) -> Reply:
    _subdomains_enabled(call)
    subdomains.delete_subdomain(call.fake.workspace, call.params["id"])
    return Reply(204)


def _seq(record: Subdomain) -> int:
    return record.seq


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
    Route("GET", "/filtering-rules", list_origin_rules, (VERSION_2024,)),
    Route("POST", "/filtering-rules", replace_origin_rules, (VERSION_2024,)),
    Route("PATCH", "/filtering-rules", patch_origin_rules, (VERSION_2024,)),
    Route("GET", "/filtering-rules", list_expression_rules, (VERSION_2025,)),
    Route("POST", "/filtering-rules", create_expression_rule, (VERSION_2025,)),
    Route("POST", "/filtering-rules/bulk", bulk_expression_rules, (VERSION_2025,)),
    Route("POST", "/filtering-rules/test", test_expression_rules, (VERSION_2025,)),
    Route("GET", "/filtering-rules/{id}", get_expression_rule, (VERSION_2025,)),
    Route("POST", "/filtering-rules/{id}", update_expression_rule, (VERSION_2025,)),
    Route("DELETE", "/filtering-rules/{id}", delete_expression_rule, (VERSION_2025,)),
    Route("GET", "/encryption-keys", list_encryption_keys, (VERSION_2025,)),
    Route("GET", "/encryption-keys/{id}", get_encryption_key, (VERSION_2025,)),
    Route("PATCH", "/encryption-keys/{id}", update_encryption_key, (VERSION_2025,)),
    Route("POST", "/encryption-keys/{id}/rotate", rotate_encryption_key, (VERSION_2025,)),
    Route("POST", "/encryption-keys/{id}/revert", revert_encryption_key, (VERSION_2025,)),
    Route("GET", "/subdomains", list_subdomains, (VERSION_2025,)),
    Route("POST", "/subdomains", create_subdomain, (VERSION_2025,)),
    Route("GET", "/subdomains/{id}", get_subdomain, (VERSION_2025,)),
    Route("POST", "/subdomains/{id}/verify", verify_subdomain, (VERSION_2025,)),
    Route("DELETE", "/subdomains/{id}", delete_subdomain, (VERSION_2025,)),
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


def render(reply: Reply, *, camel: bool = False) -> web.Response:
    """The answer's envelope; ``camel`` (the fault knob) camelCases all of it."""
    if reply.status == 204:
        return web.Response(status=204, headers=reply.headers)
    data = camelize(reply.data) if reply.camel else reply.data
    body: dict[str, Any] = data if reply.bare else {"data": data}
    if reply.pagination is not None:
        next_cursor, prev_cursor = reply.pagination
        body["metadata"] = {"pagination": {"next_cursor": next_cursor, "prev_cursor": prev_cursor}}
    return web.json_response(
        camelize(body) if camel else body, status=reply.status, headers=reply.headers
    )


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
        response = render(handler(call), camel=fake.faults.camel_case)
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


async def _outside_change(request: web.Request) -> web.Response:
    """A change as if made in Fingerprint's dashboard (`sandbox.fingerprint.outside`)."""
    fake = request.app[FAKE_KEY]
    try:
        body = await request.json()
        if not isinstance(body, dict):
            raise bad_request("body must be a JSON object")
        changed = outside_change(fake.workspace, body)
    except ValueError:
        return render_error(bad_request("body must be a JSON object"), fake)
    except ApiError as error:
        return render_error(error, fake)
    return web.json_response({"data": changed})


def create_app(fake: FakeFingerprint) -> web.Application:
    """The aiohttp application serving ``fake``: control endpoints first, then the API."""
    app = web.Application()
    app[FAKE_KEY] = fake
    app.router.add_get("/_sandbox/faults", _get_faults)
    app.router.add_post("/_sandbox/faults", _post_faults)
    app.router.add_post("/_sandbox/reset-faults", _reset_faults)
    app.router.add_get("/_sandbox/stats", _stats)
    app.router.add_post("/_sandbox/reset-stats", _reset_stats)
    app.router.add_post("/_sandbox/outside-change", _outside_change)
    app.router.add_route("*", "/{tail:.*}", _api)
    return app
