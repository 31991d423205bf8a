"""Sending a channel's digest through whatever adapter serves its platform."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Protocol

from bot.db import retry_unavailable
from bot.digest import DigestBuilder
from bot.models import Channel, Digest, DigestSection, Paper, Target, clean_text
from bot.store import Store

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """Posting failed. ``permanent`` failures (channel gone, bot removed, token revoked) pause the
    channel; the others are retried later."""

    permanent: bool = False


class PermanentDeliveryError(DeliveryError):
    permanent = True


class Journal(Protocol):
    """Where a delivery keeps the parts it has posted (part index -> message id, "" when the
    platform returns none), for adapters that cannot always find their own posts on the
    platform (webhooks: never; Discord: its nonce holds a few minutes; Slack: with the history
    scopes only): a retry in any process then posts only the rest."""

    def posted(self) -> dict[int, str]:
        """The parts an earlier attempt of this delivery recorded as posted."""
        ...

    async def record(self, posted: dict[int, str]) -> None:
        """Keep ``posted`` (every part posted so far); best effort, never raises."""
        ...


def posted_before(
    journal: Journal | None,
    resume: bool,
    target: Target,
    parts: int,
    found: dict[int, str] | None = None,
) -> dict[int, str]:
    """The parts of a delivery of ``parts`` parts to ``target`` already posted: those an
    earlier attempt recorded in ``journal`` and those ``found`` on the platform (none on a
    first attempt, which has nothing to resume)."""
    if not resume:
        return {}
    done = {i: m for i, m in journal.posted().items() if 0 <= i < parts} if journal else {}
    done.update(found or {})
    if done:
        log.info("%s: %d of %d parts were already posted", target, len(done), parts)
    return done


class Sender(Protocol):
    """What delivery needs from an adapter.

    ``nonce`` identifies one delivery. With ``resume`` (a retry after a crash) the adapter must
    not post again what that delivery already posted: it uses the platform's nonce, looks for
    its messages, or reads ``journal``. Only retries resume, so a first attempt costs no extra
    API calls."""

    async def send_digest(
        self,
        digest: Digest,
        *,
        nonce: str | None = None,
        resume: bool = False,
        journal: Journal | None = None,
    ) -> list[str]: ...


@dataclass(slots=True)
class DeliveryResult:
    status: str  # "sent" | "empty"
    digest: Digest
    message_ids: list[str] = field(default_factory=list)


# What a digest shows of a paper that a later fetch may change (counts, the AI summary arriving
# late, links, a corrected title), kept in the plan until the delivery is settled: a retry
# renders each paper as the first attempt did, so its messages split at the same papers and the
# parts recorded as posted are the parts it would post. (Discord and Slack split by characters;
# one paper grown by its new AI summary moved the split, and a retry posted a paper twice or
# left one out.) The abstract is not kept: it is the longest text and arXiv's, not rewritten
# within a day.
SHOWN = "shown"
_SHOWN_FIELDS = (
    "title",
    "authors",
    "ai_summary",
    "upvotes",
    "num_comments",
    "github_repo",
    "github_stars",
    "project_page",
)
_SHOWN_AUTHORS = 4  # "A, B, C et al." needs the first three names and whether there are more


def _shown(paper: Paper) -> dict[str, Any]:
    shown = {name: getattr(paper, name) for name in _SHOWN_FIELDS}
    shown["authors"] = [a for a in paper.authors if clean_text(a)][:_SHOWN_AUTHORS]
    return shown


def _as_shown(paper: Paper, shown: Any) -> Paper:
    """``paper`` with the fields ``shown`` kept of it (as the first attempt showed them)."""
    if not isinstance(shown, dict):
        return paper
    return replace(paper, **{k: v for k, v in shown.items() if k in _SHOWN_FIELDS})


def digest_plan(digest: Digest) -> dict[str, Any]:
    """The digest to store in the ledger before posting: its sections as paper ids, and what
    it shows of each paper that may change before a retry (`SHOWN`)."""
    return {
        "day": digest.day.isoformat(),
        "notice": digest.notice,
        "sections": [
            {"title": s.title, "topic": s.topic, "ids": [p.id for p in s.papers]}
            for s in digest.sections
        ],
        SHOWN: {p.id: _shown(p) for p in digest.papers},
    }


def digest_from_plan(store: Store, channel: Channel, plan: dict[str, Any]) -> Digest:
    """The digest a stored plan describes: papers read back from the store, shown as the plan
    kept them (plans from before `SHOWN`, and settled ones, show them as stored)."""
    shown = plan.get(SHOWN)
    shown = shown if isinstance(shown, dict) else {}
    sections = []
    for s in plan.get("sections", []):
        papers = [_as_shown(p, shown.get(p.id)) for p in store.get_papers(s.get("ids", []))]
        if papers:
            sections.append(DigestSection(s.get("title", ""), papers, topic=s.get("topic")))
    return Digest(
        target=channel.target,
        day=date.fromisoformat(plan["day"]),
        sections=sections,
        notice=plan.get("notice"),
    )


async def post(
    digests: DigestBuilder,
    channel: Channel,
    digest: Digest,
    sender: Sender,
    *,
    nonce: str | None = None,
    resume: bool = False,
    journal: Journal | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Post a built digest and remember its papers as posted to the channel.

    A permanent failure pauses the channel (one log line) and is raised again."""
    try:
        ids = await sender.send_digest(digest, nonce=nonce, resume=resume, journal=journal)
    except PermanentDeliveryError as e:
        log.warning("pausing %s: %s (resume with /papers schedule on)", channel.target, e)
        await asyncio.to_thread(
            digests.store.set_schedule, channel.target, paused=True, pause_reason=str(e)
        )
        raise
    # Posted: recording it must outlast a short database outage, or a retry would post again.
    await retry_unavailable(digests.mark_sent, channel, digest, at=now)
    return ids


async def deliver(
    digests: DigestBuilder,
    channel: Channel,
    day: date,
    sender: Sender,
    *,
    nonce: str | None = None,
    now: datetime | None = None,
) -> DeliveryResult:
    """Build ``channel``'s digest for ``day`` and post it (``papers-bot digest --send``).

    An empty digest with no notice posts nothing. Raises DeliveryError when posting fails."""
    digest = await asyncio.to_thread(digests.build, channel, day, now=now)
    if digest.is_empty and digest.notice is None:
        return DeliveryResult("empty", digest)
    ids = await post(digests, channel, digest, sender, nonce=nonce, now=now)
    log.info("digest for %s on %s sent (%d papers)", channel.target, day, len(digest.papers))
    return DeliveryResult("sent", digest, ids)
