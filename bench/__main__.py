"""``python -m bench`` (``make bench``): every benchmark, one after the other.

Each runs in its own process so one benchmark's servers, caches and memory never colour the
next one's figures.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = (
    "bench.fingerprint_client",
    "bench.bot_ack",
    "bench.approvals",
    "bench.watch_cost",
)


def main() -> int:
    failed = 0
    for module in BENCHMARKS:
        print(f"\n=== python -m {module}\n", flush=True)
        failed += subprocess.run([sys.executable, "-m", module], check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
