"""Action and block ids: the only strings the Slack handlers and the renderers must agree on.

``APPROVE`` and ``DENY`` are fixed by the interface; their buttons' ``value``
is the change request id and nothing else.
"""

from __future__ import annotations

from typing import Final

APPROVE: Final = "approve_request"
DENY: Final = "deny_request"
#: Withdraw a pending request (the requester's receipt, App Home); value: the request id.
CANCEL: Final = "cancel_request"
#: On a failed request whose outcome is uncertain: check the account now / run it again.
CHECK: Final = "check_request"
RETRY: Final = "retry_request"

#: On a rotation in its grace period (its card, its result): the requester asks to disable
#: the old key now, or to revert the rotation; value: the rotation's request id.
END_GRACE: Final = "end_grace"
REVERT_ROTATION: Final = "revert_rotation"
#: The actions block that holds them.
GRACE_ACTIONS_BLOCK: Final = "grace_actions"

#: The actions block of a pending approval message (holds APPROVE and DENY).
REQUEST_ACTIONS_BLOCK: Final = "request_actions"
#: The actions block of a requester's receipt (holds CANCEL).
RECEIPT_ACTIONS_BLOCK: Final = "receipt_actions"
#: The line of an approval message that states where the request stands.
REQUEST_STATUS_BLOCK: Final = "request_status"

# ── forms, menus, the shortcut ──────────────────────────────────────────────────────────────

#: A change's form: ``callback_id`` is this prefix and the command's name (``fp_form:RenameEnv``).
FORM_PREFIX: Final = "fp_form:"
#: The form that asks which change (``/fp new``, the shortcut); its menu's action id.
PICKER: Final = "fp_new"
PICK_CHANGE: Final = "pick_change"
#: The form a Deny opens, asking why.
DENY_FORM: Final = "fp_deny"
#: Menus of the account's environments, keys and webhooks, filled as the person types.
PICK_ENV: Final = "pick_env"
PICK_KEY: Final = "pick_key"
PICK_WEBHOOK: Final = "pick_webhook"
PICK_RULE: Final = "pick_rule"
PICK_ENCKEY: Final = "pick_enckey"
PICK_SUBDOMAIN: Final = "pick_subdomain"
#: The ⋯ menu on a listing's rows; an option's value is ``<command>:<id>``.
ROW_MENU: Final = "row_menu"
#: The global shortcut "Request a Fingerprint change" (manifest: callback_id).
SHORTCUT: Final = "request_change"

# ── the account watch ───────────────────────────────────────────────────────────────────────

#: On a change found made outside fpbot; value: the change's number in the change log.
OUTSIDE_ACK: Final = "outside_acknowledge"
OUTSIDE_REVERT: Final = "outside_revert"
OUTSIDE_KEEP: Final = "outside_keep"
