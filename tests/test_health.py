"""The operator's endpoints on the bot's HTTP server: ``/healthz`` (alive), ``/readyz`` (database
reachable, adapters connected) and ``/metrics`` (Prometheus text format), through the real
``Runner`` on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from discord.http import Route
from prometheus_client.parser import text_string_to_metric_families

from adapters.discord import DiscordAdapter
from bot.app import App
from bot.config import Secrets, Settings
from bot.models import Invocation, Target
from bot.runner import Runner
from tests.fakes.discord import FakeDiscord
from tests.fakes.slack import FakeSlack
from tests.fakes.tcp_proxy import TcpProxy
from tests.test_faults import pg  # noqa: F401 - a fixture
from tests.test_slack_adapter import BOT_TOKEN, TEAM, adapter_for, make_core


class Gateway:
    """A service that connects somewhere, and can lose the connection."""

    def __init__(self) -> None:
        self.problem: str | None = None

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def readiness(self) -> str | None:
        return self.problem


async def get(url: str) -> tuple[int, Any, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        ctype = resp.headers.get("Content-Type", "")
        body = await (resp.json() if ctype.startswith("application/json") else resp.text())
        return resp.status, body, ctype


def make_app(tmp_path: Path, database_url: str | None = None) -> App:
    settings = Settings(
        database_url=database_url or f"sqlite:///{tmp_path}/papers.db",
        server={"host": "127.0.0.1", "port": 0},
    )
    return App(settings)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Runner, Gateway, str]]:
    app = make_app(tmp_path)
    runner = Runner(app.settings, Secrets({}), app)
    gateway = Gateway()
    runner.add(gateway)
    await runner.start()
    try:
        yield runner, gateway, f"http://127.0.0.1:{runner.port}"
    finally:
        await runner.stop()
        app.close()


async def test_healthz_is_alive(served: tuple[Runner, Gateway, str]) -> None:
    _, _, url = served
    assert await get(url + "/healthz") == (200, {"status": "ok"}, "application/json; charset=utf-8")


async def test_readyz_names_what_is_not_ready(served: tuple[Runner, Gateway, str]) -> None:
    runner, gateway, url = served
    status, body, _ = await get(url + "/readyz")
    assert status == 200
    assert body == {"status": "ready", "checks": {"database": "ok", "gateway": "ok"}}
    gateway.problem = "not connected"
    status, body, _ = await get(url + "/readyz")
    assert status == 503
    assert body["status"] == "not ready" and body["not_ready"] == ["gateway"]
    assert body["checks"] == {"database": "ok", "gateway": "not connected"}
    gateway.problem = None
    runner.request_stop()  # load balancers stop sending work at once
    status, body, _ = await get(url + "/readyz")
    assert status == 503 and body["checks"]["process"] == "stopping"


async def test_readyz_answers_in_time_when_the_database_hangs(
    served: tuple[Runner, Gateway, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    runner, _, url = served
    monkeypatch.setattr(runner, "_select_one", lambda: time.sleep(10))
    started = time.monotonic()
    status, body, _ = await get(url + "/readyz")
    assert time.monotonic() - started < 5
    assert status == 503 and body["not_ready"] == ["database"]
    assert body["checks"]["database"] == "no answer within 2s"


@pytest.mark.postgres
async def test_readyz_follows_postgresql_going_away_and_coming_back(
    tmp_path: Path,
    pg: tuple[str, TcpProxy],  # noqa: F811
) -> None:
    database_url, proxy = pg
    app = make_app(tmp_path, database_url)
    runner = Runner(app.settings, Secrets({}), app)
    await runner.start()
    url = f"http://127.0.0.1:{runner.port}/readyz"
    try:
        assert (await get(url))[0] == 200
        proxy.down()
        status, body, _ = await get(url)
        assert status == 503 and body["checks"]["database"] == "unreachable (OperationalError)"
        assert str(proxy.port) not in str(body)  # no driver message with hosts and ports
        proxy.up()
        assert (await get(url))[0] == 200
    finally:
        await runner.stop()
        app.close()


async def test_readyz_reports_slack_socket_mode_not_connected(tmp_path: Path) -> None:
    with FakeSlack() as fake:
        fake.add_workspace(TEAM, bot_token=BOT_TOKEN)
        fake.add_app_token("xapp-health-token")
        core = make_core(tmp_path, fake, slack={"mode": "socket"})
        adapter = adapter_for(core, SLACK_APP_TOKEN="xapp-health-token")
        runner = Runner(core.settings, Secrets({}), core)
        runner.add(adapter)
        await runner.start()
        try:
            # The socket URL the fake hands out leads nowhere.
            status, body, _ = await get(f"http://127.0.0.1:{runner.port}/readyz")
            assert status == 503 and body["not_ready"] == ["slack"]
            assert body["checks"]["slack"] == "Socket Mode not connected"
        finally:
            await runner.stop()
            core.close()
    core.settings.slack.mode = "http"
    assert await adapter_for(core).readiness() is None  # nothing to connect in http mode


@pytest.fixture
def discord_api() -> Iterator[FakeDiscord]:
    base = Route.BASE
    with FakeDiscord() as api:
        yield api
    Route.BASE = base


async def test_discord_is_ready_only_with_its_gateway(
    tmp_path: Path, discord_api: FakeDiscord
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/papers.db",
        discord={"enabled": True, "api_url": discord_api.base_url},
    )
    app = App(settings)
    adapter = DiscordAdapter(settings.discord, Secrets({"DISCORD_TOKEN": discord_api.token}), app)
    assert await adapter.readiness() == "gateway not connected"
    await adapter.start()  # logs in over REST; the fake has no gateway to connect to
    try:
        assert await adapter.readiness() == "gateway not ready"
    finally:
        await adapter.stop()
        app.close()
    assert await adapter.readiness() == "gateway not connected"


# -- /metrics ------------------------------------------------------------------------------------


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_metrics_count_commands_in_the_prometheus_format(
    served: tuple[Runner, Gateway, str],
) -> None:
    runner, _, url = served
    who = Invocation(Target.parse("console:ops"))
    handle = runner.app.commands.handle
    handle("help", who)
    handle("diffusion models", who)
    handle("trending lots", who)
    handle("trending lots", who)
    status, text, ctype = await get(url + "/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    got = samples(text)
    commands = "papers_bot_commands_total"
    assert got[(commands, (("command", "help"), ("outcome", "ok")))] == 1
    assert got[(commands, (("command", "search"), ("outcome", "ok")))] == 1
    assert got[(commands, (("command", "trending"), ("outcome", "invalid")))] == 2
    assert got[("papers_bot_command_seconds_count", (("command", "trending"),))] == 2
    assert got[("papers_bot_fetch_errors_total", ())] == 0
    # The process's own metrics come along; every family the README names is there.
    assert "process_cpu_seconds_total" in text or "python_info" in text
    for name in (
        "papers_bot_digests_total",
        "papers_bot_delivery_seconds",
        "papers_bot_commands_total",
        "papers_bot_command_seconds",
        "papers_bot_fetch_errors_total",
        "papers_bot_last_fetch_success_timestamp_seconds",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in text, name


def test_each_app_counts_on_its_own(tmp_path: Path) -> None:
    a, b = make_app(tmp_path / "a"), make_app(tmp_path / "b")
    a.commands.handle("help", Invocation(Target.parse("console:a")))
    labels = {"command": "help", "outcome": "ok"}
    assert a.metrics.registry.get_sample_value("papers_bot_commands_total", labels) == 1
    assert b.metrics.registry.get_sample_value("papers_bot_commands_total", labels) is None
    a.close()
    b.close()
