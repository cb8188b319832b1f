"""Listings: every page walked, loops refused, identical concurrent reads coalesced, and the
short cache that a write invalidates and that never outlives its TTL."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from bot.fingerprint import PaginationLoop, ServerError, Unavailable
from tests.fingerprint.fp_helpers import Recorder, make_client, page

ENVS = [{"id": f"ae_{i}", "name": f"env {i}"} for i in range(25)]


def paged(request: httpx.Request, *, camel: bool = False) -> Any:
    """A three-page walk over ENVS with cursors "10" and "20"."""
    limit = int(request.url.params.get("limit", "10"))
    start = int(request.url.params.get("cursor", "0"))
    end = start + limit
    return page(ENVS[start:end], str(end) if end < len(ENVS) else None, camel=camel)


@pytest.mark.parametrize("camel", [False, True], ids=["next_cursor", "nextCursor"])
async def test_every_page_is_walked_until_the_cursor_is_null(camel: bool) -> None:
    recorder = Recorder(lambda r: paged(r, camel=camel))
    async with make_client(recorder, page_size=10) as client:
        envs = await client.list_environments()
    assert [e.id for e in envs] == [e["id"] for e in ENVS]
    assert [r.url.params.get("cursor") for r in recorder.requests] == [None, "10", "20"]
    assert {r.url.params["limit"] for r in recorder.requests} == {"10"}


async def test_the_page_size_defaults_to_the_maximum() -> None:
    recorder = Recorder(paged)
    async with make_client(recorder) as client:
        assert len(await client.list_environments()) == 25
    assert len(recorder.requests) == 1
    assert recorder.requests[0].url.params["limit"] == "100"


@pytest.mark.parametrize(
    "body",
    [{"data": ENVS[:2]}, {"data": ENVS[:2], "metadata": {}}, {"data": ENVS[:2], "metadata": None}],
    ids=["no metadata", "empty metadata", "null metadata"],
)
async def test_missing_pagination_metadata_means_the_last_page(body: dict[str, Any]) -> None:
    recorder = Recorder(lambda r: body)
    async with make_client(recorder) as client:
        assert len(await client.list_environments()) == 2
    assert len(recorder.requests) == 1


async def test_a_repeated_cursor_is_refused_instead_of_looping() -> None:
    # Page 1 → "a", page "a" → "b", page "b" → "a" again.
    cursors = {None: "a", "a": "b", "b": "a"}
    recorder = Recorder(lambda r: page(ENVS[:1], cursors[r.url.params.get("cursor")]))
    async with make_client(recorder) as client:
        with pytest.raises(PaginationLoop) as caught:
            await client.list_environments()
    assert caught.value.operation == "GET /environments"
    assert len(recorder.requests) == 3


async def test_a_cursor_pointing_at_itself_is_refused() -> None:
    recorder = Recorder(lambda r: page(ENVS[:1], "same"))
    async with make_client(recorder) as client:
        with pytest.raises(PaginationLoop):
            await client.list_api_keys()
    assert len(recorder.requests) == 2


async def slow(request: httpx.Request) -> Any:
    await asyncio.sleep(0.05)
    return paged(request)


async def test_fifty_identical_concurrent_listings_make_one_page_walk() -> None:
    recorder = Recorder(slow)
    async with make_client(recorder, page_size=10, cache_ttl=0) as client:
        results = await asyncio.gather(*(client.list_environments() for _ in range(50)))
    assert all(len(r) == 25 for r in results)
    assert len(recorder.requests) == 3
    assert client.stats.coalesced == 49


async def test_different_filters_are_not_coalesced() -> None:
    recorder = Recorder(slow)
    async with make_client(recorder, cache_ttl=0) as client:
        await asyncio.gather(client.list_api_keys(), client.list_api_keys(environment="ae_1"))
    assert len(recorder.requests) == 2


async def test_every_coalesced_caller_gets_the_same_error() -> None:
    async def failing(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.05)
        return httpx.Response(500)

    async with make_client(Recorder(failing), retry_budget=0) as client:
        results = await asyncio.gather(
            *(client.list_environments() for _ in range(5)), return_exceptions=True
        )
    assert all(isinstance(r, ServerError) for r in results)


async def test_a_listing_is_cached_for_its_ttl() -> None:
    recorder = Recorder(paged)
    async with make_client(recorder, cache_ttl=0.3) as client:
        await client.list_environments()
        await client.list_environments()
        assert len(recorder.requests) == 1 and client.stats.cache_hits == 1
        await asyncio.sleep(0.35)
        await client.list_environments()
    assert len(recorder.requests) == 2


async def test_a_write_invalidates_the_cache() -> None:
    def handler(request: httpx.Request) -> Any:
        if request.method == "POST":
            return {"data": {"id": "ae_new", "name": "new"}}
        return paged(request)

    recorder = Recorder(handler)
    async with make_client(recorder, cache_ttl=60) as client:
        await client.list_environments()
        await client.create_environment("new")
        await client.list_environments()
    assert [r.method for r in recorder.requests] == ["GET", "POST", "GET"]


async def test_a_failed_write_invalidates_the_cache_too() -> None:
    # A create that timed out may still have happened upstream.
    def handler(request: httpx.Request) -> Any:
        if request.method == "POST":
            raise httpx.ReadTimeout("slow", request=request)
        return paged(request)

    recorder = Recorder(handler)
    async with make_client(recorder, cache_ttl=60) as client:
        await client.list_environments()
        with pytest.raises(Exception, match="no answer"):
            await client.create_environment("new")
        await client.list_environments()
    assert [r.method for r in recorder.requests] == ["GET", "POST", "GET"]


async def test_a_listing_that_began_before_a_write_is_not_joined_or_cached_after_it() -> None:
    gate = asyncio.Event()

    async def handler(request: httpx.Request) -> Any:
        if request.method == "DELETE":
            return httpx.Response(204)
        if len([r for r in recorder.requests if r.method == "GET"]) == 1:
            await gate.wait()  # the first walk is stuck until after the write
        return paged(request)

    recorder = Recorder(handler)
    async with make_client(recorder, cache_ttl=60) as client:
        before = asyncio.create_task(client.list_environments())
        await asyncio.sleep(0.01)
        await client.delete_environment("ae_0")
        after = asyncio.create_task(client.list_environments())
        await asyncio.sleep(0.01)
        gate.set()
        await asyncio.gather(before, after)
        assert client.stats.coalesced == 0
        await client.list_environments()  # served by the cache from the walk after the write
    assert [r.method for r in recorder.requests] == ["GET", "DELETE", "GET"]


async def test_a_failed_listing_is_an_error_not_an_old_copy() -> None:
    fail = False

    def handler(request: httpx.Request) -> Any:
        return httpx.Response(503) if fail else paged(request)

    async with make_client(Recorder(handler), cache_ttl=0.1, retry_budget=0) as client:
        await client.list_environments()
        await asyncio.sleep(0.15)
        fail = True
        with pytest.raises(Unavailable):
            await client.list_environments()
