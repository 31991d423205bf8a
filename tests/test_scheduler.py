"""Scheduling: cron times across daylight saving, catch-up, grace, replicas and takeovers.

Clocks are injected. Channels remember when they last changed (in real time), so the injected
clocks here run from the real present into the future."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from adapters.memory import MemoryAdapter
from bot.app import App
from bot.config import Settings
from bot.delivery import DeliveryError, digest_plan
from bot.ledger import FAILED, GAVE_UP, SENT, SKIPPED, Ledger
from bot.models import Digest, Platform, Schedule, Target
from bot.scheduler import DigestScheduler, cron_trigger, due_at, last_due
from bot.store import Store
from tests.factories import corpus, due_channel


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def fires(schedule: Schedule, start: datetime, n: int) -> list[datetime]:
    trigger = cron_trigger(schedule)
    out: list[datetime] = []
    prev = None
    now = start
    while len(out) < n:
        nxt = trigger.get_next_fire_time(prev, now)
        assert nxt is not None
        if not out or nxt.astimezone(UTC) != out[-1].astimezone(UTC):
            out.append(nxt)
        prev, now = nxt, nxt + timedelta(seconds=1)
    return out


@pytest.mark.parametrize(
    ("zone", "start"),
    [
        ("Europe/Berlin", datetime(2026, 3, 27, tzinfo=UTC)),  # spring forward 29 March
        ("Europe/Berlin", datetime(2026, 10, 23, tzinfo=UTC)),  # fall back 25 October
        ("America/New_York", datetime(2026, 3, 6, tzinfo=UTC)),  # spring forward 8 March
        ("America/New_York", datetime(2026, 10, 30, tzinfo=UTC)),  # fall back 1 November
    ],
)
def test_digests_fire_at_the_local_time_across_daylight_saving(zone: str, start: datetime) -> None:
    schedule = Schedule(time="09:00", timezone=zone)
    times = fires(schedule, start, 6)
    tz = ZoneInfo(zone)
    local = [t.astimezone(tz) for t in times]
    assert all((t.hour, t.minute) == (9, 0) for t in local)
    days = [t.date() for t in local]
    assert days == [days[0] + timedelta(days=i) for i in range(6)]  # once a day, none skipped
    offsets = {t.utcoffset() for t in local}
    assert len(offsets) == 2  # the window really crosses a change
    for t in local:
        assert due_at(schedule, t.date()) == t.astimezone(UTC)


def test_weekdays_only_and_last_due() -> None:
    s = Schedule(time="08:30", timezone="America/New_York", weekdays_only=True)
    times = fires(s, datetime(2026, 11, 19, tzinfo=UTC), 4)
    assert [t.astimezone(ZoneInfo("America/New_York")).strftime("%a") for t in times] == [
        "Thu",
        "Fri",
        "Mon",
        "Tue",
    ]
    saturday_noon = datetime(2026, 11, 21, 17, tzinfo=UTC)
    found = last_due(s, saturday_noon)
    assert found is not None and found[0] == date(2026, 11, 20)
    assert due_at(s, date(2026, 11, 21)) is None


def test_a_time_in_the_spring_gap_fires_once_an_hour_later() -> None:
    s = Schedule(time="02:30", timezone="Europe/Berlin")
    when = due_at(s, date(2026, 3, 29))
    assert when == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    times = fires(s, datetime(2026, 3, 28, 12, tzinfo=UTC), 2)
    assert times[0].astimezone(UTC) == when


# -- the scheduler on a real store ------------------------------------------------------------


@pytest.fixture
def world(store: Store) -> Iterator[tuple[App, Clock, MemoryAdapter]]:
    real_now = datetime.now(UTC).replace(second=0, microsecond=0)
    clock = Clock(real_now + timedelta(days=1))
    app = App(Settings(), store, clock=clock)
    app.ingest(corpus())
    yield app, clock, MemoryAdapter()


def scheduler(app: App, adapter: MemoryAdapter, owner: str = "a") -> DigestScheduler:
    return DigestScheduler(app, {Platform.MEMORY: adapter}, owner=owner)


def reconcile(*scheds: DigestScheduler) -> None:
    """One reconcile pass of each scheduler, concurrently, and the deliveries it started."""

    async def passes() -> None:
        await asyncio.gather(*(s.reconcile() for s in scheds))
        await asyncio.gather(*(s.idle() for s in scheds))

    asyncio.run(passes())


def test_reconcile_sends_a_due_digest_once(world: tuple[App, Clock, MemoryAdapter]) -> None:
    app, clock, memory = world
    target = due_channel(app.store, "memory:lab", clock.now, minutes_ago=10)
    sched = scheduler(app, memory)
    reconcile(sched)
    reconcile(sched)
    assert [str(p.target) for p in memory.posted] == ["memory:lab"]
    digest = memory.posted[0].digest
    assert digest is not None and digest.sections[0].title == "Trending"
    ch = app.store.get_channel(target)
    assert ch is not None and ch.id is not None
    assert app.store.posted_ids(ch.id, 30, clock.now) == {p.id for p in digest.papers}


def test_two_replicas_deliver_each_digest_once(world: tuple[App, Clock, MemoryAdapter]) -> None:
    app, clock, memory = world
    for i in range(40):
        due_channel(app.store, f"memory:ch{i}", clock.now, minutes_ago=5)
    a, b = scheduler(app, memory, "a"), scheduler(app, memory, "b")

    reconcile(a, b, a)
    sent = sorted(str(p.target) for p in memory.posted)
    assert sent == sorted(f"memory:ch{i}" for i in range(40))


def test_missed_beyond_the_grace_period_is_skipped_and_logged(
    world: tuple[App, Clock, MemoryAdapter], caplog: pytest.LogCaptureFixture
) -> None:
    app, clock, memory = world
    target = due_channel(
        app.store, "memory:late", clock.now, minutes_ago=7 * 60
    )  # grace is 6 hours
    sched = scheduler(app, memory)
    with caplog.at_level(logging.WARNING):
        reconcile(sched)
        reconcile(sched)
    assert memory.posted == []
    ch = app.store.get_channel(target)
    assert ch is not None and ch.id is not None
    day = (clock.now - timedelta(hours=7)).astimezone(ZoneInfo("Europe/Berlin")).date()
    assert sched.ledger.status(ch.id, day) == SKIPPED
    assert sum("skipped the" in r.message for r in caplog.records) == 1


def test_within_grace_a_missed_digest_is_sent_late_once(
    world: tuple[App, Clock, MemoryAdapter],
) -> None:
    app, clock, memory = world
    due_channel(app.store, "memory:catchup", clock.now, minutes_ago=5 * 60)
    reconcile(scheduler(app, memory))
    reconcile(scheduler(app, memory, "restarted"))
    assert len(memory.posted) == 1


def test_a_crash_between_posting_and_recording_is_not_a_duplicate(
    world: tuple[App, Clock, MemoryAdapter],
) -> None:
    app, clock, memory = world
    target = due_channel(app.store, "memory:crash", clock.now, minutes_ago=3)
    ch = app.store.get_channel(target)
    assert ch is not None and ch.id is not None
    # The crashed process claimed, planned and posted, then died before recording it.
    crashed = Ledger(app.store, "crashed", lease_seconds=300)
    day, when = last_due(ch.schedule, clock.now)  # type: ignore[misc]
    claim = crashed.claim(ch.id, day, due_at=when, now=clock.now)
    assert claim is not None
    digest = app.digests.build(ch, day, now=clock.now)
    crashed.save_plan(claim, digest_plan(digest))
    asyncio.run(memory.send_digest(digest, nonce=claim.nonce))
    assert len(memory.posted) == 1
    # Before the lease ends nobody touches it; after, the restart takes over.
    sched = scheduler(app, memory, "restarted")
    reconcile(sched)
    assert sched.ledger.status(ch.id, day) != SENT
    clock.now += timedelta(minutes=6)
    reconcile(sched)
    assert len(memory.posted) == 1  # the same nonce: not posted again
    assert sched.ledger.status(ch.id, day) == SENT


def test_database_blips_before_posting_use_up_no_attempts(
    world: tuple[App, Clock, MemoryAdapter], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, clock, memory = world
    target = due_channel(app.store, "memory:blips", clock.now, minutes_ago=2)
    build = app.digests.build
    blips = [8]  # more than a delivery's attempts

    def flaky_build(*args: Any, **kwargs: Any) -> Digest:
        if blips[0] > 0:
            blips[0] -= 1
            raise OperationalError("SELECT ...", {}, Exception("database is locked"))
        return build(*args, **kwargs)

    monkeypatch.setattr(app.digests, "build", flaky_build)
    sched = scheduler(app, memory)
    for _ in range(10):
        reconcile(sched)
        clock.now += timedelta(minutes=1)
    assert blips == [0] and len(memory.posted) == 1
    ch = app.store.get_channel(target)
    assert ch is not None and ch.id is not None
    day = last_due(ch.schedule, clock.now)[0]  # type: ignore[index]
    assert sched.ledger.status(ch.id, day) == SENT


def declared_long_ago(app: App, target: Target, spec: dict[str, Any]) -> None:
    """``target`` as the config declares it, with its schedule last changed two days ago."""
    app.store.seed_channels([(target, spec)])
    with app.store.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE channels SET updated_at = :t, schedule_changed_at = :t"
                " WHERE target = :target"
            ),
            {
                "t": datetime.now(UTC).replace(tzinfo=None) - timedelta(days=2),
                "target": str(target),
            },
        )


def test_a_config_change_that_keeps_the_schedule_does_not_drop_a_due_digest(
    world: tuple[App, Clock, MemoryAdapter],
) -> None:
    app, clock, memory = world
    clock.now = datetime.now(UTC)  # what changes the channel now comes after the due time
    target = Target.parse("memory:redeployed")
    due = (clock.now - timedelta(minutes=20)).astimezone(ZoneInfo("Europe/Berlin"))
    spec = {"time": f"{due:%H:%M}", "timezone": "Europe/Berlin", "topics": ["diffusion models"]}
    declared_long_ago(app, target, spec)
    # Down at the due time; the restart's config adds a topic, and the digest is still owed.
    app.store.seed_channels([(target, {**spec, "topics": ["diffusion models", "agents"]})])
    reconcile(scheduler(app, memory, "restarted"))
    assert [str(p.target) for p in memory.posted] == ["memory:redeployed"]


def test_a_failed_digest_is_retried_after_its_schedule_changes(
    world: tuple[App, Clock, MemoryAdapter],
) -> None:
    app, clock, memory = world
    clock.now = datetime.now(UTC)
    target = Target.parse("memory:retried")
    due = (clock.now - timedelta(minutes=20)).astimezone(ZoneInfo("Europe/Berlin"))
    spec = {"time": f"{due:%H:%M}", "timezone": "Europe/Berlin", "topics": ["diffusion models"]}
    declared_long_ago(app, target, spec)
    sched = scheduler(app, memory)
    send, failing = memory.send_digest, [True]

    async def flaky(digest: Digest, **kwargs: Any) -> list[str]:
        if failing[0]:
            raise DeliveryError("HTTP 503 from Slack")
        return await send(digest, **kwargs)

    memory.send_digest = flaky  # type: ignore[method-assign]
    reconcile(sched)
    ch = app.store.get_channel(target)
    assert ch is not None and ch.id is not None
    day = last_due(ch.schedule, clock.now)[0]  # type: ignore[index]
    assert sched.ledger.status(ch.id, day) == FAILED
    # The schedule changes after the due time (the same instant, in another zone's name); the
    # digest that was due and failed is still owed, and retried.
    app.store.set_schedule(target, timezone="Europe/Paris")
    failing[0] = False
    clock.now += timedelta(minutes=2)
    reconcile(sched)
    assert [str(p.target) for p in memory.posted] == ["memory:retried"]
    assert sched.ledger.status(ch.id, day) == SENT


def test_a_digest_due_before_its_schedule_changed_is_not_owed(
    world: tuple[App, Clock, MemoryAdapter],
) -> None:
    app, clock, memory = world
    clock.now = datetime.now(UTC)
    target = Target.parse("memory:moved")
    due = (clock.now - timedelta(minutes=20)).astimezone(ZoneInfo("Europe/Berlin"))
    spec = {"time": f"{due + timedelta(hours=1):%H:%M}", "timezone": "Europe/Berlin"}
    declared_long_ago(app, target, spec)
    app.store.set_schedule(target, time=f"{due:%H:%M}")  # moved to a time already past
    reconcile(scheduler(app, memory))
    assert memory.posted == []


def test_a_gone_channel_is_paused_and_the_others_carry_on(
    world: tuple[App, Clock, MemoryAdapter], caplog: pytest.LogCaptureFixture
) -> None:
    app, clock, memory = world
    gone = due_channel(app.store, "memory:gone", clock.now, minutes_ago=2)
    due_channel(app.store, "memory:fine", clock.now, minutes_ago=2)
    memory.gone.add("memory:gone")
    sched = scheduler(app, memory)
    with caplog.at_level(logging.WARNING):
        reconcile(sched)
    assert [str(p.target) for p in memory.posted] == ["memory:fine"]
    ch = app.store.get_channel(gone)
    assert ch is not None and ch.schedule.paused and ch.id is not None
    assert "channel not found" in (app.store.pause_reason(gone) or "")
    day = last_due(ch.schedule, clock.now)[0]  # type: ignore[index]
    assert sched.ledger.status(ch.id, day) == GAVE_UP
    assert sum("pausing memory:gone" in r.message for r in caplog.records) == 1


def test_jobs_follow_channel_changes(world: tuple[App, Clock, MemoryAdapter]) -> None:
    app, _, memory = world
    sched = scheduler(app, memory)
    target = Target.parse("memory:jobs")
    app.store.set_schedule(target, time="07:15", timezone="Asia/Tokyo")
    sched.sync_jobs(app.store.list_channels())
    ch = app.store.get_channel(target)
    assert ch is not None
    job = sched.scheduler.get_job(f"digest:{ch.id}")
    assert job is not None and "hour='7'" in repr(job.trigger) and "Asia/Tokyo" in repr(job.trigger)
    app.store.set_schedule(target, time="18:40", weekdays_only=True)
    sched.sync_jobs(app.store.list_channels())
    job = sched.scheduler.get_job(f"digest:{ch.id}")
    assert job is not None and "hour='18'" in repr(job.trigger) and "mon-fri" in repr(job.trigger)
    app.store.set_schedule(target, paused=True)
    sched.sync_jobs(app.store.list_channels())
    assert sched.scheduler.get_job(f"digest:{ch.id}") is None
    # Channels of platforms with no adapter here get no job.
    app.store.ensure_channel(Target.parse("slack:T1/C1"))
    sched.sync_jobs(app.store.list_channels())
    assert not [j for j in sched.scheduler.get_jobs() if j.id != f"digest:{ch.id}"]
