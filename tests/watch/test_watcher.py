"""What one pass of the watch reads, under each Management API version."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, cast

from bot.domain.account import BASE, Resource
from bot.fingerprint.models import (
    ApiKey,
    EncryptionKey,
    Environment,
    FilteringRule,
    Subdomain,
    Webhook,
)
from bot.watch.watcher import AccountWatch


class Account:
    """Answers each listing with one item and remembers which listings were asked for."""

    def __init__(self, api_version: str) -> None:
        self.api_version = api_version
        self.asked: list[str] = []

    @contextmanager
    def background(self) -> Iterator[None]:
        yield

    async def list_environments(self) -> list[Environment]:
        self.asked.append("environments")
        return [Environment(id="ae_1", name="Prod")]

    async def list_api_keys(self, **_: Any) -> list[ApiKey]:
        self.asked.append("api-keys")
        return [ApiKey(id="tok_1", name="Web")]

    async def list_webhooks(self, **_: Any) -> list[Webhook]:
        self.asked.append("webhooks")
        return [Webhook(id="wh_1", url="https://example.com/h")]

    async def list_filtering_rules(self, **_: Any) -> list[FilteringRule]:
        self.asked.append("filtering-rules")
        return [FilteringRule(id="tr_1", name="Block", environment="ae_1", position=0)]

    async def list_encryption_keys(self, **_: Any) -> list[EncryptionKey]:
        self.asked.append("encryption-keys")
        return [EncryptionKey(id="tok_e1", name="Sealed", token="SEALED_TOKEN_CURRENT")]

    async def list_subdomains(self) -> list[Subdomain]:
        self.asked.append("subdomains")
        return [Subdomain(id="certv2_1", subdomain="m.example.com")]


def watch(client: Account) -> AccountWatch:
    unused = cast(Any, None)
    return AccountWatch(
        store=unused,
        client=client,
        slack=unused,
        outside=unused,
        notifier=unused,
        interval=timedelta(seconds=1),
        channel=None,
    )


async def test_under_2024_a_pass_reads_environments_keys_and_webhooks_only() -> None:
    client = Account("2024-05-20")
    snapshot = await watch(client)._read()
    assert sorted(client.asked) == ["api-keys", "environments", "webhooks"]
    assert snapshot.watched == BASE and len(snapshot.items) == 3


async def test_under_2025_a_pass_also_reads_rules_encryption_keys_and_subdomains_once_each() -> (
    None
):
    client = Account("2025-11-20")
    snapshot = await watch(client)._read()
    assert sorted(client.asked) == [
        "api-keys",
        "encryption-keys",
        "environments",
        "filtering-rules",
        "subdomains",
        "webhooks",
    ]
    assert {Resource.FILTERING_RULE, Resource.ENCRYPTION_KEY, Resource.SUBDOMAIN} < snapshot.watched
    assert len(snapshot.items) == 6
    assert "SEALED_TOKEN" not in str(snapshot.to_json())
