"""What counts as a secret, in one place, and the last line of defence against storing one.

A secret key's token or a webhook's signing key is shown to the requester once, by direct
message, and must never be stored, logged or posted to a channel. Every
layer that could leak one asks this module: the store refuses to write a value that looks like
a secret (`refuse_secrets`), the renderers and the shared listing cache leave out fields with a
secret's name (`is_secret_field`), and the log scrubber redacts them.

Deliberately not used here: the free-text patterns of `bot.log.scrub`, which would refuse
ordinary names such as "Basic plan".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

#: Field names (lower-cased, without "_", "-" or spaces) whose values are secrets.
SECRET_FIELD_NAMES = frozenset(
    {
        "token",
        "secret",
        "signingkey",
        "signingsecret",
        "apikey",
        "managementapikey",
        "bottoken",
        "apptoken",
        "accesstoken",
        "refreshtoken",
        "clientsecret",
        "password",
        "authorization",
        "responseurl",
        "previoustoken",
        "nexttoken",
        "webhooksecret",
    }
)

_SECRET_SHAPES = (
    re.compile(r"\bxox[a-z]-[A-Za-z0-9-]{6,}"),  # Slack bot/user/refresh/config tokens
    re.compile(r"\bxapp-[A-Za-z0-9-]{6,}"),  # Slack app-level tokens
    re.compile(r"https://hooks\.slack\.com/\S+"),  # response_url and incoming webhooks
    re.compile(r"(?i)\b[a-z][a-z0-9+.\-]*://[^\s:/@]*:[^\s@/]+@"),  # user:password@ in a URL
)


class SecretRefused(ValueError):
    """A value about to be stored looks like a secret. ``path`` says where, never what."""

    def __init__(self, path: str) -> None:
        super().__init__(f"refusing to store {path}: it looks like a secret")
        self.path = path


@lru_cache(maxsize=1024)  # asked for every key of every log line; the names are few
def is_secret_field(name: str) -> bool:
    """Whether a field called ``name`` holds a secret (``signing_key``, ``signingKey``, …)."""
    return re.sub(r"[\s_\-]", "", name).lower() in SECRET_FIELD_NAMES


def without_secrets(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """``values`` minus every field with a secret's name (for what is shown or shared)."""
    return {k: v for k, v in (values or {}).items() if not is_secret_field(str(k))}


def refuse_secrets(path: str, value: Any) -> None:
    """Raise `SecretRefused` if ``value`` (a JSON-like tree or a string) holds a secret.

    Args:
        path: where the value is going, e.g. ``params`` or ``audit.detail``; used in the error.
        value: dicts, lists, strings and scalars, searched recursively.
    """
    if isinstance(value, str):
        if any(shape.search(value) for shape in _SECRET_SHAPES):
            raise SecretRefused(path)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}"
            if is_secret_field(str(key)) and item not in (None, ""):
                raise SecretRefused(where)
            refuse_secrets(where, item)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            refuse_secrets(f"{path}[{index}]", item)
