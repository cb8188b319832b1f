"""Failure notifications for the alerts channel.

One message per failure kind (operation + error code); when the same failure repeats within
the grouping window the notifier edits that message with this renderer and a higher count,
so the channel gets a counter instead of a flood.
"""

from __future__ import annotations

from datetime import datetime

from bot.render.blocks import (
    Block,
    Message,
    code,
    context,
    date,
    fallback,
    header,
    inline,
    one_line,
    section,
)

DETAIL_MAX = 2000

# What failed, in a few words: the titles of the alerts fpbot posts.
STORE_UNREACHABLE = "fpbot's database is unreachable"
REQUEST_NOT_POSTED = "A change request could not be posted for approval"
CHANGE_UNFINISHED = "An approved change could not be finished"
CHANGE_FAILED = "An approved change failed"
CHANGE_POSTPONED = "An approved change is waiting: Fingerprint held it back"
CHANGE_RECONCILED = "A change was interrupted by a restart and has been reconciled"
SWEEPER_FAILED = "The change-request sweeper failed"
WATCH_FAILED = "The account watch could not read the account"
DIGEST_FAILED = "The daily digest could not be posted"
GRACE_NOT_ENDED = "A rotation's grace period ended, but the old key could not be disabled yet"


def sweep_step_failed(step: str) -> str:
    """The title for one request the sweeper could not handle (``step``: expire, run…)."""
    return f"The sweeper could not {step} a change request"


def request_not_posted(error: str) -> str:
    """The detail of `REQUEST_NOT_POSTED`: the request is safe, Slack refused the post."""
    return f"The request is stored and pending; Slack said {code(error, 100)}."


def render_notification(
    *,
    title: str,
    operation: str,
    error_code: str,
    correlation_id: str,
    detail: str,
    count: int,
    first_at: datetime,
    last_at: datetime,
    incident: str | None = None,
) -> Message:
    """A failure worth an operator's attention, grouped by operation and error code.

    Args:
        title: what failed, in a few words ("Management API key rejected").
        operation: the command or change request concerned ("/fp envs", "CR-7K2M9Q").
        error_code: the API's code or fpbot's own ("http.503", "transport").
        correlation_id: the id that finds the log lines of the latest occurrence.
        detail: what went wrong, as mrkdwn written by fpbot: outside strings in it (an API
            message, a name) are escaped by its producer, which also scrubs secrets. Shown as
            it is, so a request's summary is not escaped a second time.
        count: how many times it happened in this group; above 1 the message says so.
        first_at: when the group's first occurrence happened.
        last_at: when the latest one happened.
        incident: a link to the incident card of the failure's cause, when it has one (a
            change request that failed because the API key was rejected, say).
    """
    fields = [
        f"*Operation*\n{inline(operation, 500) or '—'}",
        f"*Error code*\n{code(error_code, 200) if error_code else '—'}",
        f"*Correlation id*\n{code(correlation_id, 200) if correlation_id else '—'}",
        f"*When*\n{date(last_at)}",
    ]
    blocks: list[Block] = [header(f":rotating_light: {title}")]
    blocks.append(section(fields=fields))
    if detail.strip():
        blocks.append(section(f"> {one_line(detail, DETAIL_MAX)}"))
    if incident is not None:
        blocks.append(context(f":link: Part of an incident: <{incident}|see its card>."))
    if count > 1:
        blocks.append(
            context(
                f":repeat: Happened {count:,} times since {date(first_at)} "
                f"(latest {date(last_at)})."
            )
        )
    times = f" ({count} times)" if count > 1 else ""
    text = (
        f"fpbot failure: {inline(title, 300)}{times} — "
        f"{inline(operation, 300)}, {inline(error_code, 200)}"
    )
    return Message(text=fallback(text), blocks=blocks)
