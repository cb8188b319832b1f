"""The approval message in every state, the requester's receipt and the outcome."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import Approval, ChangeRequest, State
from bot.render import (
    render_change_request,
    render_request_created,
    render_request_result,
)
from bot.render.ids import APPROVE, DENY
from tests.render.render_checks import assert_within_limits, buttons, visible_text

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def request(**changes: Any) -> ChangeRequest:
    base = ChangeRequest(
        id="CR-7K2M9Q",
        action="envs.update",
        params={"env_id": "ae_1", "name": "Staging EU"},
        summary="Rename environment *Staging* (`ae_1`) to *Staging EU*",
        requester="U0123ALICE",
        channel_id="C0OPS",
        state=State.PENDING,
        required_approvals=2,
        created_at=NOW - timedelta(hours=1),
        expires_at=NOW + timedelta(hours=23),
        before={"id": "ae_1", "name": "Staging"},
        after={"id": "ae_1", "name": "Staging EU"},
        approval_channel="C0APPROVALS",
    )
    return replace(base, **changes)


def approved(*users: str) -> tuple[Approval, ...]:
    return tuple(Approval(u, NOW - timedelta(minutes=10 - i)) for i, u in enumerate(users))


def status(req: ChangeRequest) -> str:
    message = render_change_request(req, now=NOW)
    (block,) = [b for b in message.blocks if b.get("block_id") == "request_status"]
    return str(block["text"]["text"])


def test_pending_request_shows_who_what_before_after_expiry_and_approvals() -> None:
    req = request(approvals=approved("U0BOB"))
    message = render_change_request(req, now=NOW)
    assert_within_limits([message])
    text = visible_text([message])
    assert "<@U0123ALICE> asks to: Rename environment *Staging*" in text
    assert "*name*\nStaging → Staging EU" in text
    assert "approved by <@U0BOB> (1 of 2)" in text
    assert "1 more needed" in text
    assert f"<!date^{int(req.expires_at.timestamp())}^" in text
    assert "*id*" not in text  # unchanged fields are not in the table


def test_pending_request_has_approve_and_deny_buttons_carrying_the_request_id() -> None:
    message = render_change_request(request(), now=NOW)
    approve, deny = buttons(message)
    assert (approve["action_id"], approve["value"], approve["style"]) == (
        APPROVE,
        "CR-7K2M9Q",
        "primary",
    )
    assert (deny["action_id"], deny["value"], deny["style"]) == (DENY, "CR-7K2M9Q", "danger")
    assert "confirm" not in approve  # a rename is not destructive


@pytest.mark.parametrize(
    ("action", "params", "after"),
    [
        ("envs.delete", {"env_id": "ae_1"}, None),
        ("keys.delete", {"key_id": "tok_1"}, None),
        ("keys.rotate", {"key_id": "tok_1"}, None),
        ("keys.update", {"key_id": "tok_1", "status": "disabled"}, {"status": "disabled"}),
        ("webhooks.update", {"webhook_id": "wh_1", "status": "disabled"}, {"status": "disabled"}),
        ("webhooks.delete", {"webhook_id": "wh_1"}, None),
    ],
)
def test_destructive_changes_ask_for_confirmation_before_approving(
    action: str, params: dict[str, Any], after: dict[str, Any] | None
) -> None:
    req = request(action=action, params=params, before={"status": "enabled"}, after=after)
    message = render_change_request(req, now=NOW)
    assert_within_limits([message])
    approve, deny = buttons(message)
    assert approve["confirm"]["style"] == "danger"
    assert approve["confirm"]["title"]["text"] == "Approve this change?"
    assert "confirm" not in deny


@pytest.mark.parametrize(
    "params", [{"key_id": "tok_1", "status": "enabled"}, {"key_id": "tok_1", "name": "New"}]
)
def test_enabling_or_renaming_a_key_needs_no_confirmation(params: dict[str, Any]) -> None:
    req = request(action="keys.update", params=params)
    approve, _ = buttons(render_change_request(req, now=NOW))
    assert "confirm" not in approve


def test_enabling_a_webhook_needs_no_confirmation() -> None:
    req = request(action="webhooks.update", params={"webhook_id": "wh_1", "status": "enabled"})
    approve, _ = buttons(render_change_request(req, now=NOW))
    assert "confirm" not in approve


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            {"state": State.APPROVED, "approvals": approved("U0BOB", "U0CAROL")},
            "*Approved* by <@U0BOB>, <@U0CAROL>",
            id="approved says by whom",
        ),
        pytest.param(
            {"state": State.EXECUTING, "approvals": approved("U0BOB", "U0CAROL")},
            "running…",
            id="executing says running",
        ),
        pytest.param(
            {
                "state": State.SUCCEEDED,
                "approvals": approved("U0BOB", "U0CAROL"),
                "finished_at": NOW,
                "result": {"id": "ae_1", "name": "Staging EU"},
            },
            "Result: id: ae_1 · name: Staging EU",
            id="succeeded shows the result",
        ),
        pytest.param(
            {
                "state": State.FAILED,
                "approvals": approved("U0BOB", "U0CAROL"),
                "error": "Name &lt;taken&gt; &amp; used",
                "error_code": "general.conflict",
                "correlation_id": "fp-42abc",
            },
            "Error: Name &lt;taken&gt; &amp; used (`general.conflict`)\nCorrelation id: `fp-42abc`",
            id="failed shows the error and correlation id",
        ),
        pytest.param(
            {"state": State.DENIED, "decided_by": "U0DAVE", "decided_at": NOW},
            "*Denied* by <@U0DAVE>",
            id="denied says by whom",
        ),
        pytest.param({"state": State.EXPIRED}, "*Expired*", id="expired says expired"),
        pytest.param(
            {"state": State.PENDING, "expires_at": NOW - timedelta(seconds=1)},
            "*Expired*",
            id="pending past its expiry already reads expired",
        ),
    ],
)
def test_a_request_that_can_no_longer_be_approved_has_no_buttons_and_says_why(
    changes: dict[str, Any], expected: str
) -> None:
    req = request(**changes)
    message = render_change_request(req, now=NOW)
    assert_within_limits([message])
    assert buttons(message) == []
    assert expected in status(req)


def test_an_expired_request_never_says_denied() -> None:
    for req in (request(state=State.EXPIRED), request(expires_at=NOW)):
        rendered = [render_change_request(req, now=NOW), render_request_result(req)]
        assert "denied" not in visible_text(rendered).lower()
        assert "expired" in visible_text(rendered).lower()


def test_create_shows_what_will_exist_and_delete_what_goes_away() -> None:
    created = request(action="envs.create", before=None, after={"name": "New & <shiny>"})
    assert "*name*\nNew &amp; &lt;shiny&gt;" in visible_text(
        [render_change_request(created, now=NOW)]
    )
    deleted = request(action="envs.delete", before={"name": "Old"}, after=None)
    shown = visible_text([render_change_request(deleted, now=NOW)])
    assert "*name*\nOld" in shown and "~Old~" not in shown  # no strike-through to misread
    assert ":warning: *Risk:* it cannot be undone." in shown


def test_secret_fields_in_before_after_or_result_are_never_shown() -> None:
    req = request(
        state=State.SUCCEEDED,
        before=None,
        after={"name": "k", "token": "sk_SECRET1"},
        result={"id": "tok_9", "signing_key": "whsec_SECRET2"},
    )
    rendered = [render_change_request(req, now=NOW), render_request_result(req)]
    assert "SECRET" not in visible_text(rendered)


def test_huge_values_and_summaries_stay_within_limits() -> None:
    wide = {f"field_{i}": "&<>" * 400 for i in range(15)}
    req = request(summary="&<>" * 2000, before=None, after=wide, error="<" * 5000)
    for state in State:
        message = render_change_request(replace(req, state=state), now=NOW)
        assert_within_limits([message, render_request_result(replace(req, state=state))])
    assert "… and 5 more fields" in visible_text([render_change_request(req, now=NOW)])


def test_summary_and_error_are_shown_as_the_mrkdwn_fpbot_wrote_them() -> None:
    # bot.changes.actions escapes the names inside a summary once; escaping it again would
    # show "&amp;" in Slack for "&".
    summary = 'Create environment *R&amp;D &lt;EU&gt; "Bob\'s"*'
    error = "Creating environment *R&amp;D* failed: nope (`general.conflict`)."
    pending = request(summary=summary, action="envs.delete")
    failed = request(summary=summary, state=State.FAILED, error=error)
    rendered = [
        render_change_request(pending, now=NOW),
        render_change_request(failed, now=NOW),
        render_request_result(failed),
        render_request_created(pending),
    ]
    text = visible_text(rendered)
    assert text.count(summary) >= 5  # both messages, their fallbacks, result, receipt, dialog
    assert error in status(failed) and error in render_request_result(failed).text
    assert "&amp;amp;" not in text and "&amp;lt;" not in text


def test_a_reconciled_verdict_in_the_result_is_not_escaped_again() -> None:
    verdict = "Created environment *R&amp;D* (`ae_9`)."
    req = request(state=State.SUCCEEDED, result={"reconciled": verdict})
    assert f"reconciled: {verdict}" in render_request_result(req).text
    assert f"reconciled: {verdict}" in status(req)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"state": State.SUCCEEDED, "result": {"id": "ae_9"}}, "succeeded.\nResult: id: ae_9"),
        (
            {"state": State.FAILED, "error": "boom", "correlation_id": "fp-1"},
            "failed: boom\nCorrelation id: `fp-1`",
        ),
        ({"state": State.DENIED, "decided_by": "U0DAVE"}, "was denied by <@U0DAVE>"),
        ({"state": State.EXPIRED}, "expired"),
    ],
)
def test_the_requester_is_told_the_outcome(changes: dict[str, Any], expected: str) -> None:
    message = render_request_result(request(**changes))
    assert_within_limits([message])
    assert "`CR-7K2M9Q`" in message.text
    assert expected in message.text


def test_the_requester_gets_a_receipt_with_the_request_id() -> None:
    message = render_request_created(request())
    assert_within_limits([message])
    assert "Request `CR-7K2M9Q` created" in message.text
    assert "It needs 2 approvals in <#C0APPROVALS>" in visible_text([message])
    assert [(b["action_id"], b["value"]) for b in buttons(message)] == [
        ("cancel_request", "CR-7K2M9Q")
    ]


_values = st.dictionaries(
    st.text(min_size=1, max_size=40), st.text(max_size=600) | st.none(), max_size=14
)


@settings(max_examples=80, deadline=None)
@given(
    summary=st.text(max_size=3000),
    before=st.none() | _values,
    after=st.none() | _values,
    state=st.sampled_from(State),
    error=st.none() | st.text(max_size=3000),
)
def test_any_request_renders_within_limits_with_buttons_only_while_pending(
    summary: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    state: State,
    error: str | None,
) -> None:
    req = request(summary=summary, before=before, after=after, state=state, error=error)
    message = render_change_request(req, now=NOW)
    assert_within_limits([message, render_request_result(req), render_request_created(req)])
    assert bool(buttons(message)) == (state is State.PENDING)
