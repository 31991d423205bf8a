"""Platform-neutral objects shared by the core and every adapter.

Adapters receive these and render them their own way; nothing here knows about Slack or Discord.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

HF_PAPER_URL = "https://huggingface.co/papers/{id}"
ARXIV_ABS_URL = "https://arxiv.org/abs/{id}"
ARXIV_PDF_URL = "https://arxiv.org/pdf/{id}"

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")
# Words ending in a full stop that do not end a sentence in an abstract.
_ABBREVIATIONS = frozenset(
    {
        "e.g.",
        "i.e.",
        "al.",
        "etc.",
        "vs.",
        "cf.",
        "fig.",
        "figs.",
        "eq.",
        "eqs.",
        "sec.",
        "approx.",
        "resp.",
        "no.",
        "dr.",
        "prof.",
        "vol.",
        "ref.",
        "refs.",
        "tab.",
        "ch.",
        "appx.",
        "incl.",
        "esp.",
        "viz.",
        "ca.",
    }
)


# Control characters that are not white space (those go with str.split()): in a terminal they
# move the cursor, hide text or make links; no title or topic needs one.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
# A lone half of a UTF-16 pair (JSON's "\ud83d" cut from its partner): no database or encoder
# takes it.
SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_text(text: str | None) -> str:
    """Fold hard line breaks and runs of white space into single spaces. NUL counts as white
    space: PostgreSQL's text cannot hold it (a topic or a paper's title with one would fail).
    Other control characters are dropped and a lone surrogate becomes U+FFFD."""
    if not text:
        return ""
    # str.split() splits at the same characters as \s (str.isspace), several times faster.
    text = " ".join(text.replace("\x00", " ").split())
    if not text.isprintable():  # rare: the check is far cheaper than the regular expressions
        text = SURROGATE.sub("\ufffd", _CONTROL.sub("", text))
        text = " ".join(text.split())
    return text


def first_sentence(text: str, limit: int = 300) -> str:
    """The first sentence of ``text``, cut at a word boundary when longer than ``limit``."""
    text = clean_text(text)
    if not text:
        return ""
    end = len(text)
    for m in _SENTENCE_END.finditer(text):
        words = text[: m.start()].rsplit(None, 1)
        last = words[-1].casefold() if words else ""
        # "et al. (2024)", "e.g. X", and single initials ("J. Smith") do not end a sentence.
        if last in _ABBREVIATIONS or (len(last) == 2 and last[0].isalpha()):
            continue
        end = m.start()
        break
    return shorten(text[:end], limit)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, with an ellipsis."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return "…"[:limit]
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


@dataclass(slots=True)
class Paper:
    """One paper as the bot knows it, parsed from a Hugging Face Daily Papers item."""

    id: str
    title: str
    summary: str = ""
    authors: list[str] = field(default_factory=list)
    published_at: datetime | None = None
    featured_date: date | None = None
    # None: the item did not say (a known paper keeps the count it had; a new one stores 0).
    upvotes: int | None = 0
    num_comments: int | None = 0
    ai_summary: str | None = None
    ai_keywords: list[str] = field(default_factory=list)
    github_repo: str | None = None
    github_stars: int | None = None
    project_page: str | None = None
    organization: str | None = None
    thumbnail: str | None = None
    submitted_by: str | None = None
    withdrawn_at: datetime | None = None
    # The item exactly as the API sent it, so fields we do not model yet are kept too.
    raw: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def url(self) -> str:
        return HF_PAPER_URL.format(id=self.id)

    @property
    def arxiv_url(self) -> str:
        return ARXIV_ABS_URL.format(id=self.id)

    @property
    def pdf_url(self) -> str:
        return ARXIV_PDF_URL.format(id=self.id)

    @property
    def tldr(self) -> str:
        """``ai_summary`` when present, else the abstract's first sentence."""
        if self.ai_summary and self.ai_summary.strip():
            return shorten(clean_text(self.ai_summary), 300)
        return first_sentence(self.summary)

    def author_line(self, first: int = 3) -> str:
        """The first ``first`` authors, then "et al." (names of white space alone left out)."""
        names = [name for name in map(clean_text, self.authors) if name]
        if not names:
            return ""
        if len(names) <= first:
            return ", ".join(names)
        return ", ".join(names[:first]) + " et al."

    def links(self) -> list[tuple[str, str]]:
        """(label, url) pairs for the paper's outside links, the known ones only."""
        out = [("arXiv", self.arxiv_url), ("PDF", self.pdf_url)]
        if self.github_repo:
            out.append(("GitHub", self.github_repo))
        if self.project_page:
            out.append(("Project page", self.project_page))
        return out


@dataclass(slots=True)
class ScoredPaper:
    """A search hit: the paper and its relevance score (higher is better)."""

    paper: Paper
    score: float


class Platform(StrEnum):
    SLACK = "slack"
    DISCORD = "discord"
    WEBHOOK = "webhook"
    CONSOLE = "console"
    MEMORY = "memory"


class TargetError(ValueError):
    """A channel address that does not parse."""


_TARGET_RE = re.compile(r"^(?P<platform>[a-z]+):(?P<rest>[^\s]+)$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Target:
    """A channel address: ``slack:T0123/C0456``, ``discord:<guild>/<channel>``, ``webhook:<name>``,
    ``console:<name>`` or ``memory:<name>``."""

    platform: Platform
    workspace: str
    channel: str

    @classmethod
    def parse(cls, text: str) -> Target:
        text = (text or "").strip()
        m = _TARGET_RE.match(text)
        if not m:
            raise TargetError(
                f"{text!r} is not a channel address; use slack:TEAM/CHANNEL, "
                "discord:GUILD/CHANNEL, webhook:NAME or console:NAME"
            )
        try:
            platform = Platform(m["platform"])
        except ValueError:
            raise TargetError(
                f"unknown platform {m['platform']!r} in {text!r}; "
                "use slack, discord, webhook or console"
            ) from None
        rest = m["rest"]
        if platform in (Platform.SLACK, Platform.DISCORD):
            workspace, sep, channel = rest.partition("/")
            ok = bool(sep and workspace and channel and "/" not in channel)
            if ok and platform is Platform.DISCORD:
                ok = workspace.isdigit() and channel.isdigit()
            if ok and platform is Platform.SLACK:
                ok = workspace.isalnum() and channel.isalnum()
            if not ok:
                example = (
                    "slack:T0123/C0456" if platform is Platform.SLACK else "discord:GUILD/CHANNEL"
                )
                raise TargetError(f"{text!r} is not a {platform} channel address; use {example}")
            return cls(platform, workspace, channel)
        if not _NAME_RE.match(rest):
            raise TargetError(
                f"{text!r}: a {platform} name is letters, digits, '.', '_' or '-' (at most 64)"
            )
        return cls(platform, "", rest)

    def __str__(self) -> str:
        if self.workspace:
            return f"{self.platform}:{self.workspace}/{self.channel}"
        return f"{self.platform}:{self.channel}"


@dataclass(slots=True)
class Schedule:
    """When a channel's digest is posted: local ``time`` (HH:MM) in ``timezone``."""

    time: str = "09:00"
    timezone: str = "UTC"
    weekdays_only: bool = False
    paused: bool = False

    def describe(self) -> str:
        days = "weekdays" if self.weekdays_only else "every day"
        state = " (paused)" if self.paused else ""
        return f"{days} at {self.time} {self.timezone}{state}"


@dataclass(slots=True)
class Channel:
    """A channel the bot posts to, with its schedule and subscribed topics."""

    target: Target
    schedule: Schedule
    topics: list[str] = field(default_factory=list)
    id: int | None = None
    # When the channel was created or its schedule last changed (its time, time zone, weekdays
    # or pause); digests due before then are not owed. Its topics do not count.
    schedule_changed_at: datetime | None = None


@dataclass(slots=True)
class DigestSection:
    """One titled list of papers in a digest: "Trending" or a subscribed topic."""

    title: str
    papers: list[Paper]
    topic: str | None = None


@dataclass(slots=True)
class Digest:
    """A channel's digest for one day. Empty when there is nothing new; ``notice`` then says why
    (or is None when the channel should get nothing at all)."""

    target: Target
    day: date
    sections: list[DigestSection]
    notice: str | None = None

    @property
    def papers(self) -> list[Paper]:
        return [p for s in self.sections for p in s.papers]

    @property
    def is_empty(self) -> bool:
        return not self.papers

    @property
    def heading(self) -> str:
        return f"Daily Papers — {self.day:%A, %d %B %Y}"


class ReplyKind(StrEnum):
    INFO = "info"
    RESULTS = "results"
    DIGEST = "digest"
    CONFIRM = "confirm"
    ERROR = "error"


@dataclass(slots=True)
class Reply:
    """What a command answers, before any platform renders it.

    ``ephemeral`` replies are shown only to the person who asked; the others are posted where
    the channel sees them. ``papers`` are result cards, each shareable into the channel."""

    text: str
    kind: ReplyKind = ReplyKind.INFO
    ephemeral: bool = True
    title: str | None = None
    papers: list[Paper] = field(default_factory=list)
    digest: Digest | None = None

    @property
    def shareable(self) -> bool:
        return self.ephemeral and bool(self.papers)


@dataclass(frozen=True, slots=True)
class Invocation:
    """Who typed a command and where, as the adapter knows it."""

    target: Target
    user_id: str = ""
    user_name: str = ""
    can_manage: bool = True
