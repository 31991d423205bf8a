"""The Discord renderer: exact bodies, every limit, and hostile text kept inert."""

from __future__ import annotations

import itertools
import json
import re
from datetime import date
from typing import Any

import discord
import pytest

from adapters.discord import render
from bot.models import Digest, DigestSection, Paper, Reply, ReplyKind, Target
from tests.factories import corpus, paper
from tests.fakes.discord import message_errors

TARGET = Target.parse("discord:500000000000000001/600000000000000001")
DAY = date(2026, 11, 20)

HOSTILE = [
    "@everyone",
    "@here",
    "<@123>",
    "<@!123456789012345678>",
    "<@&456>",
    "<#789>",
    "[click](https://evil)",
    "[a](https://ok) then [b](https://evil)",
    "**bold**",
    "`code`",
    "```block```",
    "__under__ ~~strike~~ ||spoiler||",
    "# Heading",
    "> quote",
    "-# subtext",
    "<t:1700000000:R>",
    "</papers search:123>",
    "<https://evil>",
    "\\[still not a link](https://evil)",
    "\\\\@everyone",
    # discord.py's escape_markdown read all from the first "[" to the last "](" as one masked
    # link and escaped only its start, leaving the markup in between live.
    "Beats [1] by ||50%|| on **every** task, see [code](github).",
    "[1] __under__ ~~strike~~ `code` *it* _it_ [2](ref)",
    "1. numbered",
    "- bullet",
    "+ bullet",
    ">>> quote",
    "  ## indented heading",
    "line\n> quote\n# heading",
]


def live_chars(text: str) -> str:
    """The characters of ``text`` Discord would read as markup: every one not escaped by a
    backslash (an escape pair is ``\\`` and the next character)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


# A bare link, which Discord shows whole: only ``_`` and ``~`` of the markup characters can be
# in one here, and are not markup there.
BARE_LINK = re.compile(r"https?://[^\s<>\[\]|`*\\]+")


def assert_inert(text: str) -> None:
    live = live_chars(BARE_LINK.sub("", text))
    for ch in "*_`~|[]<":
        assert ch not in live, f"live {ch!r} in {text!r}"
    assert not re.search(r"@(everyone|here)", text), text
    assert not re.search(r"^\s*(#|>|-|\+|\d+\.)", text, re.MULTILINE), text


def digest(sections: list[DigestSection], notice: str | None = None) -> Digest:
    return Digest(TARGET, DAY, sections, notice=notice)


def all_embeds(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in bodies for e in b.get("embeds", [])]


def assert_within_limits(bodies: list[dict[str, Any]]) -> None:
    for body in bodies:
        assert message_errors(body) == [], message_errors(body)
        assert body["allowed_mentions"] == {"parse": []}
        # discord.py takes every embed as it is (what the bot sends is what was rendered).
        for e in body.get("embeds", []):
            assert discord.Embed.from_dict(e).to_dict() == {**e, "flags": 0}
            assert len(discord.Embed.from_dict(e)) == render.embed_length(e)
        json.dumps(body)


# -- escaping -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_escape_leaves_nothing_live(text: str) -> None:
    assert_inert(render.escape(text))


@pytest.mark.parametrize("text", HOSTILE)
def test_escape_keeps_the_words(text: str) -> None:
    shown = re.sub(r"\\(.)", r"\1", render.escape(text)).replace("\u200b", "")
    assert shown == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Code at https://github.com/some_lab/my__repo~v2/tree/main_x.",
            "Code at https://github.com/some_lab/my__repo~v2/tree/main_x.",
        ),
        ("(see https://x.org/a_b), _c_", "(see https://x.org/a_b), \\_c\\_"),
        ("**https://x.org/a**", "\\*\\*https://x.org/a\\*\\*"),
        ("https://x.org/[a](https://evil)", "https://x.org/\\[a\\](https://evil)"),
    ],
)
def test_bare_links_are_left_whole(text: str, expected: str) -> None:
    """A backslash inside a link Discord shows as a link would break it."""
    assert render.escape(text) == expected
    assert_inert(render.escape(text))


def test_plain_text_fields_get_no_backslashes_but_no_mentions() -> None:
    out = render.plain("@everyone <@123> **x**")
    assert "\\" not in out
    assert "@everyone" not in out and "<@" not in out
    assert out.replace("\u200b", "") == "@everyone <@123> **x**"


def test_reply_text_keeps_code_spans_and_escapes_the_rest() -> None:
    out = render.escape_reply_text("Try `/papers trending 10` — “**@everyone** [x](https://e)”")
    assert "`/papers trending 10`" in out
    assert_inert(out.replace("`/papers trending 10`", ""))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/a/b", "https://github.com/a/b"),
        ("https://x.org/a b(c)[d]", "https://x.org/a%20b%28c%29%5Bd%5D"),
        ("javascript:alert(1)", None),
        ("ftp://x.org/a", None),
        ("https://", None),
        ("", None),
        (None, None),
        ("https://x.org/" + "a" * 600, None),
        # The limit is on the encoded URL: 55 characters here, 509 once encoded; 514 one more.
        ("https://x.org/" + "中" * 55, "https://x.org/" + "%E4%B8%AD" * 55),
        ("https://x.org/" + "中" * 56, None),
    ],
)
def test_safe_url(url: str | None, expected: str | None) -> None:
    assert render.safe_url(url) == expected


def test_long_non_ascii_links_never_cut_the_description() -> None:
    p = paper(
        "2611.10002",
        "T",
        authors=[f"Author {i} " + "x" * 60 for i in range(5)],
        ai_summary="word " * 400,
        github_repo="https://github.com/org/" + "仓" * 480,  # 500 characters, 4300 encoded
        project_page="https://example.cn/项目/" + "论文" * 25,  # 488 once encoded
    )
    description = render.paper_embed(p)["description"]
    links = description.splitlines()[-1]
    assert links.endswith(")")
    labels = re.findall(r"\[([^\]]+)\]\(https://[^\s()]+\)", links)
    assert labels == ["arXiv", "PDF", "Project page"]  # the over-long one is left out whole


# -- one paper ----------------------------------------------------------------------------


def test_paper_embed_shape() -> None:
    p = paper(
        "2611.10001",
        "Sparse Mixture of Experts",
        authors=["Ada", "Bo", "Cy", "Di"],
        upvotes=42,
        num_comments=3,
        ai_summary="A router that balances experts.",
        github_repo="https://github.com/org/repo",
        project_page="https://moe.example.org",
    )
    e = render.paper_embed(p, index=2, section="Trending")
    assert e == {
        "type": "rich",
        "title": "2. Sparse Mixture of Experts",
        "url": "https://huggingface.co/papers/2611.10001",
        "description": "*Ada, Bo, Cy et al.*\nA router that balances experts.\n"
        "[arXiv](https://arxiv.org/abs/2611.10001) · [PDF](https://arxiv.org/pdf/2611.10001) · "
        "[GitHub](https://github.com/org/repo) · [Project page](https://moe.example.org)",
        "color": render.COLOR,
        "footer": {"text": "▲ 42 upvotes · 3 comments"},
        "author": {"name": "Trending"},
    }


def test_paper_embed_links_only_known_and_honest() -> None:
    p = paper("2611.1", "T", github_repo="https://evil.example/x", project_page="javascript:x()")
    e = render.paper_embed(p)
    links = re.findall(r"\[([^\]]+)\]\(([^)]+)\)", e["description"])
    assert links == [
        ("arXiv", "https://arxiv.org/abs/2611.1"),
        ("PDF", "https://arxiv.org/pdf/2611.1"),
        ("Code", "https://evil.example/x"),  # not labelled GitHub when it is not GitHub
    ]
    assert "author" not in e
    assert e["footer"] == {"text": "▲ 0 upvotes"}


def test_paper_embed_footer_says_only_known_counts() -> None:
    """Counts the item did not give (None) are not shown as 0; with none known, no footer
    (Discord refuses one without text)."""
    unknown = paper("2611.10002", "Uncounted", upvotes=None, num_comments=None)
    assert "footer" not in render.paper_embed(unknown)
    commented = paper("2611.10003", "Discussed", upvotes=None, num_comments=1)
    assert render.paper_embed(commented)["footer"] == {"text": "1 comment"}
    voted = paper("2611.10004", "Voted", upvotes=1, num_comments=None)
    assert render.paper_embed(voted)["footer"] == {"text": "▲ 1 upvote"}


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_paper_fields_stay_inert(text: str) -> None:
    p = paper("2611.20001", f"A {text} title", authors=[text, "Bo"], ai_summary=f"Sum {text} mary.")
    e = render.paper_embed(p, index=1, section=f"{text} topic")
    assert_inert(e["title"].removeprefix("1. "))
    authors_line, tldr, links = e["description"].split("\n")
    assert_inert(authors_line.strip("*"))
    assert_inert(tldr)
    assert links.startswith("[arXiv](https://arxiv.org/abs/2611.20001)")
    assert not re.search(r"@(everyone|here)|<[@#]", e["author"]["name"])


def test_hostile_digest_has_only_our_markup() -> None:
    papers = [paper(f"2611.3{i:04d}", t, authors=[t]) for i, t in enumerate(HOSTILE)]
    bodies = render.digest_messages(
        digest(
            [
                DigestSection("Trending", papers[:10]),
                DigestSection(HOSTILE[0], papers[10:], topic="x"),
            ]
        )
    )
    assert not re.search(r"@(everyone|here)", json.dumps(bodies, ensure_ascii=False))
    for e in all_embeds(bodies):
        assert "<" not in live_chars(e["title"] + e["description"])
        assert "<@" not in e["author"]["name"] and "<#" not in e["author"]["name"]
        masked = re.findall(r"\[([^\]]+)\]\(", live_chars(e["description"]))
        assert masked == ["arXiv", "PDF"]
        authors, rest = e["description"].split("\n", 1)
        # Only our italics around the authors; no emphasis, spoiler or code from the papers.
        assert re.fullmatch(r"\*[^*]+\*", live_chars(authors)), authors
        for ch in "*_~|`":
            assert ch not in live_chars(e["title"] + rest), e


# -- limits -------------------------------------------------------------------------------


def long_paper(i: int) -> Paper:
    return paper(
        f"2611.{i:05d}",
        ("Very long title about @everyone and [links](https://evil) " * 10)[:300],
        summary="word " * 1000,  # 5000 characters, no sentence end
        authors=[f"Author Number {j} <@{j}>" for j in range(20)],
        upvotes=i,
        ai_summary=("An AI summary that goes on and on. " * 40),
        github_repo="https://github.com/org/" + "r" * 200,
        project_page="https://example.org/" + "p" * 400,
    )


def test_sixty_huge_papers_split_within_every_limit() -> None:
    papers = [long_paper(i) for i in range(60)]
    d = digest(
        [
            DigestSection("Trending", papers[:20]),
            DigestSection("x" * 300, papers[20:], topic="x" * 300),
        ]
    )
    bodies = render.digest_messages(d)
    assert_within_limits(bodies)
    embeds = all_embeds(bodies)
    assert len(embeds) == 60  # nothing lost
    assert [e["url"] for e in embeds] == [p.url for p in papers]
    assert bodies[0]["content"] == "**Daily Papers — Friday, 20 November 2026**"
    assert all("content" not in b for b in bodies[1:])
    assert len(bodies) >= 60 // render.EMBEDS_MAX
    for e in embeds:
        assert len(e["title"]) <= render.TITLE_MAX
        assert e["title"].endswith("…")
        assert len(e["author"]["name"]) <= render.AUTHOR_MAX
        assert "et al." in e["description"]


def test_packing_respects_the_6000_character_total() -> None:
    papers = [long_paper(i) for i in range(12)]
    bodies = render.digest_messages(digest([DigestSection("Trending", papers)]))
    sizes = [sum(render.embed_length(e) for e in b["embeds"]) for b in bodies]
    assert all(s <= render.EMBEDS_TOTAL_MAX for s in sizes)
    # Greedy: no message could also have taken the first embed of the next one.
    for body, nxt in itertools.pairwise(bodies):
        used = sum(render.embed_length(e) for e in body["embeds"])
        assert (
            len(body["embeds"]) == render.EMBEDS_MAX
            or used + render.embed_length(nxt["embeds"][0]) > render.EMBEDS_TOTAL_MAX
        )


def test_small_digest_is_one_message_of_at_most_ten_embeds() -> None:
    papers = corpus()
    bodies = render.digest_messages(digest([DigestSection("Trending", papers)]))
    assert [len(b["embeds"]) for b in bodies] == [10, 2]
    assert_within_limits(bodies)


@pytest.mark.parametrize("limit", [1, 5, 100, 256, 2000])
def test_fit_never_exceeds_its_limit(limit: int) -> None:
    text = "*_`[<@everyone> " * 500
    assert len(render.fit(text, limit)) <= limit


def test_long_reply_text_is_split_at_line_breaks() -> None:
    text = "\n".join(f"• line {i} " + "x" * 80 for i in range(60))
    bodies = render.reply_messages(Reply(text))
    assert len(bodies) > 1
    assert all(len(b["content"]) <= render.CONTENT_MAX for b in bodies)
    joined = "\n".join(b["content"] for b in bodies)
    assert joined.count("• line") == 60
    assert all(b["flags"] == render.EPHEMERAL_FLAG for b in bodies)


# -- digests and replies ----------------------------------------------------------------------


def test_empty_digest_is_its_notice_or_nothing() -> None:
    assert render.digest_messages(digest([])) == []
    assert render.digest_messages(digest([], notice="No new papers today.")) == [
        {"content": "No new papers today.", "allowed_mentions": {"parse": []}}
    ]


def test_digest_sections_are_the_embed_authors() -> None:
    papers = corpus()
    d = digest(
        [
            DigestSection("Trending", papers[:2]),
            DigestSection("diffusion", papers[2:4], topic="diffusion"),
        ]
    )
    [body] = render.digest_messages(d)
    assert [e["author"]["name"] for e in body["embeds"]] == [
        "Trending",
        "Trending",
        "Topic: diffusion",
        "Topic: diffusion",
    ]
    assert [e["title"][:2] for e in body["embeds"]] == ["1.", "2.", "1.", "2."]
    assert set(body) == {"content", "embeds", "allowed_mentions"}


def test_results_reply_is_ephemeral_with_one_share_button_per_paper() -> None:
    papers = corpus()[:5]
    reply = Reply("", kind=ReplyKind.RESULTS, title="Papers on “moe”", papers=papers)
    body = render.reply_message(reply)
    assert body["flags"] == render.EPHEMERAL_FLAG
    assert body["content"] == "**Papers on “moe”**"
    [row] = body["components"]
    assert [b["custom_id"] for b in row["components"]] == [f"papers:share:{p.id}" for p in papers]
    assert [b["label"] for b in row["components"]] == [f"Share {i}" for i in range(1, 6)]
    assert_within_limits([body])


def test_twenty_results_split_with_their_buttons() -> None:
    papers = [long_paper(i) for i in range(20)]
    bodies = render.reply_messages(
        Reply("", kind=ReplyKind.RESULTS, title="Trending", papers=papers)
    )
    assert len(bodies) > 1
    assert_within_limits(bodies)
    for body in bodies:
        ids = [e["url"].rsplit("/", 1)[1] for e in body["embeds"]]
        buttons = [b["custom_id"] for row in body["components"] for b in row["components"]]
        assert buttons == [f"papers:share:{i}" for i in ids]
        assert all(len(row["components"]) <= render.BUTTONS_PER_ROW for row in body["components"])


def test_public_confirmation_has_no_flags_and_no_buttons() -> None:
    body = render.reply_message(
        Reply("Subscribed: “@everyone”", kind=ReplyKind.CONFIRM, ephemeral=False)
    )
    assert "flags" not in body and "components" not in body
    assert "@everyone" not in body["content"]
    assert body["allowed_mentions"] == {"parse": []}


def test_digest_preview_reply_carries_the_digest() -> None:
    d = digest([DigestSection("Trending", corpus()[:3])])
    reply = Reply(
        "Preview — this is what the channel would get now.",
        kind=ReplyKind.DIGEST,
        title="Digest preview",
        digest=d,
    )
    [body] = render.reply_messages(reply)
    assert body["content"].startswith("**Digest preview**\nPreview")
    assert "Daily Papers — Friday, 20 November 2026" in body["content"]
    assert len(body["embeds"]) == 3
    assert "components" not in body
    assert body["flags"] == render.EPHEMERAL_FLAG


def test_share_message_mentions_without_pinging() -> None:
    body = render.share_message(corpus()[0], 700000000000000001)
    assert body["content"] == "Shared by <@700000000000000001>"
    assert body["allowed_mentions"] == {"parse": []}
    assert body["embeds"][0]["url"] == corpus()[0].url


def test_share_custom_id_refuses_ids_that_cannot_fit() -> None:
    assert render.share_custom_id("2611.10001") == "papers:share:2611.10001"
    assert render.share_custom_id("x" * 90) is None
    assert render.share_custom_id("a b") is None


def test_blank_titles_and_author_names_bring_no_empty_emphasis() -> None:
    """Bold or italics around nothing ("****", "**") would show as they stand."""
    [body] = render.reply_messages(Reply("Some text.", title=" \n"))
    assert body["content"] == "Some text."
    description = render.paper_embed(paper("2611.70001", "T", authors=[" ", "\x07"]))["description"]
    assert not description.startswith("*")
