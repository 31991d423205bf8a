"""The Discord adapter against a fake Discord API on 127.0.0.1, through discord.py's real
HTTP client: login and command sync, ``/papers`` interactions dispatched by the real command tree,
Share buttons, and digests posted over REST."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from discord.http import Route

from adapters.discord import DiscordAdapter, from_context, render
from adapters.discord.adapter import message_nonce
from adapters.discord.bot import (
    DM_TEXT,
    GONE_TEXT,
    PapersClient,
    expand_topic,
    schedule_text,
    time_choices,
    timezone_choices,
    topic_choices,
)
from bot.app import App
from bot.config import ConfigError, DiscordConfig, Secrets, Settings
from bot.delivery import DeliveryError, PermanentDeliveryError, deliver
from bot.ledger import ClaimJournal
from bot.models import Digest, DigestSection, Reply, ReplyKind, Target
from tests.factories import claimed, corpus, retried
from tests.fakes.discord import FakeDiscord
from tests.test_discord_render import live_chars

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
GUILD = 500000000000000001
CHANNEL = 600000000000000001
TARGET = Target.parse(f"discord:{GUILD}/{CHANNEL}")
MANAGE_CHANNELS = 1 << 4
ADMINISTRATOR = 1 << 3


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    base = Route.BASE
    with FakeDiscord() as api:
        yield api
    Route.BASE = base  # adapters point discord.py at the fake; put it back


def make_app(tmp_path: Path, fake: FakeDiscord, **settings: Any) -> App:
    s = Settings(
        database_url=f"sqlite:///{tmp_path}/papers.db",
        discord=DiscordConfig(enabled=True, api_url=fake.base_url, **settings.pop("discord", {})),
        **settings,
    )
    app = App(s, clock=lambda: NOW)
    app.ingest(corpus())
    return app


@pytest.fixture
def app(tmp_path: Path, fake: FakeDiscord) -> Iterator[App]:
    a = make_app(tmp_path, fake)
    yield a
    a.close()


@pytest.fixture
def adapter(app: App, fake: FakeDiscord) -> DiscordAdapter:
    return DiscordAdapter(app.settings.discord, Secrets({"DISCORD_TOKEN": fake.token}), app)


@pytest.fixture
async def client(adapter: DiscordAdapter, fake: FakeDiscord) -> AsyncIterator[PapersClient]:
    """A logged-in client (no gateway): interactions are fed to it as the gateway would."""
    c = PapersClient(adapter.commands)
    await c.login(fake.token)
    yield c
    await c.close()


async def dispatch(
    client: PapersClient, fake: FakeDiscord, payload: dict[str, Any], answers: int = 1
) -> Any:
    """Hand ``payload`` to discord.py as an INTERACTION_CREATE and wait for the bot's answers."""
    client._connection.parse_interaction_create(payload)  # type: ignore[arg-type]  # as the gateway
    log = fake.answers(payload["token"])
    if payload["type"] == 4:
        await fake.wait_for(lambda: bool(log.callbacks))
    else:
        await fake.wait_for(lambda: len(log.answers) >= answers)
    await asyncio.sleep(0.05)  # nothing more should follow
    return log


def digest_of(app: App, n: int = 3) -> Digest:
    papers = corpus()
    return Digest(
        TARGET,
        date(2026, 11, 20),
        [
            DigestSection("Trending", papers[:n]),
            DigestSection("diffusion", papers[n : n + 2], topic="diffusion"),
        ],
    )


# -- start, stop, configuration ---------------------------------------------------------------


async def test_start_logs_in_and_syncs_commands_globally(
    adapter: DiscordAdapter, fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    await adapter.start()
    try:
        assert adapter.client is not None and adapter.client.user is not None
        [papers] = fake.commands["global"]
        assert papers["name"] == "papers"
        subs = {o["name"]: o for o in papers["options"]}
        assert set(subs) == {
            "search",
            "trending",
            "subscribe",
            "unsubscribe",
            "topics",
            "schedule",
            "digest",
            "help",
        }
        topic = subs["search"]["options"][0]
        assert (topic["name"], topic["min_length"], topic["max_length"]) == ("topic", 1, 200)
        count = subs["trending"]["options"][0]
        assert (count["type"], count["min_value"], count["max_value"]) == (4, 1, 20)
        assert not count["required"]
        assert subs["unsubscribe"]["options"][0]["autocomplete"] is True
        schedule = {o["name"]: o for o in subs["schedule"]["options"]}
        assert schedule["timezone"]["autocomplete"] is True
        assert schedule["weekdays"]["type"] == 5
    finally:
        await adapter.stop()
    assert adapter.client is None
    assert fake.token not in caplog.text


async def test_dev_guild_gets_the_commands_immediately(tmp_path: Path, fake: FakeDiscord) -> None:
    app = make_app(tmp_path, fake, discord={"dev_guild_id": GUILD})
    adapter = DiscordAdapter(app.settings.discord, Secrets({"DISCORD_TOKEN": fake.token}), app)
    await adapter.start()
    await adapter.stop()
    assert [c["name"] for c in fake.commands[str(GUILD)]] == ["papers"]
    assert "global" not in fake.commands
    app.close()


async def test_missing_token_is_a_config_error_naming_it(app: App) -> None:
    adapter = DiscordAdapter(app.settings.discord, Secrets({}), app)
    with pytest.raises(ConfigError, match="DISCORD_TOKEN"):
        await adapter.start()
    with pytest.raises(ConfigError, match="DISCORD_TOKEN"):
        await adapter.send_digest(digest_of(app))


async def test_rejected_token_says_so_without_showing_it(app: App, fake: FakeDiscord) -> None:
    wrong = "MTAwMDAw.wrong.token-value-that-must-not-leak"
    adapter = DiscordAdapter(app.settings.discord, Secrets({"DISCORD_TOKEN": wrong}), app)
    with pytest.raises(ConfigError) as info:
        await adapter.start()
    assert "DISCORD_TOKEN" in str(info.value) and wrong not in str(info.value)
    with pytest.raises(DeliveryError) as sent:
        await adapter.send_digest(digest_of(app))
    assert wrong not in str(sent.value)


def test_api_url_points_discord_py_elsewhere(adapter: DiscordAdapter, fake: FakeDiscord) -> None:
    assert fake.base_url == Route.BASE
    assert Route("GET", "/users/@me").url == fake.base_url + "/users/@me"


@pytest.mark.parametrize(
    ("discord", "problem"),
    [({"shard_ids": [0]}, "shard_count"), ({"shard_count": 2, "shard_ids": [2]}, "shard_ids")],
)
def test_shard_settings_are_checked(
    tmp_path: Path, fake: FakeDiscord, discord: dict[str, Any], problem: str
) -> None:
    from adapters.registry import AdapterContext

    app = make_app(tmp_path, fake, discord=discord)
    with pytest.raises(ConfigError, match=problem):
        from_context(AdapterContext(app.settings, Secrets({}), app))
    app.close()


def test_shards_reach_the_client(tmp_path: Path, fake: FakeDiscord) -> None:
    from adapters.registry import AdapterContext

    app = make_app(tmp_path, fake, discord={"shard_count": 4, "shard_ids": [1, 3]})
    adapter = from_context(AdapterContext(app.settings, Secrets({}), app))
    c = PapersClient(adapter.commands, shard_count=4, shard_ids=[1, 3])
    assert (c.shard_count, c.shard_ids) == (4, [1, 3])
    app.close()


# -- commands ---------------------------------------------------------------------------------


async def test_search_defers_privately_then_answers_with_share_buttons(
    client: PapersClient, fake: FakeDiscord
) -> None:
    log = await dispatch(client, fake, fake.slash("search", {"topic": "mixture of experts"}))
    assert log.types == [5] and log.deferred_ephemeral is True
    [answer] = log.answers
    assert answer.via == "original" and answer.ephemeral
    body = answer.body
    assert body["content"].startswith("**Papers on “mixture of experts”**")
    ids = [e["url"].rsplit("/", 1)[1] for e in body["embeds"]]
    assert "2611.10001" in ids  # ranking is the searcher's business
    buttons = [b["custom_id"] for row in body["components"] for b in row["components"]]
    assert buttons == [f"papers:share:{i}" for i in ids]
    assert body["allowed_mentions"] == {"parse": []}


async def test_trending_count_reaches_the_core(client: PapersClient, fake: FakeDiscord) -> None:
    log = await dispatch(client, fake, fake.slash("trending", {"count": 3}))
    [answer] = log.answers
    assert [e["footer"]["text"] for e in answer.body["embeds"]] == [
        "▲ 88 upvotes",
        "▲ 51 upvotes",
        "▲ 40 upvotes",
    ]
    assert answer.ephemeral


async def test_help_answers_at_once_and_privately(client: PapersClient, fake: FakeDiscord) -> None:
    log = await dispatch(client, fake, fake.slash("help"))
    assert log.types == [4]
    [answer] = log.answers
    assert answer.via == "callback" and answer.ephemeral
    assert "`/papers trending 10`" in answer.body["content"]


async def test_subscribe_is_confirmed_publicly(
    client: PapersClient, fake: FakeDiscord, app: App
) -> None:
    log = await dispatch(client, fake, fake.slash("subscribe", {"topic": "diffusion models"}))
    [answer] = log.answers
    assert log.types == [4] and not answer.ephemeral
    assert "Subscribed by Ada" in answer.body["content"]
    assert "components" not in answer.body
    channel = app.store.get_channel(TARGET)
    assert channel is not None and channel.topics == ["diffusion models"]
    again = await dispatch(client, fake, fake.slash("subscribe", {"topic": "Diffusion Models"}))
    assert again.answers[0].ephemeral and "already follows" in again.answers[0].body["content"]


async def test_hostile_topic_is_confirmed_inert(client: PapersClient, fake: FakeDiscord) -> None:
    log = await dispatch(
        client, fake, fake.slash("subscribe", {"topic": "@everyone [x](https://e) <@&1>"})
    )
    content = log.answers[0].body["content"]
    assert "@everyone" not in content
    assert "<" not in live_chars(content) and "[x](" not in live_chars(content)
    assert log.answers[0].body["allowed_mentions"] == {"parse": []}


@pytest.mark.parametrize(
    ("permissions", "allowed"),
    [(1 << 11, False), (MANAGE_CHANNELS, True), (ADMINISTRATOR, True)],
)
async def test_managers_only_mode_checks_manage_channels(
    tmp_path: Path, fake: FakeDiscord, permissions: int, allowed: bool
) -> None:
    app = make_app(tmp_path, fake, permissions={"settings": "managers"})
    adapter = DiscordAdapter(app.settings.discord, Secrets({"DISCORD_TOKEN": fake.token}), app)
    c = PapersClient(adapter.commands)
    await c.login(fake.token)
    try:
        log = await dispatch(
            c, fake, fake.slash("subscribe", {"topic": "robots"}, permissions=permissions)
        )
    finally:
        await c.close()
    [answer] = log.answers
    channel = app.store.get_channel(TARGET)
    if allowed:
        assert not answer.ephemeral and channel is not None and channel.topics == ["robots"]
    else:
        assert answer.ephemeral and "Only channel managers" in answer.body["content"]
        assert channel is None or channel.topics == []
    app.close()


async def test_everyone_mode_ignores_permissions(client: PapersClient, fake: FakeDiscord) -> None:
    log = await dispatch(client, fake, fake.slash("subscribe", {"topic": "robots"}, permissions=0))
    assert not log.answers[0].ephemeral


async def test_unsubscribe_autocompletes_the_channels_topics(
    client: PapersClient, fake: FakeDiscord, app: App
) -> None:
    for topic in ("diffusion models", "mixture of experts", "video diffusion"):
        app.store.subscribe(TARGET, topic)
    app.store.subscribe(Target.parse(f"discord:{GUILD}/999"), "other channel topic")
    log = await dispatch(client, fake, fake.autocomplete("unsubscribe", {"topic": "diff"}, "topic"))
    assert log.types == [8]
    choices = log.callbacks[0]["data"]["choices"]
    assert [c["value"] for c in choices] == ["diffusion models", "video diffusion"]
    log = await dispatch(client, fake, fake.autocomplete("unsubscribe", {"topic": ""}, "topic"))
    assert len(log.callbacks[0]["data"]["choices"]) == 3


async def test_unsubscribe_confirms_publicly(
    client: PapersClient, fake: FakeDiscord, app: App
) -> None:
    app.store.subscribe(TARGET, "diffusion models")
    log = await dispatch(client, fake, fake.slash("unsubscribe", {"topic": "diffusion models"}))
    assert not log.answers[0].ephemeral and "Unsubscribed" in log.answers[0].body["content"]
    log = await dispatch(client, fake, fake.slash("unsubscribe", {"topic": "diffusion models"}))
    assert log.answers[0].ephemeral and "doesn't follow" in log.answers[0].body["content"]


def test_long_topics_survive_the_100_character_choice_limit() -> None:
    long = "a very long topic " * 10  # 180 characters
    [choice] = topic_choices([long.strip(), "short"], "very long")
    assert len(choice.name) <= 100 and len(choice.value) == 100
    assert expand_topic([long.strip(), "short"], choice.value) == long.strip()
    assert expand_topic(["short"], "short") == "short"
    many = [f"topic {i}" for i in range(40)]
    assert len(topic_choices(many, "topic")) == 25
    assert [c.name for c in topic_choices(["", " ", "short"], "")] == ["short"]


async def test_schedule_autocompletes_time_zones(client: PapersClient, fake: FakeDiscord) -> None:
    log = await dispatch(
        client,
        fake,
        fake.autocomplete("schedule", {"time": "09:00", "timezone": "berl"}, "timezone"),
    )
    values = [c["value"] for c in log.callbacks[0]["data"]["choices"]]
    assert values[0] == "Europe/Berlin"
    assert all("berl" in v.casefold() for v in values)


def test_timezone_choices() -> None:
    assert timezone_choices("")[0] == "UTC"
    assert timezone_choices("new york") == ["America/New_York"]
    assert timezone_choices("tok")[0] == "Asia/Tokyo"
    assert len(timezone_choices("a")) == 25
    assert timezone_choices("zzzz") == []
    assert time_choices("o") == ["o", "off", "on"]
    assert time_choices("")[:2] == ["off", "on"]


@pytest.mark.parametrize(
    ("options", "text"),
    [
        ((None, None, None), "schedule"),
        (("09:30", "Europe/Berlin", True), "schedule 09:30 Europe/Berlin weekdays"),
        (("9am", None, False), "schedule 9am daily"),
        (("off", "Europe/Berlin", None), "schedule off"),
        ((" on ", None, None), "schedule on"),
        (("08:00", "America/New York", None), "schedule 08:00 America/New_York"),
    ],
)
def test_schedule_options_become_command_text(
    options: tuple[str | None, str | None, bool | None], text: str
) -> None:
    assert schedule_text(*options) == text


async def test_schedule_changes_are_public_and_errors_private(
    client: PapersClient, fake: FakeDiscord, app: App
) -> None:
    log = await dispatch(
        client,
        fake,
        fake.slash("schedule", {"time": "09:30", "timezone": "Europe/Berlin", "weekdays": True}),
    )
    assert not log.answers[0].ephemeral
    channel = app.store.get_channel(TARGET)
    assert channel is not None
    assert (channel.schedule.time, channel.schedule.timezone, channel.schedule.weekdays_only) == (
        "09:30",
        "Europe/Berlin",
        True,
    )
    log = await dispatch(client, fake, fake.slash("schedule", {"time": "off"}))
    assert not log.answers[0].ephemeral and "paused" in log.answers[0].body["content"]
    channel = app.store.get_channel(TARGET)
    assert channel is not None and channel.schedule.paused
    log = await dispatch(client, fake, fake.slash("schedule", {"time": "25:99"}))
    assert log.answers[0].ephemeral and "HH:MM" in log.answers[0].body["content"]


async def test_schedule_options_set_alone_change_only_themselves(
    client: PapersClient, fake: FakeDiscord, app: App
) -> None:
    await dispatch(client, fake, fake.slash("schedule", {"time": "07:15"}))
    for options, expected in [
        ({"timezone": "Europe/Berlin"}, ("07:15", "Europe/Berlin", False)),
        ({"weekdays": True}, ("07:15", "Europe/Berlin", True)),
        ({"timezone": "America/New York", "weekdays": False}, ("07:15", "America/New_York", False)),
        ({"time": "9:30 pm"}, ("21:30", "America/New_York", False)),
    ]:
        log = await dispatch(client, fake, fake.slash("schedule", options))
        assert not log.answers[0].ephemeral, options
        assert "Scheduled" in log.answers[0].body["content"], options
        channel = app.store.get_channel(TARGET)
        assert channel is not None
        schedule = channel.schedule
        assert (schedule.time, schedule.timezone, schedule.weekdays_only) == expected, options


async def test_topics_and_digest_preview_are_private(
    client: PapersClient, fake: FakeDiscord, app: App
) -> None:
    app.store.subscribe(TARGET, "diffusion")
    log = await dispatch(client, fake, fake.slash("topics"))
    assert log.answers[0].ephemeral and "diffusion" in log.answers[0].body["content"]
    log = await dispatch(client, fake, fake.slash("digest"))
    assert log.types == [5]
    first = log.answers[0]
    assert first.ephemeral and first.body["embeds"]
    assert "Daily Papers — Friday, 20 November 2026" in first.body["content"]


async def test_direct_messages_get_a_friendly_refusal(
    client: PapersClient, fake: FakeDiscord, app: App
) -> None:
    calls: list[str] = []
    original = app.commands.handle

    def spy(text: str, who: Any) -> Reply:
        calls.append(text)
        return original(text, who)

    app.commands.handle = spy  # type: ignore[method-assign]
    log = await dispatch(client, fake, fake.slash("subscribe", {"topic": "x"}, guild_id=None))
    assert log.types == [4]
    assert log.answers[0].ephemeral and log.answers[0].body["content"] == DM_TEXT
    assert calls == []


async def test_slow_command_is_deferred_and_still_confirmed_publicly(
    client: PapersClient, fake: FakeDiscord, app: App
) -> None:
    client.papers.defer_after = 0.05
    original = app.commands.handle

    def slow(text: str, who: Any) -> Reply:
        time.sleep(0.3)
        return original(text, who)

    app.commands.handle = slow  # type: ignore[method-assign]
    log = await dispatch(client, fake, fake.slash("subscribe", {"topic": "robots"}), answers=2)
    assert log.types == [5] and log.deferred_ephemeral
    first, second = log.answers
    assert first.via == "original" and first.ephemeral and first.body["content"] == "Done."
    assert second.via == "followup" and not second.ephemeral
    assert "Subscribed" in second.body["content"]


async def test_unknown_subcommand_still_gets_an_answer(
    client: PapersClient, fake: FakeDiscord
) -> None:
    log = await dispatch(client, fake, fake.slash("frobnicate"))
    assert log.answers[0].ephemeral and "/papers help" in log.answers[0].body["content"]


# -- Share buttons ------------------------------------------------------------------------


async def test_share_button_posts_publicly_without_pinging(
    client: PapersClient, fake: FakeDiscord
) -> None:
    # A fresh client that never sent the button: the custom_id alone is enough (restarts).
    log = await dispatch(client, fake, fake.button("papers:share:2611.10001", user_id=42424242))
    assert log.types == [4]
    [answer] = log.answers
    assert not answer.ephemeral
    assert answer.body["content"] == "Shared by <@42424242>"
    assert answer.body["allowed_mentions"] == {"parse": []}
    assert answer.body["embeds"][0]["url"] == "https://huggingface.co/papers/2611.10001"


async def test_share_of_an_unknown_paper_is_explained_privately(
    client: PapersClient, fake: FakeDiscord
) -> None:
    log = await dispatch(client, fake, fake.button("papers:share:9999.99999"))
    assert log.answers[0].ephemeral and log.answers[0].body["content"] == GONE_TEXT


async def test_other_buttons_are_ignored(client: PapersClient, fake: FakeDiscord) -> None:
    payload = fake.button("someone-else:thing")
    client._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
    await asyncio.sleep(0.2)
    assert fake.answers(payload["token"]).callbacks == []


# -- digests over REST ------------------------------------------------------------------------


async def test_digest_is_posted_without_the_gateway(
    adapter: DiscordAdapter, fake: FakeDiscord, app: App
) -> None:
    d = digest_of(app)
    ids = await adapter.send_digest(d, nonce="abc123")
    bodies = adapter.render_digest(d)
    sent = fake.channel_messages(CHANNEL)
    assert len(ids) == len(sent) == len(bodies) == 1
    assert sent[0] == {**bodies[0], "nonce": message_nonce("abc123", 0), "enforce_nonce": True}
    assert fake.paths("GET") == ["/users/@me"]  # REST login only: no gateway, no app info
    assert all(r.headers.get("authorization") == "right" for r in fake.requests)


async def test_retried_delivery_with_the_same_nonce_is_not_doubled(
    adapter: DiscordAdapter, fake: FakeDiscord, app: App
) -> None:
    papers = corpus()
    d = Digest(TARGET, date(2026, 11, 20), [DigestSection("Trending", papers * 2)])  # 2 messages
    first = await adapter.send_digest(d, nonce="n1")
    again = await adapter.send_digest(d, nonce="n1")
    assert len(first) == 3 and again == first
    assert len(fake.messages[str(CHANNEL)]) == 3
    other = await adapter.send_digest(d, nonce="n2")
    assert len(fake.messages[str(CHANNEL)]) == 6 and other != first
    nonces = [b["nonce"] for b in fake.channel_messages(CHANNEL)]
    assert len(set(nonces)) == 6 and all(len(n) <= 25 for n in nonces)


async def test_a_retry_after_the_nonce_ran_out_posts_only_the_parts_not_posted(
    adapter: DiscordAdapter, fake: FakeDiscord, app: App
) -> None:
    """Discord keeps a nonce for a few minutes; the scheduler retries a failed delivery after
    1, 2, 4 … minutes and takes over a crashed one after its 5-minute lease. Each part posted
    is recorded with the claim, so a later retry posts only the rest. Before, it posted the
    first part again."""
    papers = corpus()
    d = Digest(TARGET, date(2026, 11, 20), [DigestSection("Trending", papers * 2)])
    bodies = adapter.render_digest(d)
    assert len(bodies) == 3
    ledger, claim = claimed(app.store, str(TARGET))
    fake.fail(503, path=f"/channels/{CHANNEL}/messages", after=1)  # after the first part
    with pytest.raises(DeliveryError):
        await adapter.send_digest(d, nonce=claim.nonce, journal=ClaimJournal(ledger, claim))
    assert len(fake.channel_messages(CHANNEL)) == 1
    fake.nonce_seconds = 0  # the retry comes minutes later
    again = retried(ledger, claim)
    ids = await adapter.send_digest(
        d, nonce=again.nonce, resume=True, journal=ClaimJournal(ledger, again)
    )
    sent = fake.channel_messages(CHANNEL)
    assert [{k: v for k, v in b.items() if "nonce" not in k} for b in sent] == bodies
    assert len(ids) == 3 and len(set(ids)) == 3
    assert ids == [m["id"] for m in fake.messages[str(CHANNEL)]]
    # A crash after the last post, before the delivery was recorded as sent: nothing again.
    assert (
        await adapter.send_digest(
            d, nonce=again.nonce, resume=True, journal=ClaimJournal(ledger, again)
        )
        == ids
    )
    assert len(fake.channel_messages(CHANNEL)) == 3


async def test_without_a_nonce_none_is_sent(
    adapter: DiscordAdapter, fake: FakeDiscord, app: App
) -> None:
    await adapter.send_digest(digest_of(app))
    assert "nonce" not in fake.channel_messages(CHANNEL)[0]


async def test_many_messages_follow_discords_rate_limit_headers(
    adapter: DiscordAdapter, fake: FakeDiscord, app: App
) -> None:
    papers = corpus()
    d = Digest(TARGET, date(2026, 11, 20), [DigestSection("Trending", papers * 6)])  # 8 messages
    ids = await adapter.send_digest(d, nonce="many")
    assert len(ids) == len(adapter.render_digest(d)) == 8
    assert fake.unexpected_429s == 0  # discord.py waited when the bucket ran out


async def test_429_is_waited_out_by_discord_py(
    adapter: DiscordAdapter, fake: FakeDiscord, app: App
) -> None:
    fake.rate_limit("/channels/", times=2, retry_after=0.05)
    ids = await adapter.send_digest(digest_of(app), nonce="rl")
    assert len(ids) == 1 and len(fake.channel_messages(CHANNEL)) == 1
    assert fake.paths("POST").count(f"/channels/{CHANNEL}/messages") == 3


async def test_server_error_is_retried_by_discord_py(
    adapter: DiscordAdapter, fake: FakeDiscord, app: App
) -> None:
    fake.fail(502, times=1, path="/channels/")
    assert len(await adapter.send_digest(digest_of(app))) == 1


@pytest.mark.parametrize(("setup", "words"), [("forbid", "403"), ("remove_channel", "404")])
async def test_gone_or_forbidden_channel_is_permanent(
    adapter: DiscordAdapter, fake: FakeDiscord, app: App, setup: str, words: str
) -> None:
    getattr(fake, setup)(CHANNEL)
    with pytest.raises(PermanentDeliveryError) as info:
        await adapter.send_digest(digest_of(app))
    assert words in str(info.value) and str(TARGET) in str(info.value)
    assert fake.token not in str(info.value)


async def test_other_failures_are_not_permanent(
    adapter: DiscordAdapter, fake: FakeDiscord, app: App
) -> None:
    fake.fail(400, path="/channels/", body={"message": "Invalid Form Body", "code": 50035})
    with pytest.raises(DeliveryError) as info:
        await adapter.send_digest(digest_of(app))
    assert not info.value.permanent and "400" in str(info.value)


async def test_unreachable_discord_is_a_delivery_error(app: App) -> None:
    adapter = DiscordAdapter(
        DiscordConfig(api_url="http://127.0.0.1:9/api/v10"),
        Secrets({"DISCORD_TOKEN": "x" * 30}),
        app,
    )
    with pytest.raises(DeliveryError) as info:
        await adapter.send_digest(digest_of(app))
    assert not info.value.permanent and "x" * 30 not in str(info.value)


async def test_deliver_pauses_a_channel_that_is_gone(
    adapter: DiscordAdapter, fake: FakeDiscord, app: App
) -> None:
    channel = app.channel(TARGET)
    fake.remove_channel(CHANNEL)
    with pytest.raises(PermanentDeliveryError):
        await deliver(app.digests, channel, date(2026, 11, 20), adapter, nonce="x")
    again = app.store.get_channel(TARGET)
    assert again is not None and again.schedule.paused
    assert "not found" in (app.store.pause_reason(TARGET) or "")


async def test_deliver_sends_and_remembers(
    adapter: DiscordAdapter, fake: FakeDiscord, app: App
) -> None:
    channel = app.channel(TARGET)
    result = await deliver(app.digests, channel, date(2026, 11, 20), adapter, nonce="d1")
    assert result.status == "sent" and result.message_ids
    assert fake.channel_messages(CHANNEL)[0]["content"].startswith("**Daily Papers")


async def test_running_client_posts_with_its_own_session(
    adapter: DiscordAdapter, fake: FakeDiscord, app: App
) -> None:
    await adapter.start()
    try:
        logins = fake.paths("GET").count("/users/@me")
        await adapter.send_digest(digest_of(app))
        await adapter.post_reply(TARGET, Reply("hello", kind=ReplyKind.CONFIRM, ephemeral=False))
        assert fake.paths("GET").count("/users/@me") == logins
    finally:
        await adapter.stop()
    bodies = fake.channel_messages(CHANNEL)
    assert bodies[1] == {"content": "hello", "allowed_mentions": {"parse": []}}


async def test_no_token_in_logs(
    adapter: DiscordAdapter, fake: FakeDiscord, app: App, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.rate_limit("/channels/", times=1, retry_after=0.01)
    await adapter.send_digest(digest_of(app), nonce="log")
    assert caplog.records  # discord.py did log (the rate limit, the requests)
    assert fake.token not in caplog.text


def test_render_digest_is_the_renderer(adapter: DiscordAdapter, app: App) -> None:
    d = digest_of(app)
    assert adapter.render_digest(d) == render.digest_messages(d)
