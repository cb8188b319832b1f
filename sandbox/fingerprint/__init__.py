"""Stand-in for Fingerprint's Management API, for tests, benchmarks and the local sandbox.

It behaves as ``management-api.md`` describes the real API — gatekeeping order, envelope,
cursor pagination, both versions' casings, business rules, plan limits, a per-key token
bucket — and adds fault knobs and request counters. Rooms:

- `state`: records and business rules (pure); `seed`: the deterministic starting workspace;
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
