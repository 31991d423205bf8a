"""Delivery through the real slack-sdk client against the fake Slack Web API: retries, errors,
tokens per workspace, resuming a digest after a crash, and configuration problems."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk.oauth.installation_store.models.installation import Installation

from adapters.registry import AdapterContext, make_adapter
from adapters.slack import SlackAdapter, from_context
from adapters.slack.app import BOT_SCOPES
from adapters.slack.render import digest_post_bodies
from bot.app import App
from bot.config import ConfigError, Secrets, Settings
from bot.delivery import DeliveryError, PermanentDeliveryError, deliver
from bot.ledger import ClaimJournal
from bot.models import Digest, DigestSection, Platform, Reply, ReplyKind, Target
from tests.factories import claimed, corpus, paper, retried
from tests.fakes.slack import FakeSlack

TEAM, CHANNEL = "T0001", "C0001"
TARGET = Target.parse(f"slack:{TEAM}/{CHANNEL}")
BOT_TOKEN = "xoxb-test-token-0001"
SIGNING_SECRET = "test-signing-secret-0001"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def make_core(tmp_path: Path, fake: FakeSlack, **overrides: Any) -> App:
    """A core App on a temporary SQLite database holding the test corpus."""
    slack = {"enabled": True, "mode": "http", "api_url": fake.api_url}
    slack.update(overrides.pop("slack", {}))
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/papers.db",
        slack=slack,
        server={"host": "127.0.0.1", "port": 0},
        **overrides,
    )
    core = App(settings, clock=lambda: NOW)
    core.ingest(corpus())
    return core


def adapter_for(core: App, **env: str) -> SlackAdapter:
    values = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, **env}
    secrets = Secrets({k: v for k, v in values.items() if v})
    adapter = make_adapter(Platform.SLACK, AdapterContext(core.settings, secrets, core))
    assert isinstance(adapter, SlackAdapter)
    return adapter


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        slack.add_workspace(TEAM, bot_token=BOT_TOKEN)
        yield slack


@pytest.fixture
def core(tmp_path: Path, fake: FakeSlack) -> Iterator[App]:
    app = make_core(tmp_path, fake)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def adapter(core: App) -> SlackAdapter:
    return adapter_for(core)


def small_digest(target: Target = TARGET) -> Digest:
    papers = corpus()
    return Digest(
        target,
        date(2026, 11, 20),
        [
            DigestSection("Trending", papers[:5]),
            DigestSection("diffusion", papers[5:8], topic="diffusion"),
        ],
    )


def big_digest(n: int = 60, target: Target = TARGET) -> Digest:
    papers = [
        paper(
            f"2611.{i:05d}",
            ("A very long title about <!channel> scaling & friends " * 60)[:3000],
            ai_summary="s " * 2000,
            authors=[f"Author {j}" for j in range(40)],
            github_repo="https://github.com/org/" + "r" * 400,
        )
        for i in range(n)
    ]
    return Digest(target, date(2026, 11, 20), [DigestSection("Trending", papers)])


def posted_bodies(fake: FakeSlack) -> list[dict[str, Any]]:
    return [r.body for r in fake.calls("chat.postMessage") if r.status == 200]


# -- posting -----------------------------------------------------------------------------------


async def test_send_digest_posts_exactly_the_rendered_bodies(
    adapter: SlackAdapter, fake: FakeSlack
) -> None:
    digest = small_digest()
    ids = await adapter.send_digest(digest)
    calls = fake.calls("chat.postMessage")
    assert len(ids) == len(calls) == 1
    assert calls[0].body == adapter.render_digest(digest)[0]
    assert calls[0].team == TEAM
    assert "authorization" not in calls[0].headers
    assert calls[0].response["ok"] is True
    [message] = fake.messages(CHANNEL)
    assert ids == [message.ts]
    assert message.metadata == {
        "event_type": "papers_digest",
        "event_payload": {"target": str(TARGET), "day": "2026-11-20", "part": 0, "parts": 1},
    }


async def test_a_huge_digest_never_gets_invalid_blocks(
    adapter: SlackAdapter, fake: FakeSlack
) -> None:
    ids = await adapter.send_digest(big_digest(60))
    calls = fake.calls("chat.postMessage")
    assert len(ids) == len(calls) > 1
    assert all(c.response == {**c.response, "ok": True} for c in calls), [
        c.response for c in calls if not c.response.get("ok")
    ]
    shown = sum(1 for m in fake.messages() for b in m.blocks if b["block_id"].endswith("-p"))
    assert shown == 60


async def test_threads_put_the_papers_under_the_header(core: App, fake: FakeSlack) -> None:
    core.settings.slack.threads = True
    adapter = adapter_for(core)
    ids = await adapter.send_digest(small_digest())
    messages = fake.messages(CHANNEL)
    assert len(ids) == 3
    assert messages[0].thread_ts is None
    assert [m.thread_ts for m in messages[1:]] == [ids[0], ids[0]]


async def test_rate_limits_are_retried_after_retry_after(
    adapter: SlackAdapter, fake: FakeSlack
) -> None:
    fake.rate_limit("chat.postMessage", times=2, retry_after=0)
    ids = await adapter.send_digest(small_digest())
    statuses = [c.status for c in fake.calls("chat.postMessage")]
    assert statuses == [429, 429, 200]
    assert len(ids) == 1 and len(fake.messages()) == 1


async def test_retry_after_is_honoured(adapter: SlackAdapter, fake: FakeSlack) -> None:
    fake.rate_limit("chat.postMessage", times=1, retry_after=1)
    started = time.monotonic()
    await adapter.send_digest(small_digest())
    assert time.monotonic() - started >= 1.0
    assert len(fake.calls("chat.postMessage")) == 2


async def test_rate_limited_past_five_retries_is_a_temporary_failure(
    adapter: SlackAdapter, fake: FakeSlack
) -> None:
    fake.rate_limit("chat.postMessage", times=6, retry_after=0)
    with pytest.raises(DeliveryError) as caught:
        await adapter.send_digest(small_digest())
    assert not caught.value.permanent
    assert "ratelimited" in str(caught.value)
    assert len(fake.calls("chat.postMessage")) == 6
    assert fake.messages() == []


async def test_server_errors_are_retried(adapter: SlackAdapter, fake: FakeSlack) -> None:
    fake.server_error("chat.postMessage", times=2, status=503)
    ids = await adapter.send_digest(small_digest())
    assert [c.status for c in fake.calls("chat.postMessage")] == [503, 503, 200]
    assert len(ids) == 1


async def test_a_longer_outage_is_a_temporary_failure(
    adapter: SlackAdapter, fake: FakeSlack
) -> None:
    fake.server_error("chat.postMessage", times=3, status=500)
    with pytest.raises(DeliveryError) as caught:
        await adapter.send_digest(small_digest())
    assert not caught.value.permanent


@pytest.mark.parametrize(
    ("error", "words"),
    [
        ("not_in_channel", "invite it"),
        ("channel_not_found", "does not exist"),
        ("is_archived", "archived"),
        ("account_inactive", "deactivated"),
    ],
)
async def test_channel_errors_are_permanent(
    adapter: SlackAdapter, fake: FakeSlack, error: str, words: str
) -> None:
    fake.set_channel_error(CHANNEL, error)
    if error == "account_inactive":
        fake.set_channel_error(CHANNEL, None)
        fake.fail("chat.postMessage", error)
    with pytest.raises(PermanentDeliveryError) as caught:
        await adapter.send_digest(small_digest())
    assert error in str(caught.value) and words in str(caught.value)
    assert str(TARGET) in str(caught.value)


async def test_a_revoked_or_unknown_token_is_permanent(core: App, fake: FakeSlack) -> None:
    fake.revoke(BOT_TOKEN)
    with pytest.raises(PermanentDeliveryError, match="token_revoked"):
        await adapter_for(core).send_digest(small_digest())
    other = adapter_for(core, SLACK_BOT_TOKEN="xoxb-nobody-knows-this")
    with pytest.raises(PermanentDeliveryError, match="invalid_auth") as caught:
        await other.send_digest(small_digest())
    assert "xoxb-nobody" not in str(caught.value)


async def test_other_api_errors_are_temporary(adapter: SlackAdapter, fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", "internal_error")
    with pytest.raises(DeliveryError) as caught:
        await adapter.send_digest(small_digest())
    assert not caught.value.permanent and "internal_error" in str(caught.value)


async def test_deliver_pauses_a_channel_that_is_gone(
    core: App, adapter: SlackAdapter, fake: FakeSlack
) -> None:
    channel = core.channel(TARGET)
    other_target = Target.parse(f"slack:{TEAM}/C0002")
    other = core.channel(other_target)
    fake.set_channel_error(CHANNEL, "channel_not_found")
    with pytest.raises(PermanentDeliveryError):
        await deliver(core.digests, channel, date(2026, 11, 20), adapter, now=NOW)
    stored = core.store.get_channel(TARGET)
    assert stored is not None and stored.schedule.paused
    assert "channel_not_found" in (core.store.pause_reason(TARGET) or "")
    result = await deliver(core.digests, other, date(2026, 11, 20), adapter, now=NOW)
    assert result.status == "sent" and fake.messages("C0002")


async def test_post_reply_posts_in_the_channel(adapter: SlackAdapter, fake: FakeSlack) -> None:
    ids = await adapter.post_reply(
        TARGET, Reply("Subscribed: “<!here>”", ReplyKind.CONFIRM, ephemeral=False)
    )
    [call] = fake.calls("chat.postMessage")
    assert len(ids) == 1
    assert "response_type" not in call.body and call.body["channel"] == CHANNEL
    assert "&lt;!here&gt;" in call.body["blocks"][0]["text"]["text"]


# -- exactly once --------------------------------------------------------------------------------


async def test_a_retried_delivery_does_not_repost_what_is_there(
    adapter: SlackAdapter, fake: FakeSlack
) -> None:
    digest = big_digest(60)
    parts = len(adapter.render_digest(digest))
    assert parts >= 3
    # The second message fails: part 0 is in the channel, the rest is not.
    fake.fail("chat.postMessage", "internal_error", after=1)
    with pytest.raises(DeliveryError):
        await adapter.send_digest(digest, nonce="n1")
    assert len(fake.messages(CHANNEL)) == 1
    assert not fake.calls("conversations.history")  # a first attempt reads no history
    ids = await adapter.send_digest(digest, nonce="n1", resume=True)
    messages = fake.messages(CHANNEL)
    assert len(messages) == parts
    assert ids == [m.ts for m in messages]
    assert [m.metadata["event_payload"]["part"] for m in messages if m.metadata] == list(
        range(parts)
    )
    assert {m.metadata["event_payload"]["nonce"] for m in messages if m.metadata} == {"n1"}
    history = fake.calls("conversations.history")
    assert history and history[0].body["include_all_metadata"] in ("1", "true", True)
    # A third attempt (another replica, a restart) finds everything and posts nothing.
    again = await adapter.send_digest(digest, nonce="n1", resume=True)
    assert again == ids and len(fake.messages(CHANNEL)) == parts
    # Another delivery of the same day (a manual --send) is its own: it posts in full.
    await adapter.send_digest(digest, nonce="n2", resume=True)
    assert len(fake.messages(CHANNEL)) == 2 * parts


async def test_resume_in_threads_finds_the_replies(core: App, fake: FakeSlack) -> None:
    core.settings.slack.threads = True
    adapter = adapter_for(core)
    digest = small_digest()
    first = await adapter.send_digest(digest, nonce="n")
    again = await adapter.send_digest(digest, nonce="n", resume=True)
    assert again == first and len(fake.messages(CHANNEL)) == 3
    assert fake.calls("conversations.replies")


async def test_without_history_access_it_just_posts(adapter: SlackAdapter, fake: FakeSlack) -> None:
    fake.fail("conversations.history", "missing_scope")
    ids = await adapter.send_digest(small_digest(), nonce="n", resume=True)
    assert len(ids) == 1


async def test_without_history_access_a_retry_posts_only_what_is_not_recorded(
    core: App, adapter: SlackAdapter, fake: FakeSlack
) -> None:
    """Without channels:history the bot cannot see what it posted; the claim's record of each
    part posted keeps a retry from posting the first parts again, as it did before."""
    digest = big_digest(60)
    parts = len(adapter.render_digest(digest))
    assert parts >= 3
    ledger, claim = claimed(core.store, str(TARGET))
    fake.fail("chat.postMessage", "internal_error", after=1)
    with pytest.raises(DeliveryError):
        await adapter.send_digest(digest, nonce=claim.nonce, journal=ClaimJournal(ledger, claim))
    fake.fail("conversations.history", "missing_scope")
    again = retried(ledger, claim)
    ids = await adapter.send_digest(
        digest, nonce=again.nonce, resume=True, journal=ClaimJournal(ledger, again)
    )
    messages = fake.messages(CHANNEL)
    assert ids == [m.ts for m in messages] and len(ids) == parts
    assert [m.metadata["event_payload"]["part"] for m in messages if m.metadata] == list(
        range(parts)
    )


# -- many workspaces -----------------------------------------------------------------------------


def install(core: App, adapter: SlackAdapter, team: str, token: str) -> None:
    assert adapter.installations is not None
    adapter.installations.sync.save(
        Installation(
            app_id="A0PAPERS",
            team_id=team,
            team_name=f"Team {team}",
            bot_token=token,
            bot_id=f"B{team}",
            bot_user_id=f"U{team}",
            bot_scopes="commands,chat:write",
            user_id="UINSTALLER",
            installed_at=time.time(),
        )
    )


async def test_each_workspace_gets_its_own_installation_token(core: App, fake: FakeSlack) -> None:
    fake.add_workspace("T0002", bot_token="xoxb-second-team")
    adapter = adapter_for(
        core, SLACK_BOT_TOKEN="", SLACK_CLIENT_ID="111.222", SLACK_CLIENT_SECRET="client-secret-x"
    )
    install(core, adapter, TEAM, BOT_TOKEN)
    install(core, adapter, "T0002", "xoxb-second-team")
    await adapter.send_digest(small_digest(Target.parse("slack:T0002/C0009")))
    await adapter.send_digest(small_digest())
    assert [c.team for c in fake.calls("chat.postMessage")] == ["T0002", TEAM]
    with pytest.raises(PermanentDeliveryError, match="not installed in Slack workspace T0404"):
        await adapter.send_digest(small_digest(Target.parse("slack:T0404/C0001")))


def grid_install(
    adapter: SlackAdapter, org: str, team: str | None, token: str, *, at: float | None = None
) -> None:
    """What bolt's OAuth flow saves inside Enterprise Grid org ``org``: a workspace's install,
    or with ``team`` None the org-wide one."""
    assert adapter.installations is not None
    adapter.installations.sync.save(
        Installation(
            app_id="A0PAPERS",
            enterprise_id=org,
            team_id=team,
            bot_token=token,
            bot_id=f"B{org}{team}",
            bot_user_id=f"U{org}{team}",
            bot_scopes="commands,chat:write",
            user_id="UINSTALLER",
            is_enterprise_install=team is None,
            installed_at=time.time() if at is None else at,
        )
    )


def oauth_adapter(core: App) -> SlackAdapter:
    return adapter_for(
        core, SLACK_BOT_TOKEN="", SLACK_CLIENT_ID="111.222", SLACK_CLIENT_SECRET="client-secret-x"
    )


async def test_a_workspace_in_an_enterprise_grid_org_gets_its_digest(
    core: App, fake: FakeSlack
) -> None:
    fake.add_workspace("T0GRID", bot_token="xoxb-grid-token")
    adapter = oauth_adapter(core)
    grid_install(adapter, "E0ORG", "T0GRID", "xoxb-old-token", at=time.time() - 60)
    grid_install(adapter, "E0ORG", "T0GRID", "xoxb-grid-token")  # reinstalled: the newest wins
    await adapter.send_digest(small_digest(Target.parse("slack:T0GRID/C0GRID")))
    assert [c.team for c in fake.calls("chat.postMessage")] == ["T0GRID"]


async def test_an_org_wide_install_posts_in_the_orgs_workspaces(core: App, fake: FakeSlack) -> None:
    fake.add_workspace("T0GRID", bot_token="xoxb-org-token")
    adapter = oauth_adapter(core)
    grid_install(adapter, "E0ORG", None, "xoxb-org-token")
    await adapter.send_digest(small_digest(Target.parse("slack:T0GRID/C0GRID")))
    assert [c.team for c in fake.calls("chat.postMessage")] == ["T0GRID"]
    # Which org a workspace belongs to is not known: with two orgs installed org-wide, neither
    # token is guessed.
    grid_install(adapter, "E0OTHER", None, "xoxb-other-org-token")
    with pytest.raises(PermanentDeliveryError, match="not installed in Slack workspace T0GRID"):
        await adapter.send_digest(small_digest(Target.parse("slack:T0GRID/C0GRID")))


async def test_an_org_wide_uninstall_forgets_the_orgs_install(core: App, fake: FakeSlack) -> None:
    """Slack's app_uninstalled for an org-wide install names the org and no workspace."""
    from slack_bolt.context.async_context import AsyncBoltContext

    fake.add_workspace("T0GRID", bot_token="xoxb-org-token")
    adapter = oauth_adapter(core)
    grid_install(adapter, "E0ORG", None, "xoxb-org-token")
    grid_install(adapter, "E0ORG", "T0KEPT", "xoxb-kept-token")  # a workspace's own install
    adapter.bolt  # noqa: B018 - builds the listeners
    assert adapter._listeners is not None
    await adapter._listeners.app_uninstalled(
        AsyncBoltContext({"enterprise_id": "E0ORG", "team_id": None})
    )
    with pytest.raises(PermanentDeliveryError, match="not installed in Slack workspace T0GRID"):
        await adapter.send_digest(small_digest(Target.parse("slack:T0GRID/C0GRID")))
    assert adapter.installations is not None
    kept = await adapter.installations.async_find_workspace_bot("T0KEPT")
    assert kept is not None and kept.bot_token == "xoxb-kept-token"


# -- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "env", "missing"),
    [
        ("socket", {"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_APP_TOKEN"),
        ("socket", {"SLACK_APP_TOKEN": "xapp-1"}, "SLACK_BOT_TOKEN"),
        ("http", {"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        ("http", {"SLACK_SIGNING_SECRET": "s3cret-value"}, "SLACK_BOT_TOKEN"),
        (
            "http",
            {"SLACK_SIGNING_SECRET": "s3cret-value", "SLACK_CLIENT_ID": "1.2"},
            "SLACK_CLIENT_SECRET",
        ),
    ],
)
def test_missing_secrets_name_the_variable(
    core: App, mode: str, env: dict[str, str], missing: str
) -> None:
    core.settings.slack.mode = mode  # type: ignore[assignment]
    adapter = from_context(AdapterContext(core.settings, Secrets(env), core))
    # Rendering needs no secrets ...
    assert adapter.render_digest(small_digest()) == digest_post_bodies(small_digest())
    # ... anything that talks to Slack does.
    with pytest.raises(ConfigError) as caught:
        adapter.mount(__import__("aiohttp").web.Application())
    message = str(caught.value)
    assert message.startswith(f"{missing} is not set") and "\n" not in message
    for value in env.values():
        assert value not in message


async def test_a_running_adapter_posts_on_kept_connections(tmp_path: Path) -> None:
    with FakeSlack(keep_alive=True) as slack:
        slack.add_workspace(TEAM, bot_token=BOT_TOKEN)
        app = make_core(tmp_path, slack)
        try:
            adapter = adapter_for(app)
            # Not started (a one-off send): slack-sdk's own session, a connection a call.
            await adapter.send_digest(small_digest())
            await adapter.send_digest(small_digest())
            one_off = set(slack.peers)
            assert len(one_off) == len(slack.peers) >= 2
            await adapter.start()
            started = len(slack.peers)
            for _ in range(4):
                await adapter.send_digest(small_digest())
            posts = slack.peers[started:]
            assert len(posts) >= 4 and len(set(posts)) == 1  # one connection carried them all
            assert not set(posts) & one_off
            await adapter.stop()
            assert adapter.client.session is None
            before = len(slack.calls("chat.postMessage"))
            await adapter.send_digest(small_digest())  # still sends after stop, as a one-off
            assert len(slack.calls("chat.postMessage")) > before
        finally:
            app.close()


async def test_a_rejected_bot_token_stops_start_up(core: App, fake: FakeSlack) -> None:
    adapter = adapter_for(core, SLACK_BOT_TOKEN="xoxb-wrong-token")
    with pytest.raises(
        ConfigError, match=r"^SLACK_BOT_TOKEN was rejected by Slack \(invalid_auth\)$"
    ):
        await adapter.start()


async def test_a_rejected_app_token_stops_socket_mode(core: App, fake: FakeSlack) -> None:
    core.settings.slack.mode = "socket"
    adapter = adapter_for(core, SLACK_APP_TOKEN="xapp-wrong-token")
    with pytest.raises(
        ConfigError, match=r"^SLACK_APP_TOKEN was rejected by Slack \(invalid_auth\)$"
    ):
        await adapter.start()
    await adapter.stop()
    assert len(fake.calls("apps.connections.open")) == 1


async def test_socket_mode_starts_in_the_background_and_stops(core: App, fake: FakeSlack) -> None:
    core.settings.slack.mode = "socket"
    fake.add_app_token("xapp-good-token")
    adapter = adapter_for(core, SLACK_APP_TOKEN="xapp-good-token")
    # The socket URL the fake hands out leads nowhere: start must not wait for it.
    started = time.monotonic()
    await adapter.start()
    assert time.monotonic() - started < 2
    assert fake.calls("auth.test") and len(fake.calls("apps.connections.open")) == 1
    await adapter.stop()
    assert adapter._socket is None and adapter._socket_task is None


def test_credentials_never_show_their_values(core: App) -> None:
    adapter = adapter_for(core)
    assert BOT_TOKEN not in repr(adapter.credentials)
    assert SIGNING_SECRET not in repr(adapter.credentials)


async def test_sending_needs_only_the_bot_token(core: App, fake: FakeSlack) -> None:
    core.settings.slack.mode = "socket"
    adapter = from_context(
        AdapterContext(core.settings, Secrets({"SLACK_BOT_TOKEN": BOT_TOKEN}), core)
    )
    assert len(await adapter.send_digest(small_digest())) == 1
    with pytest.raises(ConfigError, match=r"^SLACK_APP_TOKEN is not set"):
        await adapter.start()


def test_the_manifest_asks_for_what_the_code_uses() -> None:
    manifest = yaml.safe_load(
        (Path(__file__).parents[1] / "adapters/slack/manifest.yaml").read_text()
    )
    assert manifest["oauth_config"]["scopes"]["bot"] == list(BOT_SCOPES)
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/papers"]
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert sorted(events) == ["app_uninstalled", "tokens_revoked"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
