"""The delivery ledger: who sends which channel's digest for which day, exactly once.

A due digest is *claimed* by inserting the row that is unique per (channel, digest date); the
one process whose insert wins posts it and marks it sent. A claim left by a crashed process is
taken over once its lease runs out, with the same nonce, so adapters can recognise (and not
repeat) what the crashed process already posted. Both steps are single atomic statements, so
any number of replicas sharing one PostgreSQL (or one SQLite file) agree on who sends what.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, case, cast, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from bot.db import DeliveryRow, utcnow
from bot.delivery import SHOWN
from bot.store import Store

log = logging.getLogger(__name__)

CLAIMED = "claimed"
SENT = "sent"
EMPTY = "empty"
FAILED = "failed"  # will be retried after lease_until
GAVE_UP = "gave_up"  # permanent failure or too many attempts
SKIPPED = "skipped"  # missed by more than the grace period
DONE = frozenset({SENT, EMPTY, GAVE_UP, SKIPPED})


@dataclass(slots=True)
class Claim:
    """This process's right to send one digest."""

    id: int
    channel_id: int
    digest_date: date
    nonce: str
    attempt: int
    due_at: datetime | None
    plan: dict[str, Any] | None


@dataclass(slots=True)
class ClaimJournal:
    """The parts a claimed delivery has posted, kept in its row (the plan's ``posted``): the
    `bot.delivery.Journal` of scheduled digests. A retry, in this process or another, reads
    them back with the claim, so a retry posts only what an earlier attempt had not."""

    ledger: Ledger
    claim: Claim

    def posted(self) -> dict[int, str]:
        found = (self.claim.plan or {}).get("posted")
        parts: dict[int, str] = {}
        if isinstance(found, dict):
            for index, message_id in found.items():
                if isinstance(index, str) and index.isdigit() and isinstance(message_id, str):
                    parts[int(index)] = message_id
        return parts

    async def record(self, posted: dict[int, str]) -> None:
        plan = {**(self.claim.plan or {}), "posted": {str(i): m for i, m in sorted(posted.items())}}
        try:
            await asyncio.to_thread(self.ledger.save_plan, self.claim, plan)
        except SQLAlchemyError as e:
            # The part is posted either way (and this attempt knows it: the claim holds the
            # plan); a retry after a crash might post it again.
            log.warning(
                "could not record a posted part of delivery %s: %s", self.claim.id, type(e).__name__
            )


def _lease_ran_out(channel_id: int, digest_date: date, now: datetime) -> tuple[Any, ...]:
    """The conditions on the day's delivery row of a channel for an attempt that is over
    without success: claimed or failed, its lease run out."""
    return (
        DeliveryRow.channel_id == channel_id,
        DeliveryRow.digest_date == digest_date,
        DeliveryRow.status.in_((CLAIMED, FAILED)),
        DeliveryRow.lease_until < now,
    )


class Ledger:
    """Claims, takeovers and outcomes of digest deliveries."""

    def __init__(
        self, store: Store, owner: str, *, lease_seconds: int = 300, max_attempts: int = 6
    ) -> None:
        self.store = store
        self.owner = owner
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts

    def _insert(self) -> Any:
        return postgresql.insert if self.store.dialect == "postgresql" else sqlite.insert

    def claim(
        self, channel_id: int, digest_date: date, *, due_at: datetime | None, now: datetime
    ) -> Claim | None:
        """Claim the digest, or take over an expired claim; None when another process has it
        or it is already settled."""
        nonce = uuid.uuid4().hex[:16]
        with self.store.session() as s:
            stmt = (
                self._insert()(DeliveryRow)
                .values(
                    channel_id=channel_id,
                    digest_date=digest_date,
                    status=CLAIMED,
                    claimed_by=self.owner,
                    lease_until=now + self.lease,
                    attempts=1,
                    nonce=nonce,
                    message_ids=[],
                    due_at=due_at,
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["channel_id", "digest_date"])
                .returning(DeliveryRow.id)
            )
            # RETURNING, not rowcount: psycopg reports -1 for INSERT ... ON CONFLICT.
            inserted = s.execute(stmt).first() is not None
        if not inserted:
            with self.store.session() as s:
                taken = s.execute(
                    update(DeliveryRow)
                    .where(
                        *_lease_ran_out(channel_id, digest_date, now),
                        DeliveryRow.attempts < self.max_attempts,
                    )
                    .values(
                        status=CLAIMED,
                        claimed_by=self.owner,
                        lease_until=now + self.lease,
                        attempts=DeliveryRow.attempts + 1,
                        updated_at=now,
                    )
                    .returning(DeliveryRow.id)
                    .execution_options(synchronize_session=False)
                ).first()
            if taken is None:
                self._give_up_abandoned(channel_id, digest_date, now)
                return None
        with self.store.session() as s:
            row = s.scalar(
                select(DeliveryRow).where(
                    DeliveryRow.channel_id == channel_id, DeliveryRow.digest_date == digest_date
                )
            )
            assert row is not None and row.nonce is not None
            if not inserted:
                log.info(
                    "took over the digest for channel %s on %s (attempt %d)",
                    channel_id,
                    digest_date,
                    row.attempts,
                )
            return Claim(
                row.id, channel_id, digest_date, row.nonce, row.attempts, row.due_at, row.plan
            )

    def _give_up_abandoned(self, channel_id: int, digest_date: date, now: datetime) -> None:
        """A claim whose lease ran out on its last allowed attempt (its process crashed, or a
        database outage outlasted its posting) can be neither taken over nor settled by anyone:
        record it as given up, as `failed` does after the last attempt, rather than leave it
        claimed for ever. Its owner, if still alive, can no longer renew it, so never posts."""
        with self.store.session() as s:
            row = s.execute(
                update(DeliveryRow)
                .where(
                    *_lease_ran_out(channel_id, digest_date, now),
                    DeliveryRow.attempts >= self.max_attempts,
                )
                .values(
                    status=GAVE_UP,
                    error="the last attempt did not finish before its lease ran out",
                    lease_until=None,
                    updated_at=now,
                    plan=self._plan_less_shown(),
                )
                .returning(DeliveryRow.attempts, DeliveryRow.claimed_by)
                .execution_options(synchronize_session=False)
            ).first()
        if row is not None:
            log.warning(
                "gave up the digest for channel %s on %s: attempt %d (by %s) did not finish "
                "and no attempts are left",
                channel_id,
                digest_date,
                row.attempts,
                row.claimed_by,
            )

    def _settle(self, claim: Claim, **values: Any) -> bool:
        with self.store.session() as s:
            done = s.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id == claim.id, DeliveryRow.claimed_by == self.owner)
                .values(updated_at=utcnow(), **values)
                .returning(DeliveryRow.id)
                .execution_options(synchronize_session=False)
            ).first()
        return done is not None

    def save_plan(self, claim: Claim, plan: dict[str, Any]) -> None:
        claim.plan = plan
        self._settle(claim, plan=plan)

    @staticmethod
    def _settled_plan(claim: Claim) -> dict[str, Any]:
        """The plan to keep once ``claim``'s delivery is settled: less what only a retry reads
        (the papers as shown), which is most of its size. Nothing to change otherwise."""
        if not claim.plan or SHOWN not in claim.plan:
            return {}
        return {"plan": {k: v for k, v in claim.plan.items() if k != SHOWN}}

    def _plan_less_shown(self) -> Any:
        """`_settled_plan` in SQL, for a row settled without its claim at hand."""
        if self.store.dialect == "postgresql":
            # jsonb's "-" fails on a scalar (a plan stored as JSON null): only objects lose it.
            doc = cast(DeliveryRow.plan, postgresql.JSONB)
            return case(
                (func.jsonb_typeof(doc) == "object", cast(doc.op("-")(SHOWN), JSON)),
                else_=DeliveryRow.plan,
            )
        return func.json_remove(DeliveryRow.plan, f"$.{SHOWN}")  # a no-op on anything else

    def sent(self, claim: Claim, message_ids: list[str], now: datetime) -> None:
        self._settle(
            claim,
            status=SENT,
            message_ids=message_ids,
            sent_at=now,
            lease_until=None,
            **self._settled_plan(claim),
        )

    def empty(self, claim: Claim) -> None:
        self._settle(claim, status=EMPTY, lease_until=None, **self._settled_plan(claim))

    def failed(self, claim: Claim, error: str, *, permanent: bool, now: datetime) -> str:
        """Record a failed attempt; returns the new status (retried later, or given up)."""
        if permanent or claim.attempt >= self.max_attempts:
            self._settle(
                claim,
                status=GAVE_UP,
                error=error[:2000],
                lease_until=None,
                **self._settled_plan(claim),
            )
            return GAVE_UP
        # Back off 1, 2, 4, 8 … minutes between attempts.
        retry_at = now + timedelta(minutes=2 ** (claim.attempt - 1))
        self._settle(claim, status=FAILED, error=error[:2000], lease_until=retry_at)
        return FAILED

    def release(self, claim: Claim, now: datetime, *, posting_started: bool = False) -> None:
        """Give a claim back (shutting down, or the database failing, before sending) so
        another process takes it now.

        A claim released before posting started posted nothing, so its attempt is given back:
        database outages do not use up the attempts a digest has to be posted, and the next
        claim resumes (checks what was already posted) only when an earlier one may have
        posted. Once posting started the attempt counts, for that very reason. Only this claim
        is released: not one taken over meanwhile (by another process, with more attempts)."""
        values: dict[str, Any] = {"lease_until": now - timedelta(seconds=1)}
        if not posting_started:
            values["attempts"] = DeliveryRow.attempts - 1
        with self.store.session() as s:
            s.execute(
                update(DeliveryRow)
                .where(*self._still_held(claim))
                .values(updated_at=utcnow(), **values)
                .execution_options(synchronize_session=False)
            )

    def _still_held(self, claim: Claim) -> tuple[Any, ...]:
        """The conditions that ``claim`` is still this process's: not taken over meanwhile."""
        return (
            DeliveryRow.id == claim.id,
            DeliveryRow.claimed_by == self.owner,
            DeliveryRow.status == CLAIMED,
            DeliveryRow.attempts == claim.attempt,
        )

    def renew(self, claim: Claim, now: datetime) -> bool:
        """Extend this process's lease right before posting; False when the claim was taken
        over meanwhile (the lease ran out while this process was slow), so it must not post."""
        with self.store.session() as s:
            done = s.execute(
                update(DeliveryRow)
                .where(*self._still_held(claim))
                .values(lease_until=now + self.lease, updated_at=utcnow())
                .returning(DeliveryRow.id)
                .execution_options(synchronize_session=False)
            ).first()
        return done is not None

    def skip(self, channel_id: int, digest_date: date, *, due_at: datetime, reason: str) -> bool:
        """Record a digest that will not be sent (missed beyond the grace period)."""
        with self.store.session() as s:
            stmt = (
                self._insert()(DeliveryRow)
                .values(
                    channel_id=channel_id,
                    digest_date=digest_date,
                    status=SKIPPED,
                    attempts=0,
                    message_ids=[],
                    error=reason,
                    due_at=due_at,
                )
                .on_conflict_do_nothing(index_elements=["channel_id", "digest_date"])
                .returning(DeliveryRow.id)
            )
            return s.execute(stmt).first() is not None

    def status(self, channel_id: int, digest_date: date) -> str | None:
        with self.store.session() as s:
            return s.scalar(
                select(DeliveryRow.status).where(
                    DeliveryRow.channel_id == channel_id, DeliveryRow.digest_date == digest_date
                )
            )

    def statuses(self, digest_date: date) -> dict[int, str]:
        """Status by channel id for every delivery of one digest date."""
        with self.store.session() as s:
            rows = s.execute(
                select(DeliveryRow.channel_id, DeliveryRow.status).where(
                    DeliveryRow.digest_date == digest_date
                )
            )
            return {cid: st for cid, st in rows}

    def open_rows(self, since: date) -> dict[tuple[int, date], str]:
        """(channel id, digest date) → status for deliveries since ``since``."""
        with self.store.session() as s:
            rows = s.execute(
                select(DeliveryRow.channel_id, DeliveryRow.digest_date, DeliveryRow.status).where(
                    DeliveryRow.digest_date >= since
                )
            )
            return {(cid, d): st for cid, d, st in rows}
