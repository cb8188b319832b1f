"""Helpers of the Management API client's tests: a recording mock transport, samples, pages."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bot.fingerprint import ManagementClient

# Fingerprint's own response samples (from its CLI and MCP server fixtures), byte for byte.
SAMPLES = Path(__file__).parent / "samples"

API_KEY = "fp_mgmt_unit_test_key_0123456789"


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def page(items: list[dict[str, Any]], next_cursor: str | None = None, *, camel: bool = False):
    name = "nextCursor" if camel else "next_cursor"
    return {"data": items, "metadata": {"pagination": {name: next_cursor}}}


class Recorder:
    """A mock API: answers from a handler and keeps every request it saw."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response | Any]) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.handler(request)
        if hasattr(answer, "__await__"):
            answer = await answer
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def make_client(recorder: Recorder, **options: Any) -> ManagementClient:
    options.setdefault("rate_limit", 1000.0)
    options.setdefault("retry_budget", 2.0)
    return ManagementClient(
        api_key=API_KEY,
        base_url="https://api.test",
        transport=recorder.transport(),
        **options,
    )
