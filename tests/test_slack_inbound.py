"""Requests from Slack through the bot's real HTTP server (``Runner``) and bolt: signed slash
commands, the share button, permissions, uninstall events and the OAuth install flow. Answers go
to the fake Slack (Web API and response_url)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest
from sqlalchemy.exc import OperationalError

from adapters.registry import AdapterContext
from adapters.slack import SlackAdapter, from_context
from adapters.slack.listeners import Listeners
from bot.app import App
from bot.config import Secrets
from bot.models import Invocation, Reply, Target
from bot.runner import Runner
from tests.fakes.slack import FakeSlack, message_problems, signed_headers
from tests.test_slack_adapter import BOT_TOKEN, CHANNEL, SIGNING_SECRET, TARGET, TEAM, make_core

Post = Callable[..., Any]


class Bot:
    """The running bot: its core, adapter, the fake Slack, and its HTTP address."""

    def __init__(self, core: App, adapter: SlackAdapter, fake: FakeSlack, url: str) -> None:
        self.core, self.adapter, self.fake, self.url = core, adapter, fake, url

    async def post(
        self,
        body: str,
        *,
        content_type: str = "",
        secret: str = SIGNING_SECRET,
        timestamp: int | None = None,
        path: str = "/slack/events",
    ) -> tuple[int, str, float]:
        headers = signed_headers(secret, body, timestamp=timestamp, content_type=content_type)
        started = time.monotonic()
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.url + path, data=body.encode(), headers=headers) as resp,
        ):
            return resp.status, await resp.text(), time.monotonic() - started

    async def command(self, text: str, key: str, *, user: str = "U0USER", **kw: Any) -> int:
        body = urlencode(
            {
                "token": "legacy-verification-token",
                "team_id": TEAM,
                "team_domain": "papers",
                "channel_id": CHANNEL,
                "channel_name": "general",
                "user_id": user,
                "user_name": "ada",
                "command": "/papers",
                "text": text,
                "api_app_id": "A0PAPERS",
                "response_url": self.fake.response_url(key),
                "trigger_id": "1.2.3",
            }
        )
        status, _, _ = await self.post(body, **kw)
        return status

    async def answers(self, key: str, n: int = 1) -> list[dict[str, Any]]:
        await self.fake.until(lambda: len(self.fake.responded(key)) >= n)
        return self.fake.responded(key)


async def start_bot(tmp_path: Path, fake: FakeSlack, **env: str) -> tuple[Runner, Bot]:
    core = make_core(tmp_path, fake, **env.pop("_settings", {}))  # type: ignore[arg-type]
    values = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, **env}
    secrets = Secrets({k: v for k, v in values.items() if v})
    adapter = from_context(AdapterContext(core.settings, secrets, core))
    runner = Runner(core.settings, secrets, core)
    runner.add(adapter)
    await runner.start()
    return runner, Bot(core, adapter, fake, f"http://127.0.0.1:{runner.port}")


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    with FakeSlack() as slack:
        slack.add_workspace(TEAM, bot_token=BOT_TOKEN)
        slack.add_user("U0USER", team_id=TEAM)
        slack.add_user("U0ADMIN", team_id=TEAM, is_admin=True)
        yield slack


@pytest.fixture
async def bot(tmp_path: Path, fake: FakeSlack) -> AsyncIterator[Bot]:
    runner, running = await start_bot(tmp_path, fake)
    try:
        yield running
    finally:
        await runner.stop()
        running.core.close()


@pytest.fixture
async def managers_bot(tmp_path: Path, fake: FakeSlack) -> AsyncIterator[Bot]:
    settings = {"permissions": {"settings": "managers"}, "slack": {"managers": ["U0LISTED"]}}
    runner, running = await start_bot(tmp_path, fake, _settings=settings)  # type: ignore[arg-type]
    try:
        yield running
    finally:
        await runner.stop()
        running.core.close()


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b["accessory"] for b in message["blocks"] if "accessory" in b]


# -- /papers -------------------------------------------------------------------------------------


async def test_search_is_acknowledged_at_once_and_answered_privately(
    bot: Bot, fake: FakeSlack
) -> None:
    handle = bot.core.commands.handle
    seen: list[Invocation] = []

    def slow_handle(text: str, who: Invocation) -> Reply:
        seen.append(who)
        time.sleep(1.5)  # the work takes long; the acknowledgement must not wait for it
        return handle(text, who)

    bot.core.commands.handle = slow_handle  # type: ignore[method-assign]
    body = urlencode(
        {
            "team_id": TEAM,
            "channel_id": CHANNEL,
            "user_id": "U0USER",
            "user_name": "ada",
            "command": "/papers",
            "text": "diffusion",
            "response_url": fake.response_url("search"),
        }
    )
    status, text, elapsed = await bot.post(body)
    assert status == 200 and text == "" and elapsed < 1.0
    assert fake.responded("search") == []
    [answer] = await bot.answers("search")
    assert answer["response_type"] == "ephemeral"
    assert message_problems(answer) == []
    assert "diffusion" in answer["blocks"][0]["text"]["text"]
    found = buttons(answer)
    assert found and {b["action_id"] for b in found} == {"papers_share"}
    assert "2611.10002" in {b["value"] for b in found}
    assert seen == [Invocation(TARGET, "U0USER", "ada", can_manage=True)]
    [call] = [r for r in fake.requests if r.method == "response_url"]
    assert call.status == 200


def slow_commands(bot: Bot, seconds: float) -> asyncio.Event:
    """Make each command take ``seconds`` in its worker thread; the event is set as one starts."""
    handle = bot.core.commands.handle
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow_handle(text: str, who: Invocation) -> Reply:
        loop.call_soon_threadsafe(started.set)
        time.sleep(seconds)
        return handle(text, who)

    bot.core.commands.handle = slow_handle  # type: ignore[method-assign]
    return started


async def test_an_answer_under_way_when_the_bot_stops_is_still_sent(
    tmp_path: Path, fake: FakeSlack
) -> None:
    runner, bot = await start_bot(tmp_path, fake)
    started = slow_commands(bot, 0.5)
    try:
        assert await bot.command("diffusion", "late") == 200
        await asyncio.wait_for(started.wait(), 5)
    finally:
        await runner.stop()  # SIGTERM while the search runs
        bot.core.close()
    [answer] = fake.responded("late")
    assert "diffusion" in answer["blocks"][0]["text"]["text"]


async def test_a_command_arriving_while_the_bot_stops_is_refused_not_dropped(
    tmp_path: Path, fake: FakeSlack
) -> None:
    runner, bot = await start_bot(tmp_path, fake)
    started = slow_commands(bot, 1.0)
    try:
        assert await bot.command("diffusion", "before") == 200
        await asyncio.wait_for(started.wait(), 5)
        runner.request_stop()
        stopping = asyncio.create_task(runner.stop())
        await asyncio.sleep(0.3)  # the adapter is letting "before" finish
        # Acknowledged with 200 it would never be answered: 503 makes Slack tell the person.
        assert await bot.command("help", "during") == 503
        await stopping
    finally:
        await runner.stop()
        bot.core.close()
    assert len(fake.responded("before")) == 1
    assert fake.responded("during") == []


async def test_close_waits_for_answers_begun_while_closing(tmp_path: Path, fake: FakeSlack) -> None:
    # A request bolt was still dispatching when the bot began to stop hands its answer over
    # after close() started: that answer is sent too, not left pending.
    listeners = Listeners(make_core(tmp_path, fake), None)
    sent: list[str] = []

    async def answer(name: str, then: str | None = None) -> None:
        await asyncio.sleep(0.2)
        if then is not None:
            listeners._later(answer(then))
        sent.append(name)

    listeners._later(answer("first", then="second"))
    try:
        await listeners.close(grace=5)
    finally:
        listeners.core.close()
    assert sent == ["first", "second"]
    assert not listeners._tasks


async def test_close_gives_up_after_the_grace_time(tmp_path: Path, fake: FakeSlack) -> None:
    listeners = Listeners(make_core(tmp_path, fake), None)
    listeners._later(asyncio.sleep(60))
    started = time.monotonic()
    try:
        await listeners.close(grace=0.3)
    finally:
        listeners.core.close()
    assert time.monotonic() - started < 2 and not listeners._tasks


async def test_help_and_errors_always_answer(bot: Bot) -> None:
    assert await bot.command("", "empty") == 200
    [help_answer] = await bot.answers("empty")
    assert "`/papers trending 10`" in json.dumps(help_answer)
    assert await bot.command("trending lots", "bad") == 200
    [bad] = await bot.answers("bad")
    assert bad["response_type"] == "ephemeral" and "1 to 20" in json.dumps(bad)


async def test_what_users_type_is_escaped_in_the_answer(bot: Bot) -> None:
    await bot.command("subscribe <!channel> <@U123>", "evil")
    [answer] = await bot.answers("evil")
    dumped = json.dumps(answer)
    assert "<!channel>" not in dumped and "<@U123>" not in dumped
    assert "&lt;!channel&gt;" in dumped


async def test_bad_signature_or_old_timestamp_gets_401_and_runs_nothing(
    bot: Bot, fake: FakeSlack
) -> None:
    ran: list[str] = []

    def spy(text: str, who: Invocation) -> Reply:
        ran.append(text)
        return Reply("ran")

    bot.core.commands.handle = spy  # type: ignore[method-assign]
    before = len(fake.requests)  # the start-up auth.test
    assert await bot.command("diffusion", "forged", secret="not-the-secret") == 401
    six_minutes_ago = int(time.time()) - 6 * 60
    assert await bot.command("diffusion", "old", timestamp=six_minutes_ago) == 401
    unsigned = await _post_unsigned(bot.url + "/slack/events", "command=/papers&text=x")
    assert unsigned == 401
    await asyncio.sleep(0.3)
    assert fake.responded("forged") == [] and fake.responded("old") == []
    assert ran == [] and len(fake.requests) == before
    # The same request, signed now, runs.
    assert await bot.command("diffusion", "good") == 200
    await bot.answers("good")
    assert ran == ["diffusion"]


async def _post_unsigned(url: str, body: str | bytes, **headers: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as resp,
    ):
        return resp.status


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ("{not json", {"Content-Type": "application/json"}),
        ("payload=%7Bx", {"Content-Type": "application/x-www-form-urlencoded"}),
        (
            "command=/papers&text=x",
            {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"},
        ),
        (b"text=\xff\xfe", {"X-Slack-Request-Timestamp": str(int(time.time()))}),
    ],
    ids=["json", "payload", "timestamp", "not-utf8"],
)
async def test_malformed_requests_without_a_valid_signature_get_401_quietly(
    bot: Bot, caplog: pytest.LogCaptureFixture, body: str | bytes, headers: dict[str, str]
) -> None:
    # Garbage from anyone is refused like any unsigned request, not a 500 and a traceback.
    assert await _post_unsigned(bot.url + "/slack/events", body, **headers) == 401
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_signed_body_that_cannot_be_parsed_gets_400(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    status, _, _ = await bot.post("{not json", content_type="application/json")
    assert status == 400
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_url_verification_is_answered_when_signed(bot: Bot) -> None:
    body = json.dumps({"token": "t", "challenge": "c-123", "type": "url_verification"})
    status, text, _ = await bot.post(body, content_type="application/json")
    assert status == 200 and "c-123" in text
    status, _, _ = await bot.post(body, content_type="application/json", secret="not-the-secret")
    assert status == 401


async def test_subscribe_is_confirmed_in_channel(bot: Bot) -> None:
    await bot.command("subscribe mixture of experts", "sub")
    [answer] = await bot.answers("sub")
    assert answer["response_type"] == "in_channel"
    assert "mixture of experts" in json.dumps(answer) and "accessory" not in json.dumps(answer)
    channel = bot.core.store.get_channel(TARGET)
    assert channel is not None and channel.topics == ["mixture of experts"]


async def test_digest_preview_is_private_with_share_buttons(bot: Bot) -> None:
    await bot.command("digest", "preview")
    answers = await bot.answers("preview")
    assert all(a["response_type"] == "ephemeral" for a in answers)
    assert answers[0]["blocks"][0]["type"] == "header"
    assert buttons(answers[0])
    assert all(message_problems(a) == [] for a in answers)


# -- permissions ---------------------------------------------------------------------------------


async def test_managers_mode_refuses_a_non_admin(managers_bot: Bot, fake: FakeSlack) -> None:
    await managers_bot.command("subscribe diffusion", "no", user="U0USER")
    [answer] = await managers_bot.answers("no")
    assert answer["response_type"] == "ephemeral"
    assert "Only channel managers" in json.dumps(answer)
    [info] = fake.calls("users.info")
    assert info.body["user"] == "U0USER"
    assert managers_bot.core.store.get_channel(TARGET) is None


async def test_managers_mode_lets_admins_and_listed_users_change(
    managers_bot: Bot, fake: FakeSlack
) -> None:
    await managers_bot.command("subscribe diffusion", "admin", user="U0ADMIN")
    [answer] = await managers_bot.answers("admin")
    assert answer["response_type"] == "in_channel"
    await managers_bot.command("subscribe robots", "listed", user="U0LISTED")
    [listed] = await managers_bot.answers("listed")
    assert listed["response_type"] == "in_channel"
    # The listed user needed no users.info; searching needs none either.
    await managers_bot.command("diffusion", "search", user="U0USER")
    await managers_bot.answers("search")
    assert [c.body["user"] for c in fake.calls("users.info")] == ["U0ADMIN"]
    channel = managers_bot.core.store.get_channel(TARGET)
    assert channel is not None and channel.topics == ["diffusion", "robots"]


# -- Share in channel ----------------------------------------------------------------------------


def share_body(fake: FakeSlack, key: str, arxiv_id: str, channel: str = CHANNEL) -> str:
    payload = {
        "type": "block_actions",
        "user": {"id": "U0USER", "username": "ada", "team_id": TEAM},
        "api_app_id": "A0PAPERS",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": "1700000000.000001",
            "channel_id": channel,
            "is_ephemeral": True,
        },
        "trigger_id": "1.2.3",
        "team": {"id": TEAM, "domain": "papers"},
        "channel": {"id": channel, "name": "general"},
        "response_url": fake.response_url(key),
        "actions": [
            {
                "action_id": "papers_share",
                "block_id": f"paper-1-{arxiv_id}-p",
                "text": {"type": "plain_text", "text": "Share in channel"},
                "value": arxiv_id,
                "type": "button",
                "action_ts": "1700000001.000002",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


async def test_share_posts_the_paper_to_the_channel(bot: Bot, fake: FakeSlack) -> None:
    status, _, elapsed = await bot.post(share_body(fake, "share", "2611.10002"))
    assert status == 200 and elapsed < 1.0
    await fake.until(lambda: bool(fake.messages(CHANNEL)))
    [message] = fake.messages(CHANNEL)
    dumped = json.dumps(message.blocks)
    assert "https://huggingface.co/papers/2611.10002" in dumped
    assert "shared by <@U0USER>" in dumped
    [call] = fake.calls("chat.postMessage")
    assert call.body["unfurl_links"] is False and message_problems(call.body) == []
    assert fake.responded("share") == []


async def test_share_where_the_bot_cannot_post_says_why(bot: Bot, fake: FakeSlack) -> None:
    fake.set_channel_error("C0PRIVATE", "not_in_channel")
    await bot.post(share_body(fake, "share", "2611.10002", channel="C0PRIVATE"))
    [answer] = await bot.answers("share")
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert "/invite" in json.dumps(answer)


async def test_share_of_an_unknown_paper_says_so(bot: Bot, fake: FakeSlack) -> None:
    await bot.post(share_body(fake, "share", "9999.99999"))
    [answer] = await bot.answers("share")
    assert "can't find that paper" in json.dumps(answer)
    assert fake.calls("chat.postMessage") == []


@pytest.mark.parametrize(
    ("error", "logged"),
    [
        (OperationalError("SELECT", {}, Exception("database is locked")), logging.WARNING),
        (RuntimeError("a bug"), logging.ERROR),
    ],
    ids=["database-down", "bug"],
)
async def test_share_that_fails_on_our_side_says_try_again(
    bot: Bot,
    fake: FakeSlack,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
    logged: int,
) -> None:
    def fail(arxiv_id: str) -> None:
        raise error

    bot.core.store.get_paper = fail  # type: ignore[assignment]
    status, _, _ = await bot.post(share_body(fake, "share", "2611.10002"))
    assert status == 200
    [answer] = await bot.answers("share")
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert "try again in a minute" in json.dumps(answer)
    assert fake.calls("chat.postMessage") == []
    # An outage is one warning line; only a bug is an error with its traceback.
    assert max(r.levelno for r in caplog.records if r.name == "adapters.slack") == logged


# -- uninstalls ----------------------------------------------------------------------------------


def event_body(event: dict[str, Any], team: str = TEAM) -> str:
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": team,
            "api_app_id": "A0PAPERS",
            "event": event,
            "type": "event_callback",
            "event_id": "Ev0001",
            "event_time": int(time.time()),
        }
    )


async def test_app_uninstalled_pauses_that_workspaces_channels(bot: Bot) -> None:
    store = bot.core.store
    other = Target.parse("slack:T0OTHER/C0001")
    for target in (TARGET, Target.parse(f"slack:{TEAM}/C0002"), other):
        store.ensure_channel(target)
    body = event_body({"type": "app_uninstalled", "event_ts": "1700000000.000001"})
    status, _, _ = await bot.post(body, content_type="application/json")
    assert status == 200
    second = Target.parse(f"slack:{TEAM}/C0002")
    # Channels are paused one after the other: wait for both.
    await bot.fake.until(lambda: bool(store.pause_reason(TARGET) and store.pause_reason(second)))
    assert "uninstalled" in (store.pause_reason(second) or "")
    other_channel = store.get_channel(other)
    assert other_channel is not None and not other_channel.schedule.paused


# -- many workspaces: OAuth ----------------------------------------------------------------------


async def test_install_through_oauth_then_deliver_and_uninstall(
    tmp_path: Path, fake: FakeSlack
) -> None:
    fake.add_workspace("T0NEW", bot_token="xoxb-installed-token")
    fake.add_oauth_code("code-123", bot_token="xoxb-installed-token")
    runner, bot = await start_bot(
        tmp_path,
        fake,
        SLACK_BOT_TOKEN="",
        SLACK_CLIENT_ID="111.222",
        SLACK_CLIENT_SECRET="client-secret-value",
    )
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(bot.url + "/slack/install") as resp:
                page = await resp.text()
                assert resp.status == 200
                # The state cookie is Secure; a browser on https would send it back.
                cookie = resp.cookies["slack-app-oauth-state"]
            match = re.search(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', page)
            assert match is not None
            query = parse_qs(urlsplit(match[1].replace("&amp;", "&")).query)
            assert set(query["scope"][0].split(",")) >= {"commands", "chat:write", "users:read"}
            state = query["state"][0]
            url = (
                bot.url + "/slack/oauth_redirect?" + urlencode({"code": "code-123", "state": state})
            )
            headers = {"Cookie": f"slack-app-oauth-state={cookie.value}"}
            async with session.get(url, headers=headers) as resp:
                assert resp.status == 200, await resp.text()
        [exchange] = fake.calls("oauth.v2.access")
        assert "client_secret" not in json.dumps(exchange.body)  # sent as basic auth
        # The installation is in the bot's database, and delivery uses its token.
        from tests.test_slack_adapter import small_digest

        target = Target.parse("slack:T0NEW/C0NEW")
        await bot.adapter.send_digest(small_digest(target))
        assert [c.team for c in fake.calls("chat.postMessage")] == ["T0NEW"]
        # Slash commands from that workspace are authorized by the installation too.
        body = urlencode(
            {
                "team_id": "T0NEW",
                "channel_id": "C0NEW",
                "user_id": "U0USER",
                "user_name": "ada",
                "command": "/papers",
                "text": "help",
                "response_url": fake.response_url("new"),
            }
        )
        status, _, _ = await bot.post(body)
        assert status == 200
        await bot.answers("new")
        # Uninstalling forgets the installation: the next delivery fails permanently.
        bot.core.store.ensure_channel(target)
        status, _, _ = await bot.post(
            event_body({"type": "app_uninstalled"}, team="T0NEW"), content_type="application/json"
        )
        assert status == 200
        await fake.until(lambda: bool(bot.core.store.pause_reason(target)))
        from bot.delivery import PermanentDeliveryError

        with pytest.raises(PermanentDeliveryError, match="not installed"):
            await bot.adapter.send_digest(small_digest(target))
    finally:
        await runner.stop()
        bot.core.close()
