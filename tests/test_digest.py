from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.app import App
from bot.config import Settings
from bot.digest import (
    EMPTY_NOTICE,
    LEXICAL_MIN_RELEVANCE,
    WEEKEND_NOTICE,
    DigestBuilder,
    DigestOptions,
)
from bot.models import Target
from bot.search import Searcher
from bot.store import Store
from tests.factories import corpus, paper

DAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)
TARGET = Target.parse("discord:1/2")


def builder(store: Store, **options: object) -> DigestBuilder:
    store.upsert_papers(corpus())
    return DigestBuilder(store, Searcher(store), DigestOptions(**options))  # type: ignore[arg-type]


def test_trending_then_a_section_per_topic(store: Store) -> None:
    b = builder(store)
    store.subscribe(TARGET, "diffusion models")
    store.subscribe(TARGET, "mixture of experts")
    ch = store.get_channel(TARGET)
    assert ch is not None
    d = b.build(ch, DAY, now=NOW)
    assert [s.title for s in d.sections] == ["Trending", "diffusion models", "mixture of experts"]
    trending = d.sections[0].papers
    assert [p.upvotes for p in trending] == [88, 51, 40, 12, 3]  # the day's top 5 by upvotes
    for section in d.sections[1:]:
        assert 1 <= len(section.papers) <= 3
    # No paper twice in one digest: topic sections skip what Trending already shows.
    ids = [p.id for p in d.papers]
    assert len(ids) == len(set(ids))
    assert "2611.10007" in {p.id for p in d.sections[1].papers}  # diffusion, from the day before
    assert "2611.10008" in {p.id for p in d.sections[2].papers}  # MoE, from the day before


def test_counts_are_configurable(store: Store) -> None:
    b = builder(store, trending=2, per_topic=1)
    store.subscribe(TARGET, "diffusion")
    ch = store.get_channel(TARGET)
    assert ch is not None
    d = b.build(ch, DAY, now=NOW)
    assert len(d.sections[0].papers) == 2 and len(d.sections[1].papers) == 1
    assert not any(
        s.title == "Trending" for s in builder(store, trending=0).build(ch, DAY).sections
    )


def test_a_paper_is_never_posted_twice_within_the_window(store: Store) -> None:
    b = builder(store, repost_window_days=30)
    store.subscribe(TARGET, "diffusion")
    ch = store.get_channel(TARGET)
    assert ch is not None
    first = b.build(ch, DAY, now=NOW)
    b.mark_sent(ch, first, at=NOW)
    second = b.build(ch, DAY, now=NOW + timedelta(hours=1))
    assert not {p.id for p in first.papers} & {p.id for p in second.papers}
    # After the window, they may come back.
    later = b.build(ch, DAY, now=NOW + timedelta(days=31))
    assert {p.id for p in first.papers} & {p.id for p in later.papers}


def test_empty_day_silent_or_notice(store: Store) -> None:
    b = builder(store)
    ch = store.ensure_channel(TARGET)
    b.mark_sent(ch, b.build(ch, DAY, now=NOW), at=NOW)
    empty = b.build(ch, DAY, now=NOW)
    assert empty.is_empty and empty.notice is None
    b.options.when_empty = "notice"
    saturday = b.build(ch, date(2026, 11, 21), now=NOW)
    assert saturday.is_empty and saturday.notice == WEEKEND_NOTICE
    assert b.build(ch, DAY, now=NOW).notice == EMPTY_NOTICE


def test_a_weekend_gets_no_leftovers_as_trending(store: Store) -> None:
    """Friday's top 5 go out on Friday; on Saturday, with nothing featured since, the channel
    does not get Friday's sixth to tenth as "Trending" but the weekend notice."""
    store.upsert_papers(
        [paper(f"2611.4{i:04d}", f"Friday paper {i}", upvotes=100 - i) for i in range(12)]
    )
    b = DigestBuilder(store, Searcher(store), DigestOptions(when_empty="notice"))
    ch = store.ensure_channel(TARGET)
    friday = b.build(ch, DAY, now=NOW)
    assert [p.upvotes for p in friday.papers] == [100, 99, 98, 97, 96]
    b.mark_sent(ch, friday, at=NOW)
    saturday = b.build(ch, date(2026, 11, 21), now=NOW + timedelta(days=1))
    assert saturday.is_empty and saturday.notice == WEEKEND_NOTICE
    # One of the day's top papers already posted (say, in a topic section): Trending is the
    # other four, not the four plus the sixth.
    other = store.ensure_channel(Target.parse("discord:1/3"))
    b.mark_sent(
        other,
        replace(friday, sections=[replace(friday.sections[0], papers=friday.papers[:1])]),
        at=NOW,
    )
    assert [p.upvotes for p in b.build(other, DAY, now=NOW).papers] == [99, 98, 97, 96]


def test_nothing_stored_yet(store: Store) -> None:
    b = DigestBuilder(store, Searcher(store), DigestOptions())
    ch = store.ensure_channel(TARGET)
    assert b.build(ch, DAY).is_empty


def test_a_monday_digest_uses_fridays_list(store: Store) -> None:
    b = builder(store)
    ch = store.ensure_channel(TARGET)
    monday = b.build(ch, date(2026, 11, 23), now=NOW)
    assert monday.sections and monday.sections[0].papers[0].id == "2611.10001"
    assert monday.day == date(2026, 11, 23) and "Monday" in monday.heading


@pytest.mark.parametrize("topic", ["", "   ", "*", '"', "AND"])
def test_odd_topics_make_empty_sections_not_errors(store: Store, topic: str) -> None:
    b = builder(store)
    store.subscribe(TARGET, topic or "x")
    ch = store.get_channel(TARGET)
    assert ch is not None
    ch.topics = [topic]
    d = b.build(ch, DAY)
    assert d.sections[0].title == "Trending"


def test_topic_sections_leave_out_papers_with_one_word_of_the_topic(db_url: str) -> None:
    """With lexical search alone, the app's digests keep papers scoring at least
    LEXICAL_MIN_RELEVANCE: a paper whose abstract says "experts" is not about mixtures of them."""
    settings = Settings(database_url=db_url, semantic={"enabled": False}, digest={"trending": 0})  # type: ignore[arg-type]
    app = App(settings)
    try:
        assert app.min_relevance == LEXICAL_MIN_RELEVANCE
        app.ingest(
            [
                paper("2611.60001", "Sparse Mixture of Experts Routing", upvotes=1),
                paper(
                    "2611.60002",
                    "Scaling Laws for Language Models",
                    summary="We fit scaling laws. Experts disagree on extrapolation.",
                    upvotes=90,
                ),
            ]
        )
        app.store.subscribe(TARGET, "mixture of experts")
        ch = app.store.get_channel(TARGET)
        assert ch is not None
        d = app.digests.build(ch, DAY, now=NOW)
        [section] = [s for s in d.sections if s.topic]
        assert [p.id for p in section.papers] == ["2611.60001"]
    finally:
        app.close()
