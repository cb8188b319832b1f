"""The last line of defence against writing a secret to the database.

A secret key's token or a webhook's signing key is shown to the requester once, by direct
message, and must never be stored (interface.md §2, §8). The code that handles them already
drops them; this guard makes a slip loud instead of silent: before anything is written, the
JSON fields are searched for secret-named keys at any depth, and every string for the shapes
of credentials fpbot knows (Slack tokens, ``response_url``s, passwords inside URLs). A hit
raises `SecretRefused`, naming where it was found but never the value.

Deliberately not used: the free-text patterns of `bot.log.scrub`, which would refuse
ordinary names such as "Basic plan".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Key names (lower-cased, without "_", "-" or spaces) whose values are secrets.
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
            if _is_secret_name(str(key)) and item not in (None, ""):
                raise SecretRefused(where)
            refuse_secrets(where, item)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            refuse_secrets(f"{path}[{index}]", item)


def _is_secret_name(key: str) -> bool:
    return re.sub(r"[\s_\-]", "", key).lower() in SECRET_FIELD_NAMES
