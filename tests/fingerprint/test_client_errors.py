"""Every failure the API can give becomes one typed error, and the retry policy: what is
retried, how long it waits, and when it gives up."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from bot.fingerprint import (
    BadRequest,
    Conflict,
    FingerprintError,
    Forbidden,
    InvalidResponse,
    NotFound,
    PlanLimitReached,
    RateLimited,
    ServerError,
    Timeout,
    TransportError,
    Unauthorized,
    Unavailable,
    ValidationFailed,
    Violation,
)
from tests.fingerprint.fp_helpers import Recorder, make_client, sample


def error(status: int, code: str, message: str, **extra: Any) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message, **extra}})


ERRORS = [
    ("400 bad request", error(400, "general.bad-request", "bad"), BadRequest),
    ("401 unauthorized", httpx.Response(401, json=sample("error-unauthorized.json")), Unauthorized),
    ("403 forbidden", error(403, "general.forbidden", "no"), Forbidden),
    ("404 not found", error(404, "general.not-found", "gone"), NotFound),
    ("409 conflict", error(409, "general.conflict", "duplicate name"), Conflict),
    (
        "422 validation",
        httpx.Response(422, json=sample("error-validation-failed.json")),
        ValidationFailed,
    ),
    ("429 rate limit", httpx.Response(429, json=sample("error-rate-limit.json")), RateLimited),
    ("500 server", error(500, "general.internal-server-error", "oops"), ServerError),
    ("503 unavailable", httpx.Response(503, json=sample("error-unavailable.json")), Unavailable),
    (
        "400 plan limit",
        httpx.Response(400, json=sample("error-limit-reached-400.json")),
        PlanLimitReached,
    ),
    (
        "409 plan limit",
        error(409, "general.conflict", "Max limit for api keys reached: 10"),
        PlanLimitReached,
    ),
    ("400 validation code", error(400, "validation.failed", "bad field"), ValidationFailed),
    ("502 not in the table", httpx.Response(502, text="Bad Gateway"), ServerError),
    ("418 unknown 4xx", httpx.Response(418, text="teapot"), FingerprintError),
]


@pytest.mark.parametrize(
    ("response", "expected"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
async def test_every_status_and_code_maps_to_its_exception(
    response: httpx.Response, expected: type[FingerprintError]
) -> None:
    recorder = Recorder(lambda r: response)
    # A DELETE is never retried on 5xx, and a 429 past the budget fails at once.
    async with make_client(recorder, retry_budget=0) as client:
        with pytest.raises(FingerprintError) as caught:
            await client.delete_api_key("tok_1")
    assert type(caught.value) is expected
    err = caught.value
    assert err.status == response.status_code
    assert err.operation == "DELETE /api-keys/{id}"
    assert err.correlation_id == recorder.requests[0].headers["X-Request-Id"]
    assert str(err.status) in str(err)


async def test_an_error_carries_the_api_code_message_and_violations() -> None:
    recorder = Recorder(lambda r: httpx.Response(422, json=sample("error-validation-failed.json")))
    async with make_client(recorder) as client:
        with pytest.raises(ValidationFailed) as caught:
            await client.create_environment("x")
    err = caught.value
    assert err.code == "validation.failed"
    assert err.message == "Invalid subdomain for mgmt_key_1"
    assert err.violations == (Violation("subdomain", "mgmt_key_1 is not a valid hostname"),)


async def test_a_non_json_error_body_keeps_its_raw_text() -> None:
    recorder = Recorder(lambda r: httpx.Response(400, text="<html>upstream said no</html>"))
    async with make_client(recorder) as client:
        with pytest.raises(BadRequest) as caught:
            await client.hello()
    assert caught.value.message == "<html>upstream said no</html>"
    assert caught.value.code is None


async def test_a_2xx_that_is_not_json_is_an_invalid_response() -> None:
    recorder = Recorder(lambda r: httpx.Response(200, text="not json"))
    async with make_client(recorder) as client:
        with pytest.raises(InvalidResponse):
            await client.list_environments()


async def test_a_2xx_that_is_not_the_model_is_an_invalid_response_not_a_pydantic_error() -> None:
    recorder = Recorder(lambda r: {"data": {"name": "no id"}})
    async with make_client(recorder) as client:
        with pytest.raises(InvalidResponse, match="Environment"):
            await client.create_environment("Staging")


def flaky(*failures: httpx.Response) -> Recorder:
    """Answers each failure once, in order, then succeeds."""
    queue = list(failures)
    ok = {"data": {"id": "ae_1", "name": "Prod", "url": "https://example.com/h"}}
    return Recorder(lambda r: queue.pop(0) if queue else ok)


async def test_a_429_with_retry_after_waits_that_long_then_succeeds() -> None:
    recorder = flaky(httpx.Response(429, headers={"Retry-After": "0.3"}))
    async with make_client(recorder) as client:
        started = time.monotonic()
        await client.hello()
        waited = time.monotonic() - started
    assert len(recorder.requests) == 2
    assert 0.3 <= waited < 1.0
    assert client.stats.retries == 1 and client.stats.rate_limited == 1


async def test_a_429_without_retry_after_backs_off_and_succeeds() -> None:
    recorder = flaky(httpx.Response(429), httpx.Response(429))
    async with make_client(recorder) as client:
        await client.hello()
    assert len(recorder.requests) == 3


async def test_a_429_is_retried_even_on_a_create() -> None:
    recorder = flaky(httpx.Response(429, headers={"Retry-After": "0"}))
    async with make_client(recorder) as client:
        await client.create_environment("Staging")
    assert len(recorder.requests) == 2


async def test_a_retry_after_beyond_the_budget_fails_at_once_carrying_it() -> None:
    recorder = flaky(httpx.Response(429, headers={"Retry-After": "30"}))
    async with make_client(recorder, retry_budget=10) as client:
        started = time.monotonic()
        with pytest.raises(RateLimited) as caught:
            await client.hello()
    assert time.monotonic() - started < 0.5
    assert caught.value.retry_after == 30
    assert len(recorder.requests) == 1


async def test_a_retry_after_beyond_the_budget_still_holds_back_every_later_call() -> None:
    """The API said "not for 30 s": no request of this key goes out before then, from this
    client or another one with the same key, and none of them waits past its own budget."""
    recorder = flaky(httpx.Response(429, headers={"Retry-After": "30"}))
    async with (
        make_client(recorder, retry_budget=10) as client,
        make_client(recorder, retry_budget=10) as sibling,
    ):
        with pytest.raises(RateLimited):
            await client.hello()
        started = time.monotonic()
        for caller in (client, sibling, client):
            with pytest.raises(RateLimited) as caught:
                await caller.list_environments()
            assert caught.value.retry_after is not None
            assert 28 < caught.value.retry_after <= 30, "it says how long the pause still runs"
            assert caught.value.error_code == "rate-limit.exceeded"
            assert "not sent" in caught.value.message
        assert time.monotonic() - started < 0.2, "refused at once, not after a wait"
    assert len(recorder.requests) == 1, "nothing went out inside the pause"
    assert client.stats.held_back == 2 and sibling.stats.held_back == 1


async def test_a_pause_shorter_than_the_budget_is_waited_out_by_every_caller() -> None:
    stamps: list[float] = []
    answers = [httpx.Response(429, headers={"Retry-After": "0.4"})]

    def handler(request: httpx.Request) -> Any:
        stamps.append(time.monotonic())
        return answers.pop(0) if answers else {"data": {"message": "hi"}}

    recorder = Recorder(handler)
    # The first caller may not wait 0.4 s and gives up; the second may, and does.
    async with (
        make_client(recorder, retry_budget=0.1) as impatient,
        make_client(recorder, retry_budget=5) as patient,
    ):
        with pytest.raises(RateLimited):
            await impatient.hello()
        await patient.hello()
    assert len(stamps) == 2
    assert stamps[1] - stamps[0] >= 0.39, "the Retry-After was honoured by the other caller"


async def test_a_retry_after_far_in_the_future_pauses_the_key_for_an_hour_at_most() -> None:
    recorder = flaky(httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}))
    async with make_client(recorder) as client:
        with pytest.raises(RateLimited):
            await client.hello()
        with pytest.raises(RateLimited) as caught:
            await client.hello()
    assert caught.value.retry_after is not None and 3590 < caught.value.retry_after <= 3600
    assert len(recorder.requests) == 1


async def test_a_retry_after_given_as_a_date_is_understood() -> None:
    recorder = flaky(httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}))
    async with make_client(recorder) as client:
        with pytest.raises(RateLimited) as caught:
            await client.hello()
    assert caught.value.retry_after is not None and caught.value.retry_after > 1e6


async def test_endless_429s_give_up_within_the_budget() -> None:
    recorder = Recorder(lambda r: httpx.Response(429))
    async with make_client(recorder, retry_budget=0.6) as client:
        started = time.monotonic()
        with pytest.raises(RateLimited):
            await client.hello()
    assert time.monotonic() - started < 1.0
    assert len(recorder.requests) >= 2


async def test_a_503_then_success_is_retried_for_a_read() -> None:
    recorder = flaky(httpx.Response(503, json=sample("error-unavailable.json")))
    async with make_client(recorder) as client:
        await client.hello()
    assert len(recorder.requests) == 2


async def test_a_503_honours_its_retry_after() -> None:
    recorder = flaky(httpx.Response(503, headers={"Retry-After": "0.2"}))
    async with make_client(recorder) as client:
        started = time.monotonic()
        await client.hello()
    assert time.monotonic() - started >= 0.2


async def test_an_absolute_update_is_retried_on_500() -> None:
    recorder = flaky(httpx.Response(500))
    async with make_client(recorder) as client:
        await client.update_environment("ae_1", name="Prod")
    assert len(recorder.requests) == 2


@pytest.mark.parametrize("call", ["create", "delete"])
async def test_creates_and_deletes_are_not_retried_on_5xx(call: str) -> None:
    recorder = flaky(httpx.Response(503))
    async with make_client(recorder) as client:
        with pytest.raises(Unavailable):
            if call == "create":
                await client.create_webhook(url="https://example.com/h")
            else:
                await client.delete_webhook("wh_1")
    assert len(recorder.requests) == 1


async def test_a_transport_error_is_retried_for_a_read_and_mapped_for_a_create() -> None:
    failures = [httpx.ConnectError("refused")]

    def handler(request: httpx.Request) -> Any:
        if failures:
            raise failures.pop()
        return {"data": {"message": "hi"}}

    recorder = Recorder(handler)
    async with make_client(recorder) as client:
        await client.hello()
        assert len(recorder.requests) == 2
        failures.append(httpx.ConnectError("refused"))
        with pytest.raises(TransportError) as caught:
            await client.create_environment("Staging")
    # Callers never meet httpx, not even as the cause.
    assert not isinstance(caught.value.__cause__, httpx.HTTPError)


async def test_a_timeout_becomes_timeout() -> None:
    def handler(request: httpx.Request) -> Any:
        raise httpx.ReadTimeout("slow", request=request)

    async with make_client(Recorder(handler), retry_budget=0) as client:
        with pytest.raises(Timeout) as caught:
            await client.hello()
    assert isinstance(caught.value, TransportError)
    assert caught.value.operation == "GET /hello"
