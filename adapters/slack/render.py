"""Block Kit rendering of digests and command replies: pure functions, always within Slack's limits.

Every string that did not come from this module (titles, summaries, author names, topics, what
users typed, the core's reply text) is escaped (``&`` ``<`` ``>``), so it can never ping, link or
break the markup. Messages are split at paper boundaries so none exceeds 50 blocks; long texts are
trimmed at word boundaries with "…".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

from bot.models import Digest, Paper, Reply, shorten

Block = dict[str, Any]
Message = dict[str, Any]

# Slack's limits (https://docs.slack.dev/reference/block-kit/blocks).
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_BLOCK_ID = 255
MAX_MESSAGE_TEXT = 40000
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
# A response_url takes at most five posts.
MAX_RESPONSES = 5
# Characters of block text per message: far below what Slack accepts, so a message of 50 large
# blocks is split too rather than risk a payload Slack refuses.
MESSAGE_CHAR_BUDGET = 30000

# Per-field budgets, escaped: a paper's section text stays far below 3000 by construction.
_TITLE = 400
_AUTHORS = 300
_TLDR = 700
_URL = 500
_SECTION_TITLE = 200
_FALLBACK = 300

SHARE_ACTION_ID = "papers_share"
SHARE_BUTTON_TEXT = "Share in channel"
DIGEST_EVENT_TYPE = "papers_digest"

_BLOCK_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


def escape(text: str) -> str:
    """``text`` with Slack's control characters ``&``, ``<`` and ``>`` escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(text: str, limit: int) -> str:
    """``text`` folded to one line of white space, escaped, and trimmed at a word boundary with
    "…" so the escaped form has at most ``limit`` characters."""
    text = " ".join(text.split())  # clean_text(text), in a third of the time
    budget = limit
    while True:
        out = escape(shorten(text, budget))
        if len(out) <= limit or budget <= 1:
            return out[:limit]
        # Escaping made it longer: shrink the raw budget in proportion (at least by one).
        budget = min(budget - 1, budget * limit // len(out))


def fit_lines(text: str, limit: int) -> str:
    """Like ``fit`` but keeps line breaks (for the core's multi-line reply text)."""
    lines = [" ".join(line.split()) for line in text.strip().splitlines()]
    out = escape("\n".join(lines))
    if len(out) <= limit:
        return out
    return fit(text, limit)


@lru_cache(maxsize=16384)  # digests to many channels link the same papers over and over
def link_url(url: str | None) -> str | None:
    """``url`` made safe inside ``<url|label>``: http(s) only, ``| < > "`` and spaces
    percent-encoded, ``&`` escaped. None for anything else, or when longer than 500."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    out = quote(url, safe=_URL_SAFE).replace("&", "&amp;")
    return out if len(out) <= _URL else None


def link(url: str | None, label: str) -> str:
    """A mrkdwn link to ``url`` labelled ``label`` (escaped already); the bare label when the
    URL is not safe."""
    safe = link_url(url)
    return f"<{safe}|{label}>" if safe else label


def block_id(*parts: object) -> str:
    """A block id from ``parts``: safe characters only, at most 255."""
    raw = "-".join(str(p) for p in parts)
    return _BLOCK_ID_UNSAFE.sub("_", raw)[:MAX_BLOCK_ID]


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def header_block(text: str, bid: str) -> Block:
    """A header block; ``text`` is untrusted and gets escaped and trimmed to 150."""
    return {"type": "header", "block_id": bid, "text": _plain(fit(text, MAX_HEADER_TEXT) or "…")}


def text_block(mrkdwn: str, bid: str) -> Block:
    """A section of already escaped mrkdwn (trimmed to 3000 as a last resort)."""
    return {"type": "section", "block_id": bid, "text": _mrkdwn(mrkdwn[:MAX_SECTION_TEXT] or "…")}


def context_block(mrkdwn: str, bid: str) -> Block:
    """A one-element context line of already escaped mrkdwn."""
    return {
        "type": "context",
        "block_id": bid,
        "elements": [_mrkdwn(mrkdwn[:MAX_SECTION_TEXT] or "…")],
    }


def share_button(paper: Paper) -> dict[str, Any] | None:
    """The "Share in channel" button for ``paper`` (value: its arXiv id)."""
    if not paper.id or len(paper.id) > MAX_BUTTON_VALUE:
        return None
    return {
        "type": "button",
        "action_id": SHARE_ACTION_ID,
        "text": _plain(SHARE_BUTTON_TEXT),
        "value": paper.id,
    }


def paper_text(paper: Paper) -> str:
    """A paper's section text: linked title, authors, TL;DR (all escaped, under 3000)."""
    title = fit(paper.title, _TITLE) or escape(paper.id)
    lines = [f"*{link(paper.url, title)}*"]
    authors = paper.author_line()
    if authors:
        lines.append(f"_{fit(authors, _AUTHORS)}_")
    tldr = paper.tldr
    if tldr:
        lines.append(fit(tldr, _TLDR))
    return "\n".join(lines)


def paper_context(paper: Paper) -> str:
    """A paper's context line: upvotes (when known) and its outside links."""
    items = [] if paper.upvotes is None else [f"▲ {paper.upvotes}"]
    for label, url in paper.links():
        safe = link_url(url)
        if safe:
            items.append(f"<{safe}|{label}>")
    return " · ".join(items)


_rendered: dict[tuple[Any, ...], tuple[str, str]] = {}
_MAX_RENDERED = 4096


def _paper_texts(paper: Paper) -> tuple[str, str]:
    """``paper_text`` and ``paper_context`` of ``paper``, remembered by what they are made of: a
    fan-out to thousands of channels renders the day's papers once, not once per channel."""
    key = (
        paper.id,
        paper.title,
        tuple(paper.authors),
        paper.ai_summary,
        paper.summary,
        paper.upvotes,
        paper.github_repo,
        paper.project_page,
    )
    texts = _rendered.get(key)
    if texts is None:
        if len(_rendered) >= _MAX_RENDERED:
            _rendered.clear()
        texts = _rendered[key] = (paper_text(paper), paper_context(paper))
    return texts


def paper_blocks(
    paper: Paper, bid: str, *, share: bool = False, note: str | None = None
) -> list[Block]:
    """A paper as two blocks: its section (with a share button when ``share``) and its context
    line. ``note`` is already escaped mrkdwn appended to the context ("shared by …")."""
    text, context = _paper_texts(paper)
    section = text_block(text, f"{bid}-p")
    button = share_button(paper) if share else None
    if button is not None:
        section["accessory"] = button
    if note:
        context = f"{context} · {note}"
    return [section, context_block(context, f"{bid}-c")]


# -- packing papers into messages ----------------------------------------------------------------


@dataclass(slots=True)
class _Section:
    title: str | None  # untrusted; None for a plain list (search results)
    papers: list[list[Block]]
    trending: bool = False


def _chars(blocks: Iterable[Block]) -> int:
    total = 0
    for b in blocks:
        text = b.get("text")
        if isinstance(text, dict):
            total += len(text.get("text", ""))
        for el in b.get("elements", ()):
            total += len(el.get("text", "")) if isinstance(el, dict) else 0
    return total


def _title_block(section: _Section, index: int, continued: bool) -> Block:
    assert section.title is not None
    icon = ":fire:" if section.trending else ":mag:"
    more = " (continued)" if continued else ""
    text = f"{icon} *{fit(section.title, _SECTION_TITLE)}*{more}"
    return text_block(text, block_id("section", index, "cont" if continued else "start"))


def _pack(
    head: list[Block], sections: Sequence[_Section], *, max_blocks: int = MAX_BLOCKS
) -> list[list[Block]]:
    """Blocks for one message after another: ``head`` first, then each section's title and
    papers, split only between papers; a section going on in a new message repeats its title."""
    messages: list[list[Block]] = []
    current: list[Block] = list(head)
    chars = _chars(current)  # of `current`, kept up to date rather than counted again

    def fits(extra: list[Block], size: int | None = None) -> bool:
        size = _chars(extra) if size is None else size
        return len(current) + len(extra) <= max_blocks and chars + size <= MESSAGE_CHAR_BUDGET

    def add(blocks: list[Block], size: int | None = None) -> None:
        nonlocal chars
        current.extend(blocks)
        chars += _chars(blocks) if size is None else size

    def flush() -> None:
        nonlocal current, chars
        if current:
            messages.append(current)
        current, chars = [], 0

    for i, section in enumerate(sections):
        if not section.papers:
            continue
        opening: list[Block] = []
        if section.title is not None:
            if current and current[-1]["type"] != "header":
                opening.append({"type": "divider", "block_id": block_id("divider", i)})
            opening.append(_title_block(section, i, continued=False))
        if not fits(opening + section.papers[0]):
            flush()
            opening = [b for b in opening if b["type"] != "divider"]
        add(opening)
        for paper in section.papers:
            size = _chars(paper)
            if not fits(paper, size):
                flush()
                if section.title is not None:
                    add([_title_block(section, i, continued=True)])
            add(paper, size)
    flush()
    return messages


def _digest_sections(digest: Digest, *, share: bool) -> list[_Section]:
    out: list[_Section] = []
    n = 0
    for section in digest.sections:
        blocks: list[list[Block]] = []
        for paper in section.papers:
            n += 1
            blocks.append(paper_blocks(paper, block_id("paper", n, paper.id), share=share))
        out.append(_Section(section.title, blocks, trending=section.topic is None))
    return out


def _digest_summary(digest: Digest) -> str:
    counts = ", ".join(f"{s.title} ({len(s.papers)})" for s in digest.sections if s.papers)
    n = len(digest.papers)
    return f"{n} paper{'s' if n != 1 else ''}: {counts}"


def digest_messages(digest: Digest, *, threads: bool = False, share: bool = False) -> list[Message]:
    """The messages of ``digest`` as Slack message bodies (``text`` and ``blocks``, no channel).

    The first message starts with a header (the digest's heading); sections follow as titled
    groups of papers, split into as many messages as Slack's limits need. With ``threads`` the
    first body is a short header message and the others are meant as replies in its thread (the
    caller sets ``thread_ts``). ``share`` adds a "Share in channel" button to every paper
    (previews). An empty digest is its notice as one message, or no message at all."""
    heading = digest.heading
    if digest.is_empty:
        if not digest.notice:
            return []
        notice = fit_lines(digest.notice, MAX_SECTION_TEXT)
        return [
            {
                "text": fit(digest.notice, _FALLBACK),
                "blocks": [header_block(heading, "heading"), text_block(notice, "notice")],
            }
        ]
    summary = _digest_summary(digest)
    sections = _digest_sections(digest, share=share)
    head = [header_block(heading, "heading")]
    if threads:
        first: Message = {
            "text": fit(f"{heading} — {summary}", _FALLBACK),
            "blocks": [
                *head,
                context_block(f"{fit(summary, 2000)} — in the thread :thread:", "summary"),
            ],
        }
        replies: list[Message] = []
        for section in sections:
            for blocks in _pack([], [section]):
                replies.append(
                    {"text": fit(f"{heading} — {section.title or ''}", _FALLBACK), "blocks": blocks}
                )
        return [first, *replies]
    packed = _pack(head, sections)
    out: list[Message] = []
    for k, blocks in enumerate(packed, 1):
        text = f"{heading} — {summary}" if k == 1 else f"{heading} (part {k} of {len(packed)})"
        out.append({"text": fit(text, _FALLBACK), "blocks": blocks})
    return out


# -- replies --------------------------------------------------------------------------------------


def _text_blocks(text: str, prefix: str) -> list[Block]:
    """The core's reply text (mrkdwn on purpose: backticks, *bold*, •), escaped, in sections of
    at most 3000 characters split at line breaks."""
    blocks: list[Block] = []
    chunk = ""
    for line in text.strip().splitlines():
        piece = fit(line, MAX_SECTION_TEXT) if line.strip() else ""
        candidate = f"{chunk}\n{piece}" if chunk else piece
        if len(candidate) > MAX_SECTION_TEXT:
            blocks.append(text_block(chunk, block_id(prefix, len(blocks))))
            candidate = piece
        chunk = candidate
    if chunk.strip():
        blocks.append(text_block(chunk, block_id(prefix, len(blocks))))
    return blocks


def _is_paper(block: Block) -> bool:
    return str(block.get("block_id", "")).endswith("-p")


def _is_text(block: Block) -> bool:
    return str(block.get("block_id", "")).startswith("text-")


def reply_messages(reply: Reply, *, max_messages: int = MAX_RESPONSES) -> list[Message]:
    """A command's answer as one or more message bodies (``text``, ``blocks`` and
    ``response_type``: ``ephemeral`` or ``in_channel``), at most ``max_messages`` (a
    response_url takes five). Results and previews get a "Share in channel" button per paper
    when the reply is ephemeral."""
    share = reply.ephemeral
    head: list[Block] = []
    sections: list[_Section] = []
    if reply.digest is not None and not reply.digest.is_empty:
        head.append(header_block(reply.digest.heading, "heading"))
        if reply.text:
            head.append(context_block(fit(reply.text, 2000), "reply-text"))
        sections = _digest_sections(reply.digest, share=share)
    else:
        if reply.title:
            head.append(header_block(reply.title, "title"))
        # Packed like papers, one section block at a time, so a long text (a channel with many
        # topics) goes on in the next message instead of past a message's limits.
        text_blocks = _text_blocks(reply.text, "text") if reply.text else []
        if text_blocks:  # a text of white space alone makes none
            sections.append(_Section(None, [[b] for b in text_blocks]))
        papers = [
            paper_blocks(p, block_id("paper", i, p.id), share=share)
            for i, p in enumerate(reply.papers, 1)
        ]
        if papers:
            sections.append(_Section(None, papers))
    if not head and not sections:
        head = [text_block("…", "text-0")]
    # One block kept free per message for the "shortened" note.
    packed = _pack(head, sections, max_blocks=MAX_BLOCKS - 1)
    shown = packed[:max_messages]
    if len(packed) > len(shown):
        rest = [b for blocks in packed[len(shown) :] for b in blocks]
        hidden = sum(1 for b in rest if _is_paper(b))
        missing = ["the rest of the text"] if any(_is_text(b) for b in rest) else []
        if hidden:
            missing.append(f"{hidden} more paper{'s' if hidden != 1 else ''}")
        note = f"Shortened: {' and '.join(missing)} not shown here."
        shown[-1].append(context_block(note, "shortened"))
    fallback = reply.title or reply.text or (reply.digest.heading if reply.digest else "")
    response_type = "ephemeral" if reply.ephemeral else "in_channel"
    return [
        {"text": fit(fallback, _FALLBACK) or "…", "blocks": blocks, "response_type": response_type}
        for blocks in shown
    ]


def reply_message(reply: Reply) -> Message:
    """A command's answer as one message body (``text``, ``blocks``, ``response_type``); a
    preview too long for one message is shortened with a note."""
    return reply_messages(reply, max_messages=1)[0]


def shared_paper_message(paper: Paper, user_id: str) -> Message:
    """The message posting ``paper`` visibly to a channel, "shared by <@user>". ``user_id`` comes
    from Slack's signed payload; anything that is not a user id is shown escaped, not mentioned."""
    if re.fullmatch(r"[UW][A-Z0-9]{2,20}", user_id):
        by = f"<@{user_id}>"
    else:
        by = escape(user_id) or "someone"
    blocks = paper_blocks(paper, block_id("shared", paper.id), note=f"shared by {by}")
    return {"text": f"{fit(paper.title, _FALLBACK)} (shared by {by})", "blocks": blocks}


def digest_metadata(digest: Digest, part: int, parts: int) -> dict[str, Any]:
    """Message metadata marking part ``part`` of ``digest``, so a digest already posted (before
    a crash, or by another replica) can be found with ``conversations.history``."""
    return {
        "event_type": DIGEST_EVENT_TYPE,
        "event_payload": {
            "target": str(digest.target),
            "day": digest.day.isoformat(),
            "part": part,
            "parts": parts,
        },
    }


def digest_post_bodies(digest: Digest, *, threads: bool = False) -> list[Message]:
    """The exact ``chat.postMessage`` bodies for ``digest``: ``digest_messages`` with the
    channel, metadata and no link unfurling (with ``threads`` the sender adds ``thread_ts`` to
    all but the first)."""
    messages = digest_messages(digest, threads=threads)
    return [
        {
            "channel": digest.target.channel,
            **message,
            "unfurl_links": False,
            "unfurl_media": False,
            "metadata": digest_metadata(digest, i, len(messages)),
        }
        for i, message in enumerate(messages)
    ]
