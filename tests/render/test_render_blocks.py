"""The builders: escaping, safe clipping, Slack dates and pagination."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from bot.render.blocks import (
    button,
    clip,
    code,
    confirm,
    date,
    escape,
    fit_lines,
    header,
    inline,
    message_size,
    pack_lines,
    paginate,
    paginate_lines,
    section,
    text_len,
)


def test_escape_touches_only_ampersand_and_angle_brackets() -> None:
    assert escape("""Tom & Jerry <b> "quoted" 'single'""") == (
        """Tom &amp; Jerry &lt;b&gt; "quoted" 'single'"""
    )


def test_escape_is_applied_once_so_existing_entities_stay_visible() -> None:
    assert escape("&amp;") == "&amp;amp;"


def test_inline_turns_line_breaks_into_spaces_so_one_item_stays_one_line() -> None:
    assert inline("Staging\nEU\t<x>") == "Staging EU &lt;x&gt;"


def test_clip_leaves_short_text_alone() -> None:
    assert clip("short", 10) == "short"


def test_clip_never_cuts_an_entity_in_half() -> None:
    text = escape("a" * 8 + "&&&&")
    for limit in range(5, len(text)):
        clipped = clip(text, limit)
        assert text_len(clipped) <= limit
        body = clipped.removesuffix("…")
        assert body.count("&") == body.count(";"), clipped


def test_clip_never_cuts_a_date_or_mention_token() -> None:
    text = "see " + date(datetime(2024, 1, 1, tzinfo=UTC)) + " and <@U123ABC>"
    for limit in range(3, len(text)):
        body = clip(text, limit).removesuffix("…")
        assert body.count("<") == body.count(">"), body


@given(st.text(), st.integers(min_value=2, max_value=400))
def test_clip_always_fits_counting_emoji_as_two_units(text: str, limit: int) -> None:
    assert text_len(clip(inline(text), limit)) <= limit


def test_date_uses_slack_formatting_with_an_iso_fallback() -> None:
    moment = datetime(2024, 5, 20, 14, 3, 9, tzinfo=UTC)
    assert date(moment) == ("<!date^1716213789^{date_short_pretty} {time}|2024-05-20T14:03Z>")
    assert date(moment, time=False) == "<!date^1716213789^{date_short_pretty}|2024-05-20>"


def test_date_converts_other_zones_and_takes_naive_times_as_utc() -> None:
    paris = datetime(2024, 5, 20, 16, 3, tzinfo=timezone(timedelta(hours=2)))
    naive = datetime(2024, 5, 20, 14, 3)
    assert date(paris) == date(naive) == date(datetime(2024, 5, 20, 14, 3, tzinfo=UTC))


def test_code_keeps_a_backtick_from_ending_the_span() -> None:
    assert code("a`b") == "`a\u02cbb`"


def test_builders_clip_to_slack_limits() -> None:
    assert len(header("h" * 500)["text"]["text"]) == 150
    assert len(section("s" * 5000)["text"]["text"]) == 3000
    assert len(section(fields=["f"] * 12)["fields"]) == 10
    element = button("b" * 100, action_id="a" * 300, value="v" * 3000)
    assert len(element["text"]["text"]) == 75
    assert len(element["action_id"]) == 255
    assert len(element["value"]) == 2000
    dialog = confirm("t" * 200, "x" * 400, ok="o" * 40, cancel="c" * 40)
    assert len(dialog["title"]["text"]) == 100
    assert len(dialog["text"]["text"]) == 300
    assert len(dialog["confirm"]["text"]) == len(dialog["deny"]["text"]) == 30


def test_pack_lines_never_splits_a_line_and_respects_the_limit() -> None:
    lines = [f"line {i} " + "x" * (i % 97) for i in range(500)]
    chunks = pack_lines(lines, limit=1000)
    assert all(text_len(c) <= 1000 for c in chunks)
    assert "\n".join(chunks).split("\n") == lines


def test_paginate_keeps_every_block_in_order_within_both_caps() -> None:
    blocks = [section(f"item {i} " + "y" * (i * 37 % 2900)) for i in range(300)]
    pages = paginate(blocks, max_blocks=50, max_chars=12_000)
    assert [b for page in pages for b in page] == blocks
    assert all(len(page) <= 50 for page in pages)
    assert all(message_size(page) <= 12_000 for page in pages)


def test_paginate_of_nothing_is_no_pages() -> None:
    assert paginate([]) == []


def test_fit_lines_keeps_the_first_lines_in_order_fills_the_message_and_counts_the_rest() -> None:
    lines = [f"line {i} " + "z" * 200 for i in range(500)]
    blocks = fit_lines(lines, max_blocks=50, max_chars=12_000, noun="more lines")
    shown = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section").split("\n")
    assert shown == lines[: len(shown)]
    assert blocks[-1]["elements"][0]["text"] == f"… and {500 - len(shown)} more lines"
    assert 11_000 < message_size(blocks) <= 12_000


def test_fit_lines_adds_no_more_line_when_everything_fits() -> None:
    blocks = fit_lines(["a", "b"], max_blocks=50, max_chars=12_000)
    assert blocks == [section("a\nb")]


@given(st.lists(st.text(max_size=400), max_size=300))
def test_paginate_lines_keeps_every_line_in_order_within_the_caps(lines: list[str]) -> None:
    lines = [inline(line) or "-" for line in lines]
    pages = paginate_lines(lines, max_blocks=49, max_chars=11_000)
    texts = [block["text"]["text"] for page in pages for block in page]
    assert [line for text in texts for line in text.split("\n")] == lines
    for page in pages:
        assert 0 < len(page) <= 49
        assert message_size(page) <= 11_000
        assert all(text_len(block["text"]["text"]) <= 3000 for block in page)


def test_paginate_lines_needs_no_more_pages_than_whole_sections_would() -> None:
    lines = [f"item {i} " + "w" * (i * 53 % 300) for i in range(2000)]
    filled = paginate_lines(lines, max_chars=12_000)
    whole = paginate([section(t) for t in pack_lines(lines)], max_chars=12_000)
    assert len(filled) < len(whole)
