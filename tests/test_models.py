from __future__ import annotations

import pytest

from bot.models import (
    Paper,
    Platform,
    Target,
    TargetError,
    clean_text,
    first_sentence,
    shorten,
)


@pytest.mark.parametrize(
    ("text", "platform", "workspace", "channel"),
    [
        ("slack:T0123/C0456", Platform.SLACK, "T0123", "C0456"),
        (
            "discord:123456789012345678/234567890123456789",
            Platform.DISCORD,
            "123456789012345678",
            "234567890123456789",
        ),
        ("webhook:reading-group", Platform.WEBHOOK, "", "reading-group"),
        ("console:local", Platform.CONSOLE, "", "local"),
        ("  console:local  ", Platform.CONSOLE, "", "local"),
    ],
)
def test_targets_parse_and_print_back(
    text: str, platform: Platform, workspace: str, channel: str
) -> None:
    t = Target.parse(text)
    assert (t.platform, t.workspace, t.channel) == (platform, workspace, channel)
    assert str(t) == text.strip()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "slack",
        "slack:",
        "slack:T1",
        "slack:T1/",
        "slack:/C1",
        "slack:T1/C1/x",
        "discord:abc/def",
        "teams:a/b",
        "webhook:",
        "webhook:a b",
        "console:" + "x" * 80,
        "slack:T1/C1<!channel>",
    ],
)
def test_bad_targets_say_what_to_type(text: str) -> None:
    with pytest.raises(TargetError) as info:
        Target.parse(text)
    assert "use" in str(info.value) or "letters" in str(info.value)


def test_tldr_prefers_ai_summary_then_first_sentence() -> None:
    p = Paper(id="1", title="T", summary="We propose\nX, e.g. a thing. Then more.")
    assert p.tldr == "We propose X, e.g. a thing."
    p.ai_summary = "  An AI\nsummary.  "
    assert p.tldr == "An AI summary."
    assert Paper(id="1", title="T").tldr == ""


def test_first_sentence_is_cut_at_a_word() -> None:
    long = "word " * 200
    cut = first_sentence(long, limit=50)
    assert len(cut) <= 50 and cut.endswith("…") and not cut.endswith(" …")


def test_shorten() -> None:
    assert shorten("short", 10) == "short"
    assert len(shorten("a" * 100, 10)) == 10
    assert shorten("x" * 5, 1) == "…"


def test_author_line_and_links() -> None:
    p = Paper(id="2611.00001", title="T", authors=["A", "B", "C", "D"])
    assert p.author_line() == "A, B, C et al."
    p.authors = ["A", "", "B"]
    assert p.author_line() == "A, B"
    assert [label for label, _ in p.links()] == ["arXiv", "PDF"]
    p.github_repo = "https://github.com/example-lab/x"
    p.project_page = "https://example-lab.github.io/x"
    assert [label for label, _ in p.links()] == ["arXiv", "PDF", "GitHub", "Project page"]
    assert p.url == "https://huggingface.co/papers/2611.00001"
    assert p.pdf_url == "https://arxiv.org/pdf/2611.00001"


def test_first_sentence_skips_abbreviations() -> None:
    text = (
        "We extend the dual-encoder systems of Okafor et al. (2024) to long documents, e.g. "
        "Reports and J. Smith's corpora. Second sentence here."
    )
    assert first_sentence(text) == text.split(" Second")[0]
    assert first_sentence("It works. Vs. the baseline it is better.") == "It works."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  Hard\n  line\tbreaks  ", "Hard line breaks"),
        ("graph\x00neural", "graph neural"),
        # Terminal escapes (a made-up link, a cleared screen, hidden text) lose their control
        # characters, so they show as the harmless text they are.
        (
            "A\x1b]8;;https://evil.example/\x07link\x1b]8;;\x07",
            "A]8;;https://evil.example/link]8;;",
        ),
        ("clear\x1b[2J \x1b[8mhidden", "clear[2J [8mhidden"),
        ("C1\x9b31m and DEL\x7f", "C131m and DEL"),
        ("\x1b \x07", ""),
        # Half an emoji (a lone UTF-16 surrogate) becomes the replacement character.
        ("cut at \ud83d", "cut at \ufffd"),
        # Format characters that are not controls stay: emoji sequences, soft hyphens.
        (
            "team \U0001f469\u200d\U0001f52c co\u00adop",
            "team \U0001f469\u200d\U0001f52c co\u00adop",
        ),
    ],
)
def test_clean_text(text: str, expected: str) -> None:
    cleaned = clean_text(text)
    assert cleaned == expected
    cleaned.encode("utf-8")  # every result can be stored and sent


def test_author_line_leaves_out_blank_names() -> None:
    p = Paper(id="2611.00001", title="t", authors=[" ", "\x1b", "Ada  Example", "", "Bo Sample"])
    assert p.author_line() == "Ada Example, Bo Sample"
    assert Paper(id="2611.00002", title="t", authors=[" \n"]).author_line() == ""
