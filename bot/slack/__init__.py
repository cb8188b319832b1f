"""The one Slack adapter: everything fpbot says in Slack, and who is in which user group.

The core speaks through `SlackConversation` (the `bot.ports.Conversation` port) and asks
`GroupDirectory` about user groups; only this package (and the entry modules that build the Bolt
app and serve it) imports slack_sdk or slack_bolt.
"""

from bot.slack.conversation import SlackConversation
from bot.slack.groups import GroupDirectory
from bot.slack.messenger import SlackDeliveryError, SlackMessenger, make_web_client

__all__ = [
    "GroupDirectory",
    "SlackConversation",
    "SlackDeliveryError",
    "SlackMessenger",
    "make_web_client",
]
