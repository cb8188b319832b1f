"""The no-secret guard as a table: what it refuses, what it lets through, and what it says."""

from __future__ import annotations

import pytest

from bot.domain.secrets import SecretRefused, refuse_secrets

REFUSED = [
    ("a token at the top of the params", {"token": "abc123"}, "params.token"),
    ("a signing key nested in a result", {"webhook": {"signing_key": "k"}},
     "params.webhook.signing_key"),
    ("a secret inside a list", {"keys": [{"id": "tok_1"}, {"secret": "s"}]},
     "params.keys[1].secret"),
    ("camelCase names are the same name", {"signingKey": "k"}, "params.signingKey"),
    ("upper case names are the same name", {"API_KEY": "k"}, "params.API_KEY"),
    ("a Slack bot token as a value", {"note": "xoxb-1234-5678-abcdefgh"}, "params.note"),
    ("a Slack app token as a value", ["xapp-1-A0-123456-abcdef"], "params[0]"),
    ("a response_url as a value", {"url": "https://hooks.slack.com/actions/T0/1/x"}, "params.url"),
    ("a password inside a URL", {"url": "https://bob:hunter2@example.com/hook"}, "params.url"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "path"), [pytest.param(v, p, id=sentence) for sentence, v, p in REFUSED]
)
def test_secrets_are_refused_naming_where_not_what(value: object, path: str) -> None:
    with pytest.raises(SecretRefused) as caught:
        refuse_secrets("params", value)
    assert caught.value.path == path
    assert path in str(caught.value)
    for secret in ("abc123", "hunter2", "xoxb-", "xapp-", "hooks.slack.com"):
        assert secret not in str(caught.value)


ALLOWED = [
    ("a key's id and type", {"key_id": "tok_123", "type": "secret"}),
    ("a secret-named field that is empty", {"token": None, "signing_key": ""}),
    ("names that merely mention auth", {"name": "Basic plan", "description": "Bearer of news"}),
    ("an ordinary https URL", {"url": "https://example.com/hook?x=1"}),
    ("numbers, booleans and nulls", {"rate_limit": 5, "enabled": True, "environment": None}),
    ("a plain sentence", "Delete environment *Staging* (`ae_123`)"),
]


@pytest.mark.parametrize("value", [pytest.param(v, id=sentence) for sentence, v in ALLOWED])
def test_ordinary_values_pass(value: object) -> None:
    refuse_secrets("params", value)
