"""Stand-in for Fingerprint's Management API, for tests, benchmarks and the local sandbox.

It behaves as the real API does — gatekeeping order, envelope,
cursor pagination, both versions (each request answered by the version its
``X-API-Version`` names) and their casings, business rules, plan limits, a per-key token
bucket — and adds fault knobs, request counters and changes "made in the dashboard".
Behaviour the sources leave open is inferred, and each module says where. Rooms:

- `state`: the records, the core resources and their rules (pure); `seed`: the
  deterministic starting workspace;
- `filtering` (both versions' filtering rules, with `expressions`, the rule language),
  `encryption`, `subdomains`: the newer resources, as rules over the workspace;
- `outside`: ``POST /_sandbox/outside-change``, edits as if made in the dashboard;
- `pagination`: opaque cursors; `fake`: `FakeFingerprint`, knobs, rate limiter, request log;
- `app`: the aiohttp routes, gatekeeping, envelope and casing; `server`: `StandInServer`.
"""

from sandbox.fingerprint.app import create_app
from sandbox.fingerprint.fake import FakeFingerprint, Faults, RecordedRequest
from sandbox.fingerprint.server import StandInServer
from sandbox.fingerprint.state import PlanLimits

__all__ = [
    "FakeFingerprint",
    "Faults",
    "PlanLimits",
    "RecordedRequest",
    "StandInServer",
    "create_app",
]
