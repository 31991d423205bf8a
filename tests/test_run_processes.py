"""``papers-bot run`` as real processes against a fake Slack: kill -9 in the middle of a fan-out,
several replicas at once — every channel ends with exactly one digest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text

from bot.db import normalize_url
from tests.fakes.huggingface import FakeHuggingFace
from tests.fakes.slack import FakeSlack

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TEAM = "T0PAPERS"
TOKEN = "xoxb-test-token-0123456789"
SECRET = "signing-secret-for-tests"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.add_workspace(TEAM, bot_token=TOKEN)
        yield fake


@pytest.fixture
def hf() -> Iterator[FakeHuggingFace]:
    with FakeHuggingFace() as fake:
        yield fake


def setup_world(
    tmp_path: Path, db_url: str, slack: FakeSlack, hf: FakeHuggingFace, channels: int
) -> tuple[Path, dict[str, str]]:
    """A config with ``channels`` Slack channels whose digest fell due three minutes ago, a
    seeded and loaded database, and the environment to run the bot in."""
    due = datetime.now(UTC) - timedelta(minutes=3)
    config = {
        "timezone": "UTC",
        "server": {"host": "127.0.0.1", "port": 0},
        "huggingface": {"base_url": hf.base_url, "retries": 0},
        "slack": {"enabled": True, "mode": "http", "api_url": slack.api_url},
        "scheduler": {"lease_seconds": 3, "reconcile_seconds": 1},
        "channels": [
            {"id": f"slack:{TEAM}/C{i:04d}", "topics": ["diffusion models"], "time": f"{due:%H:%M}"}
            for i in range(channels)
        ],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERS_BOT_", "SLACK_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        PAPERS_BOT_DATABASE_URL=db_url,
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
    )
    samples = sorted(str(p) for p in (ROOT / "bot" / "data" / "sample").glob("*.json"))
    for args in (["db", "upgrade"], ["ingest", *samples]):
        done = subprocess.run(
            [sys.executable, "-m", "bot", "--config", str(path), *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    # The channels were declared yesterday: today's digest is owed to them.
    engine = create_engine(normalize_url(db_url))
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE channels SET updated_at = :t, schedule_changed_at = :t"),
            {"t": due - timedelta(days=1)},
        )
    engine.dispose()
    return path, env


def start(path: Path, env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(path), "run"],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


def digests_by_channel(slack: FakeSlack) -> dict[str, dict[str, set[int]]]:
    """channel -> delivery nonce -> the parts of it that were posted."""
    seen: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    for m in slack.messages():
        payload = (m.metadata or {}).get("event_payload") or {}
        seen[m.channel][str(payload.get("nonce"))].add(int(payload.get("part", 0)))
    return seen


def complete(slack: FakeSlack) -> set[str]:
    """Channels whose digest is fully posted (every part of one delivery)."""
    out = set()
    for m in slack.messages():
        payload = (m.metadata or {}).get("event_payload") or {}
        if payload.get("part") == 0:
            parts = int(payload.get("parts", 1))
            got = digests_by_channel(slack)[m.channel][str(payload.get("nonce"))]
            if got >= set(range(parts)):
                out.add(m.channel)
    return out


def wait_for(cond: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.25)
    return False


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=60)


def assert_exactly_one_digest_each(slack: FakeSlack, channels: int, log: Path) -> None:
    seen = digests_by_channel(slack)
    expected = {f"C{i:04d}" for i in range(channels)}
    assert set(seen) == expected, f"missing: {sorted(expected - set(seen))[:5]}"
    doubled = {ch: d for ch, d in seen.items() if len(d) != 1}
    assert not doubled, f"channels with more than one digest: {list(doubled)[:5]}"
    for ch, deliveries in seen.items():
        (parts,) = deliveries.values()
        posted = [
            m
            for m in slack.messages(ch)
            if (m.metadata or {}).get("event_payload", {}).get("part") is not None
        ]
        assert len(posted) == len(parts), f"{ch}: a part was posted twice"
    assert "Traceback" not in log.read_text(errors="replace")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_stopped_mid_fan_out_then_restarted_delivers_each_digest_once(
    tmp_path: Path, slack: FakeSlack, hf: FakeHuggingFace, sig: signal.Signals
) -> None:
    channels = 300
    path, env = setup_world(tmp_path, f"sqlite:///{tmp_path}/papers.db", slack, hf, channels)
    slack.post_delay = 0.15  # slow enough to be in the middle of it when killed
    log = tmp_path / "bot.log"
    first = start(path, env, tmp_path, log)
    assert wait_for(lambda: len(slack.messages()) >= 40, 60), log.read_text()
    first.send_signal(sig)
    code = first.wait(timeout=60)
    # SIGTERM: a clean exit after the deliveries in flight; kill -9: no say in the matter.
    assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
    killed_at = len(complete(slack))
    assert 0 < killed_at < channels  # it really died in the middle
    slack.post_delay = 0.0
    second = start(path, env, tmp_path, log)
    try:
        assert wait_for(lambda: len(complete(slack)) == channels, 120), (
            f"{len(complete(slack))} of {channels} delivered\n{log.read_text()[-3000:]}"
        )
        time.sleep(2)  # a duplicate, if there were one, would show up now
    finally:
        assert stop(second) == 0
    assert_exactly_one_digest_each(slack, channels, log)


@pytest.mark.postgres
def test_three_replicas_on_postgresql_deliver_each_digest_once(
    tmp_path: Path, db_url: str, slack: FakeSlack, hf: FakeHuggingFace
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database")
    channels = 240
    path, env = setup_world(tmp_path, db_url, slack, hf, channels)
    slack.post_delay = 0.01
    log = tmp_path / "bot.log"
    replicas = [start(path, env, tmp_path, log) for _ in range(3)]
    try:
        assert wait_for(lambda: len(complete(slack)) == channels, 120), log.read_text()[-3000:]
        time.sleep(3)
    finally:
        codes = [stop(p) for p in replicas]
    assert codes == [0, 0, 0]
    assert_exactly_one_digest_each(slack, channels, log)
