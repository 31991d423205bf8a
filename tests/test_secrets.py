"""No token, signing secret or webhook URL ever shows in what ``papers-bot`` prints.

Real processes run with distinctive secret values in every variable the bot reads — the bot in
Slack http mode against the fake Slack (signed and forged ``/papers`` requests, a due digest,
webhooks that fail and are gone, Hugging Face failing), ``digest --send`` to a failing webhook,
rejected Slack, Slack app and Discord tokens, failed fetches, the OAuth flow with a bad code —
all with ``--debug`` (tracebacks, debug logs) — and everything they print is searched for the
values and their pieces.

The log redactor is switched off in these processes (``RedactingFilter.add`` does nothing), so
the test sees what the code itself writes: a leak must be fixed where it starts, the redactor is
only the backstop. ``test_json_logs_are_json_and_redacted`` runs the plain ``python -m bot``,
backstop on, and checks that every line on stderr is a JSON object."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, text

from bot.db import normalize_url
from tests.fakes.discord import FakeDiscord
from tests.fakes.huggingface import FakeHuggingFace
from tests.fakes.slack import FakeSlack, signed_headers
from tests.fakes.slack_webhook import FakeSlackWebhook

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TEAM = "T0LEAKS"
SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-LEAK1-bot-4f7c2a9e1b",
    "SLACK_SIGNING_SECRET": "LEAK2signing5d3e8a7c0f",
    "SLACK_APP_TOKEN": "xapp-1-LEAK3-app-9b8c7d6e5f",
    "DISCORD_TOKEN": "MTAwLEAK5.dc7e6d5c.tok-7e6d5c4b3a",
}
CLIENT = {"SLACK_CLIENT_ID": "1234.5678", "SLACK_CLIENT_SECRET": "LEAK4clientsecret2a1b3c"}
# The redactor switched off: what remains is what the code itself writes.
NO_BACKSTOP = (
    "import sys, bot.logs; bot.logs.RedactingFilter.add = lambda self, secrets: None; "
    "from bot.cli import main; main()"
)


def pieces(secret: str) -> set[str]:
    """A secret and its obvious pieces: the parts between - . / of 6 characters or more that
    hold a digit (so not a word such as "signing")."""
    parts = re.split(r"[-./]", secret)
    return {secret} | {p for p in parts if len(p) >= 6 and any(c.isdigit() for c in p)}


class World:
    def __init__(self, tmp_path: Path, slack: FakeSlack, hf: FakeHuggingFace) -> None:
        self.tmp, self.slack, self.hf = tmp_path, slack, hf
        self.outputs: list[str] = []
        self.forbidden: set[str] = set()
        for value in [*SECRETS.values(), CLIENT["SLACK_CLIENT_SECRET"]]:
            self.forbidden |= pieces(value)
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("PAPERS_BOT_", "SLACK_"))
        }
        self.env.update(SECRETS, PYTHONPATH=str(ROOT), PAPERS_BOT_DATABASE_URL=self.db_url)

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.tmp}/papers.db"

    def hide(self, url: str) -> None:
        """A webhook URL is a secret too: the URL, its token segment and its id."""
        self.forbidden |= {url, *[p for p in urlsplit(url).path.split("/") if len(p) >= 12]}

    def config(self, name: str, doc: dict[str, Any]) -> Path:
        path = self.tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump(doc))
        return path

    def cmd(self, *args: str, boot: str = NO_BACKSTOP) -> list[str]:
        return [sys.executable, "-c", boot, *args] if boot else [sys.executable, "-m", "bot", *args]

    def run(self, *args: str, env: dict[str, str] | None = None, code: int | None = None) -> str:
        done = subprocess.run(
            self.cmd(*args),
            env={**self.env, **(env or {})},
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=120,
        )
        out = done.stdout + done.stderr
        self.outputs.append(f"$ papers-bot {' '.join(args)}\n{out}")
        if code is not None:
            assert done.returncode == code, out
        return out

    def leaks(self) -> list[str]:
        everything = "\n".join(self.outputs)
        return sorted(s for s in self.forbidden if s in everything)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with FakeSlack() as slack, FakeHuggingFace() as hf:
        slack.add_workspace(TEAM, bot_token=SECRETS["SLACK_BOT_TOKEN"])
        yield World(tmp_path, slack, hf)


def due_in_the_past() -> str:
    return f"{datetime.now(UTC) - timedelta(minutes=3):%H:%M}"


def seed(world: World, config: Path) -> None:
    samples = sorted(str(p) for p in (ROOT / "bot" / "data" / "sample").glob("*.json"))
    world.run("--config", str(config), "ingest", *samples, code=0)
    engine = create_engine(normalize_url(world.db_url))
    with engine.begin() as conn:  # declared yesterday: today's digest is owed
        conn.execute(
            text("UPDATE channels SET updated_at = :t, schedule_changed_at = :t"),
            {"t": datetime(2020, 1, 1)},
        )
    engine.dispose()


class Running:
    """A ``papers-bot run`` process; stderr goes to a file, read as it grows."""

    def __init__(self, world: World, args: list[str], boot: str = NO_BACKSTOP) -> None:
        self.world = world
        self.log = world.tmp / f"run-{len(world.outputs)}.log"
        self.proc = subprocess.Popen(
            world.cmd(*args, "run", boot=boot),
            env=world.env,
            cwd=world.tmp,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.args = args

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.text())
            if found:
                return found
            assert self.proc.poll() is None, self.text()
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} in:\n{self.text()}")

    @property
    def url(self) -> str:
        port = self.wait_for(r"listening on 127\.0\.0\.1:(\d+)")[1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.world.outputs.append(f"$ papers-bot {' '.join(self.args)} run\n{self.text()}")
        return code


def slash(run: Running, slack: FakeSlack, text_: str, key: str, secret: str) -> int:
    body = urlencode(
        {
            "team_id": TEAM,
            "channel_id": "C0LEAK",
            "user_id": "U0LEAK",
            "user_name": "ada",
            "command": "/papers",
            "text": text_,
            "response_url": slack.response_url(key),
            "trigger_id": "1.2.3",
        }
    )
    headers = signed_headers(secret, body)
    return httpx.post(run.url + "/slack/events", content=body, headers=headers).status_code


def wait(cond: Any, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_running_bot_never_prints_a_secret(world: World, log_format: str) -> None:
    slack, hf = world.slack, world.hf
    hf.server_error(times=10_000)  # Hugging Face is down the whole time
    with FakeSlackWebhook() as hooks, FakeDiscord() as discord_api:
        flaky = hooks.add_hook()
        hooks.fail(500, times=1)  # one retry, then the webhook turns out to be removed
        hooks.set_state(flaky, "no_service")
        gone = discord_api.add_webhook()
        discord_api.delete_webhook(gone)
        for url in (flaky, gone):
            world.hide(url)
        due = due_in_the_past()
        config = world.config(
            "run",
            {
                "server": {"host": "127.0.0.1", "port": 0},
                "huggingface": {"base_url": hf.base_url, "retries": 1, "timeout": 2},
                "slack": {"enabled": True, "mode": "http", "api_url": slack.api_url},
                "scheduler": {"reconcile_seconds": 1},
                "channels": [{"id": f"slack:{TEAM}/C0LEAK", "time": due}],
                "webhooks": [
                    {"name": "flaky", "kind": "slack", "url": flaky, "time": due},
                    {"name": "gone", "kind": "discord", "url": gone, "time": due},
                ],
            },
        )
        seed(world, config)
        run = Running(world, ["--config", str(config), "--debug", "--log-format", log_format])
        try:
            # A response_url is a webhook URL Slack makes for one command.
            key = "rsp7f3e9a1c5b2d"
            world.forbidden.add(key)
            assert slash(run, slack, "diffusion", key, SECRETS["SLACK_SIGNING_SECRET"]) == 200
            assert slash(run, slack, "help", "forged", "not-the-secret") == 401
            assert wait(lambda: slack.responded(key) and slack.messages("C0LEAK"))
            run.wait_for(r"pausing webhook:flaky")
            run.wait_for(r"pausing webhook:gone")
            run.wait_for(r"fetch from Hugging Face failed")
        finally:
            assert run.stop() == 0
    assert world.leaks() == []
    assert "webhook 'flaky'" in run.text() and "webhook 'gone'" in run.text()


def test_failing_commands_never_print_a_secret(world: World) -> None:
    slack, hf = world.slack, world.hf
    with FakeSlackWebhook() as hooks, FakeDiscord() as discord_api:
        archived = hooks.add_hook()
        hooks.set_state(archived, "channel_is_archived")
        world.hide(archived)
        base = {
            "huggingface": {"base_url": hf.base_url, "retries": 0, "timeout": 2},
            "server": {"host": "127.0.0.1", "port": 0},
            "webhooks": [{"name": "archived", "kind": "slack", "url": archived}],
        }
        plain = world.config("plain", base)
        seed(world, plain)
        # digest --send to a webhook that refuses, with a traceback.
        out = world.run("--config", str(plain), "--debug", "digest", "webhook:archived", "--send")
        assert "webhook 'archived'" in out and "Traceback" in out
        # A fetch while Hugging Face is down.
        hf.server_error(times=100)
        assert "Traceback" in world.run("--config", str(plain), "--debug", "fetch", code=1)
        # A bot token Slack does not know.
        http = world.config(
            "http", {**base, "slack": {"enabled": True, "mode": "http", "api_url": slack.api_url}}
        )
        wrong = {"SLACK_BOT_TOKEN": "xoxb-LEAK6-unknown-3c2b1a0f9e"}
        world.forbidden |= pieces(wrong["SLACK_BOT_TOKEN"])
        out = world.run("--config", str(http), "--debug", "run", env=wrong, code=2)
        assert "SLACK_BOT_TOKEN was rejected by Slack" in out
        # An app token Slack rejects (Socket Mode).
        socket = world.config(
            "socket",
            {**base, "slack": {"enabled": True, "mode": "socket", "api_url": slack.api_url}},
        )
        out = world.run("--config", str(socket), "--debug", "run", code=2)
        assert "SLACK_APP_TOKEN was rejected by Slack" in out
        # A Discord token Discord rejects: at start, and when sending.
        discord = world.config(
            "discord", {**base, "discord": {"enabled": True, "api_url": discord_api.base_url}}
        )
        out = world.run("--config", str(discord), "--debug", "run", code=2)
        assert "DISCORD_TOKEN was rejected" in out
        target = "discord:500000000000000001/600000000000000001"
        out = world.run("--config", str(discord), "--debug", "digest", target, "--send")
        assert "DISCORD_TOKEN was rejected" in out
        # Bad configuration naming a webhook, and a bad database URL with a password.
        bad = world.config("bad", {"webhooks": [{"name": "x", "url": archived, "time": "25:00"}]})
        world.run("--config", str(bad), "--debug", "channels", code=2)
        db = {"PAPERS_BOT_DATABASE_URL": "postgresql://bot:LEAK7dbpassword@127.0.0.1:1/x"}
        world.forbidden.add("LEAK7dbpassword")
        world.run("--config", str(plain), "--debug", "channels", env=db, code=1)
    assert world.leaks() == []


def test_slack_oauth_with_a_bad_code_never_prints_the_client_secret(world: World) -> None:
    slack = world.slack
    world.env.update(CLIENT)
    config = world.config(
        "oauth",
        {
            "server": {"host": "127.0.0.1", "port": 0},
            "huggingface": {"base_url": world.hf.base_url, "retries": 0},
            "slack": {"enabled": True, "mode": "http", "api_url": slack.api_url},
        },
    )
    run = Running(world, ["--config", str(config), "--debug"])
    try:
        with httpx.Client(base_url=run.url, follow_redirects=False) as client:
            install = client.get("/slack/install")
            assert install.status_code == 200
            state = re.search(r"state=([\w-]+)", install.text)
            assert state is not None
            # The state cookie is Secure; a browser on https would send it back.
            cookie = install.cookies["slack-app-oauth-state"]
            done = client.get(
                "/slack/oauth_redirect",
                params={"code": "LEAK8-not-a-code", "state": state[1]},
                headers={"Cookie": f"slack-app-oauth-state={cookie}"},
            )
            assert done.status_code >= 400
            # A good code: the new workspace's token comes back from oauth.v2.access.
            installed = "xoxb-LEAK10-installed-6a5b4c3d2e"
            world.forbidden |= pieces(installed)
            slack.add_workspace("T0INSTALLED", bot_token=installed)
            slack.add_oauth_code("good-code", bot_token=installed)
            install = client.get("/slack/install")
            state = re.search(r"state=([\w-]+)", install.text)
            assert state is not None
            cookie = install.cookies["slack-app-oauth-state"]
            done = client.get(
                "/slack/oauth_redirect",
                params={"code": "good-code", "state": state[1]},
                headers={"Cookie": f"slack-app-oauth-state={cookie}"},
            )
            assert done.status_code == 200, done.text
        assert len(slack.calls("oauth.v2.access")) == 2
    finally:
        assert run.stop() == 0
    assert world.leaks() == []


def test_json_logs_are_json_and_redacted(world: World) -> None:
    """The real entry point with ``--log-format json``: every line on stderr is one JSON object,
    tracebacks included (in ``exc``), and the backstop redacts."""
    world.hf.server_error(times=100)
    config = world.config(
        "json",
        {
            "server": {"host": "127.0.0.1", "port": 0},
            "huggingface": {"base_url": world.hf.base_url, "retries": 0, "timeout": 2},
            "slack": {"enabled": True, "mode": "http", "api_url": world.slack.api_url},
        },
    )
    lines: list[str] = []
    for args, env in [
        (["--log-format", "json", "--debug", "fetch"], {}),
        (["--log-format", "json", "channels"], {"PAPERS_BOT_DATABASE_URL": "mysql://x"}),
        (["--log-format", "json", "--debug", "run"], {"SLACK_BOT_TOKEN": "xoxb-LEAK9-wrong"}),
        (["--log-format", "json", "--debug", "nonsense"], {}),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "bot", "--config", str(config), *args],
            env={**world.env, **env},
            cwd=world.tmp,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode in (1, 2), done.stderr
        lines += done.stderr.splitlines()
        world.outputs.append(done.stdout + done.stderr)
    run = Running(world, ["--config", str(config), "--log-format", "json"], boot="")
    try:
        run.wait_for(r"fetch from Hugging Face failed")
    finally:
        assert run.stop() == 0
    lines += run.text().splitlines()
    docs = [json.loads(line) for line in lines]  # every line, or this raises
    assert all(isinstance(d, dict) and {"ts", "level", "logger", "msg"} <= set(d) for d in docs)
    assert any("Traceback" in d.get("exc", "") for d in docs)
    assert any(d["level"] == "critical" for d in docs)
    assert world.leaks() == []
