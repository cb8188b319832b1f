"""Action and block ids: the only strings the Slack handlers and the renderers must agree on.

``APPROVE`` and ``DENY`` are fixed by the interface (interface.md §5); their buttons' ``value``
is the change request id and nothing else.
"""

from __future__ import annotations

from typing import Final

APPROVE: Final = "approve_request"
DENY: Final = "deny_request"

#: The actions block of a pending approval message (holds APPROVE and DENY).
REQUEST_ACTIONS_BLOCK: Final = "request_actions"
#: The line of an approval message that states where the request stands.
REQUEST_STATUS_BLOCK: Final = "request_status"
