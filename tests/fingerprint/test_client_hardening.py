"""What the hardening issue asked of the client: a 503's Retry-After holds the whole key back
as a 429's does, an unreadable answer names the call that brought it, a change that succeeded
upstream parses however little its answer says, and field errors read the same as 400 or 422.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

import httpx
import pytest

from bot.fingerprint import (
    BadRequest,
    InvalidResponse,
    KeyType,
    PaginationLoop,
    RateLimited,
    Status,
    Unavailable,
    ValidationFailed,
    Violation,
)
from tests.fingerprint.fp_helpers import Recorder, make_client, page, sample


def unavailable(retry_after: str) -> httpx.Response:
    return httpx.Response(
        503, headers={"Retry-After": retry_after}, json=sample("error-unavailable.json")
    )


async def test_a_503_retry_after_holds_back_every_caller_of_the_key_like_a_429() -> None:
    """A create is not retried after a 503, but the pause it was told of still binds every
    client of the key: nothing leaves before it ends, and no caller waits past its budget."""
    answers = [unavailable("30")]
    recorder = Recorder(lambda r: answers.pop(0) if answers else {"data": {"message": "hi"}})
    async with (
        make_client(recorder, retry_budget=10) as client,
        make_client(recorder, retry_budget=10) as sibling,
    ):
        with pytest.raises(Unavailable) as first:
            await client.create_environment("Staging")
        assert first.value.retry_after == 30
        started = time.monotonic()
        for caller in (sibling, client):
            with pytest.raises(RateLimited) as held:
                await caller.hello()
            assert held.value.retry_after is not None and 28 < held.value.retry_after <= 30
            assert "not sent" in held.value.message
        assert time.monotonic() - started < 0.2
    assert len(recorder.requests) == 1


async def test_a_short_503_pause_is_waited_out_by_the_next_caller() -> None:
    stamps: list[float] = []
    answers = [unavailable("0.4")]

    def handler(request: httpx.Request) -> Any:
        stamps.append(time.monotonic())
        return answers.pop(0) if answers else {"data": {"message": "hi"}}

    recorder = Recorder(handler)
    async with make_client(recorder, retry_budget=5) as client:
        with pytest.raises(Unavailable):
            await client.delete_api_key("tok_1")  # never retried after a 5xx
        await client.hello()
    assert len(stamps) == 2 and stamps[1] - stamps[0] >= 0.39
    assert client.stats.rate_limited == 0, "a 503 is not counted as a 429"


async def test_a_503_without_retry_after_pauses_nothing() -> None:
    answers = [httpx.Response(503, json=sample("error-unavailable.json"))]
    recorder = Recorder(lambda r: answers.pop(0) if answers else {"data": {"message": "hi"}})
    async with make_client(recorder) as client:
        with pytest.raises(Unavailable):
            await client.delete_api_key("tok_1")
        started = time.monotonic()
        await client.hello()
    assert time.monotonic() - started < 0.2


BROKEN: list[tuple[str, Any, Any, type[InvalidResponse]]] = [
    (
        "not JSON",
        lambda r: httpx.Response(200, text="<html>"),
        lambda c: c.hello(),
        InvalidResponse,
    ),
    (
        "not the model",
        lambda r: {"data": {"name": "no id"}},
        lambda c: c.get_api_key("tok_1"),
        InvalidResponse,
    ),
    (
        "not a list",
        lambda r: {"data": {"id": "ae_1"}},
        lambda c: c.list_environments(),
        InvalidResponse,
    ),
    (
        "a bad item on a page",
        lambda r: page([{"id": "ae_1"}, {"name": "no id"}]),
        lambda c: c.list_environments(),
        InvalidResponse,
    ),
    (
        "a repeated cursor",
        lambda r: page([{"id": "ae_1"}], "same"),
        lambda c: c.list_environments(),
        PaginationLoop,
    ),
]


@pytest.mark.parametrize(
    ("handler", "call", "kind"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
async def test_an_invalid_response_carries_the_correlation_id_of_the_call_and_is_logged(
    handler: Any, call: Any, kind: type[InvalidResponse], log_stream: io.StringIO
) -> None:
    recorder = Recorder(handler)
    async with make_client(recorder) as client:
        with pytest.raises(kind) as caught:
            await call(client)
    assert caught.value.correlation_id == recorder.requests[-1].headers["X-Request-Id"]
    assert caught.value.operation and caught.value.status == 200
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    [logged] = [line for line in lines if line["event"] == "fingerprint.invalid_response"]
    assert logged["correlation_id"] == caught.value.correlation_id


async def test_a_create_answered_without_a_name_parses_with_the_name_sent() -> None:
    # Fingerprint's own CLI fixtures answer a create with these four fields only.
    bare = {"id": "tok_new", "type": "secret", "status": "enabled", "token": "sec_only_once"}
    recorder = Recorder(lambda r: {"data": bare})
    async with make_client(recorder) as client:
        key = await client.create_api_key(type=KeyType.SECRET, name="Backend", environment="ae_1")
    assert (key.id, key.name, key.environment, key.token) == (
        "tok_new",
        "Backend",
        "ae_1",
        "sec_only_once",
    )


async def test_the_answer_wins_over_what_was_sent_in_either_casing() -> None:
    answer = {"id": "tok_1", "name": "Trimmed", "rateLimit": 2, "status": "disabled"}
    recorder = Recorder(lambda r: {"data": answer})
    async with make_client(recorder) as client:
        key = await client.update_api_key("tok_1", name=" Trimmed ", rate_limit=2.5)
    assert key.name == "Trimmed" and key.rate_limit == 2 and key.status is Status.DISABLED


async def test_an_update_answered_with_only_an_id_still_parses() -> None:
    recorder = Recorder(lambda r: {"data": {"id": "wh_1"}})
    async with make_client(recorder) as client:
        hook = await client.update_webhook("wh_1", status=Status.DISABLED)
    assert hook.url == "" and hook.status is Status.DISABLED


async def test_a_400_with_violations_is_a_validation_failure_like_a_422() -> None:
    body = {
        "error": {
            "code": "general.bad-request",
            "message": "API key can't be updated due to validation errors",
            "violations": [{"property": "rate_limit", "message": "must be ≥ 0.1"}],
        }
    }
    recorder = Recorder(lambda r: httpx.Response(400, json=body))
    async with make_client(recorder) as client:
        with pytest.raises(ValidationFailed) as caught:
            await client.update_api_key("tok_1", rate_limit=0.01)
    assert caught.value.status == 400
    assert caught.value.violations == (Violation("rate_limit", "must be ≥ 0.1"),)


async def test_a_400_without_violations_stays_a_bad_request() -> None:
    body = {"error": {"code": "general.bad-request", "message": "Invalid cursor"}}
    recorder = Recorder(lambda r: httpx.Response(400, json=body))
    async with make_client(recorder) as client:
        with pytest.raises(BadRequest):
            await client.list_environments()
