"""The store's address: the URL forms operators use, mapped to the async drivers fpbot runs.

Heroku hands out ``postgres://`` with libpq's ``sslmode``; SQLAlchemy wants
``postgresql+asyncpg://`` with asyncpg's ``ssl``. Settings validate ``DATABASE_URL`` with the
same function the store connects with, so a URL accepted at start-up is one the store can open.
"""

from __future__ import annotations

import re


def sqlalchemy_url(url: str) -> str:
    """Map the URL forms operators use (Heroku's ``postgres://`` included) to async drivers."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("must be a URL such as sqlite:///fpbot.sqlite3 or postgresql://host/db")
    base = scheme.split("+", 1)[0].lower()
    if base == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    if base in ("postgres", "postgresql"):
        # asyncpg spells libpq's ``sslmode`` (which Heroku's URLs carry) as ``ssl``.
        rest = re.sub(r"([?&])sslmode=", r"\1ssl=", rest)
        return f"postgresql+asyncpg://{rest}"
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*", scheme):
        # What precedes "://" is not a scheme (it may be a user and password): don't echo it.
        raise ValueError("must start with sqlite:// or postgresql://")
    raise ValueError(f"unsupported scheme {scheme!r}; use sqlite:// or postgresql://")
