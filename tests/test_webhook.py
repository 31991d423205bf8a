"""``webhook:NAME`` targets against fake Slack incoming webhooks and fake Discord webhooks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest

from adapters.discord import render as discord_render
from adapters.registry import AdapterContext
from adapters.slack import render as slack_render
from adapters.webhook import WebhookAdapter, from_context
from bot.app import App
from bot.config import Secrets, Settings, WebhookConfig
from bot.delivery import (
    SHOWN,
    DeliveryError,
    PermanentDeliveryError,
    deliver,
    digest_plan,
)
from bot.ledger import SENT, ClaimJournal, Ledger
from bot.logs import REDACTED, redactor
from bot.models import Digest, DigestSection, Platform, Target
from bot.scheduler import DigestScheduler, last_due
from bot.store import Store
from tests.factories import (
    CLAIM_DAY,
    claimed,
    corpus,
    due_channel,
    paper,
    retried,
    stored_plan,
)
from tests.fakes.discord import FakeDiscord
from tests.fakes.slack_webhook import FakeSlackWebhook


class Sleeps:
    """Stands in for asyncio.sleep: records each wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def slack() -> Iterator[FakeSlackWebhook]:
    with FakeSlackWebhook() as fake:
        yield fake


@pytest.fixture
def discord_api() -> Iterator[FakeDiscord]:
    with FakeDiscord() as fake:
        yield fake


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def hook(name: str, url: str, kind: str | None = None, **extra: Any) -> WebhookConfig:
    return WebhookConfig.model_validate({"name": name, "url": url, "kind": kind, **extra})


def digest_for(name: str, n: int = 3) -> Digest:
    papers = corpus()
    return Digest(
        Target.parse(f"webhook:{name}"),
        date(2026, 11, 20),
        [
            DigestSection("Trending", papers[:n]),
            DigestSection("diffusion", papers[n : n + 2], topic="diffusion"),
        ],
    )


def adapter_for(*hooks: WebhookConfig, sleeps: Sleeps) -> WebhookAdapter:
    return WebhookAdapter({h.name: h for h in hooks}, backoff=0.5, sleep=sleeps)


# -- Discord webhooks -----------------------------------------------------------------------


async def test_discord_webhook_gets_the_rendered_bodies(
    discord_api: FakeDiscord, sleeps: Sleeps
) -> None:
    url = discord_api.add_webhook()
    adapter = adapter_for(hook("reading-group", url, "discord"), sleeps=sleeps)
    d = digest_for("reading-group", n=12)
    ids = await adapter.send_digest(d, nonce="n1")
    bodies = adapter.render_digest(d)
    assert bodies == discord_render.digest_messages(d)
    assert len(bodies) == 2
    assert discord_api.webhook_messages(url) == bodies
    assert len(ids) == 2 and all(i.isdigit() for i in ids)
    posts = [r for r in discord_api.requests if r.path.startswith("/webhooks/")]
    assert all(r.query == {"wait": "true"} for r in posts)
    assert sleeps.waits == []


async def test_discord_webhook_thread_query_is_kept(
    discord_api: FakeDiscord, sleeps: Sleeps
) -> None:
    url = discord_api.add_webhook() + "?thread_id=123"
    adapter = adapter_for(hook("rg", url, "discord"), sleeps=sleeps)
    await adapter.send_digest(digest_for("rg"))
    [post] = [r for r in discord_api.requests if r.path.startswith("/webhooks/")]
    assert post.query == {"thread_id": "123", "wait": "true"}


async def test_discord_webhook_429_waits_retry_after(
    discord_api: FakeDiscord, sleeps: Sleeps
) -> None:
    url = discord_api.add_webhook()
    discord_api.rate_limit("/webhooks/", times=1, retry_after=0.25)
    adapter = adapter_for(hook("rg", url, "discord"), sleeps=sleeps)
    assert len(await adapter.send_digest(digest_for("rg"))) == 1
    assert sleeps.waits == [0.25]
    assert len(discord_api.webhook_messages(url)) == 1


async def test_discord_webhook_waits_for_an_empty_bucket() -> None:
    with FakeDiscord(bucket_limit=1, bucket_window=0.3) as api:
        url = api.add_webhook()
        adapter = WebhookAdapter({"rg": hook("rg", url, "discord")})  # real sleeps
        ids = await adapter.send_digest(digest_for("rg", n=12))  # two messages
        assert len(ids) == 2
        assert api.unexpected_429s == 0  # the headers were read, no 429 was needed


async def test_deleted_discord_webhook_is_permanent(
    discord_api: FakeDiscord, sleeps: Sleeps
) -> None:
    url = discord_api.add_webhook()
    discord_api.delete_webhook(url)
    adapter = adapter_for(hook("reading-group", url, "discord"), sleeps=sleeps)
    with pytest.raises(PermanentDeliveryError) as info:
        await adapter.send_digest(digest_for("reading-group"))
    message = str(info.value)
    assert "webhook 'reading-group'" in message and "404" in message
    assert url not in message and "secret-token" not in message
    assert sleeps.waits == []


def break_after_first_post(adapter: WebhookAdapter, fail: Callable[[], None]) -> None:
    """Once the adapter's first post has gone through, ``fail`` makes every try of the next
    one fail (a partial delivery: part 1 in the channel, part 2 not)."""
    real = adapter._post

    async def post(*args: Any) -> tuple[str | None, float]:
        result = await real(*args)
        del adapter._post  # back to the real one
        fail()
        return result

    adapter._post = post  # type: ignore[method-assign]


async def test_resumed_discord_delivery_posts_only_the_missing_part(
    discord_api: FakeDiscord, sleeps: Sleeps, store: Store
) -> None:
    url = discord_api.add_webhook()
    adapter = adapter_for(hook("rg", url, "discord"), sleeps=sleeps)
    d = digest_for("rg", n=12)
    bodies = adapter.render_digest(d)
    assert len(bodies) == 2
    break_after_first_post(
        adapter, lambda: discord_api.fail(500, times=adapter.attempts, path="/webhooks/")
    )
    ledger, claim = claimed(store, "webhook:rg")
    with pytest.raises(DeliveryError):
        await adapter.send_digest(d, nonce=claim.nonce, journal=ClaimJournal(ledger, claim))
    assert discord_api.webhook_messages(url) == bodies[:1]
    again = retried(ledger, claim)
    ids = await adapter.send_digest(
        d, nonce=again.nonce, resume=True, journal=ClaimJournal(ledger, again)
    )
    assert discord_api.webhook_messages(url) == bodies  # each part exactly once
    assert len(ids) == 2 and len(set(ids)) == 2


@dataclass
class Takeover:
    """What `take_over_after_a_crash` leaves: the webhook, the bodies the crashed attempt
    rendered, and the channel's delivery."""

    url: str
    bodies: list[dict[str, Any]]
    ledger: Ledger
    channel_id: int
    day: date


async def take_over_after_a_crash(
    discord_api: FakeDiscord,
    sleeps: Sleeps,
    store: Store,
    meanwhile: Callable[[App, list[str]], None] | None = None,
) -> Takeover:
    """A crashed process claims a channel's digest of the dozen papers (as stored, two parts),
    posts part 1 and dies; ``meanwhile(app, ids)`` runs; then another process, with its own
    adapter, which remembers nothing, takes the delivery over once the lease ends."""
    url = discord_api.add_webhook()
    now = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=1)
    clock = [now]
    app = App(Settings(), store, clock=lambda: clock[0])
    app.ingest(corpus())
    target = due_channel(store, "webhook:rg", now, minutes_ago=3)
    channel = store.get_channel(target)
    assert channel is not None and channel.id is not None
    due = last_due(channel.schedule, now)
    assert due is not None
    day, when = due
    crashed = Ledger(store, "crashed", lease_seconds=300)
    claim = crashed.claim(channel.id, day, due_at=when, now=now)
    assert claim is not None
    ids = [p.id for p in corpus()]
    digest = Digest(target, day, [DigestSection("Trending", store.get_papers(ids))])
    crashed.save_plan(claim, digest_plan(digest))
    first = adapter_for(hook("rg", url, "discord"), sleeps=sleeps)
    bodies = first.render_digest(digest)
    assert [len(b.get("embeds", [])) for b in bodies] == [10, 2]
    break_after_first_post(
        first, lambda: discord_api.fail(500, times=first.attempts, path="/webhooks/")
    )
    with pytest.raises(DeliveryError):
        await first.send_digest(digest, nonce=claim.nonce, journal=ClaimJournal(crashed, claim))
    assert discord_api.webhook_messages(url) == bodies[:1]
    if meanwhile is not None:
        meanwhile(app, ids)
    clock[0] = now + timedelta(minutes=6)
    other = adapter_for(hook("rg", url, "discord"), sleeps=sleeps)
    sched = DigestScheduler(app, {Platform.WEBHOOK: other}, owner="restarted")
    await sched.reconcile()
    await sched.idle()
    return Takeover(url, bodies, sched.ledger, channel.id, day)


async def test_a_delivery_taken_over_by_another_process_posts_only_the_missing_part(
    discord_api: FakeDiscord, sleeps: Sleeps, store: Store
) -> None:
    """A webhook cannot be asked what it has posted. The parts a delivery posts are kept in its
    ledger row, so the process that takes over a crashed delivery posts only the rest. Before,
    only the crashed process had known, and the takeover posted every part again."""
    done = await take_over_after_a_crash(discord_api, sleeps, store)
    assert discord_api.webhook_messages(done.url) == done.bodies  # each part exactly once
    assert done.ledger.status(done.channel_id, done.day) == SENT


async def test_a_takeover_shows_the_papers_as_the_first_attempt_did(
    discord_api: FakeDiscord, sleeps: Sleeps, store: Store
) -> None:
    """Discord splits a digest by characters as well as by embeds. Papers updated between a
    crashed attempt and the takeover (AI summaries arrive; counts, authors and links change) are
    longer, and rendered afresh they split at other papers: the takeover posted papers 9 and 10
    a second time. The plan keeps what the digest showed of each paper, so the takeover renders
    the first attempt's bodies and posts only the one not posted; once sent, the plan keeps
    only ids."""

    def fetched(app: App, ids: list[str]) -> None:  # every paper longer than before
        updated = [
            replace(
                p,
                upvotes=p.upvotes + 100,
                num_comments=12,
                authors=[*p.authors, "Carmen Placeholder-Lopez", "Dmitri Testovich"],
                ai_summary=f"{p.title} " + "with a summary that arrived later, " * 8,
                github_repo=f"https://github.com/example-lab/{p.id}",
                project_page=f"https://example-lab.github.io/{p.id}/",
            )
            for p in store.get_papers(ids)
        ]
        app.ingest(updated)
        fresh = discord_render.digest_messages(
            Digest(Target.parse("webhook:rg"), CLAIM_DAY, [DigestSection("Trending", updated)])
        )
        assert [len(b.get("embeds", [])) for b in fresh] != [10, 2]  # they split elsewhere

    done = await take_over_after_a_crash(discord_api, sleeps, store, fetched)
    assert discord_api.webhook_messages(done.url) == done.bodies  # each paper exactly once
    assert done.ledger.status(done.channel_id, done.day) == SENT
    kept = stored_plan(store, done.channel_id)
    assert kept is not None and SHOWN not in kept
    assert kept["sections"][0]["ids"] == [p.id for p in corpus()]
    assert kept["posted"] == {"0": ANY, "1": ANY}


async def test_resumed_slack_delivery_posts_only_the_missing_part(
    slack: FakeSlackWebhook, sleeps: Sleeps, store: Store
) -> None:
    url = slack.add_hook()
    adapter = adapter_for(hook("team", url, "slack"), sleeps=sleeps)
    papers = [paper(f"2611.{i:05d}", f"Paper {i}") for i in range(40)]
    d = Digest(Target.parse("webhook:team"), date(2026, 11, 20), [DigestSection("New", papers)])
    bodies = adapter.render_digest(d)
    assert len(bodies) >= 2
    break_after_first_post(adapter, lambda: slack.fail(500, times=adapter.attempts))
    ledger, claim = claimed(store, "webhook:team")
    with pytest.raises(DeliveryError):
        await adapter.send_digest(d, nonce=claim.nonce, journal=ClaimJournal(ledger, claim))
    assert slack.messages(url) == bodies[:1]
    again = retried(ledger, claim)
    journal = ClaimJournal(ledger, again)
    assert journal.posted() == {0: ""}  # Slack webhooks return no message id
    assert await adapter.send_digest(d, nonce=again.nonce, resume=True, journal=journal) == []
    assert slack.messages(url) == bodies


# -- Slack incoming webhooks ------------------------------------------------------------------


async def test_slack_webhook_gets_text_and_blocks(slack: FakeSlackWebhook, sleeps: Sleeps) -> None:
    url = slack.add_hook()
    adapter = adapter_for(hook("team", url, "slack"), sleeps=sleeps)
    d = digest_for("team")
    ids = await adapter.send_digest(d)
    bodies = adapter.render_digest(d)
    assert ids == []  # Slack webhooks answer "ok", not a message id
    assert slack.messages(url) == bodies
    expected = slack_render.digest_messages(d, threads=False)
    assert [b["blocks"] for b in bodies] == [b["blocks"] for b in expected]
    assert all(set(b) == {"text", "blocks", "unfurl_links", "unfurl_media"} for b in bodies)
    assert all(b["text"] and b["blocks"] for b in bodies)
    # As chat.postMessage bodies: the digest's links bring no previews.
    assert all(b["unfurl_links"] is False and b["unfurl_media"] is False for b in bodies)


async def test_slack_429_honours_retry_after(slack: FakeSlackWebhook, sleeps: Sleeps) -> None:
    url = slack.add_hook()
    slack.rate_limit(times=2, retry_after=3)
    adapter = adapter_for(hook("team", url, "slack"), sleeps=sleeps)
    await adapter.send_digest(digest_for("team"))
    assert sleeps.waits == [3.0, 3.0]
    assert len(slack.messages(url)) == 1


async def test_slack_5xx_is_retried_with_backoff(slack: FakeSlackWebhook, sleeps: Sleeps) -> None:
    url = slack.add_hook()
    slack.fail(500, "rollup_error", times=3)
    adapter = adapter_for(hook("team", url, "slack"), sleeps=sleeps)
    await adapter.send_digest(digest_for("team"))
    assert len(sleeps.waits) == 3 and len(slack.messages(url)) == 1
    assert sleeps.waits[0] <= sleeps.waits[1] + 1 <= sleeps.waits[2] + 2  # growing, jittered
    assert all(0 < w <= adapter.max_backoff for w in sleeps.waits)


async def test_retries_are_bounded(
    slack: FakeSlackWebhook, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    url = slack.add_hook()
    slack.fail(503, "service_unavailable", times=10)
    adapter = adapter_for(hook("team", url, "slack"), sleeps=sleeps)
    with pytest.raises(DeliveryError) as info:
        await adapter.send_digest(digest_for("team"))
    assert not info.value.permanent
    assert "webhook 'team'" in str(info.value) and "503" in str(info.value)
    assert len(slack.requests) == adapter.attempts and len(sleeps.waits) == adapter.attempts - 1
    assert url not in str(info.value) and url not in caplog.text


async def test_too_long_a_rate_limit_fails_now(slack: FakeSlackWebhook, sleeps: Sleeps) -> None:
    url = slack.add_hook()
    slack.rate_limit(times=1, retry_after=3600)
    adapter = adapter_for(hook("team", url, "slack"), sleeps=sleeps)
    with pytest.raises(DeliveryError, match="rate limited for 3600s"):
        await adapter.send_digest(digest_for("team"))
    assert sleeps.waits == []


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("no_service", "404"),
        ("channel_is_archived", "410"),
        ("action_prohibited", "403"),
        ("channel_not_found", "404"),
    ],
)
async def test_gone_slack_webhook_is_permanent(
    slack: FakeSlackWebhook, sleeps: Sleeps, state: str, status: str
) -> None:
    url = slack.add_hook()
    slack.set_state(url, state)
    adapter = adapter_for(hook("team", url, "slack"), sleeps=sleeps)
    with pytest.raises(PermanentDeliveryError) as info:
        await adapter.send_digest(digest_for("team"))
    assert f"{status} {state}" in str(info.value) and url not in str(info.value)
    assert sleeps.waits == []


async def test_refused_payload_is_not_retried_nor_permanent(
    slack: FakeSlackWebhook, sleeps: Sleeps
) -> None:
    url = slack.add_hook()
    slack.fail(400, "invalid_payload")
    adapter = adapter_for(hook("team", url, "slack"), sleeps=sleeps)
    with pytest.raises(DeliveryError) as info:
        await adapter.send_digest(digest_for("team"))
    assert not info.value.permanent and "400 invalid_payload" in str(info.value)
    assert len(slack.requests) == 1


async def test_fake_refuses_what_slack_refuses(slack: FakeSlackWebhook) -> None:
    import httpx

    url = slack.add_hook()
    async with httpx.AsyncClient() as client:
        assert (await client.post(url, content=b"not json")).text == "invalid_payload"
        assert (await client.post(url, json={"blocks": []})).text == "no_text"
        r = await client.post(url, json={"text": "x", "blocks": [{"type": "divider"}] * 51})
        assert (r.status_code, r.text) == (400, "invalid_blocks")
        r = await client.post(slack.origin + "/services/T/B/unknown", json={"text": "x"})
        assert (r.status_code, r.text) == (404, "no_service")


async def test_unreachable_webhook_is_retried_then_reported_without_url(sleeps: Sleeps) -> None:
    url = "http://127.0.0.1:9/services/T1/B1/averysecrettokenvalue"
    adapter = adapter_for(hook("team", url, "slack"), sleeps=sleeps)
    with pytest.raises(DeliveryError) as info:
        await adapter.send_digest(digest_for("team"))
    assert "cannot reach the webhook" in str(info.value)
    assert "averysecrettokenvalue" not in str(info.value) and "127.0.0.1" not in str(info.value)
    assert len(sleeps.waits) == adapter.attempts - 1


# -- the rest ---------------------------------------------------------------------------------


async def test_unknown_webhook_name_is_permanent(sleeps: Sleeps) -> None:
    adapter = adapter_for(sleeps=sleeps)
    with pytest.raises(PermanentDeliveryError, match="no webhook named 'gone'"):
        await adapter.send_digest(digest_for("gone"))


def test_webhook_urls_are_registered_for_redaction(sleeps: Sleeps) -> None:
    url = "https://hooks.slack.com/services/T000/B000/tokentokentokentoken1"
    adapter_for(hook("team", url), sleeps=sleeps)
    assert redactor().redact(f"posting to {url}") == f"posting to {REDACTED}"
    assert "tokentokentokentoken1" not in redactor().redact("token tokentokentokentoken1")


def test_empty_digest_renders_its_notice_or_nothing(
    discord_api: FakeDiscord, sleeps: Sleeps
) -> None:
    adapter = adapter_for(hook("rg", discord_api.add_webhook(), "discord"), sleeps=sleeps)
    empty = Digest(Target.parse("webhook:rg"), date(2026, 11, 20), [])
    assert adapter.render_digest(empty) == []
    empty.notice = "Nothing new."
    assert adapter.render_digest(empty)[0]["content"] == "Nothing new."


async def test_deliver_pauses_an_archived_channel(
    tmp_path: Path, slack: FakeSlackWebhook, caplog: pytest.LogCaptureFixture
) -> None:
    url = slack.add_hook()
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/p.db",
        webhooks=[{"name": "team", "url": url, "kind": "slack", "topics": ["diffusion"]}],
        digest={"when_empty": "notice"},  # the second day has nothing new: a notice is posted
    )
    app = App(settings)
    try:
        app.ingest(corpus())
        app.seed()
        adapter = from_context(AdapterContext(settings, Secrets({}), app))
        assert isinstance(adapter, WebhookAdapter)
        target = Target.parse("webhook:team")
        channel = app.channel(target)
        result = await deliver(app.digests, channel, date(2026, 11, 20), adapter, nonce="a")
        assert result.status == "sent" and len(slack.messages(url)) == 1
        slack.set_state(url, "channel_is_archived")
        with caplog.at_level(logging.WARNING), pytest.raises(PermanentDeliveryError):
            await deliver(app.digests, app.channel(target), date(2026, 11, 21), adapter)
        again = app.store.get_channel(target)
        assert again is not None and again.schedule.paused
        assert url not in caplog.text and url not in (app.store.pause_reason(target) or "")
    finally:
        app.close()
