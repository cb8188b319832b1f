"""Fixtures of the Management API client's tests."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from bot.log import configure_logging


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Every log line of the test, JSON, at DEBUG, in a buffer."""
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream)
    yield stream
    configure_logging("WARNING", "json", io.StringIO())
