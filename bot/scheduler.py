"""Scheduling: the periodic fetch and each channel's daily digest, delivered exactly once.

APScheduler 3 runs the timers in memory; it cannot share a job store between processes, so the
database is the source of truth: channel jobs are derived from the channels table (and follow
every change), and the delivery ledger decides who sends what. A reconcile pass every minute
re-derives the jobs, catches up digests missed while no process was running (within the grace
period), and retries failed or abandoned deliveries.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from time import perf_counter
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot import metrics as m
from bot.app import App
from bot.db import UNAVAILABLE, retry_unavailable
from bot.delivery import DeliveryError, Sender, digest_from_plan, digest_plan, post
from bot.ledger import DONE, GAVE_UP, Claim, ClaimJournal, Ledger
from bot.models import Channel, Platform, Schedule

log = logging.getLogger(__name__)

MAX_CONCURRENT_DELIVERIES = 32
STOP_TIMEOUT = 30.0

T = TypeVar("T")


def default_owner() -> str:
    """A name for this process in the ledger: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def cron_trigger(schedule: Schedule) -> CronTrigger:
    """The APScheduler trigger for a channel's schedule, in its own time zone."""
    hour, minute = (int(x) for x in schedule.time.split(":"))
    return CronTrigger(
        hour=hour,
        minute=minute,
        day_of_week="mon-fri" if schedule.weekdays_only else "*",
        timezone=ZoneInfo(schedule.timezone),
    )


def due_at(schedule: Schedule, local_day: date) -> datetime | None:
    """When the digest for ``local_day`` is due (UTC), or None when no digest is due that day.

    A time that does not exist on that day (the spring-forward gap) falls an hour later, and a
    time that happens twice (autumn) counts once, at the first: the same as APScheduler."""
    if schedule.weekdays_only and local_day.weekday() >= 5:
        return None
    hour, minute = (int(x) for x in schedule.time.split(":"))
    local = datetime.combine(local_day, time(hour, minute), tzinfo=ZoneInfo(schedule.timezone))
    return local.astimezone(UTC)


def last_due(schedule: Schedule, now: datetime, *, days: int = 2) -> tuple[date, datetime] | None:
    """The most recent (local day, due time) at or before ``now``, looking back ``days`` days."""
    today = now.astimezone(ZoneInfo(schedule.timezone)).date()
    for back in range(days + 1):
        day = today - timedelta(days=back)
        when = due_at(schedule, day)
        if when is not None and when <= now:
            return day, when
    return None


class DigestScheduler:
    """Runs the fetch and the digests for every channel whose platform has a sender here."""

    def __init__(
        self,
        app: App,
        senders: Mapping[Platform, Sender],
        *,
        owner: str | None = None,
        fetch: Callable[[], Awaitable[object]] | None = None,
        reconcile_seconds: int | None = None,
    ) -> None:
        self.app = app
        self.senders = dict(senders)
        cfg = app.settings.scheduler
        self.ledger = Ledger(app.store, owner or default_owner(), lease_seconds=cfg.lease_seconds)
        self.grace = timedelta(hours=cfg.grace_hours)
        self.fetch = fetch
        self.reconcile_seconds = reconcile_seconds or cfg.reconcile_seconds
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self._limit = asyncio.Semaphore(MAX_CONCURRENT_DELIVERIES)
        self._inflight: set[asyncio.Task[None]] = set()
        self._active: dict[tuple[int, date], asyncio.Task[None]] = {}
        self._stopping = False
        self._jobs: dict[str, str] = {}  # job id -> trigger description
        self._unserved: set[Platform] = set()
        self._db_error: str | None = None  # while the database is unreachable: why
        app.on_channel_change(lambda _channel: self._poke())
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.fetch is not None:
            minutes = self.app.settings.huggingface.fetch_interval_minutes
            self.scheduler.add_job(
                self._fetch,
                IntervalTrigger(minutes=minutes),
                id="fetch",
                next_run_time=datetime.now(UTC),
                coalesce=True,
                max_instances=1,
                misfire_grace_time=60,
            )
        self.scheduler.add_job(
            self._reconcile_job,
            IntervalTrigger(seconds=self.reconcile_seconds),
            id="reconcile",
            next_run_time=datetime.now(UTC),
            coalesce=True,
            max_instances=1,
            misfire_grace_time=self.reconcile_seconds,
        )
        self.scheduler.start()

    async def stop(self) -> None:
        """Take no new work, let deliveries in flight finish (up to ``STOP_TIMEOUT`` seconds)."""
        self._stopping = True
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self._inflight:
            log.info("waiting for %d deliveries in flight", len(self._inflight))
            _, pending = await asyncio.wait(self._inflight, timeout=STOP_TIMEOUT)
            for task in pending:
                task.cancel()

    def _poke(self) -> None:
        """A command changed a channel: re-derive the jobs soon, from the event loop."""
        if self._loop is not None and not self._stopping:
            self._loop.call_soon_threadsafe(lambda: self._spawn(self._sync_jobs_async()))

    async def _sync_jobs_async(self) -> None:
        try:
            channels = await asyncio.to_thread(self.app.store.list_channels)
        except UNAVAILABLE as e:
            self._db_unavailable(e)  # the next reconcile pass syncs the jobs
            return
        self.sync_jobs(channels)

    def _db_unavailable(self, e: Exception) -> None:
        """One log line per outage; everything is retried by the next reconcile pass."""
        if self._db_error is None:
            log.warning(
                "database unavailable (%s); digests wait and are retried every %ss",
                type(e).__name__,
                self.reconcile_seconds,
            )
        self._db_error = type(e).__name__

    def _db_available(self) -> None:
        if self._db_error is not None:
            log.info("database reachable again")
            self._db_error = None

    async def readiness(self) -> str | None:
        """None while the scheduler runs; else why not (for ``/readyz``)."""
        return None if self.scheduler.running else "not running"

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    # -- jobs -------------------------------------------------------------------------------

    async def _fetch(self) -> None:
        assert self.fetch is not None
        try:
            await self.fetch()
        except asyncio.CancelledError:
            log.info("fetch interrupted by shutdown")
        except Exception as e:
            # Hugging Face being down is not our outage: commands and digests use what is stored.
            self.app.metrics.fetch_errors.inc()
            log.warning("fetch from Hugging Face failed: %s", e)
        else:
            self.app.metrics.last_fetch.set_to_current_time()

    def served(self, channel: Channel) -> bool:
        return channel.target.platform in self.senders

    def sync_jobs(self, channels: list[Channel]) -> None:
        """Make the cron jobs match the channels: one per active, served channel."""
        if self._stopping:
            return
        wanted: dict[str, tuple[Channel, str]] = {}
        for ch in channels:
            if ch.schedule.paused or ch.id is None:
                continue
            if not self.served(ch):
                if ch.target.platform not in self._unserved:
                    self._unserved.add(ch.target.platform)
                    log.info("no %s adapter is enabled here; its channels wait", ch.target.platform)
                continue
            s = ch.schedule
            wanted[f"digest:{ch.id}"] = (ch, f"{s.time} {s.timezone} {s.weekdays_only}")
        for job_id in list(self._jobs):
            if job_id not in wanted:
                self.scheduler.remove_job(job_id)
                del self._jobs[job_id]
        for job_id, (ch, desc) in wanted.items():
            if self._jobs.get(job_id) == desc:
                continue
            assert ch.id is not None
            if job_id in self._jobs:
                # Remove, then add: replace_existing does not reach jobs still pending start.
                self.scheduler.remove_job(job_id)
            self.scheduler.add_job(
                self.fire,
                cron_trigger(ch.schedule),
                args=[ch.id],
                id=job_id,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=int(self.grace.total_seconds()) or 1,
            )
            self._jobs[job_id] = desc

    async def fire(self, channel_id: int) -> None:
        """A channel's cron job: deliver the digest that is due now."""
        try:
            channels = await asyncio.to_thread(self.app.store.list_channels)
        except UNAVAILABLE as e:
            self._db_unavailable(e)  # the next reconcile pass sends it
            return
        for ch in channels:
            if ch.id == channel_id and not ch.schedule.paused and self.served(ch):
                found = last_due(ch.schedule, self.app.clock())
                if found is not None:
                    await self.deliver(ch, *found)

    async def _reconcile_job(self) -> None:
        try:
            await self.reconcile()
        except asyncio.CancelledError:
            log.info("reconcile interrupted by shutdown")

    async def reconcile(self) -> None:
        """Re-derive jobs; send what is due and unsent within the grace period; skip the rest.
        While the database is unreachable, each pass logs nothing new and tries again."""
        if self._stopping:
            return
        try:
            await self._reconcile()
        except UNAVAILABLE as e:
            self._db_unavailable(e)
        else:
            self._db_available()

    async def _reconcile(self) -> None:
        await asyncio.to_thread(self.app.reload_channels)
        now = self.app.clock()
        channels = await asyncio.to_thread(self.app.store.list_channels)
        self.sync_jobs(channels)
        since = (now - self.grace - timedelta(days=2)).date()
        rows = await asyncio.to_thread(self.ledger.open_rows, since)
        due: list[tuple[Channel, date, datetime]] = []
        for ch in channels:
            if ch.schedule.paused or ch.id is None or not self.served(ch):
                continue
            found = last_due(ch.schedule, now)
            if found is None:
                continue
            day, when = found
            if (
                ch.schedule_changed_at is not None
                and when < ch.schedule_changed_at
                and (ch.id, day) not in rows
            ):
                # Scheduled (or created, or resumed) after that time: the next one is theirs.
                # A digest already in the ledger for that day was due before, and is retried.
                continue
            if rows.get((ch.id, day)) in DONE:
                continue
            if now - when > self.grace:
                if (ch.id, day) not in rows and await asyncio.to_thread(
                    self.ledger.skip,
                    ch.id,
                    day,
                    due_at=when,
                    reason=f"missed by {now - when}, more than the grace period",
                ):
                    log.warning(
                        "skipped the %s digest for %s: due %s, missed by more than %s",
                        day,
                        ch.target,
                        when.isoformat(timespec="minutes"),
                        self.grace,
                    )
                continue
            due.append((ch, day, when))
        for ch, day, when in due:
            # Each delivery runs on its own; the next reconcile pass must not wait behind them.
            self._start_delivery(ch, day, when)

    async def idle(self) -> None:
        """Wait until no delivery is in flight."""
        while self._inflight:
            await asyncio.wait(set(self._inflight))

    # -- delivery ---------------------------------------------------------------------------

    async def deliver(self, channel: Channel, day: date, when: datetime) -> None:
        """Claim, build (or re-use the claimed plan), post and settle one digest.

        Each delivery is its own task, shielded from the caller's cancellation, so a shutdown
        lets it finish rather than cutting it between posting and recording."""
        task = self._start_delivery(channel, day, when)
        if task is not None:
            await asyncio.shield(task)

    def _start_delivery(
        self, channel: Channel, day: date, when: datetime
    ) -> asyncio.Task[None] | None:
        if self._stopping or channel.id is None:
            return None
        key = (channel.id, day)
        if key in self._active:
            return self._active[key]
        task = asyncio.ensure_future(self._deliver_limited(channel, day, when))
        self._active[key] = task
        self._inflight.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._inflight.discard(t)
            self._active.pop(key, None)

        task.add_done_callback(done)
        return task

    async def _deliver_limited(self, channel: Channel, day: date, when: datetime) -> None:
        async with self._limit:
            await self._deliver(channel, day, when)

    async def _deliver(self, channel: Channel, day: date, when: datetime) -> None:
        assert channel.id is not None
        now = self.app.clock()
        try:
            claim = await asyncio.to_thread(
                self.ledger.claim, channel.id, day, due_at=when, now=now
            )
        except UNAVAILABLE as e:
            self._db_unavailable(e)  # nothing claimed: the next reconcile pass tries again
            return
        if claim is None:
            return
        if self._stopping:
            await self._record(self.ledger.release, claim, now)
            return
        store, digests = self.app.store, self.app.digests
        platform = channel.target.platform
        count = self.app.metrics.digests
        started: float | None = None
        try:
            if claim.plan is not None:
                digest = await asyncio.to_thread(digest_from_plan, store, channel, claim.plan)
            else:
                digest = await asyncio.to_thread(digests.build, channel, day, now=now)
                await asyncio.to_thread(self.ledger.save_plan, claim, digest_plan(digest))
            if digest.is_empty and digest.notice is None:
                await self._record(self.ledger.empty, claim)
                count.labels(platform, m.EMPTY).inc()
                log.info("nothing new for %s on %s", channel.target, day)
                return
            # The lease may have run out while this process was slow; then another one has it.
            if not await asyncio.to_thread(self.ledger.renew, claim, self.app.clock()):
                log.info("the %s digest for %s was taken over; not posting", day, channel.target)
                return
            sender = self.senders[platform]
            started = perf_counter()
            ids = await post(
                digests,
                channel,
                digest,
                sender,
                nonce=claim.nonce,
                resume=claim.attempt > 1,
                journal=ClaimJournal(self.ledger, claim),
                now=now,
            )
        except DeliveryError as e:
            self._observe(platform, started)
            status = await self._record(
                self.ledger.failed, claim, str(e), permanent=e.permanent, now=self.app.clock()
            )
            count.labels(platform, m.GAVE_UP if status == GAVE_UP else m.FAILED).inc()
            log.warning("digest for %s on %s failed (%s): %s", channel.target, day, status, e)
            return
        except UNAVAILABLE as e:
            # Give the claim back, so the next pass resumes it (with the same nonce) at once.
            # Before posting this was no posting attempt, and it does not count as one.
            self._db_unavailable(e)
            await self._record(
                self.ledger.release, claim, self.app.clock(), posting_started=started is not None
            )
            return
        except Exception as e:
            self._observe(platform, started)
            status = await self._record(
                self.ledger.failed, claim, repr(e), permanent=False, now=self.app.clock()
            )
            count.labels(platform, m.GAVE_UP if status == GAVE_UP else m.FAILED).inc()
            log.exception("digest for %s on %s failed (%s)", channel.target, day, status)
            return
        self._observe(platform, started)
        count.labels(platform, m.SENT).inc()
        await self._record(self.ledger.sent, claim, ids, self.app.clock())
        log.info(
            "digest for %s on %s sent (%d papers, %d messages%s)",
            channel.target,
            day,
            len(digest.papers),
            len(ids),
            f", attempt {claim.attempt}" if claim.attempt > 1 else "",
        )

    async def _record(
        self, settle: Callable[..., T], claim: Claim, *args: Any, **kw: Any
    ) -> T | None:
        """Settle ``claim`` in the ledger, riding out a short database outage. When the outage
        lasts, the claim's lease runs out and a later pass resumes the delivery by its nonce."""
        try:
            return await retry_unavailable(settle, claim, *args, **kw)
        except UNAVAILABLE as e:
            self._db_unavailable(e)
            return None

    def _observe(self, platform: Platform, started: float | None) -> None:
        if started is not None:
            self.app.metrics.delivery_seconds.labels(platform).observe(perf_counter() - started)
