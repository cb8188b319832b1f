"""fpbot: Fingerprint's Management API as a Slack chat-ops bot.

The core lives here: settings, logging, the Management API client (``bot.fingerprint``), the
command grammar, the permission policy, change requests and their store, Block Kit rendering.
Slack listeners live in ``handlers``; local stand-ins of Slack and the API live in ``sandbox``.
"""

__version__ = "0.1.0"
