"""Cursor pagination as the Management API does it: ``limit`` and an opaque ``cursor``.

A cursor names a position ("after item 17" or "before item 40") rather than an offset, so a
walk stays correct when items are added or deleted between pages. Cursors are random-looking
strings that only this paginator can resolve: a client cannot build one, and an unknown or
foreign cursor is refused with 400 as a malformed request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from sandbox.fingerprint.state import bad_request

T = TypeVar("T")

DEFAULT_LIMIT = 10
MAX_LIMIT = 100

Direction = Literal["after", "before"]


@dataclass(frozen=True, slots=True)
class Position:
    resource: str
    direction: Direction
    index: int


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
    prev_cursor: str | None


def parse_limit(raw: str | None) -> int:
    """``limit`` is an integer 0..100, 10 when absent; anything else is a bad request."""
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = -1
    if not 0 <= limit <= MAX_LIMIT:
        raise bad_request(f"limit must be an integer between 0 and {MAX_LIMIT}")
    return limit


class Paginator:
    """Issues and resolves cursors for every list of one fake workspace."""

    def __init__(self, salt: str) -> None:
        self._salt = salt
        self._positions: dict[str, Position] = {}

    def _cursor(self, position: Position) -> str:
        digest = hashlib.sha256(
            f"{self._salt}:{position.resource}:{position.direction}:{position.index}".encode()
        ).hexdigest()
        token = digest[:24]
        self._positions[token] = position
        return token

    def page(
        self,
        resource: str,
        items: Sequence[T],
        order: Callable[[T], int],
        *,
        limit: int,
        cursor: str | None,
    ) -> Page[T]:
        """One page of ``items`` (already in list order; ``order`` gives each its rank).

        With ``limit=0`` the page is empty and ``next_cursor`` points at the same position
        again: a client that does not stop on a repeated cursor would loop forever.
        """
        ranks = [order(item) for item in items]
        if cursor is None:
            start, stop = 0, limit
        else:
            position = self._positions.get(cursor)
            if position is None or position.resource != resource:
                raise bad_request("Invalid cursor")
            if position.direction == "after":
                start = sum(1 for rank in ranks if rank <= position.index)
                stop = start + limit
            else:
                stop = sum(1 for rank in ranks if rank < position.index)
                start = max(0, stop - limit)
        chosen = list(items[start:stop])
        if not chosen:
            if limit == 0 and start < len(items):
                here = ranks[start - 1] if start > 0 else -1
                return Page([], self._cursor(Position(resource, "after", here)), None)
            return Page([], None, None)
        next_cursor = (
            self._cursor(Position(resource, "after", ranks[stop - 1]))
            if stop < len(items)
            else None
        )
        prev_cursor = (
            self._cursor(Position(resource, "before", ranks[start])) if start > 0 else None
        )
        return Page(chosen, next_cursor, prev_cursor)
