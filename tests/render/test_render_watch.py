"""What the watch, the digest, the audit stories and the incidents say, and that the biggest of
them still fit in one Slack message."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.domain import AuditEvent, ChangeRequest, State
from bot.domain.account import (
    AccountChange,
    ChangeKind,
    Decision,
    FieldChange,
    LoggedChange,
    Resource,
    Source,
)
from bot.domain.incidents import Cause
from bot.render import ids
from bot.render.audit import render_audit_stories
from bot.render.digest import DigestView, render_digest, waited
from bot.render.incidents import IncidentView, render_incident
from bot.render.watch import cannot_undo, render_change_log, render_outside_changes
from tests.render.render_checks import assert_within_limits, buttons, visible_text

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def logged(n: int, change: AccountChange, **extra: object) -> LoggedChange:
    return LoggedChange(id=n, at=T0, source=Source.OUTSIDE, change=change, found_in=1, **extra)  # type: ignore[arg-type]


RENAME = AccountChange(
    Resource.ENVIRONMENT,
    "ae_1",
    "Prod <EU>",
    "ae_1",
    ChangeKind.UPDATED,
    (FieldChange("name", "Production", "Prod <EU>"), FieldChange("description", None, "x")),
)
DELETED = AccountChange(
    Resource.API_KEY,
    "tok_1",
    "Old",
    "ae_1",
    ChangeKind.DELETED,
    (FieldChange("name", "Old", None),),
)


def test_an_outside_change_shows_each_field_before_and_after_with_its_buttons() -> None:
    message = render_outside_changes([logged(7, RENAME)], undoable={7: frozenset({"name"})})
    text = visible_text([message])
    assert "outside fpbot" in text and "`ae_1`" in text and "*Prod &lt;EU&gt;*" in text
    assert "name: `Production` → `Prod &lt;EU&gt;`" in text
    assert "description: _(none)_ → `x`" in text
    assert "no command to set description back" in text
    assert [b["action_id"] for b in buttons(message)] == [
        ids.OUTSIDE_ACK,
        ids.OUTSIDE_REVERT,
        ids.OUTSIDE_KEEP,
    ]
    assert {b["value"] for b in buttons(message)} == {"7"}
    assert "name Production → Prod &lt;EU&gt;" in message.text


def test_a_deletion_says_it_cannot_be_undone_and_offers_no_revert() -> None:
    message = render_outside_changes([logged(1, DELETED)], undoable={1: frozenset()})
    assert "cannot bring a deleted api key back" in visible_text([message])
    assert ids.OUTSIDE_REVERT not in [b["action_id"] for b in buttons(message)]
    assert cannot_undo(DELETED, frozenset()) is not None


def test_a_decided_change_says_who_and_loses_its_buttons() -> None:
    kept = logged(1, RENAME, decision=Decision.KEPT, decided_by="U0OPS", decided_at=T0)
    acked = logged(2, RENAME, decision=Decision.ACKNOWLEDGED, decided_by="U0OPS", decided_at=T0)
    message = render_outside_changes([kept, acked], undoable={1: frozenset({"name"})})
    assert "Kept by <@U0OPS>" in visible_text([message])
    assert [b["value"] for b in buttons(message)] == ["2"], "acknowledged: Keep still open"


def test_many_outside_changes_fit_one_message_and_the_rest_are_counted() -> None:
    many = [logged(n, RENAME) for n in range(60)]
    message = render_outside_changes(many, undoable={n: frozenset({"name"}) for n in range(60)})
    assert_within_limits([message])
    assert "… and 48 more" in visible_text([message])


def test_the_change_log_names_who_changed_what_and_fits() -> None:
    own = LoggedChange(
        id=1,
        at=T0,
        source=Source.FPBOT,
        change=RENAME,
        request_id="CR-ABCDEF",
        actor="U0OPERATOR",
    )
    message = render_change_log([own, logged(2, DELETED)] * 60)
    text = visible_text([message])
    assert "by fpbot (`CR-ABCDEF`, asked by <@U0OPERATOR>)" in text
    assert "*outside fpbot*" in text
    assert_within_limits([message])
    assert "No changes in the log" in render_change_log([]).text


def request(n: int, created: datetime) -> ChangeRequest:
    return ChangeRequest(
        id=f"CR-00000{n}",
        action="envs.create",
        params={},
        summary=f"Create environment *E{n}*",
        requester="U0OPERATOR",
        channel_id="C0OPS",
        state=State.PENDING,
        required_approvals=2,
        created_at=created,
        expires_at=created + timedelta(days=1),
    )


def digest(**changes: object) -> DigestView:
    base = DigestView(
        now=T0,
        environments=1000,
        keys=10,
        key_limit=10,
        webhooks=2,
        webhook_limit=5,
        rules=None,
        rule_limit=15,
        rules_note="not counted: API version 2024-05-20 has origin lists per environment",
        disabled_keys=[("tok_1", "Old")],
        unverified_webhooks=[("wh_1", "https://example.com/h")],
        pending=[request(1, T0 - timedelta(hours=3, minutes=20))],
        changes=[logged(1, RENAME)],
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_the_digest_counts_against_limits_and_says_what_it_could_not_count() -> None:
    text = visible_text([render_digest(digest())])
    assert "*API keys*\n10/10 :warning:" in text and "*Webhooks*\n2/5" in text
    assert "*Filtering rules*\n—" in text and "not counted" in text
    assert "`tok_1` Old" in text and "`wh_1`" in text
    assert "waiting 3 h 20 min" in text and "(0 of 2 approvals)" in text
    assert "1 changes* (0 by fpbot, 1 outside it)" in text


def test_a_long_digest_fits_one_message() -> None:
    view = digest(
        pending=[request(n, T0 - timedelta(days=n)) for n in range(80)],
        changes=[logged(n, RENAME) for n in range(200)],
        disabled_keys=[(f"tok_{n}", "x" * 200) for n in range(50)],
    )
    message = render_digest(view)
    assert_within_limits([message])
    assert "more requests" in visible_text([message]) and "more changes" in visible_text([message])


def test_waiting_times_read_as_people_say_them() -> None:
    assert waited(timedelta(minutes=12)) == "12 min"
    assert waited(timedelta(hours=3, minutes=20)) == "3 h 20 min"
    assert waited(timedelta(days=2, hours=3)) == "2 d 3 h"


def test_an_audit_story_is_one_line_from_request_to_outcome() -> None:
    def event(kind: str, actor: str, minutes: int, detail: str = "") -> AuditEvent:
        return AuditEvent(T0 + timedelta(minutes=minutes), kind, actor, "CR-ABCDEF", detail)

    story = [
        event("requested", "U0OP", 0, "Rename *A* — because"),
        event("refused", "U0VIEW", 1, "no"),
        event("approval", "U0AP1", 2, "1/2"),
        event("approval", "U0AP2", 3, "2/2"),
        event("approved", "U0AP2", 3),
        event("executing", "fpbot", 3),
        event("succeeded", "fpbot", 4),
    ]
    text = visible_text([render_audit_stories([story])])
    (line,) = [line for line in text.splitlines() if "CR-ABCDEF" in line]
    assert "Rename *A* — asked by <@U0OP>" in line and "because" not in line
    assert "approved by <@U0AP1>, <@U0AP2>" in line and "*succeeded*" in line
    assert "1 click refused (<@U0VIEW>)" in line
    many = render_audit_stories([story] * 100)
    assert_within_limits([many])


def test_an_incident_carries_the_fix_and_on_call_until_resolved() -> None:
    view = IncidentView(
        Cause.KEY_REJECTED,
        3,
        T0,
        T0,
        ["/fp envs", "/fp keys"],
        ["U0A", "U0B"],
        "general.unauthorized",
        "fp-1",
        "HTTP 401",
    )
    open_text = visible_text([render_incident(view, oncall="S0ONCALL")])
    assert "FP_MANAGEMENT_API_KEY" in open_text and "<!subteam^S0ONCALL>" in open_text
    resolved = render_incident(
        replace(view, resolved_at=T0 + timedelta(minutes=5)),
        oncall="S0ONCALL",
    )
    text = visible_text([resolved])
    assert "Resolved at" in text and "FP_MANAGEMENT_API_KEY" not in text and "S0ONCALL" not in text
    many = replace(view, operations=[f"/fp x{n}" for n in range(50)])
    assert_within_limits([render_incident(many)])


RULE_OFF = AccountChange(
    Resource.FILTERING_RULE,
    "tr_1",
    "Block bad IPs",
    "ae_1",
    ChangeKind.UPDATED,
    (FieldChange("status", "enabled", "disabled"),),
)
KEY_ROTATED = AccountChange(
    Resource.ENCRYPTION_KEY,
    "tok_e1",
    "Sealed",
    "ae_1",
    ChangeKind.UPDATED,
    (FieldChange("last_rotated", None, "2026-12-01 09:05:00 UTC"),),
)
SUBDOMAIN = AccountChange(
    Resource.SUBDOMAIN,
    "certv2_1",
    "metrics.example.com",
    None,
    ChangeKind.CREATED,
    (FieldChange("hostname", None, "metrics.example.com"),),
)


def test_rules_encryption_keys_and_subdomains_read_naturally() -> None:
    message = render_outside_changes(
        [logged(1, RULE_OFF), logged(2, KEY_ROTATED), logged(3, SUBDOMAIN)],
        undoable={1: frozenset({"status"}), 2: frozenset(), 3: frozenset({"*"})},
    )
    text = visible_text([message])
    assert "*Filtering rule* `tr_1` *Block bad IPs* updated outside fpbot" in text
    assert "status: `enabled` → `disabled`" in text
    assert "*Encryption key* `tok_e1` *Sealed* updated outside fpbot" in text
    assert "last rotated: _(none)_ → `2026-12-01 09:05:00 UTC`" in text
    assert "no command to set last rotated back" in text
    assert "*Subdomain* `metrics.example.com` (`certv2_1`) created outside fpbot" in text
    assert "hostname" not in text, "the hostname is said once, as its name"
    assert [b["value"] for b in buttons(message) if b["action_id"] == ids.OUTSIDE_REVERT] == [
        "1",
        "3",
    ]
    assert "filtering rule tr_1 “Block bad IPs” updated: status enabled → disabled" in message.text
    assert_within_limits([message])


def test_the_change_log_says_what_fpbot_set_on_a_rule_without_inventing_what_was_there() -> None:
    own = LoggedChange(
        id=1,
        at=T0,
        source=Source.FPBOT,
        change=replace(RULE_OFF, fields=(FieldChange("status", None, "disabled"),)),
        request_id="CR-ABCDEF",
    )
    text = visible_text([render_change_log([own, logged(2, SUBDOMAIN)])])
    assert "*Filtering rule* `tr_1` *Block bad IPs* updated by fpbot" in text
    assert "status set to `disabled`" in text and "_(none)_" not in text
    assert "*Subdomain* `metrics.example.com` (`certv2_1`) created *outside fpbot*" in text
