"""Custom subdomains (``2025-11-20``), as rules over the `Workspace`.

Create answers 201 with the DNS records to set up and ``webhook_secret`` (only then). The
errors are those Fingerprint's CLI expects: 422 ``validation.failed`` on ``subdomain``, 409
"Subdomain already exists", the plan limit "Max limit for subdomains reached: 50" (400 or 409
by the fault knob), and 503 when the feature is disabled (a knob of the HTTP layer).

``verify`` is not documented beyond its answer; the stand-in infers: a host under
``.invalid`` (RFC 2606) never resolves, so its records stay ``pending_validation``; any other
host's records become ``validated`` and the subdomain ``active``. A ``timed_out`` or
``failed`` subdomain stays so: delete and recreate it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sandbox.fingerprint.state import (
    Checker,
    DnsRecord,
    PlanLimitError,
    Subdomain,
    Workspace,
    conflict,
    not_found,
)

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
#: At least three labels: a subdomain of a domain the customer owns.
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL}){{2,}}")


def normalize(hostname: str) -> str:
    return hostname.strip().rstrip(".").lower()


def list_subdomains(workspace: Workspace) -> list[Subdomain]:
    return list(workspace.subdomains.values())


def get_subdomain(workspace: Workspace, subdomain_id: str) -> Subdomain:
    subdomain = workspace.subdomains.get(subdomain_id)
    if subdomain is None:
        raise not_found(f"Subdomain {subdomain_id} not found")
    return subdomain


def create_subdomain(workspace: Workspace, body: Mapping[str, Any]) -> Subdomain:
    check = Checker(body)
    raw = check.text("subdomain", required=True, low=1, high=253, nullable=False)
    hostname = normalize(raw) if raw is not None else None
    if hostname is not None and not _HOSTNAME.fullmatch(hostname):
        check.fail("subdomain", f"{raw} is not a valid hostname")
    check.done()
    assert hostname is not None
    if any(s.subdomain == hostname for s in workspace.subdomains.values()):
        raise conflict("Subdomain already exists")
    if len(workspace.subdomains) >= workspace.limits.subdomains:
        raise PlanLimitError(f"Max limit for subdomains reached: {workspace.limits.subdomains}")
    now = workspace.clock()
    subdomain = Subdomain(
        id=workspace.new_id("certv2_", workspace.subdomains, 14),
        subdomain=hostname,
        created_at=now,
        updated_at=now,
        verification=DnsRecord("CNAME", f"_acme-challenge.{hostname}", "validation.fpjs.io"),
        routing=[DnsRecord("A", hostname, "1.2.3.4")],
        caa=DnsRecord("CAA", hostname, '0 issue "pki.goog"'),
        webhook_secret=workspace.new_secret(32),
        seq=workspace.next_seq(),
    )
    workspace.subdomains[subdomain.id] = subdomain
    return subdomain


def verify_subdomain(workspace: Workspace, subdomain_id: str) -> Subdomain:
    subdomain = get_subdomain(workspace, subdomain_id)
    if subdomain.status in ("timed_out", "failed") or subdomain.subdomain.endswith(".invalid"):
        return subdomain
    for record in (subdomain.verification, *subdomain.routing, subdomain.caa):
        if record is not None:
            record.status = "validated"
    subdomain.status = "active"
    subdomain.updated_at = workspace.clock()
    return subdomain


def delete_subdomain(workspace: Workspace, subdomain_id: str) -> None:
    get_subdomain(workspace, subdomain_id)
    del workspace.subdomains[subdomain_id]
