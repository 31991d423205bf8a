"""The delivery ledger on both backends: one claim wins, crashed claims are taken over."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.exc import OperationalError

from bot.delivery import SHOWN
from bot.ledger import CLAIMED, FAILED, GAVE_UP, SENT, SKIPPED, Claim, ClaimJournal, Ledger
from bot.models import Target
from bot.store import Store
from tests.factories import stored_plan

DAY = date(2026, 11, 20)
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def channel_id(store: Store, name: str = "console:a") -> int:
    ch = store.ensure_channel(Target.parse(name))
    assert ch.id is not None
    return ch.id


def test_one_claim_wins(store: Store) -> None:
    cid = channel_id(store)
    a, b = Ledger(store, "a"), Ledger(store, "b")
    claim = a.claim(cid, DAY, due_at=T0, now=T0)
    assert claim is not None and claim.attempt == 1 and len(claim.nonce) == 16
    assert b.claim(cid, DAY, due_at=T0, now=T0) is None
    assert a.claim(cid, DAY, due_at=T0, now=T0) is None  # not even twice by the same owner
    assert b.claim(cid, DAY + timedelta(days=1), due_at=T0, now=T0) is not None


def test_concurrent_claims_from_many_threads(store: Store) -> None:
    cids = [channel_id(store, f"console:c{i}") for i in range(20)]
    won: list[tuple[str, int]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def replica(name: str) -> None:
        ledger = Ledger(store, name)
        barrier.wait()
        for cid in cids:
            if ledger.claim(cid, DAY, due_at=T0, now=T0) is not None:
                with lock:
                    won.append((name, cid))

    threads = [threading.Thread(target=replica, args=(f"r{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(cid for _, cid in won) == sorted(cids)  # each claimed exactly once


def test_a_crashed_claim_is_taken_over_after_its_lease_with_the_same_nonce(store: Store) -> None:
    cid = channel_id(store)
    crashed = Ledger(store, "crashed", lease_seconds=300)
    first = crashed.claim(cid, DAY, due_at=T0, now=T0)
    assert first is not None
    crashed.save_plan(first, {"day": DAY.isoformat(), "sections": []})
    other = Ledger(store, "other", lease_seconds=300)
    assert other.claim(cid, DAY, due_at=T0, now=T0 + timedelta(seconds=299)) is None
    second = other.claim(cid, DAY, due_at=T0, now=T0 + timedelta(seconds=301))
    assert second is not None
    assert second.nonce == first.nonce and second.attempt == 2
    assert second.plan == {"day": DAY.isoformat(), "sections": []}
    # The crashed owner can no longer settle it: its claim was taken.
    crashed.sent(first, ["x"], T0)
    assert crashed.status(cid, DAY) != SENT
    other.sent(second, ["m1"], T0 + timedelta(seconds=302))
    assert other.status(cid, DAY) == SENT
    assert Ledger(store, "late").claim(cid, DAY, due_at=T0, now=T0 + timedelta(days=1)) is None


def test_transient_failures_back_off_then_give_up(store: Store) -> None:
    cid = channel_id(store)
    ledger = Ledger(store, "a", max_attempts=3)
    now = T0
    claim = ledger.claim(cid, DAY, due_at=T0, now=now)
    assert claim is not None
    assert ledger.failed(claim, "HTTP 503", permanent=False, now=now) == FAILED
    assert ledger.claim(cid, DAY, due_at=T0, now=now + timedelta(seconds=30)) is None
    claim = ledger.claim(cid, DAY, due_at=T0, now=now + timedelta(minutes=1, seconds=1))
    assert claim is not None and claim.attempt == 2
    assert ledger.failed(claim, "HTTP 503", permanent=False, now=now) == FAILED
    claim = ledger.claim(cid, DAY, due_at=T0, now=now + timedelta(minutes=3))
    assert claim is not None and claim.attempt == 3
    assert ledger.failed(claim, "HTTP 503", permanent=False, now=now) == GAVE_UP
    assert ledger.claim(cid, DAY, due_at=T0, now=now + timedelta(days=1)) is None


def test_permanent_failure_and_skip_and_release(store: Store) -> None:
    cid = channel_id(store)
    ledger = Ledger(store, "a")
    claim = ledger.claim(cid, DAY, due_at=T0, now=T0)
    assert claim is not None
    assert ledger.failed(claim, "channel_not_found", permanent=True, now=T0) == GAVE_UP
    assert ledger.claim(cid, DAY, due_at=T0, now=T0 + timedelta(days=1)) is None

    later = DAY + timedelta(days=1)
    assert ledger.skip(cid, later, due_at=T0, reason="missed")
    assert not ledger.skip(cid, later, due_at=T0, reason="missed")
    assert ledger.status(cid, later) == SKIPPED
    assert ledger.claim(cid, later, due_at=T0, now=T0) is None

    third = DAY + timedelta(days=2)
    claim = ledger.claim(cid, third, due_at=T0, now=T0)
    assert claim is not None
    ledger.release(claim, T0)
    assert Ledger(store, "b").claim(cid, third, due_at=T0, now=T0) is not None


def test_a_claim_released_before_posting_gives_its_attempt_back(store: Store) -> None:
    cid = channel_id(store)
    ledger = Ledger(store, "a", max_attempts=3)
    now = T0
    # Database blips while preparing the digest, more than there are attempts: none counts.
    for _ in range(5):
        claim = ledger.claim(cid, DAY, due_at=T0, now=now)
        assert claim is not None and claim.attempt == 1
        ledger.release(claim, now)
        now += timedelta(minutes=1)
    first = ledger.claim(cid, DAY, due_at=T0, now=now)
    assert first is not None and first.attempt == 1
    # Once posting started the attempt counts: the next one must resume, not post again.
    ledger.release(first, now, posting_started=True)
    second = ledger.claim(cid, DAY, due_at=T0, now=now)
    assert second is not None and second.attempt == 2 and second.nonce == first.nonce
    ledger.sent(second, ["m1"], now)
    assert ledger.status(cid, DAY) == SENT


def test_a_stale_release_leaves_the_takeover_alone(store: Store) -> None:
    cid = channel_id(store)
    slow = Ledger(store, "slow", lease_seconds=300)
    stale = slow.claim(cid, DAY, due_at=T0, now=T0)
    assert stale is not None
    other = Ledger(store, "other", lease_seconds=300)
    taken = other.claim(cid, DAY, due_at=T0, now=T0 + timedelta(seconds=301))
    assert taken is not None and taken.attempt == 2
    slow.release(stale, T0 + timedelta(seconds=302))
    # Still the other's, leased and with both attempts counted.
    third = Ledger(store, "third")
    assert third.claim(cid, DAY, due_at=T0, now=T0 + timedelta(seconds=303)) is None
    other.release(taken, T0 + timedelta(seconds=304))
    again = other.claim(cid, DAY, due_at=T0, now=T0 + timedelta(seconds=305))
    assert again is not None and again.attempt == 2


@pytest.mark.parametrize(
    ("plan", "kept"),
    [
        (
            {"day": DAY.isoformat(), "sections": [], SHOWN: {"2611.10001": {"upvotes": 3}}},
            {"day": DAY.isoformat(), "sections": []},
        ),
        (None, None),  # stored as JSON null, which PostgreSQL's jsonb "-" refuses
    ],
)
def test_an_abandoned_last_attempt_is_given_up_once_and_logged(
    store: Store,
    caplog: pytest.LogCaptureFixture,
    plan: dict[str, object] | None,
    kept: dict[str, object] | None,
) -> None:
    cid = channel_id(store)
    ledger = Ledger(store, "a", lease_seconds=300, max_attempts=2)
    first = ledger.claim(cid, DAY, due_at=T0, now=T0)
    assert first is not None  # crashed
    ledger.save_plan(first, plan)  # type: ignore[arg-type]
    last = ledger.claim(cid, DAY, due_at=T0, now=T0 + timedelta(minutes=6))
    assert last is not None and last.attempt == 2  # crashed too
    assert ledger.claim(cid, DAY, due_at=T0, now=T0 + timedelta(minutes=10)) is None
    assert ledger.status(cid, DAY) == CLAIMED  # its lease has not run out yet
    with caplog.at_level(logging.WARNING):
        assert ledger.claim(cid, DAY, due_at=T0, now=T0 + timedelta(minutes=12)) is None
        assert ledger.claim(cid, DAY, due_at=T0, now=T0 + timedelta(minutes=13)) is None
    assert ledger.status(cid, DAY) == GAVE_UP
    assert sum("gave up the digest" in r.message for r in caplog.records) == 1
    assert stored_plan(store, cid) == kept  # settled: less the papers as shown
    # Its owner, were it only slow, can no longer post it.
    assert not ledger.renew(last, T0 + timedelta(minutes=14))


def test_the_parts_a_delivery_posted_outlast_its_claim(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """What a webhook delivery posted is read back by the process that takes it over; a
    database failure while recording a part is logged and does not stop the delivery."""
    cid = channel_id(store)
    crashed = Ledger(store, "crashed", lease_seconds=60)
    claim = crashed.claim(cid, DAY, due_at=T0, now=T0)
    assert claim is not None
    crashed.save_plan(claim, {"day": DAY.isoformat(), "sections": []})
    journal = ClaimJournal(crashed, claim)
    asyncio.run(journal.record({0: "m1"}))
    asyncio.run(journal.record({0: "m1", 1: ""}))
    taken = Ledger(store, "restarted").claim(cid, DAY, due_at=T0, now=T0 + timedelta(minutes=2))
    assert taken is not None and taken.attempt == 2
    assert taken.plan is not None and taken.plan["sections"] == []
    assert ClaimJournal(crashed, taken).posted() == {0: "m1", 1: ""}
    # Anything else in the plan's place is no part posted.
    taken.plan = {"posted": {"x": "m", "2": 3, "3": "ok"}}
    assert ClaimJournal(crashed, taken).posted() == {3: "ok"}

    def down(*args: object, **kwargs: object) -> None:
        raise OperationalError("UPDATE deliveries", {}, Exception("connection refused"))

    monkeypatch.setattr(crashed, "_settle", down)  # the database, down
    with caplog.at_level(logging.WARNING):
        asyncio.run(journal.record({0: "m1", 1: "", 2: "m3"}))
    assert journal.posted() == {0: "m1", 1: "", 2: "m3"}
    assert "could not record a posted part" in caplog.text


def test_what_a_digest_showed_is_kept_until_it_is_settled(store: Store) -> None:
    """The papers as a digest showed them are for its retries only, and most of its plan: a
    failed attempt keeps them, every settled outcome (sent, empty, given up) drops them."""
    shown = {"2611.10001": {"title": "Sparse Routing", "upvotes": 88}}
    plan = {"day": DAY.isoformat(), "sections": [{"ids": ["2611.10001"]}], SHOWN: shown}
    slim = {k: v for k, v in plan.items() if k != SHOWN}
    ledger = Ledger(store, "a", max_attempts=2)

    def planned(name: str) -> tuple[int, Claim]:
        cid = channel_id(store, f"console:{name}")
        claim = ledger.claim(cid, DAY, due_at=T0, now=T0)
        assert claim is not None
        ledger.save_plan(claim, plan)
        return cid, claim

    cid, claim = planned("retried")
    assert ledger.failed(claim, "HTTP 503", permanent=False, now=T0) == FAILED
    assert stored_plan(store, cid) == plan  # the retry needs them
    again = ledger.claim(cid, DAY, due_at=T0, now=T0 + timedelta(minutes=2))
    assert again is not None and again.plan == plan
    assert ledger.failed(again, "HTTP 503", permanent=False, now=T0) == GAVE_UP  # the last
    assert stored_plan(store, cid) == slim
    cid, claim = planned("sent")
    ledger.sent(claim, ["m1"], T0)
    assert stored_plan(store, cid) == slim
    cid, claim = planned("empty")
    ledger.empty(claim)
    assert stored_plan(store, cid) == slim
    cid, claim = planned("gone")
    assert ledger.failed(claim, "HTTP 404", permanent=True, now=T0) == GAVE_UP
    assert stored_plan(store, cid) == slim
