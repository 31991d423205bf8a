"""The Block Kit renderer: structure, Slack's limits (at and past each), and escaping."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from adapters.slack.render import (
    MAX_BLOCK_ID,
    MAX_BLOCKS,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    SHARE_ACTION_ID,
    digest_messages,
    digest_post_bodies,
    escape,
    fit,
    link_url,
    paper_context,
    reply_message,
    reply_messages,
    shared_paper_message,
)
from adapters.text import render_paper
from bot.commands import HELP_TEXT
from bot.models import Digest, DigestSection, Paper, Reply, ReplyKind, Target
from tests.factories import corpus, paper
from tests.fakes.slack import message_problems

TARGET = Target.parse("slack:T0001/C0001")
DAY = date(2026, 11, 20)
HOSTILE = [
    "<!channel>",
    "<!here|here>",
    "<@U123>",
    "@everyone",
    "<https://evil.example|click>",
    "&amp;",
    "<#C999>",
    "<!subteam^S123>",
]
ALLOWED_LINK = re.compile(
    r"^(https://huggingface\.co/papers/|https://arxiv\.org/(abs|pdf)/|https://github\.com/good/)"
)


def digest(*sections: DigestSection, notice: str | None = None) -> Digest:
    return Digest(TARGET, DAY, list(sections), notice=notice)


def texts(obj: Any) -> Iterator[str]:
    """Every string under a "text" key, at any depth."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "text" and isinstance(v, str):
                yield v
            else:
                yield from texts(v)
    elif isinstance(obj, list):
        for item in obj:
            yield from texts(item)


def blocks_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for m in messages for b in m["blocks"]]


def assert_valid(messages: list[dict[str, Any]]) -> None:
    for m in messages:
        assert message_problems(m) == [], json.dumps(m)[:500]
        assert len(m["blocks"]) <= MAX_BLOCKS
        ids = [b["block_id"] for b in m["blocks"]]
        assert len(ids) == len(set(ids))
        assert all(len(i) <= MAX_BLOCK_ID for i in ids)
        assert m["text"]


def assert_inert(messages: list[dict[str, Any]]) -> None:
    """No mention, broadcast or link except links this renderer made to known pages."""
    for text in texts(messages):
        assert "<!" not in text and "<@" not in text and "<#" not in text, text
        for m in re.finditer(r"<([^>]*)>", text):
            url, bar, label = m[1].partition("|")
            assert bar and ALLOWED_LINK.match(url), f"unexpected link {m[0]!r} in {text!r}"
            assert "<" not in label


def paper_count(messages: list[dict[str, Any]]) -> int:
    return sum(1 for b in blocks_of(messages) if b["block_id"].endswith("-p"))


# -- structure ---------------------------------------------------------------------------------


def test_digest_has_a_header_a_section_per_paper_and_context_links() -> None:
    papers = corpus()
    p = papers[0]
    p.github_repo = "https://github.com/good/moe"
    p.project_page = "https://github.com/good/moe-page"
    d = digest(
        DigestSection("Trending", papers[:3]),
        DigestSection("diffusion", papers[3:5], topic="diffusion"),
    )
    messages = digest_messages(d)
    assert len(messages) == 1
    blocks = messages[0]["blocks"]
    assert blocks[0] == {
        "type": "header",
        "block_id": "heading",
        "text": {
            "type": "plain_text",
            "text": "Daily Papers — Friday, 20 November 2026",
            "emoji": True,
        },
    }
    assert "Trending" in blocks[1]["text"]["text"]
    first = blocks[2]["text"]["text"]
    assert first.startswith(f"*<{p.url}|{p.title}>*")
    assert "Ada Example, Bo Sample" in first and p.tldr in first
    context = blocks[3]["elements"][0]["text"]
    assert context.startswith("▲ 88")
    for label, url in p.links():
        assert f"<{url}|{label}>" in context
    assert "GitHub" in context and "Project page" in context
    # A divider, then the topic's title, between the two sections.
    kinds = [b["type"] for b in blocks]
    divider = kinds.index("divider")
    assert divider == 1 + 1 + 3 * 2
    assert "diffusion" in blocks[divider + 1]["text"]["text"]
    assert kinds.count("divider") == 1
    assert paper_count(messages) == 5
    assert "5 papers" in messages[0]["text"]
    assert "channel" not in messages[0]
    assert_valid(messages)


def test_papers_without_github_or_project_page_have_only_arxiv_and_pdf() -> None:
    context = digest_messages(digest(DigestSection("Trending", corpus()[1:2])))[0]["blocks"][3]
    text = context["elements"][0]["text"]
    assert "arXiv" in text and "PDF" in text and "GitHub" not in text and "Project" not in text


def test_empty_digest_is_its_notice_or_nothing() -> None:
    assert digest_messages(digest()) == []
    messages = digest_messages(digest(notice="No new papers <today> & tomorrow"))
    assert len(messages) == 1
    assert messages[0]["blocks"][1]["text"]["text"] == "No new papers &lt;today&gt; &amp; tomorrow"
    assert_valid(messages)


def test_post_bodies_carry_channel_metadata_and_no_unfurling() -> None:
    papers = [paper(f"2611.2{i:04d}", f"Paper {i}") for i in range(40)]
    bodies = digest_post_bodies(digest(DigestSection("Trending", papers)))
    assert len(bodies) == 2
    for i, body in enumerate(bodies):
        assert body["channel"] == "C0001"
        assert body["unfurl_links"] is False and body["unfurl_media"] is False
        assert body["metadata"] == {
            "event_type": "papers_digest",
            "event_payload": {
                "target": "slack:T0001/C0001",
                "day": "2026-11-20",
                "part": i,
                "parts": 2,
            },
        }


def test_threads_put_a_short_header_first_and_sections_as_replies() -> None:
    papers = corpus()
    d = digest(
        DigestSection("Trending", papers[:5]),
        DigestSection("diffusion", papers[5:8], topic="diffusion"),
    )
    messages = digest_messages(d, threads=True)
    assert len(messages) == 3
    head = messages[0]
    assert [b["type"] for b in head["blocks"]] == ["header", "context"]
    assert "8 papers" in head["text"]
    assert paper_count([head]) == 0
    assert paper_count(messages[1:2]) == 5 and paper_count(messages[2:]) == 3
    assert "diffusion" in messages[2]["blocks"][0]["text"]["text"]
    assert all("thread_ts" not in m and "channel" not in m for m in messages)
    assert_valid(messages)


# -- limits ------------------------------------------------------------------------------------


def huge_paper(i: int) -> Paper:
    word = "Transformers&<scale> "
    return paper(
        f"2611.{i:05d}",
        (word * 200)[:3000],
        summary="x" * 5000,
        ai_summary=("Long & <winding> summary " * 300)[:3000],
        authors=[f"Author Number {j} " + "N" * 100 for j in range(50)],
        github_repo="https://github.com/good/" + "r" * 2000,
        project_page="https://github.com/good/page",
        upvotes=10_000 - i,
    )


def test_a_huge_digest_is_split_cleanly_within_every_limit() -> None:
    papers = [huge_paper(i) for i in range(60)]
    sections = [DigestSection("Trending", papers[:20])]
    sections += [
        DigestSection(f"topic {t} " + "T" * 300, papers[20 + 10 * t : 30 + 10 * t], topic=f"t{t}")
        for t in range(4)
    ]
    messages = digest_messages(digest(*sections))
    assert len(messages) > 1
    assert_valid(messages)
    assert paper_count(messages) == 60
    for m in messages:
        for b in m["blocks"]:
            if b["type"] == "section":
                assert len(b["text"]["text"]) <= MAX_SECTION_TEXT
            if b["type"] == "header":
                assert len(b["text"]["text"]) <= MAX_HEADER_TEXT
        # Split only at paper boundaries: every paper's section is followed by its context line.
        kinds = [b["block_id"][-2:] for b in m["blocks"]]
        for k, kind in enumerate(kinds):
            if kind == "-p":
                assert kinds[k + 1] == "-c"
        # A message never ends on a section title.
        assert m["blocks"][-1]["block_id"].endswith("-c")
    # Later messages go on with a "(continued)" title, and each says which part it is.
    assert "(continued)" in messages[1]["blocks"][0]["text"]["text"]
    assert f"part 2 of {len(messages)}" in messages[1]["text"]
    # The over-long GitHub URL is left out rather than cut; the HF link stays.
    assert "GitHub" not in json.dumps(messages)
    assert "https://huggingface.co/papers/2611.00000" in json.dumps(messages)


def test_threaded_huge_digest_is_valid_too() -> None:
    papers = [huge_paper(i) for i in range(60)]
    messages = digest_messages(digest(DigestSection("Trending", papers)), threads=True)
    assert_valid(messages)
    assert paper_count(messages) == 60


@pytest.mark.parametrize("length", [MAX_HEADER_TEXT - 1, MAX_HEADER_TEXT, MAX_HEADER_TEXT + 1, 400])
def test_header_text_at_and_past_the_limit(length: int) -> None:
    title = ("word " * 200)[:length].strip() + "x" * (
        length - len(("word " * 200)[:length].strip())
    )
    assert len(title) == length
    message = reply_message(Reply("hi", title=title))
    header = message["blocks"][0]["text"]["text"]
    assert len(header) <= MAX_HEADER_TEXT
    if length <= MAX_HEADER_TEXT:
        assert header == title
    else:
        assert header.endswith("…")
        assert header[:-1].rstrip() in title and title.startswith(header[:-1])
    assert_valid([message])


def test_escaping_cannot_push_a_header_past_the_limit() -> None:
    message = reply_message(Reply("hi", title="&" * 150))
    header = message["blocks"][0]["text"]["text"]
    assert len(header) <= MAX_HEADER_TEXT
    assert "&amp;" in header and not re.search(r"&(?!amp;)", header)


def test_fit_trims_at_a_word_boundary_with_an_ellipsis() -> None:
    assert fit("alpha beta gamma delta", 100) == "alpha beta gamma delta"
    assert fit("alpha beta gamma delta", 14) == "alpha beta…"
    assert fit("a\n\n  b", 10) == "a b"
    cut = fit("<<<< >>>> &&&&", 12)
    assert len(cut) <= 12 and not re.search(r"&(?!(amp|lt|gt);)", cut.rstrip("…"))


def test_section_text_at_the_limit_stays_whole_and_past_it_is_split() -> None:
    line = "x" * 999
    text = "\n".join([line, line, line])  # 2999 characters: one section
    message = reply_message(Reply(text))
    assert len(message["blocks"]) == 1
    assert message["blocks"][0]["text"]["text"] == text
    longer = "\n".join([line] * 4)
    message = reply_message(Reply(longer))
    assert len(message["blocks"]) == 2
    assert all(len(b["text"]["text"]) <= MAX_SECTION_TEXT for b in message["blocks"])
    assert_valid([message])


def test_fifty_blocks_exactly_fit_in_one_message() -> None:
    # header + title + 24 papers x 2 = 50 blocks: one message; one more paper needs a second.
    papers = [paper(f"2611.3{i:04d}", f"Paper {i}") for i in range(25)]
    one = digest_messages(digest(DigestSection("Trending", papers[:24])))
    assert [len(m["blocks"]) for m in one] == [50]
    two = digest_messages(digest(DigestSection("Trending", papers)))
    assert [len(m["blocks"]) for m in two] == [50, 3]
    assert_valid(one + two)


# -- escaping ----------------------------------------------------------------------------------


@pytest.mark.parametrize("evil", HOSTILE)
def test_untrusted_text_cannot_ping_or_link(evil: str) -> None:
    p = paper(
        "2611.66666",
        f"Title {evil}",
        summary=f"Summary {evil}. More.",
        ai_summary=f"TL;DR {evil}",
        authors=[f"Author {evil}", "Bob"],
        github_repo=f"https://github.com/good/repo{evil}",
        project_page=f"javascript:alert(1)//{evil}",
    )
    d = digest(
        DigestSection("Trending", [p]),
        DigestSection(f"topic {evil}", [p], topic=f"topic {evil}"),
        notice=None,
    )
    messages = [
        *digest_messages(d),
        *digest_messages(d, threads=True),
        *digest_post_bodies(d),
        *reply_messages(Reply(f"No papers match “{evil}”", kind=ReplyKind.ERROR, title=evil)),
        *reply_messages(Reply("", ReplyKind.RESULTS, title=f"Papers on “{evil}”", papers=[p])),
        *reply_messages(Reply(f"Preview {evil}", ReplyKind.DIGEST, digest=d)),
        *digest_messages(digest(notice=f"Nothing {evil}")),
        shared_paper_message(p, "U0SHARER"),
        shared_paper_message(p, f"{evil}"),
    ]
    assert_inert([m for m in messages if "<@U0SHARER>" not in json.dumps(m)])
    shared = shared_paper_message(p, "U0SHARER")
    assert "shared by <@U0SHARER>" in json.dumps(shared)
    assert_inert([{"blocks": shared["blocks"][:1]}])
    dumped = json.dumps(messages)
    assert "<javascript" not in dumped and "Project page" not in dumped
    assert escape(evil) in dumped
    assert_valid([m for m in messages if "blocks" in m])


def test_ampersand_entities_are_escaped_again() -> None:
    p = paper("2611.77777", "R&amp;D at &lt;scale&gt;")
    text = digest_messages(digest(DigestSection("Trending", [p])))[0]["blocks"][2]["text"]["text"]
    assert "R&amp;amp;D at &amp;lt;scale&amp;gt;" in text


def test_link_urls_are_http_only_and_cannot_break_out() -> None:
    assert link_url("javascript:alert(1)") is None
    assert link_url("slack://open") is None
    assert link_url("https://") is None
    assert link_url("https://ok.example/a?b=1&c=2") == "https://ok.example/a?b=1&amp;c=2"
    assert link_url("https://ok.example/x|<@U1>") == "https://ok.example/x%7C%3C@U1%3E"
    assert link_url("https://ok.example/" + "a" * 600) is None


def test_reply_text_keeps_mrkdwn_but_escapes_what_the_user_typed() -> None:
    message = reply_message(Reply(HELP_TEXT, title="How to use /papers"))
    body = "\n".join(b["text"]["text"] for b in message["blocks"][1:])
    # mrkdwn kept as the core wrote it (backticks, bullets, *bold*), only & < > escaped.
    assert body == escape("\n".join(" ".join(line.split()) for line in HELP_TEXT.splitlines()))
    assert "`/papers trending 10`" in body and "• " in body
    bold = reply_message(Reply("*Topics* for `<#C1>`:\n• one"))["blocks"][0]["text"]["text"]
    assert bold == "*Topics* for `&lt;#C1&gt;`:\n• one"
    assert message["response_type"] == "ephemeral"
    evil = reply_message(Reply("No papers match “<!channel> & <@U1>”.", kind=ReplyKind.ERROR))
    assert (
        evil["blocks"][0]["text"]["text"] == "No papers match “&lt;!channel&gt; &amp; &lt;@U1&gt;”."
    )


def test_results_have_share_buttons_and_confirmations_are_in_channel() -> None:
    papers = corpus()[:3]
    results = reply_message(Reply("", ReplyKind.RESULTS, title="Papers on “x”", papers=papers))
    buttons = [b["accessory"] for b in results["blocks"] if "accessory" in b]
    assert [b["value"] for b in buttons] == [p.id for p in papers]
    assert {b["action_id"] for b in buttons} == {SHARE_ACTION_ID}
    assert results["response_type"] == "ephemeral"
    confirm = reply_message(Reply("Subscribed: “x”.", ReplyKind.CONFIRM, ephemeral=False))
    assert confirm["response_type"] == "in_channel"
    assert "accessory" not in json.dumps(confirm)
    public = reply_message(Reply("", ReplyKind.RESULTS, ephemeral=False, papers=papers))
    assert "accessory" not in json.dumps(public)


def section_texts(messages: list[dict[str, Any]]) -> str:
    return "\n".join(
        b["text"]["text"] for m in messages for b in m["blocks"] if b["type"] == "section"
    )


def test_a_long_reply_text_goes_on_in_the_next_message() -> None:
    # /papers topics on a channel following 200 long topics: ~40,000 characters of text.
    topics = [f"topic {i:03d} " + "x" * 185 for i in range(200)]
    text = "Topics followed here:\n" + "\n".join(f"• {t}" for t in topics)
    text += "\nDigest: every day at 09:00 UTC."
    papers = corpus()[:3]
    reply = Reply(text, ReplyKind.RESULTS, title="This channel's digest", papers=papers)
    messages = reply_messages(reply)
    assert 1 < len(messages) <= 5
    assert_valid(messages)
    shown = section_texts(messages)
    assert all(t in shown for t in topics)
    assert shown.count("Digest: every day at 09:00 UTC.") == 1
    assert paper_count(messages) == 3  # the papers still follow the text
    assert "Shortened" not in json.dumps(messages)


def test_a_reply_text_too_long_for_five_responses_says_it_was_shortened() -> None:
    text = "\n".join(f"line {i} " + "y" * 90 for i in range(2000))  # ~200,000 characters
    messages = reply_messages(Reply(text, title="Long"))
    assert len(messages) == 5
    assert_valid(messages)
    note = messages[-1]["blocks"][-1]
    assert note["block_id"] == "shortened"
    assert note["elements"][0]["text"] == "Shortened: the rest of the text not shown here."
    single = reply_message(Reply(text, papers=corpus()[:2]))
    assert single["blocks"][-1]["elements"][0]["text"] == (
        "Shortened: the rest of the text and 2 more papers not shown here."
    )
    assert_valid([single])


@pytest.mark.parametrize("text", ["\r", " \n\t "])
def test_a_reply_of_white_space_is_still_one_message(text: str) -> None:
    messages = reply_messages(Reply(text))
    assert len(messages) == 1
    assert_valid(messages)


def test_a_long_preview_is_cut_to_five_responses_with_a_note() -> None:
    papers = [huge_paper(i) for i in range(200)]
    d = digest(DigestSection("Trending", papers))
    messages = reply_messages(Reply("Preview", ReplyKind.DIGEST, title="Digest preview", digest=d))
    assert len(messages) == 5
    assert_valid(messages)
    shown = paper_count(messages)
    note = messages[-1]["blocks"][-1]["elements"][0]["text"]
    assert note == f"Shortened: {200 - shown} more papers not shown here."
    assert all("papers_share" in json.dumps(m) for m in messages)
    single = reply_message(Reply("Preview", ReplyKind.DIGEST, digest=d))
    assert "Shortened" in json.dumps(single)
    assert_valid([single])


def test_unknown_upvotes_are_left_out_not_shown_as_zero() -> None:
    p = paper("2611.10002", "Uncounted", upvotes=None)
    assert paper_context(p).startswith(f"<{p.arxiv_url}|arXiv>")
    assert paper_context(paper("2611.10003", "Counted", upvotes=0)).startswith("▲ 0 · ")
    assert "▲" not in render_paper(p)
    assert "▲ 0" in render_paper(paper("2611.10003", "Counted", upvotes=0))
