"""Pulling Daily Papers from Hugging Face into the store, day by day."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date, timedelta

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot.app import App, IngestReport
from bot.sources.huggingface import HuggingFaceClient

log = logging.getLogger(__name__)
MAX_DAYS = 3660


@dataclass(slots=True)
class FetchReport(IngestReport):
    empty_days: int = 0


def days_to_fetch(
    today: date, *, only: date | None = None, since: date | None = None
) -> list[date]:
    """The days a fetch walks: one day, every day from ``since`` to ``today``, or by default
    yesterday and today (upvotes keep growing after a paper is featured)."""
    if only is not None:
        return [only]
    first = since if since is not None else today - timedelta(days=1)
    count = (today - first).days + 1
    if count > MAX_DAYS:
        raise ValueError(f"--since goes back {count} days; at most {MAX_DAYS}")
    return [first + timedelta(days=i) for i in range(count)]


def client_for(app: App) -> HuggingFaceClient:
    hf = app.settings.huggingface
    return HuggingFaceClient(hf.base_url, timeout=hf.timeout, retries=hf.retries)


async def fetch_days(app: App, days: list[date], *, progress: bool = False) -> FetchReport:
    """Fetch each day's list and store it. Empty days are normal; a failed day raises."""
    report = FetchReport()
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not progress,
        transient=False,
    )
    # Built in a thread: the client reads the CA bundle for its TLS context (25-40 ms here),
    # which on the event loop would hold up every command and acknowledgement meanwhile.
    async with await asyncio.to_thread(client_for, app) as client:
        with bar:
            task = bar.add_task("Fetching Daily Papers", total=len(days))
            for day in days:
                bar.update(task, description=f"Fetching {day}")
                result = await client.daily_papers(day)
                if not result.papers:
                    report.empty_days += 1
                stats = await asyncio.to_thread(app.store.upsert_papers, result.papers)
                report.add(stats, result.skipped)
                bar.advance(task)
    app.searcher.invalidate()
    log.info(
        "fetched %d day(s): %d new, %d updated, %d skipped",
        len(days),
        report.inserted,
        report.updated,
        report.skipped,
    )
    return report
