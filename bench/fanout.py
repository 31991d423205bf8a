"""Fan-out: prepared digests delivered to many Slack channels through ``SlackAdapter.send_digest``,
beside a bare slack-sdk ``AsyncWebClient`` posting the very same request bodies.

Both run at the scheduler's concurrency (``MAX_CONCURRENT_DELIVERIES``) against the lean fake
(`bench.fake_slack`, its own process). The adapter is started, as ``papers-bot run`` starts it,
so it posts on kept connections; the bare client is slack-sdk as it comes, a new session (and
connection) per call. The adapter's time includes rendering each digest as Block Kit; the bare
client's bodies are rendered beforehand. Rounds alternate which side goes first,
and each side's median round counts. The harness's own data (thousands of prepared digests and
bodies) is frozen out of the garbage collector's sight first: otherwise every full collection
walks it, a tax on whichever side allocates more that the bot would not pay.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.registry import AdapterContext
from adapters.slack import SlackAdapter, from_context
from bench.fake_slack import FakeSlackProcess
from bench.synth import TOPICS, by_day, generate
from bot.app import App
from bot.config import Secrets, Settings
from bot.models import Digest, DigestSection, Paper, Target
from bot.scheduler import MAX_CONCURRENT_DELIVERIES
from bot.sources.huggingface import parse_items

TEAM = "T0BENCH"
TOKEN = "xoxb-bench-0000000000"
SECRET = "bench-signing-secret"


def digests(channels: int, seed: int = 11) -> list[Digest]:
    """A realistic digest for each channel: Trending (5 papers), then two topics of 3."""
    items = generate(max(1000, channels // 5), seed=seed)
    days: list[list[Paper]] = [parse_items(batch)[0] for _, batch in by_day(items)]
    out = []
    for i in range(channels):
        papers = days[i % len(days)]
        trending = sorted(papers, key=lambda p: -(p.upvotes or 0))[:5]
        sections = [DigestSection("Trending", trending)]
        for k in (1, 2):
            topic = TOPICS[(i * 7 + k) % len(TOPICS)].name
            start = 5 + 3 * k + i % 20
            sections.append(DigestSection(topic, papers[start : start + 3], topic=topic))
        target = Target.parse(f"slack:{TEAM}/C{i:06d}")
        out.append(Digest(target, date(2026, 11, 20), sections))
    return out


def _adapter(folder: Path, api_url: str) -> tuple[App, SlackAdapter]:
    settings = Settings(
        database_url=f"sqlite:///{folder}/fanout.db",
        slack={"enabled": True, "mode": "http", "api_url": api_url},
    )
    core = App(settings)
    secrets = Secrets({"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET})
    return core, from_context(AdapterContext(settings, secrets, core))


async def _bot_round(adapter: SlackAdapter, prepared: list[Digest], concurrency: int) -> float:
    limit = asyncio.Semaphore(concurrency)

    async def one(i: int, digest: Digest) -> None:
        async with limit:
            await adapter.send_digest(digest, nonce=f"bench-{i}")

    started = time.perf_counter()
    await asyncio.gather(*(one(i, d) for i, d in enumerate(prepared)))
    return time.perf_counter() - started


async def _bare_round(
    client: AsyncWebClient, bodies: list[list[dict[str, Any]]], concurrency: int
) -> float:
    limit = asyncio.Semaphore(concurrency)

    async def one(messages: list[dict[str, Any]]) -> None:
        async with limit:
            for body in messages:
                await client.chat_postMessage(token=TOKEN, **body)

    started = time.perf_counter()
    await asyncio.gather(*(one(m) for m in bodies))
    return time.perf_counter() - started


def _with_nonce(body: dict[str, Any], nonce: str) -> dict[str, Any]:
    # What send_digest posts: the delivery's nonce in the message metadata.
    meta = body["metadata"]
    payload = {**meta["event_payload"], "nonce": nonce}
    return {**body, "metadata": {**meta, "event_payload": payload}}


async def _stats(base_url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s, s.get(base_url + "/stats") as resp:
        data: dict[str, Any] = await resp.json()
        return data


async def run(folder: Path, channels: int, rounds: int) -> dict[str, Any]:
    """Median seconds of each side over ``rounds`` rounds, posts per round, and the fake's share
    of a CPU while serving (to show it was not the bottleneck)."""
    prepared = digests(channels)
    with FakeSlackProcess(TOKEN) as fake:
        core, adapter = _adapter(folder, fake.api_url)
        await adapter.start()  # as papers-bot run does: checks the token, opens its connections
        try:
            bodies = [
                [_with_nonce(b, f"bench-{i}") for b in adapter.render_digest(d)]
                for i, d in enumerate(prepared)
            ]
            posts = sum(len(b) for b in bodies)
            bare = AsyncWebClient(base_url=fake.api_url)
            times: dict[str, list[float]] = {"bot": [], "bare": []}
            cpu: dict[str, list[float]] = {"bot": [], "bare": []}
            fake_cpu: dict[str, list[float]] = {"bot": [], "bare": []}
            gc.collect()
            gc.freeze()
            for round_ in range(rounds):
                # Each side goes first as often: every post opens a connection, and the
                # second side of a round meets the first one's sockets still in TIME_WAIT.
                for side in ("bare", "bot") if round_ % 2 == 0 else ("bot", "bare"):
                    before = await _stats(fake.base_url)
                    cpu_before = time.process_time()
                    if side == "bot":
                        seconds = await _bot_round(adapter, prepared, MAX_CONCURRENT_DELIVERIES)
                    else:
                        seconds = await _bare_round(bare, bodies, MAX_CONCURRENT_DELIVERIES)
                    cpu[side].append(time.process_time() - cpu_before)
                    after = await _stats(fake.base_url)
                    if after["posts"] - before["posts"] != posts:
                        raise RuntimeError(
                            f"{side}: {after['posts'] - before['posts']} of {posts} posts arrived"
                        )
                    times[side].append(seconds)
                    fake_cpu[side].append((after["cpu"] - before["cpu"]) / seconds)
        finally:
            gc.unfreeze()
            await adapter.stop()
            core.close()
    return {
        "channels": channels,
        "posts": posts,
        "concurrency": MAX_CONCURRENT_DELIVERIES,
        "bot_seconds": statistics.median(times["bot"]),
        "bare_seconds": statistics.median(times["bare"]),
        "rounds": times,
        "client_cpu_seconds": {k: statistics.median(v) for k, v in cpu.items()},
        "fake_cpu_share": {k: round(max(v), 3) for k, v in fake_cpu.items()},
    }
