"""Ephemeral replies, errors, the audit trail, the secret DM and failure notifications."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain import AuditEvent, ChangeRequest, State
from bot.fingerprint.errors import (
    FingerprintError,
    Forbidden,
    RateLimited,
    Unauthorized,
    ValidationFailed,
    Violation,
)
from bot.render import (
    render_audit,
    render_error,
    render_help,
    render_notification,
    render_refusal,
    render_requests,
    render_secret_delivery,
    render_usage_error,
    render_whoami,
)
from tests.render.render_checks import assert_within_limits, visible_text

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def test_help_lists_the_given_commands_in_order() -> None:
    message = render_help([("/fp envs", "list environments"), ("/fp keys", "list <keys> & more")])
    assert_within_limits([message])
    text = visible_text([message])
    assert "• `/fp envs` — list environments\n• `/fp keys` — list &lt;keys&gt; &amp; more" in text


def test_help_without_commands_says_how_to_get_some() -> None:
    assert "Ask an admin" in render_help([]).text


def test_help_with_a_note_shows_it_after_the_commands_or_instead_of_asking_an_admin() -> None:
    note = "Your other commands work only in <#C0OPS>."
    message = render_help([("/fp help", "help")], elsewhere={"C0OPS"})
    assert_within_limits([message])
    assert message.blocks[-1]["elements"][0]["text"] == note
    alone = render_help([], elsewhere={"C0OPS"})
    assert note in visible_text([alone]) and "Ask an admin" not in visible_text([alone])


def test_whoami_shows_roles_and_permissions_or_the_default_deny() -> None:
    message = render_whoami("U0123ALICE", ["operator", "viewer"], ["envs.list", "keys.list"])
    assert "<@U0123ALICE>" in message.text
    assert "*Roles:* operator, viewer" in message.text
    assert "`envs.list`, `keys.list`" in message.text
    assert "denies everything" in render_whoami("U0NOBODY", [], []).text


def test_help_tells_requesters_about_forms_and_reasons_and_approvers_how_to_approve() -> None:
    entries = [("/fp envs rename <env_id> <new name>", "Ask to rename an environment")]
    requester = visible_text([render_help(entries, changes=True)])
    assert "`/fp new`" in requester and "exact name" in requester and "--reason" in requester
    assert "approve or deny" not in requester
    approver = visible_text([render_help(entries, approves_in="C0APPROVALS")])
    assert "buttons on a request's card in <#C0APPROVALS>" in approver
    assert "`/fp requests`" in approver and "Home tab" in approver
    strict = visible_text([render_help(entries, changes=True, reason_required=True)])
    assert "Every change needs `--reason <text>`" in strict


def test_help_and_whoami_name_the_admins_to_ask() -> None:
    assert "Ask an fpbot admin (<@U0ADMIN>)" in render_help([], admins=["U0ADMIN"]).text
    assert (
        "*fpbot admins:* <@U0ADMIN>, <!subteam^S0OPS>"
        in render_whoami("U0X", [], [], admins=["U0ADMIN", "S0OPS"]).text
    )
    assert "not named in the policy" in render_whoami("U0X", [], []).text


def test_usage_error_says_what_was_wrong_and_the_usage() -> None:
    message = render_usage_error('unbalanced quote in "Staging', "/fp envs create <name>")
    assert message.text == (
        ':warning: unbalanced quote in "Staging\nUsage: `/fp envs create &lt;name&gt;`'
    )


def test_refusal_takes_mrkdwn_so_channel_links_stay_links_and_nothing_is_escaped_twice() -> None:
    assert render_refusal("fpbot commands can only be used in <#C0OPS>.").text == (
        ":no_entry: fpbot commands can only be used in <#C0OPS>."
    )
    assert render_refusal("Environment *R&amp;D* is already named so.").text == (
        ":no_entry: Environment *R&amp;D* is already named so."
    )


def test_usage_error_shows_each_form_of_a_command_group_on_its_own_line() -> None:
    message = render_usage_error("there is no command “envs x”", "/fp envs\n/fp envs delete <id>")
    assert message.text.endswith("Usage:\n`/fp envs`\n`/fp envs delete &lt;id&gt;`")


def test_error_shows_summary_message_violations_and_correlation_id() -> None:
    err = ValidationFailed(
        "Request body <invalid>",
        status=422,
        code="validation.failed",
        violations=(Violation("name", "must be 3 & more chars"), Violation("type", "bad")),
        correlation_id="fp-7f3a",
    )
    message = render_error(err, what="create the environment")
    assert_within_limits([message])
    text = visible_text([message])
    assert "Could not create the environment: Fingerprint refused the values given." in text
    assert "> Request body &lt;invalid&gt;" in text
    assert "• `name`: must be 3 &amp; more chars" in text
    assert "• `type`: bad" in text
    assert "Correlation id: `fp-7f3a`" in text
    assert "`validation.failed`" in text
    assert "Traceback" not in text
    assert "fp-7f3a" in message.text


@pytest.mark.parametrize("error_type", [Unauthorized, Forbidden])
def test_a_rejected_management_key_says_an_admin_must_fix_it(
    error_type: type[FingerprintError],
) -> None:
    err = error_type("Invalid API key", status=401 if error_type is Unauthorized else 403)
    text = visible_text([render_error(err, what="list environments")])
    assert "rejected fpbot's Management API key (revoked or wrong)" in text
    assert "An admin must" in text


def test_an_error_with_a_403_status_is_an_auth_error_whatever_its_class() -> None:
    err = FingerprintError("nope", status=403)
    assert "An admin must" in visible_text([render_error(err, what="list keys")])


def test_many_violations_are_counted_not_listed_forever() -> None:
    err = ValidationFailed(
        "bad", violations=tuple(Violation(f"f{i}", "x" * 500) for i in range(40))
    )
    message = render_error(err, what="update the key")
    assert_within_limits([message])
    assert "… and 30 more problems" in visible_text([message])


def test_rate_limited_error_says_when_to_retry() -> None:
    err = RateLimited("slow down", status=429, retry_after=7)
    assert "Try again in 7 seconds." in visible_text([render_error(err, what="list keys")])


def test_a_rate_limit_is_fpbots_key_not_the_person_who_asked_once() -> None:
    err = RateLimited("You are sending too many requests", status=429, code="rate-limit.exceeded")
    text = visible_text([render_error(err, what="list keys")])
    assert "You are sending" not in text, "the person sent one command"
    assert "fpbot's key" in text and "everyone" in text


def _request(i: int, **changes: object) -> ChangeRequest:
    values: dict[str, object] = {
        "id": f"CR-{i:06d}",
        "action": "envs.create",
        "params": {},
        "summary": f"Create environment *Env {i}*",
        "requester": "U0ALICE",
        "channel_id": "C0OPS",
        "state": State.PENDING,
        "required_approvals": 1,
        "created_at": NOW - timedelta(minutes=1000 - i),
        "expires_at": NOW + timedelta(hours=1),
    }
    values.update(changes)
    return ChangeRequest(**values)  # type: ignore[arg-type]


def test_requests_lists_pending_ones_oldest_first() -> None:
    reqs = [_request(2), _request(1), _request(3, state=State.SUCCEEDED)]
    message = render_requests(reqs, now=NOW)
    assert_within_limits([message])
    text = visible_text([message])
    assert text.index("CR-000001") < text.index("CR-000002")
    assert "CR-000003" not in text
    assert "Pending change requests (2)" in text
    assert "0 of 1 approval ·" in text


def test_no_pending_requests_says_so() -> None:
    assert render_requests([], now=NOW).text == "No pending change requests."


def test_a_long_list_of_requests_stays_one_message_and_counts_the_rest() -> None:
    reqs = [_request(i, summary="&" * 900) for i in range(300)]
    message = render_requests(reqs, now=NOW)
    assert_within_limits([message])
    text = visible_text([message])
    shown = text.count("`CR-")
    assert f"… and {300 - shown} more requests" in text


def _event(i: int, **changes: object) -> AuditEvent:
    values: dict[str, object] = {
        "at": NOW - timedelta(minutes=i),
        "kind": "approved",
        "actor": "U0BOB",
        "request_id": f"CR-{i:06d}",
        "detail": f"event {i} *R&amp;D &lt;b&gt;*",
        "correlation_id": f"fp-{i}",
        "id": 1000 - i,
    }
    values.update(changes)
    return AuditEvent(**values)  # type: ignore[arg-type]


def test_audit_is_newest_first_and_shows_details_escaped_once() -> None:
    # A detail is mrkdwn fpbot wrote (a summary, an execution's message), already escaped.
    message = render_audit([_event(5), _event(1, actor="fpbot"), _event(3)])
    assert_within_limits([message])
    text = visible_text([message])
    assert text.index("CR-000001") < text.index("CR-000003") < text.index("CR-000005")
    assert "event 1 *R&amp;D &lt;b&gt;*" in text
    assert "&amp;amp;" not in text and "&amp;lt;" not in text
    assert "· fpbot ·" in text
    assert "<@U0BOB>" in text


def test_a_long_audit_is_one_message_with_an_and_n_more_line() -> None:
    events = [_event(i, detail="<&>" * 300) for i in range(500)]
    message = render_audit(events)
    assert_within_limits([message])
    text = visible_text([message])
    shown = text.count("`CR-")
    assert 0 < shown < 500
    assert f"… and {500 - shown} more events" in text


def test_an_empty_audit_says_so() -> None:
    assert render_audit([]).text == "No audit events yet."


def test_the_secret_delivery_shows_the_secret_once_and_warns_it_will_not_come_back() -> None:
    message = render_secret_delivery("secret key token", "CI & <deploy>", "tok_9", "sk_live_abc")
    assert_within_limits([message])
    text = visible_text([message])
    assert text.count("sk_live_abc") == 1
    assert "```sk_live_abc```" in text
    assert "only time it will be shown" in text
    assert "CI &amp; &lt;deploy&gt;" in text
    assert "sk_live_abc" not in message.text  # notifications show the fallback


def test_a_single_notification_names_operation_code_and_correlation_id() -> None:
    message = render_notification(
        title="Management API key rejected",
        operation="/fp envs",
        error_code="http.401",
        correlation_id="fp-9",
        detail="Invalid &lt;key&gt; for *R&amp;D*",
        count=1,
        first_at=NOW,
        last_at=NOW,
    )
    assert_within_limits([message])
    text = visible_text([message])
    assert "/fp envs" in text
    assert "`http.401`" in text
    assert "`fp-9`" in text
    assert "> Invalid &lt;key&gt; for *R&amp;D*" in text, "the mrkdwn detail is not re-escaped"
    assert "times" not in text


def test_a_repeated_notification_says_how_many_times_since_when() -> None:
    message = render_notification(
        title="Fingerprint unavailable",
        operation="CR-1",
        error_code="http.503",
        correlation_id="fp-10",
        detail="",
        count=12,
        first_at=NOW - timedelta(minutes=9),
        last_at=NOW,
    )
    assert_within_limits([message])
    first = int((NOW - timedelta(minutes=9)).timestamp())
    assert f"Happened 12 times since <!date^{first}^" in visible_text([message])
    assert "(12 times)" in message.text
