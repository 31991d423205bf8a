"""Faults in everything the bot talks to: the database goes away, Slack, Discord and webhooks
answer 5xx bursts and 429s. Retries stay within bounds; a failure is recorded (ledger, metric,
one log line) and the digest is delivered on a later attempt, exactly once.

The real scheduler and the real adapters run against the fakes in tests/fakes/; PostgreSQL goes
away through a TCP proxy that the test cuts and restores."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
import yaml
from discord.http import Route
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from adapters.discord import DiscordAdapter
from adapters.memory import MemoryAdapter
from adapters.slack import SlackAdapter
from adapters.slack.app import SlackCredentials
from adapters.webhook import WebhookAdapter
from bot.app import App
from bot.config import Secrets, Settings
from bot.db import DeliveryRow, normalize_url
from bot.delivery import Journal
from bot.ledger import FAILED, SENT
from bot.models import Digest, Platform, Target
from bot.scheduler import DigestScheduler, last_due
from tests import test_run_processes as procs
from tests.conftest import POSTGRES_URL
from tests.factories import corpus, due_channel
from tests.fakes.discord import FakeDiscord
from tests.fakes.huggingface import FakeHuggingFace
from tests.fakes.slack import FakeSlack, signed_headers
from tests.fakes.slack_webhook import FakeSlackWebhook
from tests.fakes.tcp_proxy import TcpProxy
from tests.test_scheduler import Clock

TEAM, BOT_TOKEN = "T0FAULTS", "xoxb-faults-token-0001"


def run_pass(sched: DigestScheduler) -> None:
    """One reconcile pass and the deliveries it started."""

    async def one() -> None:
        await sched.reconcile()
        await sched.idle()

    asyncio.run(one())


def counter(app: App, name: str, **labels: str) -> float:
    value = app.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def state(sched: DigestScheduler, app: App, target: Target, clock: Clock) -> tuple[str, str]:
    """The ledger's status and error for ``target``'s digest that is due now."""
    ch = app.store.get_channel(target)
    assert ch is not None and ch.id is not None
    found = last_due(ch.schedule, clock.now)
    assert found is not None
    with app.store.session() as s:
        row = s.query(DeliveryRow).filter_by(channel_id=ch.id, digest_date=found[0]).one()
        return row.status, row.error or ""


def scheduler_lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and text in r.getMessage()
    ]


@dataclass
class Recorder:
    """A sender that posts everything it is handed and never recognises a repeat (like a
    webhook): any double delivery shows up in ``posted``."""

    posted: list[tuple[str, str | None]] = field(default_factory=list)
    after_post: Any = None

    async def send_digest(
        self,
        digest: Digest,
        *,
        nonce: str | None = None,
        resume: bool = False,
        journal: Journal | None = None,
    ) -> list[str]:
        self.posted.append((str(digest.target), nonce))
        if self.after_post is not None:
            self.after_post()
        return [str(len(self.posted))]


def world(tmp_path: Path, **settings: Any) -> tuple[App, Clock]:
    real_now = datetime.now(UTC).replace(second=0, microsecond=0)
    clock = Clock(real_now + timedelta(days=1))
    url = settings.pop("database_url", f"sqlite:///{tmp_path}/papers.db")
    app = App(Settings(database_url=url, **settings), clock=clock)
    app.ingest(corpus())
    return app, clock


# -- the database goes away --------------------------------------------------------------------


@pytest.fixture
def pg() -> Iterator[tuple[str, TcpProxy]]:
    """A fresh PostgreSQL schema reached through a proxy the test can cut: (url, proxy)."""
    if not POSTGRES_URL:
        pytest.skip("PAPERS_BOT_TEST_POSTGRES_URL is not set")
    real = make_url(normalize_url(POSTGRES_URL))
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        with TcpProxy(real.host or "127.0.0.1", real.port or 5432) as proxy:
            proxied = real.set(host="127.0.0.1", port=proxy.port).render_as_string(
                hide_password=False
            )
            sep = "&" if "?" in proxied else "?"
            yield f"{proxied}{sep}options={quote(f'-csearch_path={schema}')}", proxy
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.mark.postgres
def test_database_down_during_reconcile_waits_then_delivers_everything_once(
    tmp_path: Path, pg: tuple[str, TcpProxy], caplog: pytest.LogCaptureFixture
) -> None:
    url, proxy = pg
    app, clock = world(tmp_path, database_url=url)
    targets = [
        due_channel(app.store, f"memory:lab{i}", clock.now, minutes_ago=10) for i in range(6)
    ]
    sender = Recorder()
    sched = DigestScheduler(app, {Platform.MEMORY: sender}, owner="a")
    proxy.down()
    with caplog.at_level(logging.INFO):
        run_pass(sched)
        run_pass(sched)
        assert sender.posted == []
        proxy.up()
        run_pass(sched)
    assert sorted(t for t, _ in sender.posted) == sorted(str(t) for t in targets)
    assert all(state(sched, app, t, clock)[0] == SENT for t in targets)
    # One line for the outage, one for the recovery; no traceback.
    assert len(scheduler_lines(caplog, "database unavailable")) == 1
    assert "database reachable again" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    app.close()


@pytest.mark.postgres
def test_database_gone_right_after_posting_is_ridden_out_without_a_second_post(
    tmp_path: Path, pg: tuple[str, TcpProxy], caplog: pytest.LogCaptureFixture
) -> None:
    url, proxy = pg
    app, clock = world(tmp_path, database_url=url)
    targets = [due_channel(app.store, f"memory:ch{i}", clock.now, minutes_ago=5) for i in range(8)]
    cut: list[threading.Timer] = []

    def cut_the_database() -> None:
        # The first post succeeds; then the database is gone for two seconds, so recording it
        # (and the other deliveries' claims, plans and posts) fail until it is back.
        if not cut:
            proxy.down()
            timer = threading.Timer(2.0, proxy.up)
            timer.start()
            cut.append(timer)

    sender = Recorder(after_post=cut_the_database)
    sched = DigestScheduler(app, {Platform.MEMORY: sender}, owner="a")
    with caplog.at_level(logging.INFO):
        for _ in range(4):
            run_pass(sched)
            if len(sender.posted) == len(targets):
                break
    cut[0].join()
    posted = [t for t, _ in sender.posted]
    assert sorted(posted) == sorted(str(t) for t in targets), "a digest was lost or doubled"
    assert all(state(sched, app, t, clock)[0] == SENT for t in targets)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert counter(app, "papers_bot_digests_total", platform="memory", outcome="sent") == 8
    app.close()


def test_commands_answer_when_the_database_is_gone(tmp_path: Path) -> None:
    from bot.models import Invocation, ReplyKind

    app, _ = world(tmp_path)
    app.store.engine.dispose()
    Path(f"{tmp_path}/papers.db").rename(tmp_path / "moved.db")
    (tmp_path / "papers.db").mkdir()  # the file is now a directory: SQLite cannot open it
    reply = app.commands.handle("diffusion", Invocation(Target.parse("console:local")))
    assert reply.kind is ReplyKind.ERROR and "try again" in reply.text
    assert counter(app, "papers_bot_commands_total", command="search", outcome="error") == 1


def test_a_process_stalled_past_its_lease_does_not_post_what_another_took_over(
    tmp_path: Path,
) -> None:
    app, clock = world(tmp_path)
    target = due_channel(app.store, "memory:stall", clock.now, minutes_ago=3)
    memory = MemoryAdapter()
    a = DigestScheduler(app, {Platform.MEMORY: memory}, owner="a")
    b = DigestScheduler(app, {Platform.MEMORY: memory}, owner="b")
    save_plan = a.ledger.save_plan

    def stall(*args: Any, **kwargs: Any) -> None:
        # a has built the digest and is about to post it when it stalls past its lease: b
        # takes the digest over and posts it meanwhile.
        clock.now += timedelta(minutes=6)
        run_pass(b)
        save_plan(*args, **kwargs)

    a.ledger.save_plan = stall  # type: ignore[method-assign]
    run_pass(a)
    assert [str(p.target) for p in memory.posted] == [str(target)]  # b's post only
    assert state(a, app, target, clock)[0] == SENT
    app.close()


# -- Slack, Discord and webhooks misbehave --------------------------------------------------------


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.add_workspace(TEAM, bot_token=BOT_TOKEN)
        yield fake


def slack_world(tmp_path: Path, fake: FakeSlack) -> tuple[App, Clock, SlackAdapter, Target]:
    app, clock = world(tmp_path, slack={"enabled": True, "mode": "http", "api_url": fake.api_url})
    credentials = SlackCredentials(mode="http", bot_token=BOT_TOKEN, signing_secret="s3cret-x")
    adapter = SlackAdapter(app, app.settings.slack, credentials)
    target = due_channel(app.store, f"slack:{TEAM}/C0FAULT", clock.now, minutes_ago=5)
    return app, clock, adapter, target


def test_slack_5xx_burst_beyond_the_retries_is_recorded_then_delivered_later(
    tmp_path: Path, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    app, clock, adapter, target = slack_world(tmp_path, slack)
    sched = DigestScheduler(app, {Platform.SLACK: adapter}, owner="a")
    slack.server_error("chat.postMessage", times=3)  # the first try and both retries
    with caplog.at_level(logging.INFO):
        run_pass(sched)
    assert len(slack.calls("chat.postMessage")) == 3  # retried, within bounds
    assert slack.messages("C0FAULT") == []
    status, error = state(sched, app, target, clock)
    assert status == FAILED and "500" in error
    assert counter(app, "papers_bot_digests_total", platform="slack", outcome="failed") == 1
    assert len(scheduler_lines(caplog, str(target))) == 1  # one log line
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    run_pass(sched)  # backing off: nothing yet
    assert slack.messages("C0FAULT") == []
    clock.now += timedelta(minutes=2)  # Slack is back, and the back-off is over
    run_pass(sched)
    run_pass(sched)
    assert len({m.metadata["event_payload"]["part"] for m in slack.messages("C0FAULT")}) == len(
        slack.messages("C0FAULT")
    )
    assert slack.messages("C0FAULT") and state(sched, app, target, clock)[0] == SENT
    assert counter(app, "papers_bot_digests_total", platform="slack", outcome="sent") == 1
    app.close()


def test_slack_429s_are_waited_out_within_bounds(tmp_path: Path, slack: FakeSlack) -> None:
    app, clock, adapter, target = slack_world(tmp_path, slack)
    sched = DigestScheduler(app, {Platform.SLACK: adapter}, owner="a")
    slack.rate_limit("chat.postMessage", times=3, retry_after=0)
    run_pass(sched)
    assert len(slack.calls("chat.postMessage")) == 4
    assert len(slack.messages("C0FAULT")) == 1 and state(sched, app, target, clock)[0] == SENT
    app.close()


def test_slack_rate_limit_that_outlasts_the_retries_fails_then_recovers(
    tmp_path: Path, slack: FakeSlack
) -> None:
    app, clock, adapter, target = slack_world(tmp_path, slack)
    sched = DigestScheduler(app, {Platform.SLACK: adapter}, owner="a")
    slack.rate_limit("chat.postMessage", times=6, retry_after=0)  # one more than the retries
    run_pass(sched)
    assert len(slack.calls("chat.postMessage")) == 6
    assert state(sched, app, target, clock)[0] == FAILED
    clock.now += timedelta(minutes=2)
    run_pass(sched)
    assert len(slack.messages("C0FAULT")) == 1 and state(sched, app, target, clock)[0] == SENT
    app.close()


GUILD, DISCORD_CHANNEL = 500000000000000001, 600000000000000001


@pytest.fixture
def discord_api() -> Iterator[FakeDiscord]:
    base = Route.BASE
    with FakeDiscord() as api:
        yield api
    Route.BASE = base


def discord_world(tmp_path: Path, api: FakeDiscord) -> tuple[App, Clock, DigestScheduler, Target]:
    app, clock = world(tmp_path, discord={"enabled": True, "api_url": api.base_url})
    adapter = DiscordAdapter(app.settings.discord, Secrets({"DISCORD_TOKEN": api.token}), app)
    target = due_channel(app.store, f"discord:{GUILD}/{DISCORD_CHANNEL}", clock.now, minutes_ago=5)
    return app, clock, DigestScheduler(app, {Platform.DISCORD: adapter}, owner="a"), target


def test_discord_429_and_a_502_are_retried_by_discord_py(
    tmp_path: Path, discord_api: FakeDiscord
) -> None:
    app, clock, sched, target = discord_world(tmp_path, discord_api)
    discord_api.rate_limit("/channels/", times=2, retry_after=0.05)
    discord_api.fail(502, times=1, path="/channels/")
    run_pass(sched)
    assert len(discord_api.channel_messages(DISCORD_CHANNEL)) >= 1
    assert state(sched, app, target, clock)[0] == SENT
    app.close()


def test_discord_5xx_not_retried_is_recorded_and_delivered_later_once(
    tmp_path: Path, discord_api: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    app, clock, sched, target = discord_world(tmp_path, discord_api)
    discord_api.fail(503, times=1, path="/channels/")
    with caplog.at_level(logging.INFO):
        run_pass(sched)
    status, error = state(sched, app, target, clock)
    assert status == FAILED and "503" in error
    assert counter(app, "papers_bot_digests_total", platform="discord", outcome="failed") == 1
    assert len(scheduler_lines(caplog, str(target))) == 1
    clock.now += timedelta(minutes=2)
    run_pass(sched)
    sent = discord_api.channel_messages(DISCORD_CHANNEL)
    assert sent and state(sched, app, target, clock)[0] == SENT
    # The retry carries the same nonces: Discord would fold a repeat into the first message.
    assert len({b["nonce"] for b in sent}) == len(sent)
    app.close()


def test_webhook_5xx_burst_and_429s_bounded_then_recorded_then_delivered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    with FakeSlackWebhook() as hooks:
        url = hooks.add_hook()
        app, clock = world(tmp_path, webhooks=[{"name": "lab", "kind": "slack", "url": url}])
        adapter = WebhookAdapter({h.name: h for h in app.settings.webhooks}, sleep=no_sleep)
        target = due_channel(app.store, "webhook:lab", clock.now, minutes_ago=5)
        sched = DigestScheduler(app, {Platform.WEBHOOK: adapter}, owner="a")
        hooks.rate_limit(times=2, retry_after=0)
        hooks.fail(500, times=3)  # five answers that are not "ok": all the attempts there are
        with caplog.at_level(logging.INFO):
            run_pass(sched)
        assert len(hooks.requests) == 5 and len(waits) == 4
        status, error = state(sched, app, target, clock)
        assert status == FAILED and "gave up after 5 attempts" in error
        assert url.rsplit("/", 1)[1] not in error  # the webhook's secret path is not recorded
        assert counter(app, "papers_bot_digests_total", platform="webhook", outcome="failed") == 1
        assert len(scheduler_lines(caplog, "digest for webhook:lab")) == 1
        clock.now += timedelta(minutes=2)
        run_pass(sched)
        run_pass(sched)
        assert len(hooks.messages(url)) >= 1
        assert state(sched, app, target, clock)[0] == SENT
        assert counter(app, "papers_bot_digests_total", platform="webhook", outcome="sent") == 1
        app.close()


# -- real processes ------------------------------------------------------------------------------


def _port(log: Path) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"listening on 127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
        if found:
            return int(found[1])
        time.sleep(0.1)
    raise AssertionError(log.read_text())


def _slash(port: int, slack: FakeSlack, text: str, key: str) -> int:
    body = urlencode(
        {
            "team_id": procs.TEAM,
            "channel_id": "C0000",
            "user_id": "U0USER",
            "user_name": "ada",
            "command": "/papers",
            "text": text,
            "response_url": slack.response_url(key),
        }
    )
    headers = signed_headers(procs.SECRET, body)
    url = f"http://127.0.0.1:{port}/slack/events"
    return httpx.post(url, content=body, headers=headers, timeout=10).status_code


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["down", "garbage", "slow"])
def test_hugging_face_failing_every_request_commands_and_digests_carry_on(
    tmp_path: Path, fault: str
) -> None:
    """Hours of Hugging Face outage, compressed: every request it gets fails. Signed ``/papers``
    requests are answered from the database and the due digests go out with what is stored."""
    channels = 3
    with FakeSlack() as slack, FakeHuggingFace() as hf:
        slack.add_workspace(procs.TEAM, bot_token=procs.TOKEN)
        path, env = procs.setup_world(tmp_path, f"sqlite:///{tmp_path}/papers.db", slack, hf, 3)
        config = yaml.safe_load(path.read_text())
        config["huggingface"].update(timeout=1, retries=1)
        path.write_text(yaml.safe_dump(config))
        if fault == "down":
            hf.server_error(times=100_000)
        elif fault == "garbage":
            hf.not_json(times=100_000)
        else:
            hf.slow(30, times=100_000)
        log = tmp_path / "bot.log"
        proc = procs.start(path, env, tmp_path, log)
        try:
            port = _port(log)
            assert _slash(port, slack, "diffusion models", "search") == 200
            assert procs.wait_for(lambda: slack.responded("search"), 30), log.read_text()
            [answer] = slack.responded("search")
            assert "diffusion" in json.dumps(answer).lower() and len(answer["blocks"]) > 2
            assert procs.wait_for(lambda: len(procs.complete(slack)) == channels, 60)
            assert procs.wait_for(lambda: "fetch from Hugging Face failed" in log.read_text(), 60)
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            assert re.search(r"^papers_bot_fetch_errors_total [1-9]", metrics, re.M), metrics
            assert 'papers_bot_digests_total{outcome="sent",platform="slack"} 3.0' in metrics
            assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
        finally:
            assert procs.stop(proc) == 0
    assert len(hf.requests) >= 2  # it did ask, and kept asking within its retries
    procs.assert_exactly_one_digest_each(slack, channels, log)


@pytest.mark.slow
@pytest.mark.postgres
def test_postgresql_going_away_mid_fan_out_loses_and_doubles_nothing(
    tmp_path: Path, pg: tuple[str, TcpProxy]
) -> None:
    url, proxy = pg
    channels = 120
    with FakeSlack() as slack, FakeHuggingFace() as hf:
        slack.add_workspace(procs.TEAM, bot_token=procs.TOKEN)
        path, env = procs.setup_world(tmp_path, url, slack, hf, channels)
        slack.post_delay = 0.3
        log = tmp_path / "bot.log"
        proc = procs.start(path, env, tmp_path, log)
        try:
            assert procs.wait_for(lambda: len(slack.messages()) >= 10, 60), log.read_text()
            proxy.down()
            time.sleep(4)
            proxy.up()
            assert procs.wait_for(lambda: len(procs.complete(slack)) == channels, 120), (
                f"{len(procs.complete(slack))} of {channels}\n{log.read_text()[-3000:]}"
            )
            time.sleep(2)  # a duplicate, if there were one, would show up now
        finally:
            assert procs.stop(proc) == 0
    procs.assert_exactly_one_digest_each(slack, channels, log)
    text = log.read_text()
    assert "database unavailable" in text and "database reachable again" in text
