"""The /papers handlers end to end on a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.app import App
from bot.commands import SORRY
from bot.config import Settings
from bot.models import Invocation, ReplyKind, Target
from bot.store import Store
from tests.factories import corpus

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
HERE = Invocation(Target.parse("slack:T1/C1"), user_id="U1", user_name="ada")


@pytest.fixture
def app(store: Store) -> Iterator[App]:
    a = App(Settings(), store, clock=lambda: NOW)
    a.ingest(corpus())
    yield a


def say(app: App, text: str, who: Invocation = HERE) -> str:
    reply = app.commands.handle(text, who)
    return reply.text


def test_search_returns_ranked_shareable_results(app: App) -> None:
    reply = app.commands.handle("mixture of experts", HERE)
    assert reply.kind is ReplyKind.RESULTS and reply.ephemeral and reply.shareable
    assert reply.papers[0].id == "2611.10001"
    assert 1 <= len(reply.papers) <= 5
    same = app.commands.handle("search mixture of experts", HERE)
    assert [p.id for p in same.papers] == [p.id for p in reply.papers]


def test_search_with_no_match_says_what_to_try(app: App) -> None:
    reply = app.commands.handle("zzqx vvbnm", HERE)
    assert reply.kind is ReplyKind.INFO and "No papers match" in reply.text and not reply.papers


def test_trending(app: App) -> None:
    reply = app.commands.handle("trending", HERE)
    assert [p.upvotes for p in reply.papers] == [88, 51, 40, 12, 3]
    assert "today" in (reply.title or "")
    assert len(app.commands.handle("trending 2", HERE).papers) == 2
    for bad in ("trending 0", "trending 21", "trending lots", "trending 2.5", "trending -3"):
        r = app.commands.handle(bad, HERE)
        assert r.kind is ReplyKind.ERROR and "1 to 20" in r.text, bad


def test_subscribe_unsubscribe_topics(app: App) -> None:
    r = app.commands.handle("subscribe Diffusion Models", HERE)
    assert r.kind is ReplyKind.CONFIRM and not r.ephemeral and "Diffusion Models" in r.text
    r = app.commands.handle("subscribe diffusion models", HERE)
    assert "already follows" in r.text
    assert "Diffusion Models" in say(app, "topics")
    r = app.commands.handle("unsubscribe robotics", HERE)
    assert r.kind is ReplyKind.ERROR and "doesn't follow" in r.text and "Diffusion Models" in r.text
    r = app.commands.handle("unsubscribe DIFFUSION MODELS", HERE)
    assert r.kind is ReplyKind.CONFIRM and not r.ephemeral
    assert "no topics" in say(app, "topics")
    for bad in ("subscribe", "subscribe   ", 'subscribe ""'):
        r = app.commands.handle(bad, HERE)
        assert r.kind is ReplyKind.ERROR and "Which topic" in r.text
    r = app.commands.handle("subscribe " + "x" * 201, HERE)
    assert r.kind is ReplyKind.ERROR and "200" in r.text
    # A NUL (which PostgreSQL's text cannot hold) is a space, in and out.
    r = app.commands.handle("subscribe graph\x00neural  networks", HERE)
    assert r.kind is ReplyKind.CONFIRM and "graph neural networks" in r.text
    assert "graph neural networks" in say(app, "topics")
    r = app.commands.handle("unsubscribe graph neural\x00networks", HERE)
    assert r.kind is ReplyKind.CONFIRM


def test_quotes_or_space_alone_are_no_topic(app: App) -> None:
    say(app, "subscribe diffusion")
    for verb in ("subscribe", "unsubscribe", "search"):
        for arg in ('" "', "“ ”", "' '", '"  "', '" \' "', '""""', "\x00"):
            r = app.commands.handle(f"{verb} {arg}", HERE)
            assert r.kind is ReplyKind.ERROR and f"/papers {verb} diffusion" in r.text, (verb, arg)
    r = app.commands.handle('" "', HERE)
    assert r.kind is ReplyKind.ERROR and "Which topic" in r.text
    assert app.store.get_channel(HERE.target).topics == ["diffusion"]  # type: ignore[union-attr]
    r = app.commands.handle('subscribe " graph  neural networks "', HERE)
    assert r.kind is ReplyKind.CONFIRM and "“graph neural networks”" in r.text


def test_shortcut_words_with_a_topic_search_and_change_nothing(app: App) -> None:
    say(app, "subscribe background")
    for text in ("remove background", "unsub background", "add noise", "follow the leader"):
        r = app.commands.handle(text, HERE)
        assert r.kind is not ReplyKind.CONFIRM and r.ephemeral, text
        assert "Did you mean `/papers " in r.text, text
    assert app.store.get_channel(HERE.target).topics == ["background"]  # type: ignore[union-attr]
    for text in ("top k sampling", "today in robotics", "list decoding", "status of LLM agents"):
        r = app.commands.handle(text, HERE)
        assert r.kind is ReplyKind.RESULTS or "No papers match" in r.text, text
    assert "Topics followed here" in say(app, "list")
    assert len(app.commands.handle("top 2", HERE).papers) == 2


def test_schedule(app: App) -> None:
    r = app.commands.handle("schedule 9:30 europe/berlin weekdays", HERE)
    assert r.kind is ReplyKind.CONFIRM and not r.ephemeral
    assert "weekdays at 09:30 Europe/Berlin" in r.text
    ch = app.store.get_channel(HERE.target)
    assert ch is not None and ch.schedule.timezone == "Europe/Berlin" and ch.schedule.weekdays_only
    assert "paused" in say(app, "schedule off")
    assert app.store.get_channel(HERE.target).schedule.paused  # type: ignore[union-attr]
    assert "back on" in say(app, "schedule on")
    assert "every day at 07:00 Europe/Berlin" in say(app, "schedule 7:00 daily")
    assert "posted every day at 07:00" in say(app, "schedule")
    for bad, hint in [
        ("schedule 25:00", "HH:MM"),
        ("schedule 9:30 Mars/Base", "IANA"),
        ("schedule 9:30 UTC UTC", "didn't understand"),
        ("schedule soon", "HH:MM"),
        ("schedule soon weekdays", "HH:MM"),
        ("schedule 9 amsterdam", "HH:MM"),
        ("schedule Mars/Base", "IANA"),
        ("schedule Europe/Berlinn", "Did you mean `Europe/Berlin`?"),
        ("schedule weekdays UTC UTC", "didn't understand"),
    ]:
        r = app.commands.handle(bad, HERE)
        assert r.kind is ReplyKind.ERROR and hint in r.text, bad


def test_schedule_parts_alone_change_only_themselves(app: App) -> None:
    def schedule() -> tuple[str, str, bool, bool]:
        ch = app.store.get_channel(HERE.target)
        assert ch is not None
        s = ch.schedule
        return s.time, s.timezone, s.weekdays_only, s.paused

    say(app, "schedule 07:15")
    for text, expected in [
        ("schedule Europe/Berlin", ("07:15", "Europe/Berlin", False, False)),
        ("schedule weekdays", ("07:15", "Europe/Berlin", True, False)),
        ("schedule daily america/new_york", ("07:15", "America/New_York", False, False)),
        ("schedule 9:30 pm", ("21:30", "America/New_York", False, False)),
        ("schedule 8 AM utc weekdays", ("08:00", "UTC", True, False)),
        ("schedule UTC 6:45pm", ("18:45", "UTC", True, False)),
    ]:
        r = app.commands.handle(text, HERE)
        assert r.kind is ReplyKind.CONFIRM and "Scheduled" in r.text, (text, r.text)
        assert schedule() == expected, text


def test_channel_changes_notify_listeners(app: App) -> None:
    seen: list[str] = []
    app.on_channel_change(lambda ch: seen.append(ch.schedule.time))
    say(app, "schedule 06:45")
    say(app, "subscribe robotics")
    assert seen == ["06:45", "06:45"]


def test_managers_only_mode(store: Store) -> None:
    settings = Settings.model_validate({"permissions": {"settings": "managers"}})
    app = App(settings, store, clock=lambda: NOW)
    member = Invocation(HERE.target, user_id="U2", can_manage=False)
    for text in ("subscribe robotics", "unsubscribe robotics", "schedule 08:00", "schedule off"):
        r = app.commands.handle(text, member)
        assert r.kind is ReplyKind.ERROR and "Only channel managers" in r.text, text
    assert app.store.get_channel(HERE.target) is None  # nothing was changed
    assert app.commands.handle("schedule", member).kind is ReplyKind.INFO  # looking is fine
    assert app.commands.handle("MoE", member).kind is not ReplyKind.ERROR
    admin = Invocation(HERE.target, user_id="U3", can_manage=True)
    assert app.commands.handle("subscribe robotics", admin).kind is ReplyKind.CONFIRM


def test_digest_preview_is_ephemeral_and_posts_nothing(app: App) -> None:
    say(app, "subscribe diffusion models")
    r = app.commands.handle("digest", HERE)
    assert r.kind is ReplyKind.DIGEST and r.ephemeral and r.digest is not None
    titles = [s.title for s in r.digest.sections]
    assert titles[0] == "Trending" and "diffusion models" in titles
    ch = app.store.get_channel(HERE.target)
    assert ch is not None and ch.id is not None
    assert app.store.posted_ids(ch.id, 30) == set()  # a preview marks nothing as posted


def test_help_and_empty(app: App) -> None:
    for text in ("help", "", "   "):
        r = app.commands.handle(text, HERE)
        assert "/papers subscribe" in r.text and r.ephemeral


def test_no_papers_yet(store: Store) -> None:
    app = App(Settings(), store, clock=lambda: NOW)
    assert "no papers yet" in say(app, "diffusion").lower()
    assert "No Daily Papers stored yet" in say(app, "trending")


HOSTILE = [
    '"',
    "'",
    "*",
    "-",
    "AND",
    "OR",
    "NEAR",
    "NOT",
    "(",
    ")",
    "((a",
    "a))",
    "a:b",
    "title:x",
    "^",
    "{",
    "}",
    "[",
    "]",
    "\\",
    "%",
    "_",
    "'; DROP TABLE papers; --",
    "🦄🔥",
    "NEAR(a b, 3)",
    "a AND OR NOT b",
    "\x00",
    "\u202e",
    "-diffusion",
    '"unbalanced',
    "x" * 200,
    "!@#$%^&*()_+=-`~",
    "<!channel>",
    "@everyone",
    "<@U123>",
    "`code`",
    "$(rm -rf /)",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_every_input_gets_an_answer(app: App, text: str) -> None:
    for prefix in ("", "search ", "subscribe ", "unsubscribe ", "schedule ", "trending "):
        reply = app.commands.handle(prefix + text, HERE)
        assert reply.text or reply.papers or reply.digest, prefix + text
        assert reply.text != SORRY, prefix + text  # an answer, not a failure on our side
