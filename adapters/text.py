"""Plain-text rendering of neutral objects, for terminals and logs."""

from __future__ import annotations

from bot.models import Digest, Paper, Reply


def render_paper(paper: Paper, index: int | None = None) -> str:
    """A paper as a few lines: title and link, authors and upvotes, TL;DR, outside links."""
    number = f"{index}. " if index is not None else ""
    lines = [f"{number}{paper.title}", f"   {paper.url}"]
    votes = "" if paper.upvotes is None else f"▲ {paper.upvotes}"
    meta = [m for m in (paper.author_line(), votes) if m]
    lines.append("   " + " · ".join(meta))
    if paper.tldr:
        lines.append(f"   TL;DR: {paper.tldr}")
    lines.append("   " + " · ".join(f"{label}: {url}" for label, url in paper.links()))
    return "\n".join(lines)


def render_digest(digest: Digest) -> str:
    """The whole digest as text; an empty digest is its notice (or an empty string)."""
    if digest.is_empty:
        return digest.notice or ""
    out = [digest.heading, "=" * len(digest.heading)]
    for section in digest.sections:
        out.append("")
        out.append(f"## {section.title}")
        for i, paper in enumerate(section.papers, 1):
            out.append(render_paper(paper, i))
    return "\n".join(out)


def render_reply(reply: Reply) -> str:
    """A command's answer as text."""
    parts: list[str] = []
    if reply.title:
        parts.append(f"[{reply.title}]")
    if reply.text:
        parts.append(reply.text)
    for i, paper in enumerate(reply.papers, 1):
        parts.append(render_paper(paper, i))
    if reply.digest is not None:
        parts.append(render_digest(reply.digest))
    return "\n".join(parts)
