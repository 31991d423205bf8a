"""Property-based tests: whatever people type and whatever Hugging Face sends, the parser and the
command handler answer, and both renderers stay within the platforms' limits and never let
untrusted text ping anyone or fake a link.

Runs are bounded (``max_examples``, no deadline) so the suite stays fast."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.discord import render as discord_render
from adapters.slack import render as slack_render
from bot.app import App
from bot.commands import SUBCOMMANDS, CommandHandler, parse
from bot.config import Settings
from bot.models import Digest, DigestSection, Invocation, Paper, Reply, ReplyKind, Target
from tests.factories import corpus
from tests.fakes import discord as discord_limits
from tests.fakes.slack import message_problems

BOUNDED = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)

# Text people and Hugging Face may send: any Unicode, plus the pieces that mean something to
# Slack or Discord, so that hypothesis puts them together often.
MARKUP = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U0123ABC>",
    "<@&123456789012345678>",
    "<#C0123|general>",
    "<https://evil.example|click>",
    "@everyone",
    "@here",
    "[click](https://evil.example)",
    "**",
    "||",
    "__",
    "~~",
    "# ",
    "> ",
    "- ",
    "1. ",
    "<t:0:R>",
    "&lt;",
    "`",
    "*",
    "_",
    "~",
    "|",
    "\\",
    "\n",
    "<",
    ">",
    "&",
    "@",
    "[",
    "]",
    "(",
    ")",
    "\u200b",
    "\u202e",
    "🙂",
]
untrusted = st.lists(st.one_of(st.text(max_size=40), st.sampled_from(MARKUP)), max_size=12).map(
    "".join
)
long_untrusted = st.one_of(untrusted, st.text(min_size=200, max_size=1500))
commands = st.one_of(
    untrusted,
    st.tuples(
        st.sampled_from([*SUBCOMMANDS, "sub", "unsub", "top", "list", "preview", "/help"]),
        untrusted,
    ).map(" ".join),
    st.text(min_size=900, max_size=1200),
)


# -- the command parser and handler ----------------------------------------------------------------


@BOUNDED
@given(commands)
def test_parse_never_raises(text: str) -> None:
    command = parse(text)
    assert command.action in {*SUBCOMMANDS, "error"}


@pytest.fixture(scope="module")
def handler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CommandHandler]:
    path = tmp_path_factory.mktemp("fuzz")
    app = App(Settings(database_url=f"sqlite:///{path}/papers.db"))
    app.ingest(corpus())
    yield app.commands
    app.close()


def _answered(reply: Reply) -> bool:
    if reply.papers or (reply.digest is not None and not reply.digest.is_empty):
        return True
    return bool((reply.text or "").strip() or (reply.title or "").strip())


@BOUNDED
@given(text=commands, manager=st.booleans(), channel=st.sampled_from(["a", "b", "c"]))
def test_every_command_gets_a_non_empty_answer_that_renders(
    handler: CommandHandler, text: str, manager: bool, channel: str
) -> None:
    who = Invocation(Target.parse(f"slack:T0FUZZ/C{channel}"), "U0FUZZ", "fuzz", manager)
    reply = handler.handle(text, who)
    assert _answered(reply)
    if reply.kind is ReplyKind.ERROR:
        assert "Traceback" not in reply.text and "went wrong" not in reply.text
    for message in slack_render.reply_messages(reply):
        assert message_problems(message) == []
        assert_slack_inert(message)
    for body in discord_render.reply_messages(reply):
        assert_discord_fits(body)
        assert_discord_inert(body)


# -- renderers ----------------------------------------------------------------------------------


urls = st.one_of(
    st.none(),
    untrusted,
    st.builds(lambda s: f"https://github.com/{s}", untrusted),
    st.builds(lambda s: f"javascript:alert({s!r})", st.text(max_size=10)),
)


@st.composite
def papers(draw: st.DrawFn) -> Paper:
    return Paper(
        id=draw(st.from_regex(r"\A2[0-9]{3}\.[0-9]{5}\Z")),
        title=draw(long_untrusted),
        summary=draw(long_untrusted),
        authors=draw(st.lists(untrusted, max_size=8)),
        upvotes=draw(st.integers(min_value=0, max_value=10**9)),
        num_comments=draw(st.integers(min_value=0, max_value=10**6)),
        ai_summary=draw(st.one_of(st.none(), long_untrusted)),
        github_repo=draw(urls),
        project_page=draw(urls),
    )


@st.composite
def digests(draw: st.DrawFn) -> Digest:
    sections = [DigestSection("Trending", draw(st.lists(papers(), max_size=12)))]
    for topic in draw(st.lists(untrusted, max_size=4)):
        sections.append(DigestSection(topic, draw(st.lists(papers(), max_size=6)), topic=topic))
    notice = draw(st.one_of(st.none(), untrusted))
    return Digest(Target.parse("slack:T0FUZZ/C0FUZZ"), date(2026, 11, 20), sections, notice)


@st.composite
def replies(draw: st.DrawFn) -> Reply:
    return Reply(
        text=draw(long_untrusted),
        kind=draw(st.sampled_from(list(ReplyKind))),
        ephemeral=draw(st.booleans()),
        title=draw(st.one_of(st.none(), untrusted)),
        papers=draw(st.lists(papers(), max_size=25)),
        digest=draw(st.one_of(st.none(), digests())),
    )


# A link the Slack renderer makes: ``<http(s)://…|label>`` with nothing in it that could end it.
_SLACK_LINK = re.compile(r"<https?://[^\s|<>]+\|[^<>]*>")


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _strings(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _strings(value)


def assert_slack_inert(message: dict[str, Any]) -> None:
    for text in _strings({k: v for k, v in message.items() if k not in ("metadata",)}):
        rest = _SLACK_LINK.sub("", text)
        # Every "<" left would open a mention, a channel link or a masked link.
        assert "<" not in rest and ">" not in rest, text


_DISCORD_LINK = re.compile(r"\[(arXiv|PDF|GitHub|Code|Project page)\]\(https?://[^\s()\[\]]+\)")
_BARE_LINK = re.compile(r"https?://[^\s<>\[\]|`*\\]+")
# Our own emphasis: a heading or title line in bold or underlined, the authors line in italics.
_DISCORD_WRAPPED = re.compile(r"^(\*\*|__|\*)(.+)\1$", re.MULTILINE)
# Headers, subtext, block quotes and lists, which Discord reads only at the start of a line.
_DISCORD_LINE_MARKUP = re.compile(r"^[ \t]*([#>+-]|\d+\.)", re.MULTILINE)


def _unescaped(text: str, char: str) -> list[int]:
    """Positions of ``char`` not escaped by an odd run of backslashes."""
    out = []
    for m in re.finditer(re.escape(char), text):
        run = len(text[: m.start()]) - len(text[: m.start()].rstrip("\\"))
        if run % 2 == 0:
            out.append(m.start())
    return out


def _code_spans_removed(text: str) -> str:
    """``text`` without its inline code spans (Discord shows them literally): spans that open
    with a backtick no backslash escapes."""
    out, pos = [], 0
    for m in re.finditer(r"`[^`\n]+`", text):
        if m.start() in _unescaped(text, "`") and m.start() >= pos:
            out.append(text[pos : m.start()])
            pos = m.end()
    return "".join(out) + text[pos:]


def assert_discord_inert(body: dict[str, Any]) -> None:
    assert body["allowed_mentions"] == {"parse": []}
    blocks = [body.get("content", "")]  # where line-start markup (# > - 1.) would count
    markdown = list(blocks)
    plain = []  # fields Discord shows without markdown: only mentions matter there
    for embed in body.get("embeds", []):
        blocks.append(embed.get("description", ""))
        markdown += [embed.get("title", ""), embed.get("description", "")]
        plain += [embed.get("footer", {}).get("text", ""), embed.get("author", {}).get("name", "")]
    for text in markdown + plain:
        rest = _DISCORD_LINK.sub("", _code_spans_removed(text)) if text in markdown else text
        assert not re.search(r"@(everyone|here)", rest), text
        for pos in _unescaped(rest, "<"):
            assert rest[pos + 1 : pos + 2] == "\u200b", text  # <@id>, <#id>, <t:…> stay text
        if text in markdown:
            rest = _BARE_LINK.sub("", rest)  # shown whole: only _ and ~ can be in one
            assert not _unescaped(rest, "["), text  # no masked link but ours
            # No emphasis, underline, strikethrough, spoiler or code but ours.
            rest = _DISCORD_WRAPPED.sub(r"\2", rest)
            for char in "*_~|`":
                assert not _unescaped(rest, char), text
        if text in blocks:
            assert not _DISCORD_LINE_MARKUP.search(text), text


def assert_discord_fits(body: dict[str, Any]) -> None:
    d = discord_limits
    assert len(body.get("content", "")) <= d.CONTENT_MAX
    embeds = body.get("embeds", [])
    assert body.get("content") or embeds
    assert len(embeds) <= d.EMBEDS_MAX
    assert sum(discord_render.embed_length(e) for e in embeds) <= d.EMBEDS_TOTAL_MAX
    for e in embeds:
        assert len(e.get("title", "")) <= d.TITLE_MAX
        assert len(e.get("description", "")) <= d.DESCRIPTION_MAX
        assert len(e.get("footer", {}).get("text", "")) <= d.FOOTER_MAX
        assert len(e.get("author", {}).get("name", "")) <= d.AUTHOR_MAX
        assert len(e.get("fields", [])) <= d.FIELDS_MAX


@BOUNDED
@given(digests(), st.booleans())
def test_slack_digest_fits_and_is_inert(digest: Digest, threads: bool) -> None:
    for body in slack_render.digest_post_bodies(digest, threads=threads):
        assert message_problems(body) == []
        assert_slack_inert(body)


@BOUNDED
@given(replies())
def test_slack_reply_fits_and_is_inert(reply: Reply) -> None:
    messages = slack_render.reply_messages(reply)
    assert 1 <= len(messages) <= slack_render.MAX_RESPONSES
    for message in messages:
        assert message_problems(message) == []
        assert_slack_inert(message)


@BOUNDED
@given(digests())
def test_discord_digest_fits_and_is_inert(digest: Digest) -> None:
    for body in discord_render.digest_messages(digest):
        assert_discord_fits(body)
        assert_discord_inert(body)


@BOUNDED
@given(replies())
def test_discord_reply_fits_and_is_inert(reply: Reply) -> None:
    bodies = discord_render.reply_messages(reply)
    assert bodies
    for body in bodies:
        assert_discord_fits(body)
        assert_discord_inert(body)


def test_the_checks_catch_what_they_look_for() -> None:
    with pytest.raises(AssertionError):
        assert_slack_inert({"text": "hi <!channel>"})
    with pytest.raises(AssertionError):
        assert_discord_inert({"content": "[x](https://evil.example)", "allowed_mentions": {}})
    with pytest.raises(AssertionError):
        assert_discord_inert({"content": "@everyone", "allowed_mentions": {"parse": []}})
    with pytest.raises(AssertionError):
        assert_discord_inert({"content": "<@123>", "allowed_mentions": {"parse": []}})
    for content in ["[1] a ||b|| [c](d)", "x **y**", "~~z~~", "`code", "a\n# b", "1. c"]:
        with pytest.raises(AssertionError):
            assert_discord_inert({"content": content, "allowed_mentions": {"parse": []}})
    assert_slack_inert({"text": "<https://huggingface.co/papers/1|A &lt;b&gt;>"})
    assert_discord_inert({"content": "**A \\*\\*b**\n\\# c", "allowed_mentions": {"parse": []}})
    assert_discord_inert({"content": r"\<@123> \[x\]", "allowed_mentions": {"parse": []}})
