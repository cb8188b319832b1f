"""A name with ``&``, ``<``, ``>`` and quotes, shown everywhere fpbot talks about its request.

Slack sends the command text escaped (``&amp;``, ``&lt;``, ``&gt;``); fpbot unescapes it, asks
the API for the name as typed (quotes inside it included), and escapes it exactly once
wherever it shows it in mrkdwn: ``&amp;`` in the payload, which
Slack shows as ``&`` — never ``&amp;amp;``, which Slack would show as ``&amp;``. Quotes and
apostrophes are sent as they are. And what must not be kept at all (a Slack webhook URL, a URL
with credentials) is refused as a usage error before anything is stored.
"""

from __future__ import annotations

from bot.domain import State
from sandbox.run import Sandbox
from tests.scenarios.change_helpers import (
    APPROVER_1,
    AUDITOR,
    OPS,
    WAIT,
    Desk,
    everything,
    status_of,
)

NAME = 'R&D <ops> Rock \u2018n\u2019 Roll "Bob\'s" 12" rack'
TYPED = 'R&amp;D &lt;ops&gt; Rock \u2018n\u2019 Roll "Bob\'s" 12" rack'  # as Slack sends it
SHOWN = 'R&amp;D &lt;ops&gt; Rock \u2018n\u2019 Roll "Bob\'s" 12" rack'  # escaped once, quotes kept


def escaped_once(text: str) -> None:
    assert SHOWN in text, text
    for twice in ("&amp;amp;", "&amp;lt;", "&amp;gt;", "&amp;quot;", "&quot;", "&#39;"):
        assert twice not in text, f"{twice!r} in {text!r}"


async def test_a_name_is_escaped_exactly_once_from_request_to_outcome(stack: Sandbox) -> None:
    desk = Desk.of(stack)
    receipt = await desk.command(f"envs create {TYPED}")
    escaped_once(receipt)
    request_id = receipt.split("`")[1]
    approval = everything(desk.approval(request_id))
    escaped_once(approval)
    assert f"Create environment *{SHOWN}*" in approval

    await desk.click(request_id, user=APPROVER_1)
    request = await desk.settled(request_id)
    assert request.state is State.SUCCEEDED
    created = [e for e in desk.fingerprint.workspace.environments.values() if e.name == NAME]
    assert len(created) == 1, "the API got the name as typed"

    edited = desk.approval(request_id)
    escaped_once(everything(edited))
    assert "Succeeded" in status_of(edited)
    (reply,) = desk.thread(request_id)
    escaped_once(everything(reply))
    (dm,) = desk.dms_about(request_id)
    escaped_once(everything(dm))

    trail = await desk.command("audit 5", user=AUDITOR, channel=OPS)
    escaped_once(trail)


async def test_a_failed_change_names_it_escaped_once_in_the_outcome_and_the_alert(
    stack: Sandbox,
) -> None:
    desk = Desk.of(stack)
    request_id = await desk.request(f"envs create {TYPED}")
    desk.fingerprint.faults.error_rate, desk.fingerprint.faults.error_status = 1.0, 500
    await desk.click(request_id, user=APPROVER_1)
    request = await desk.settled(request_id)
    desk.fingerprint.faults.error_rate = 0.0
    assert request.state is State.FAILED

    edited = desk.approval(request_id)
    assert f"Creating environment *{SHOWN}* failed" in status_of(edited)
    escaped_once(everything(edited))
    escaped_once(everything(desk.thread(request_id)[0]))
    escaped_once(everything(desk.dms_about(request_id)[0]))
    await desk.slack.wait_for(lambda: bool(desk.cards()), WAIT, what="the failure alert")
    (alert,) = desk.cards()
    escaped_once(everything(alert))
    (incident,) = desk.incidents()
    escaped_once(everything(incident))


async def test_a_secret_webhook_url_gets_a_usage_error_not_an_internal_failure(
    stack: Sandbox,
) -> None:
    # The store refuses to keep a secret-shaped value; the parser refuses it first, saying why.
    desk = Desk.of(stack)
    for url in ("https://hooks.slack.com/services/T0/B0/xyz", "https://u:p@example.com/h"):
        reply = await desk.command(f"webhooks create {url}")
        assert "fpbot would keep it in the change request" in reply, reply
        assert "/fp webhooks create" in reply  # the usage
        assert "went wrong" not in reply
        assert url not in reply
    assert await desk.store.list_requests() == []
    assert desk.alerts() == []
