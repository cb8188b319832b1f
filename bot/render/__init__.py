"""Every sentence a person reads, and the Block Kit it comes in: pure functions from fpbot's
data to Slack messages.

Nothing here imports Slack's SDK or talks to anything: a renderer takes typed values and
returns `Message` values (a plain ``text`` fallback and Block Kit blocks as dicts) that are
always within Slack's limits. Every raw string that comes from a user or from the API is escaped
here, once. The sentences about a change (`changes`: a request's summary and error, execution
messages, verdicts) are stored with the request as mrkdwn and shown as they are. No renderer
but `render_secret_delivery` ever shows a secret.
"""

from bot.render.approvals import (
    render_change_request,
    render_request_created,
    render_request_result,
)
from bot.render.blocks import Message, escape, paginate, paginate_lines
from bot.render.errors import render_error
from bot.render.listings import (
    render_api_keys,
    render_environments,
    render_fetching,
    render_webhooks,
)
from bot.render.notifications import render_notification
from bot.render.replies import (
    render_audit,
    render_help,
    render_refusal,
    render_requests,
    render_secret_delivery,
    render_usage_error,
    render_whoami,
)

__all__ = [
    "Message",
    "escape",
    "paginate",
    "paginate_lines",
    "render_api_keys",
    "render_audit",
    "render_change_request",
    "render_environments",
    "render_error",
    "render_fetching",
    "render_help",
    "render_notification",
    "render_refusal",
    "render_request_created",
    "render_request_result",
    "render_requests",
    "render_secret_delivery",
    "render_usage_error",
    "render_webhooks",
    "render_whoami",
]
