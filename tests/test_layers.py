"""The layers hold: who may import whom, read from the source of every module.

* The core (``bot/`` outside ``bot/slack/`` and the entry modules that build and serve the
  Bolt app) imports neither slack_sdk nor slack_bolt: it speaks to Slack through one adapter.
* The domain imports nothing of fpbot; the store imports only the domain; the Management API
  client imports only the domain and the foundation (the log and single-flight); the metrics
  import nothing of fpbot (the client reports to them through an observer it declares).
* Nothing below imports what stands above it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOT = ROOT / "bot"

#: Entry modules: they build the Bolt app, serve it, or check a Slack token.
ENTRY = {"bot/app.py", "bot/server.py", "bot/__main__.py", "bot/check.py"}
SLACK_LIBRARIES = ("slack_sdk", "slack_bolt")

#: What each low layer may import of fpbot (besides itself).
ALLOWED: dict[str, tuple[str, ...]] = {
    "bot/domain/": ("bot.domain",),
    "bot/log.py": ("bot.domain",),
    "bot/singleflight.py": (),
    "bot/metrics.py": (),
    "bot/store/": ("bot.domain", "bot.store"),
    "bot/fingerprint/": ("bot.fingerprint", "bot.domain", "bot.log", "bot.singleflight"),
}


def modules() -> list[Path]:
    return sorted(BOT.rglob("*.py"))


def imports_of(path: Path) -> set[str]:
    """Every module name ``path`` imports, relative imports resolved against its package."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                names.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                names.add(node.module)
    return names


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", modules(), ids=relative)
def test_the_core_does_not_import_slack(path: Path) -> None:
    name = relative(path)
    if name.startswith("bot/slack/") or name in ENTRY:
        return
    slack = sorted(m for m in imports_of(path) if m.split(".")[0] in SLACK_LIBRARIES)
    assert not slack, f"{name} imports {slack}; speak to Slack through bot.slack"


@pytest.mark.parametrize("path", modules(), ids=relative)
def test_low_layers_import_only_what_is_below_them(path: Path) -> None:
    name = relative(path)
    layer = next((prefix for prefix in ALLOWED if name.startswith(prefix)), None)
    if layer is None:
        return
    allowed = ALLOWED[layer]
    ours = sorted(m for m in imports_of(path) if m == "bot" or m.startswith("bot."))
    stray = [m for m in ours if not any(m == a or m.startswith(a + ".") for a in allowed)]
    assert not stray, f"{name} may import only {allowed} of fpbot, but imports {stray}"


def test_the_check_reads_real_imports() -> None:
    """The rules above would pass vacuously if the parser saw nothing."""
    assert "bot.domain" in imports_of(BOT / "store" / "store.py")
    assert "slack_sdk.web.async_client" in imports_of(BOT / "slack" / "messenger.py")
