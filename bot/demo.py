"""``papers-bot demo``: the whole bot on embedded defaults, offline, in a few seconds."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime, time
from importlib import resources
from pathlib import Path

from adapters.console import ConsoleAdapter
from bot.app import App
from bot.config import Settings
from bot.logs import setup_logging
from bot.models import Invocation, Target

DEMO_CHANNEL = Target.parse("console:demo")
DEMO_TOPICS = ["diffusion models", "mixture of experts", "3D reconstruction"]
DEMO_COMMANDS = [
    "MoE",
    "making language models cheaper to run on phones",
    "gausian splatting",
    "trending 3",
    "subscribe speech recognition",
    "schedule 08:30 Europe/Berlin weekdays",
    "topics",
    "schedule 25:99",
    "help",
]


def sample_files() -> list[Path]:
    """The bundled ``/api/daily_papers`` samples, oldest first."""
    folder = resources.files("bot") / "data" / "sample"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".json"))


def _rule(out: ConsoleAdapter, title: str) -> None:
    out.stdout.write(f"\n── {title} " + "─" * max(0, 60 - len(title)) + "\n")


def run_demo(*, live: bool = False, debug: bool = False) -> int:
    """Run the demo; returns the exit code."""
    setup_logging("DEBUG" if debug else "WARNING")
    out = ConsoleAdapter()
    with tempfile.TemporaryDirectory(prefix="papers-bot-demo-") as tmp:
        settings = Settings(database_url=f"sqlite:///{tmp}/demo.db", channels=[], webhooks=[])
        files = sample_files()
        boot = App(settings)
        report = boot.ingest_files(files)
        latest = boot.store.latest_featured_date()
        boot.close()
        fetched = ""
        if live:
            fetched = _fetch_live(settings)
        # Pin the clock to the newest day we have, so the digest shows that day's papers.
        app_clock_day = latest
        if fetched.startswith("ok"):
            app_clock_day = None
        if app_clock_day is not None:
            pinned = datetime.combine(app_clock_day, time(9, 0), tzinfo=UTC)
            app = App(settings, clock=lambda: pinned)
        else:
            app = App(settings)
        try:
            for topic in DEMO_TOPICS:
                app.store.subscribe(DEMO_CHANNEL, topic, app.defaults)
            out.stdout.write(
                f"daily-papers-bot demo — {report.inserted} sample papers from {len(files)} days "
                f"loaded into a temporary SQLite database.\n"
            )
            if fetched:
                out.stdout.write(f"Live fetch: {fetched}\n")
            channel = app.channel(DEMO_CHANNEL)
            today = app.local_today(channel)
            _rule(out, f"Digest for {DEMO_CHANNEL} (topics: {', '.join(DEMO_TOPICS)})")
            digest = app.digests.build(channel, today, now=app.clock())
            asyncio.run(out.send_digest(digest))
            who = Invocation(target=DEMO_CHANNEL, user_id="demo", user_name="demo-user")
            for command in DEMO_COMMANDS:
                _rule(out, f"/papers {command}".rstrip())
                out.stdout.write(out.answer(app.commands, command, who) + "\n")
            if sys.stdin.isatty():
                _rule(out, "Your turn")
                out.stdout.write(
                    "Type /papers commands (help for usage, quit or Ctrl-D to leave).\n"
                )
                out.repl(app.commands, DEMO_CHANNEL, interactive=True)
            else:
                out.stdout.write("\n(stdin is not a terminal, so the demo ends here.)\n")
        finally:
            app.close()
    return 0


def _fetch_live(settings: Settings) -> str:
    from bot.fetch import days_to_fetch, fetch_days

    app = App(settings)
    try:
        days = days_to_fetch(datetime.now(UTC).date())
        report = asyncio.run(asyncio.wait_for(fetch_days(app, days), timeout=60))
        return f"ok, {report.inserted} new papers from Hugging Face"
    except Exception as e:
        return f"Hugging Face could not be reached ({type(e).__name__}); showing the samples"
    finally:
        app.close()
