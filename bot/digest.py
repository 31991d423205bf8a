"""Building a channel's daily digest: trending papers, then one section per subscribed topic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.models import Channel, Digest, DigestSection, Paper
from bot.search import Searcher
from bot.store import Store


@dataclass(slots=True)
class DigestOptions:
    trending: int = 5
    per_topic: int = 3
    repost_window_days: int = 30
    when_empty: str = "silent"
    # Topic sections look back this many days, so a topic gets papers even when the day's list
    # has none on it; the repost window keeps them from coming back.
    topic_lookback_days: int = 7
    min_relevance: float = 0.0


# The digest's topic sections keep papers scoring at least this with lexical search alone, when
# the config sets no digest.min_relevance: a paper holding one word of a topic in its abstract
# ("experts" for "mixture of experts") scores under it. On tests/data/search_judgments.json it
# keeps every judged-relevant paper of the top 3 (202 of 202) and drops a few others.
LEXICAL_MIN_RELEVANCE = 0.35

EMPTY_NOTICE = "No new papers on Hugging Face Daily Papers since the last digest."
WEEKEND_NOTICE = "No new papers today — Daily Papers is quiet on weekends and holidays."


class DigestBuilder:
    """Makes the neutral ``Digest`` a channel should get for a day (sending is not its job)."""

    def __init__(self, store: Store, searcher: Searcher, options: DigestOptions) -> None:
        self.store = store
        self.searcher = searcher
        self.options = options

    def build(self, channel: Channel, day: date, *, now: datetime | None = None) -> Digest:
        """The digest for ``channel`` on its local date ``day``.

        Trending is the top ``trending`` of the latest featured day on or before ``day``;
        topic sections come from the last ``topic_lookback_days`` days. Papers already posted to
        the channel within the repost window, or already in an earlier section, are left out:
        a day's lower-ranked papers never move up to stand in for them (on a weekend, Friday's
        sixth to tenth are not "Trending")."""
        opts = self.options
        posted: set[str] = set()
        if channel.id is not None:
            posted = self.store.posted_ids(channel.id, opts.repost_window_days, now)
        used = set(posted)
        sections: list[DigestSection] = []

        featured = self.store.latest_featured_date(day)
        if opts.trending > 0 and featured is not None:
            top = self.store.papers_on(featured, limit=opts.trending)
            trending = [p for p in top if p.id not in used]
            if trending:
                sections.append(DigestSection("Trending", trending))
                used.update(p.id for p in trending)

        since = day - timedelta(days=opts.topic_lookback_days)
        for topic in channel.topics:
            hits = self.searcher.search(
                topic,
                limit=opts.per_topic,
                since=since,
                until=day,
                exclude=used,
                min_score=opts.min_relevance,
            )
            papers: list[Paper] = [h.paper for h in hits]
            if papers:
                sections.append(DigestSection(topic, papers, topic=topic))
                used.update(p.id for p in papers)

        notice = None
        if not sections and opts.when_empty == "notice":
            notice = WEEKEND_NOTICE if day.weekday() >= 5 else EMPTY_NOTICE
        return Digest(target=channel.target, day=day, sections=sections, notice=notice)

    def mark_sent(self, channel: Channel, digest: Digest, *, at: datetime | None = None) -> None:
        """Remember the digest's papers as posted, so the channel never gets them twice."""
        if channel.id is not None:
            self.store.mark_posted(channel.id, [p.id for p in digest.papers], at)
