"""Discord message bodies for digests and replies: pure functions, no discord.py objects.

Every body is exactly what ``POST /channels/{id}/messages`` (or a webhook execute) takes:
``content``, ``embeds`` as dicts, ``allowed_mentions`` that parse nothing, and for shareable
results ``components`` with one Share button per paper. Bodies stay inside Discord's limits
(content 2000, 10 embeds, 6000 characters across a message's embeds, title 256, description 4096,
footer 2048, author name 256); what does not fit one message continues in the next.

Untrusted text (titles, authors, summaries, topics) is escaped: no mention can ping, no markdown
or masked link ``[text](url)`` is injected, ``<@id>``/``<#id>``/``<@&id>`` stay literal text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, urlsplit

from discord.utils import escape_mentions

from bot.models import Digest, Paper, Reply, clean_text, shorten

CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBEDS_TOTAL_MAX = 6000
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
AUTHOR_MAX = 256
BUTTONS_PER_ROW = 5
ROWS_MAX = 5
CUSTOM_ID_MAX = 100
URL_MAX = 512  # per outside link, so that four of them leave the description room

NO_MENTIONS: dict[str, list[str]] = {"parse": []}
EPHEMERAL_FLAG = 1 << 6
COLOR = 0xFFD21E  # Hugging Face yellow
SHARE_PREFIX = "papers:share:"
SHARE_ID_RE = re.compile(r"^[A-Za-z0-9._/-]{1,80}$")

_ZWSP = "\u200b"
# Discord reads these as markup wherever they stand: the escape character itself, emphasis,
# underline, strikethrough and spoilers (``* _ ~ |``), code (`` ` ``), masked links (``[ ]``), and
# mentions, channels, timestamps, emoji and ``<url>`` (``<``). Every one is escaped, paired or
# not: discord.py's escape_markdown takes the span from a ``[`` to the last ``](…)`` as one token
# and escapes only its start, which left ``**``/``||`` between two brackets live.
_INLINE = re.compile(r"[\\*_~|`\[\]<]")
# ... and these only at the start of a line (after any indentation): headers and subtext
# (``#``, ``-#``), block quotes (``>``, ``>>>``), lists (``-``, ``+``; ``*`` is escaped anyway)
# and numbered lists (``1.``, whose dot is what must be escaped).
_LINE_START = re.compile(r"^([ \t]*)(?:([#>+-])|(\d+)\.)", re.MULTILINE)
_CODE_SPAN = re.compile(r"`[^`\n]+`")
# A link Discord makes clickable as it stands, less a final full stop, comma or bracket, and
# only while it holds no character that is markup elsewhere but ``_ ~`` (common in paths), nor
# a backslash, which would escape what follows the link.
_BARE_URL = re.compile(r"https?://[\w.-]+(?:[/?#][^\s<>\[\]|`*\\]*[^\s<>\[\]|`*\\.,:;\"')])?")
_URL_SAFE = "/:?#&=%+~-._,;@!$*"


def _line_start(match: re.Match[str]) -> str:
    indent, marker, number = match.groups()
    return f"{indent}\\{marker}" if marker else f"{indent}{number}\\."


def _escape_markup(text: str) -> str:
    text = _INLINE.sub(r"\\\g<0>", text)
    return _LINE_START.sub(_line_start, text)


def escape(text: str) -> str:
    """``text`` made inert for Discord markdown: markup shows literally, mentions never ping,
    masked links and ``<@id>``/``<#id>`` render as plain text. Every markup character gets a
    backslash (Discord hides the backslash before punctuation), so the text reads the same.
    Bare links are left as they are, as discord.py's escape_markdown leaves them: Discord
    shows a link whole, markup and all, and a backslash in one would break it."""
    return escape_mentions(_outside(_BARE_URL, text, _escape_markup))


def _outside(pattern: re.Pattern[str], text: str, transform: Callable[[str], str]) -> str:
    """``text`` with ``transform`` applied to what lies between the matches of ``pattern``,
    the matches left as they are."""
    out: list[str] = []
    pos = 0
    for m in pattern.finditer(text):
        out.append(transform(text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(transform(text[pos:]))
    return "".join(out)


def plain(text: str) -> str:
    """``text`` for fields Discord shows without markdown (embed author, footer): a zero-width
    space keeps ``@everyone`` and ``<@id>`` from ever being read as mentions."""
    return escape_mentions(text).replace("<", "<" + _ZWSP)


def escape_reply_text(text: str) -> str:
    """Escape ``text`` except inside inline code spans (which Discord shows literally anyway),
    so a reply's `/papers …` examples keep their formatting."""
    return _outside(_CODE_SPAN, text, escape)


def fit(text: str, limit: int, render: Callable[[str], str] = escape) -> str:
    """``render(text)`` shortened (before rendering, at a word boundary) until it is at most
    ``limit`` characters."""
    budget = limit
    while True:
        out = render(shorten(text, budget))
        if len(out) <= limit or budget <= 1:
            return out[:limit]
        budget -= max(1, len(out) - limit)


def safe_url(url: str | None) -> str | None:
    """An http(s) URL fit for a markdown link, or None: characters that could end or nest the
    link (parentheses, brackets, quotes, white space) are percent-encoded."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    # The encoded length is what the description carries: a non-ASCII character is up to 12
    # characters once encoded, and an over-long link would cut the description mid-link.
    url = quote(url, safe=_URL_SAFE)
    return url if len(url) <= URL_MAX else None


def _links(paper: Paper) -> str:
    links = [("arXiv", paper.arxiv_url), ("PDF", paper.pdf_url)]
    repo = safe_url(paper.github_repo)
    if repo is not None:
        host = (urlsplit(repo).hostname or "").lower()
        links.append(("GitHub" if host in ("github.com", "www.github.com") else "Code", repo))
    page = safe_url(paper.project_page)
    if page is not None:
        links.append(("Project page", page))
    return " · ".join(f"[{label}]({url})" for label, url in links)


def _upvotes(paper: Paper) -> str:
    """The footer: upvotes and comments, those known (an empty string if neither is)."""
    parts = []
    n = paper.upvotes
    if n is not None:
        parts.append(f"▲ {n} upvote{'' if n == 1 else 's'}")
    c = paper.num_comments
    if c:
        parts.append(f"{c} comment{'' if c == 1 else 's'}")
    return " · ".join(parts)


def paper_embed(
    paper: Paper, *, index: int | None = None, section: str | None = None
) -> dict[str, Any]:
    """One paper as an embed: numbered title linking to its Hugging Face page; authors, TL;DR and
    outside links in the description; upvotes in the footer; ``section`` as the author line."""
    prefix = f"{index}. " if index is not None else ""
    title = prefix + fit(clean_text(paper.title) or paper.id, TITLE_MAX - len(prefix))
    lines: list[str] = []
    authors = paper.author_line()
    if authors:
        lines.append("*" + fit(clean_text(authors), 400) + "*")
    if paper.tldr:
        lines.append(fit(paper.tldr, 1200))
    lines.append(_links(paper))
    embed: dict[str, Any] = {
        "type": "rich",
        "title": title,
        "url": paper.url,
        "description": "\n".join(lines)[:DESCRIPTION_MAX],
        "color": COLOR,
    }
    footer = _upvotes(paper)
    if footer:  # Discord refuses a footer without text
        embed["footer"] = {"text": footer[:FOOTER_MAX]}
    if section:
        embed["author"] = {"name": fit(clean_text(section), AUTHOR_MAX, plain)}
    return embed


def embed_length(embed: dict[str, Any]) -> int:
    """Characters Discord counts toward a message's 6000: title, description, field names and
    values, footer text and author name."""
    n = len(embed.get("title", "")) + len(embed.get("description", ""))
    n += len(embed.get("footer", {}).get("text", "")) + len(embed.get("author", {}).get("name", ""))
    return n + sum(
        len(f.get("name", "")) + len(f.get("value", "")) for f in embed.get("fields", ())
    )


def _split_content(text: str, limit: int = CONTENT_MAX) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut at line breaks where possible."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = text.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        run = len(text[:cut]) - len(text[:cut].rstrip("\\"))
        if run % 2:  # never split an escape pair (a backslash and what it escapes)
            cut -= 1
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip("\n ")
    if text or not pieces:
        pieces.append(text)
    return pieces


def _body(content: str | None, embeds: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if content:
        body["content"] = content
    if embeds:
        body["embeds"] = embeds
    body["allowed_mentions"] = {"parse": []}  # a fresh dict: callers may change bodies
    return body


def pack(content: str, embeds: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Message bodies carrying ``content`` and then ``embeds`` in order, each body within the
    content, embed-count and 6000-character limits."""
    texts = _split_content(content) if content else []
    bodies: list[dict[str, Any]] = [_body(t, []) for t in texts]
    current: list[dict[str, Any]] = []
    size = 0
    if bodies:  # the last text piece takes the first embeds
        last = bodies.pop()
        current_content: str | None = last.get("content")
    else:
        current_content = None
    for embed in embeds:
        n = embed_length(embed)
        if current and (len(current) >= EMBEDS_MAX or size + n > EMBEDS_TOTAL_MAX):
            bodies.append(_body(current_content, current))
            current, size, current_content = [], 0, None
        current.append(embed)
        size += n
    if current or current_content:
        bodies.append(_body(current_content, current))
    return bodies


def digest_messages(digest: Digest) -> list[dict[str, Any]]:
    """The message bodies posting ``digest`` sends, in order: a bold heading with the date, then
    one embed per paper with its section as the embed's author line. An empty digest is its
    notice as one line, or nothing at all."""
    if digest.is_empty:
        return [_body(fit(digest.notice, CONTENT_MAX), [])] if digest.notice else []
    embeds: list[dict[str, Any]] = []
    for section in digest.sections:
        label = section.title if section.topic is None else f"Topic: {section.title}"
        for i, paper in enumerate(section.papers, 1):
            embeds.append(paper_embed(paper, index=i, section=label))
    return pack(f"**{escape(digest.heading)}**", embeds)


def share_custom_id(paper_id: str) -> str | None:
    """The Share button's ``custom_id`` for a paper, or None when the id cannot carry one."""
    if not SHARE_ID_RE.match(paper_id):
        return None
    custom_id = SHARE_PREFIX + paper_id
    return custom_id if len(custom_id) <= CUSTOM_ID_MAX else None


def _share_rows(papers: list[tuple[int, Paper]]) -> list[dict[str, Any]]:
    buttons: list[dict[str, Any]] = []
    for index, paper in papers:
        custom_id = share_custom_id(paper.id)
        if custom_id is not None:
            buttons.append(
                {"type": 2, "style": 2, "label": f"Share {index}", "custom_id": custom_id}
            )
    buttons = buttons[: BUTTONS_PER_ROW * ROWS_MAX]
    return [
        {"type": 1, "components": buttons[i : i + BUTTONS_PER_ROW]}
        for i in range(0, len(buttons), BUTTONS_PER_ROW)
    ]


def reply_messages(reply: Reply) -> list[dict[str, Any]]:
    """A command's answer as message bodies (one unless it carries many papers): the title in
    bold and the text, then the papers as embeds, each with a Share button when the reply is
    private; a digest preview carries the digest's embeds. ``flags`` marks ephemeral replies."""
    parts: list[str] = []
    title = clean_text(reply.title)
    if title:  # "****" for a blank one would show as it stands
        parts.append(f"**{fit(title, 300)}**")
    if reply.text:
        parts.append(escape_reply_text(reply.text))
    embeds: list[tuple[int | None, Paper, dict[str, Any]]] = [
        (i, p, paper_embed(p, index=i)) for i, p in enumerate(reply.papers, 1)
    ]
    if reply.digest is not None and not reply.digest.is_empty:
        parts.append(f"__{escape(reply.digest.heading)}__")
        for section in reply.digest.sections:
            label = section.title if section.topic is None else f"Topic: {section.title}"
            for i, paper in enumerate(section.papers, 1):
                embeds.append((None, paper, paper_embed(paper, index=i, section=label)))
    bodies = pack("\n".join(parts), (e for _, _, e in embeds)) or [_body("Done.", [])]
    if reply.shareable:
        # Buttons follow their embeds: each body gets the buttons of the papers it shows.
        queue = [(i, p) for i, p, _ in embeds if i is not None]
        for body in bodies:
            n = len(body.get("embeds", ()))
            mine, queue = queue[:n], queue[n:]
            rows = _share_rows(mine)
            if rows:
                body["components"] = rows
    if reply.ephemeral:
        for body in bodies:
            body["flags"] = EPHEMERAL_FLAG
    return bodies


def reply_message(reply: Reply) -> dict[str, Any]:
    """A command's answer as one message body: the first of ``reply_messages`` (the only one for
    every reply but long result lists and digest previews)."""
    return reply_messages(reply)[0]


def share_message(paper: Paper, user_id: int) -> dict[str, Any]:
    """The public message a Share button posts: the paper's embed and "Shared by <@user>" (the
    mention renders but, with ``allowed_mentions`` parsing nothing, pings no one)."""
    return _body(f"Shared by <@{int(user_id)}>", [paper_embed(paper)])
