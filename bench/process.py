"""Real ``papers-bot`` processes: command latency and memory of ``papers-bot run`` (Slack in HTTP
mode against the lean fake), and the start-up time of ``papers-bot search``.

- Command latency: signed ``/papers <topic>`` requests to ``POST /slack/events``, 50 in flight at
  a time; the acknowledgement is the HTTP answer (bolt acks before the search runs). Beside it,
  ``GET /healthz`` on the same server at the same concurrency: the floor of the HTTP stack. The
  answers' arrival at the fake's ``response_url`` is reported too.
- Memory: VmRSS of the idle process (HTTP server, Slack adapter, scheduler started; the start-up
  fetch done), beside the same process on an empty database.
- Start-up: wall time of ``papers-bot search TOPIC`` in a new process, beside ``python -c pass``.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import hmac
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import yaml

from bench.fake_slack import FakeSlackProcess

ROOT = Path(__file__).resolve().parent.parent
TEAM = "T0BENCH"
TOKEN = "xoxb-bench-0000000000"
SECRET = "bench-signing-secret"


def _env(db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERS_BOT_", "SLACK_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        PAPERS_BOT_DATABASE_URL=db_url,
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
    )
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class RunningBot:
    """A ``papers-bot run`` process on ``db_url``, Slack in HTTP mode, talking to ``fake``."""

    def __init__(self, folder: Path, db_url: str, fake: FakeSlackProcess) -> None:
        self.folder, self.db_url, self.fake = folder, db_url, fake
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> RunningBot:
        config = {
            "server": {"host": "127.0.0.1", "port": self.port},
            "huggingface": {"base_url": self.fake.base_url, "retries": 0},
            "slack": {"enabled": True, "mode": "http", "api_url": self.fake.api_url},
        }
        path = self.folder / "bench-config.yaml"
        path.write_text(yaml.safe_dump(config))
        self.log = self.folder / "bench-bot.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(path), "run"],
            env=_env(self.db_url),
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
        )
        asyncio.run(self._until_healthy())
        return self

    async def _until_healthy(self, within: float = 120.0) -> None:
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    tail = self.log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"papers-bot run exited ({self.proc.returncode}):\n{tail}")
                try:
                    async with session.get(self.url + "/healthz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("papers-bot run did not answer /healthz in time")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def idle_rss(bot: RunningBot, settle: float = 3.0) -> float:
    """RSS in MB once the process has been idle for ``settle`` seconds."""
    time.sleep(settle)
    return rss_mb(bot.pid)


def _signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    sig = hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={sig}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def _command_body(fake: FakeSlackProcess, text: str, key: str) -> str:
    return urlencode(
        {
            "token": "legacy",
            "team_id": TEAM,
            "team_domain": "bench",
            "channel_id": "C0BENCH",
            "channel_name": "general",
            "user_id": "U0BENCH",
            "user_name": "bench",
            "command": "/papers",
            "text": text,
            "api_app_id": "A0BENCH",
            "response_url": f"{fake.base_url}/response/{key}",
            "trigger_id": "1.2.3",
        }
    )


async def _load(
    url: str,
    requests: Sequence[tuple[str, str, dict[str, str]]],
    concurrency: int,
) -> tuple[list[float], dict[int, float]]:
    """Send ``requests`` (method, body, headers) to ``url`` with ``concurrency`` in flight:
    milliseconds to each answer, and the send time (monotonic) of each by index."""
    limit = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    sent: dict[int, float] = {}
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as session:

        async def one(i: int, method: str, body: str, headers: dict[str, str]) -> None:
            async with limit:
                sent[i] = started = time.monotonic()
                async with session.request(method, url, data=body or None, headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"{method} {url} answered {r.status}")
                latencies.append((time.monotonic() - started) * 1000)

        await asyncio.gather(*(one(i, *req) for i, req in enumerate(requests)))
    return latencies, sent


async def _stats(fake: FakeSlackProcess) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s, s.get(fake.base_url + "/stats") as resp:
        data: dict[str, Any] = await resp.json()
        return data


async def command_latency(
    bot: RunningBot, topics: Sequence[str], count: int, concurrency: int
) -> dict[str, Any]:
    """Acknowledgement and answer latencies of ``count`` signed /papers commands, and the
    /healthz baseline at the same concurrency."""
    health: list[tuple[str, str, dict[str, str]]] = [("GET", "", {})] * count
    batch = uuid.uuid4().hex[:8]
    requests = []
    for i in range(count):
        body = _command_body(bot.fake, topics[i % len(topics)], f"{batch}-{i}")
        requests.append(("POST", body, _signed(body)))
    # This process's objects out of the collector's sight while it times: a full collection
    # here (30-50 ms) stopped the client with 50 requests in flight, and was counted as the
    # bot's (the p99 of 500 is the fifth slowest, so one such pause decided it).
    gc.collect()
    gc.freeze()
    try:
        baseline, _ = await _load(bot.url + "/healthz", health, concurrency)
        acks, sent = await _load(bot.url + "/slack/events", requests, concurrency)
    finally:
        gc.unfreeze()
    deadline = time.monotonic() + max(120.0, count * 0.5)
    while True:
        stats = await _stats(bot.fake)
        answered = {k: v[0] for k, v in stats["responses"].items() if k.startswith(batch)}
        if len(answered) >= count or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    if len(answered) < count:
        raise RuntimeError(f"only {len(answered)} of {count} commands were answered")
    answers = [(answered[f"{batch}-{i}"] - sent[i]) * 1000 for i in range(count)]
    return {"ack_ms": acks, "healthz_ms": baseline, "answer_ms": answers}


@contextmanager
def fake_slack() -> Iterator[FakeSlackProcess]:
    with FakeSlackProcess(TOKEN) as fake:
        yield fake


def startup(db_url: str, folder: Path, topic: str, runs: int) -> tuple[float, float, list[float]]:
    """Median wall seconds of ``papers-bot search TOPIC`` in a new process, median of
    ``python -c pass``, and every search run."""
    env = _env(db_url)
    cmd = [sys.executable, "-m", "bot", "search", topic]
    bare = [sys.executable, "-c", "pass"]

    def wall(argv: list[str]) -> float:
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, cwd=folder, capture_output=True, timeout=120)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[2:])} failed: {done.stderr.decode()[-500:]}")
        return seconds

    # Bytecode, as an install compiles it (pip does; an editable install and a run with
    # PYTHONDONTWRITEBYTECODE, as on CI, never write it), then one run to warm the file cache.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "bot"), str(ROOT / "adapters")],
        check=True,
        capture_output=True,
    )
    wall(cmd)
    searches, baselines = [], []
    for _ in range(runs):
        baselines.append(wall(bare))
        searches.append(wall(cmd))
    return statistics.median(searches), statistics.median(baselines), searches
