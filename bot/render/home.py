"""App Home: what waits for me, what I asked for, and the account at a glance.

The same Approve, Deny and Withdraw buttons as on the cards and receipts (the same action ids,
the request id as their value), so a decision taken here is the same decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain import ChangeRequest
from bot.render import ids
from bot.render.approvals import decision_buttons, status_line
from bot.render.blocks import (
    Block,
    actions,
    button,
    context,
    date,
    divider,
    header,
    home,
    mention,
    one_line,
    people,
    section,
)
from bot.render.grace import grace_blocks
from bot.render.replies import plural

#: Requests shown in each part of the tab (each takes two or three of its 100 blocks).
SHOWN = 12


@dataclass(frozen=True, slots=True)
class Glance:
    """The account's counts against its plan's limits (``None``: could not be read now)."""

    environments: int | None
    keys: int | None
    key_limit: int
    webhooks: int | None
    webhook_limit: int


def _count(count: int | None, limit: int | None = None) -> str:
    """ "7/10" against the default plan's limit; an account past it is on a larger plan."""
    if count is None:
        return "—"
    if limit is None:
        return str(count)
    return f"{count}/{limit}" if count <= limit else f"{count} (the default plan allows {limit})"


def _request_line(req: ChangeRequest, *, by: bool) -> str:
    who = f" — by {mention(req.requester)}" if by else ""
    reason = f"\n_Why:_ {one_line(req.reason, 300)}" if req.reason else ""
    return f"*{req.id}* {one_line(req.summary, 900)}{who}{reason}"


def render_home(
    user_id: str,
    *,
    waiting: Sequence[ChangeRequest],
    mine: Sequence[ChangeRequest],
    glance: Glance | None,
    now: datetime,
    can_approve: bool,
) -> dict[str, Any]:
    """The App Home view of ``user_id``."""
    blocks: list[Block] = [header("fpbot — Fingerprint changes")]
    if can_approve:
        blocks.append(header(f"Waiting for you ({len(waiting)})"))
        if not waiting:
            blocks.append(context("Nothing waits for your approval."))
        for req in waiting[:SHOWN]:
            blocks.append(section(_request_line(req, by=True)))
            missing = req.approvals_missing
            blocks.append(
                context(
                    f"Needs {plural(missing, 'more approval')} · expires {date(req.expires_at)}"
                )
            )
            blocks.append(decision_buttons(req, block_id=None))
        if len(waiting) > SHOWN:
            blocks.append(context(f"… and {len(waiting) - SHOWN} more: `/fp requests`"))
        blocks.append(divider())
    blocks.append(header(f"Your requests ({len(mine)})"))
    if not mine:
        blocks.append(context("You have no change requests. `/fp new` asks for one."))
    for req in mine[:SHOWN]:
        blocks.append(section(_request_line(req, by=False)))
        blocks.append(context(one_line(status_line(req, now), 600)))
        if req.state.value == "pending":
            blocks.append(actions(button("Withdraw", action_id=ids.CANCEL, value=req.id)))
        elif req.grace_state is not None and req.grace_state.is_open:
            blocks.extend(grace_blocks(req, block_id=None))
    blocks.append(divider())
    blocks.append(header("The account at a glance"))
    if glance is None:
        blocks.append(context("The Management API could not be read just now."))
    else:
        blocks.append(
            section(
                fields=[
                    f"*Environments*\n{_count(glance.environments)}",
                    f"*API keys*\n{_count(glance.keys, glance.key_limit)}",
                    f"*Webhooks*\n{_count(glance.webhooks, glance.webhook_limit)}",
                ]
            )
        )
    blocks.append(context(f"Updated {date(now)} · `/fp help` lists the commands."))
    return home(blocks)


def render_home_without_role(admins: Sequence[str]) -> dict[str, Any]:
    """The tab of someone fpbot's policy grants nothing: how to get a role, nothing else."""
    who = f"an fpbot admin ({people(admins)})" if admins else "an fpbot admin"
    return home(
        [
            header("fpbot — Fingerprint changes"),
            section(
                "fpbot lets your team ask for Fingerprint changes and approve them here in "
                f"Slack. You have no role in it yet: ask {who} to grant you one."
            ),
        ]
    )
