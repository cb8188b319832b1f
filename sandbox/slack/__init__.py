"""A local fake Slack: the Web API, ``response_url``s, limit checks, and a driver for the bot.

Scenario tests, benchmarks and the sandbox console use it instead of a real workspace:
`FakeSlack` answers the bot's Slack calls and records them (messages, and each person's modals
and Home tab as `RecordedView`s), `SlackDriver` sends the bot signed commands, clicks, menu
choices, shortcuts, form submissions and ``app_home_opened`` as Slack would (or delivers them
over Socket Mode, `SocketMode`), and `check_message` holds Slack's limits on a message or view.
"""

from sandbox.slack.driver import DriverResponse, SlackDriver
from sandbox.slack.limits import check_message, check_options
from sandbox.slack.server import FakeSlack, Faults
from sandbox.slack.socket import Envelope, NoSocketConnection, SocketConnection, SocketMode
from sandbox.slack.state import RecordedCall, RecordedMessage
from sandbox.slack.views import NotSubmittable, RecordedView

__all__ = [
    "DriverResponse",
    "Envelope",
    "FakeSlack",
    "Faults",
    "NoSocketConnection",
    "NotSubmittable",
    "RecordedCall",
    "RecordedMessage",
    "RecordedView",
    "SlackDriver",
    "SocketConnection",
    "SocketMode",
    "check_message",
    "check_options",
]
