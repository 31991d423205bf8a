"""A lean fake of the Slack Web API (and of Hugging Face's list endpoint) for benchmarks.

An aiohttp server in a process of its own, so it never shares a CPU or an event loop with what
is measured, and cheap per request (no rate limits, no Block Kit checks: ``tests/fakes/slack.py``
does those). It checks the bearer token, counts ``chat.postMessage`` calls, and records when each
``response_url`` answer arrives (``time.monotonic()``, the same clock across processes here).

    python -m bench.fake_slack --token xoxb-...     # prints "PORT <n>", serves until SIGTERM

``GET /stats`` returns the counts, the arrival times and the server's CPU seconds so far.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web


def serve(token: str) -> web.Application:
    state: dict[str, Any] = {"posts": 0, "calls": 0, "responses": {}}
    stamps = itertools.count(1)

    async def api(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.read()
        if "json" in request.content_type and raw:
            body = json.loads(raw)
        else:
            body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        state["calls"] += 1
        if method == "daily_papers" or method.startswith("papers"):
            return web.json_response([])
        auth = request.headers.get("Authorization", "")
        if auth.removeprefix("Bearer ") != token and body.get("token") != token:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method == "chat.postMessage":
            if not body.get("channel") or not (body.get("text") or body.get("blocks")):
                return web.json_response({"ok": False, "error": "no_text"})
            state["posts"] += 1
            n = next(stamps)
            ts = f"{1_700_000_000 + n}.{n % 1_000_000:06d}"
            return web.json_response({"ok": True, "channel": body["channel"], "ts": ts})
        if method == "auth.test":
            return web.json_response(
                {"ok": True, "team": "Bench", "team_id": "T0BENCH", "user_id": "UBOT"}
            )
        if method.startswith("conversations."):
            return web.json_response({"ok": True, "messages": [], "has_more": False})
        return web.json_response({"ok": True})

    async def respond(request: web.Request) -> web.Response:
        await request.read()
        state["responses"].setdefault(request.match_info["key"], []).append(time.monotonic())
        return web.Response(text="ok")

    async def stats(request: web.Request) -> web.Response:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return web.json_response({**state, "cpu": usage.ru_utime + usage.ru_stime})

    async def reset(request: web.Request) -> web.Response:
        state.update(posts=0, calls=0, responses={})
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=16 * 1024**2)
    app.router.add_post("/api/{method}", api)
    app.router.add_get("/api/{method}", api)
    app.router.add_post("/response/{key}", respond)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    return app


async def _main(token: str) -> None:
    runner = web.AppRunner(serve(token), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    server = getattr(site, "_server", None)
    port = server.sockets[0].getsockname()[1] if server else 0
    print(f"PORT {port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


class FakeSlackProcess:
    """The fake in a child process: ``with FakeSlackProcess(token) as fake: fake.base_url``."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""

    def __enter__(self) -> FakeSlackProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.fake_slack", "--token", self.token],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError("the fake Slack did not start")
        self.base_url = f"http://127.0.0.1:{int(line.split()[1])}"
        return self

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/"

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--token", required=True)
    asyncio.run(_main(parser.parse_args().token))
