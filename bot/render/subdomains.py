"""Custom subdomains as people read them: the listing, the DNS records to create (the
instructions the requester gets by direct message), and what fpbot says about a change."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.fingerprint.limits import PLAN_LIMITS
from bot.fingerprint.models import DnsRecord, Subdomain, SubdomainStatus
from bot.render.blocks import Block, Message, code, context, date, fallback, header, section
from bot.render.listings import Menus, empty_listing, join_parts, row_menu, with_menus

CHECK = "`/fp subdomains`"
AFTER_CHECK = "as the check finds it"

_STATUS = {
    SubdomainStatus.PENDING: ":hourglass_flowing_sand: pending",
    SubdomainStatus.ACTIVE: ":white_check_mark: active",
    SubdomainStatus.TIMED_OUT: ":warning: timed out (delete it and create it again)",
    SubdomainStatus.FAILED: ":x: failed (contact Fingerprint support)",
}


def status_text(status: SubdomainStatus | None) -> str:
    return _STATUS.get(status, "unknown") if status is not None else "unknown"


def _menu(subdomain: Subdomain, allowed: Menus) -> dict[str, Any] | None:
    verify = (
        []
        if subdomain.status is SubdomainStatus.ACTIVE
        else [("Verify", "VerifySubdomain", f"VerifySubdomain:{subdomain.id}")]
    )
    return row_menu(
        [*verify, ("Delete", "DeleteSubdomain", f"DeleteSubdomain:{subdomain.id}")], allowed
    )


def render_subdomains(
    subdomains: Sequence[Subdomain], *, menus: Menus = frozenset()
) -> list[Message]:
    """Every custom subdomain, by hostname, with its status.

    Args:
        menus: the changes (command class names) the rows' ⋯ menus may offer.
    """
    if not subdomains:
        return empty_listing("No custom subdomains in this workspace.")
    ordered = sorted(subdomains, key=lambda s: (s.subdomain, s.id))
    lines = [
        "• "
        + join_parts(
            [
                code(s.subdomain or s.id, 300),
                code(s.id),
                status_text(s.status),
                f"created {date(s.created_at, time=False)}" if s.created_at else None,
            ]
        )
        for s in ordered
    ]
    intro = [context(f"{len(subdomains)} of {PLAN_LIMITS.subdomains} the plan allows.")]
    return with_menus(
        f"Custom subdomains ({len(subdomains)})", lines, [_menu(s, menus) for s in ordered], intro
    )


def _record(record: DnsRecord) -> str:
    state = f" — {record.status}" if record.status else ""
    return f"• {code(record.type)} {code(record.host)} → {code(record.value)}{state}"


def instructions(subdomain: Subdomain) -> str:
    """The DNS records the subdomain needs and where each stands, and what to do next."""
    lines = [f"*DNS records for {code(subdomain.subdomain)}* ({status_text(subdomain.status)})"]
    records = subdomain.dns_records
    if records is not None:
        if records.verification is not None:
            lines += ["Verification (certificate):", _record(records.verification)]
        if records.routing:
            lines += ["Routing:", *(_record(r) for r in records.routing)]
        if records.caa is not None:
            lines += ["CAA:", _record(records.caa)]
    else:
        lines.append("Fingerprint sent no DNS records yet.")
    if subdomain.status is SubdomainStatus.ACTIVE:
        lines.append("Fingerprint is serving from this subdomain.")
    elif subdomain.status is SubdomainStatus.PENDING:
        lines.append(
            "Create the records marked pending at your DNS provider, then ask for a check "
            f"with {code('/fp subdomains verify ' + subdomain.id)}."
        )
    return "\n".join(lines)


def render_instructions(text: str) -> Message:
    """The direct message that carries a subdomain's DNS instructions."""
    blocks: list[Block] = [header("Custom subdomain: DNS records"), section(text)]
    return Message(text=fallback("DNS records for your custom subdomain"), blocks=blocks)


def no_subdomain(ref: str) -> str:
    return f"No custom subdomain {code(ref)}."


def gone(subdomain_id: str) -> str:
    return f"Subdomain {code(subdomain_id)} no longer exists."


def taken(hostname: str, subdomain_id: str) -> str:
    return f"{code(hostname)} is already a custom subdomain ({code(subdomain_id)})."


def plan_limit(limit: int) -> str:
    return f"The workspace has {limit} custom subdomains, as many as the plan allows."


def create(hostname: str) -> str:
    return f"Serve Fingerprint from the custom subdomain {code(hostname)}"


def creating_failed(hostname: str) -> str:
    return f"Creating the subdomain {code(hostname)} failed"


def created(hostname: str, subdomain_id: str, *, secret_sent: bool | None) -> str:
    secret = ""
    if secret_sent is True:
        secret = " Its webhook secret was sent to you by direct message."
    elif secret_sent is False:
        secret = " Its webhook secret could not be sent to you and cannot be shown again."
    return (
        f"Created subdomain {code(hostname)} ({code(subdomain_id)}); the DNS records to "
        f"create were sent to you by direct message.{secret}"
    )


def created_looked_up(hostname: str, subdomain_id: str) -> str:
    return (
        f"Subdomain {code(hostname)} ({code(subdomain_id)}) was created; ask for a check "
        f"with {code('/fp subdomains verify ' + subdomain_id)} to get its DNS records."
    )


def already_active(hostname: str, subdomain_id: str) -> str:
    return f"Subdomain {code(hostname)} ({code(subdomain_id)}) is already active."


def verify(hostname: str, subdomain_id: str) -> str:
    return f"Check the DNS records of subdomain {code(hostname)} ({code(subdomain_id)})"


def verifying_failed(subdomain_id: str) -> str:
    return f"Checking subdomain {code(subdomain_id)} failed"


def verified(hostname: str, subdomain_id: str, status: SubdomainStatus | None) -> str:
    return (
        f"Checked subdomain {code(hostname)} ({code(subdomain_id)}): {status_text(status)}; "
        "the records' state was sent to you by direct message."
    )


def delete(hostname: str, subdomain_id: str) -> str:
    return f"Delete subdomain {code(hostname)} ({code(subdomain_id)}) and revoke its certificate"


def deleting_failed(subdomain_id: str) -> str:
    return f"Deleting subdomain {code(subdomain_id)} failed"


def deleted(hostname: str, subdomain_id: str) -> str:
    return f"Deleted subdomain {code(hostname)} ({code(subdomain_id)})."
