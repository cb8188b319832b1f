"""Slack's request signature, computed the way Slack computes it for every request to a bot.

Kept apart from the driver so tests (and the console) can sign or forge a body on their own.
"""

from __future__ import annotations

import hashlib
import hmac


def sign(signing_secret: str, timestamp: int | str, body: str | bytes) -> str:
    """``v0=hex(HMAC-SHA256(secret, "v0:" + timestamp + ":" + body))``, the ``X-Slack-Signature``.

    Args:
        signing_secret: the app's signing secret.
        timestamp: the ``X-Slack-Request-Timestamp`` value (Unix seconds).
        body: the exact request body bytes that will be sent.
    """
    raw = body.encode() if isinstance(body, str) else body
    base = b"v0:" + str(timestamp).encode() + b":" + raw
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return f"v0={digest}"
