"""Database schema (SQLAlchemy 2 typed models), engines and migrations.

SQLite is the embedded default (WAL, foreign keys on); PostgreSQL works the same. Users write the
plain URL forms (``sqlite:///papers.db``, ``postgresql://user@host/db``); we pick the driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import StaticPool

from bot import jsonio

MIGRATIONS = Path(__file__).parent / "migrations"


class DatabaseURLError(ValueError):
    """A database URL the bot cannot use."""


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class PaperRow(Base):
    __tablename__ = "papers"
    # Every query by date reads this index (the day's papers by upvotes, a range, the latest day).
    __table_args__ = (Index("ix_papers_featured_upvotes", "featured_date", "upvotes"),)

    # An integer key so SQLite FTS5 can address rows by rowid; the arXiv id is the natural key.
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    arxiv_id: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(Text)
    # The title's words alone (bot.words.text_key), for finding a paper by its exact title
    # (indexed, migration 0009).
    title_key: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="")
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Denormalised text for full-text search (keywords and author names as plain text).
    authors_text: Mapped[str] = mapped_column(Text, default="")
    keywords_text: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[datetime | None]
    featured_date: Mapped[date | None] = mapped_column(Date)
    upvotes: Mapped[int] = mapped_column(Integer, default=0)
    num_comments: Mapped[int] = mapped_column(Integer, default=0)
    ai_summary: Mapped[str | None] = mapped_column(Text)
    ai_keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    github_repo: Mapped[str | None] = mapped_column(Text)
    github_stars: Mapped[int | None] = mapped_column(Integer)
    project_page: Mapped[str | None] = mapped_column(Text)
    organization: Mapped[str | None] = mapped_column(Text)
    thumbnail: Mapped[str | None] = mapped_column(Text)
    submitted_by: Mapped[str | None] = mapped_column(Text)
    withdrawn_at: Mapped[datetime | None]
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelRow(Base):
    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    target: Mapped[str] = mapped_column(String(200), unique=True)
    platform: Mapped[str] = mapped_column(String(16), index=True)
    post_time: Mapped[str] = mapped_column(String(5))
    timezone: Mapped[str] = mapped_column(String(64))
    weekdays_only: Mapped[bool] = mapped_column(Boolean, default=False)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    pause_reason: Mapped[str | None] = mapped_column(Text)
    # What the config file last said about this channel; a config edit is applied when it changes.
    config_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # When the schedule itself (time, timezone, weekdays, paused) last changed: a digest due
    # before then is not owed. Not ``updated_at``, which any change bumps (a topic in the config).
    schedule_changed_at: Mapped[datetime | None] = mapped_column(default=utcnow)


class SubscriptionRow(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("channel_id", "topic_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(200))
    topic_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PostedPaperRow(Base):
    """A paper already posted to a channel, so it is not posted again within the window."""

    __tablename__ = "posted_papers"

    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True
    )
    arxiv_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    posted_at: Mapped[datetime] = mapped_column(default=utcnow)


class SearchVocabularyRow(Base):
    """One row (id 1): how many times papers were written (``generation``), and the search
    vocabulary as last read from the index, with the generation it was read at."""

    __tablename__ = "search_vocabulary"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger)
    snapshot_generation: Mapped[int | None] = mapped_column(BigInteger)
    documents: Mapped[int | None] = mapped_column(Integer)
    words: Mapped[str | None] = mapped_column(Text)  # one per line
    counts: Mapped[bytes | None] = mapped_column(LargeBinary)  # uint32 little-endian, in step


class DeliveryRow(Base):
    """The delivery ledger: one row per channel and digest date, claimed before posting."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("channel_id", "digest_date"),
        Index("ix_deliveries_status_lease", "status", "lease_until"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    digest_date: Mapped[date] = mapped_column(Date)
    # claimed -> sent | empty | failed | skipped
    status: Mapped[str] = mapped_column(String(16))
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    nonce: Mapped[str | None] = mapped_column(String(64))
    message_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The digest as built when claimed (sections and paper ids; until it is settled, also what
    # it shows of each paper), so a retry after a crash re-sends the same digest rather than a
    # rebuilt one.
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def normalize_url(url: str) -> str:
    """The plain URL forms people write, with the driver this bot ships."""
    url = url.strip()
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseURLError(
            f"{redact_url(url)!r} is not a database URL; use sqlite:///papers.db or "
            "postgresql://user:pass@host:5432/db"
        ) from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend == "sqlite":
        parsed = parsed.set(drivername="sqlite")
    else:
        raise DatabaseURLError(f"unsupported database {backend!r}; use sqlite or postgresql")
    return parsed.render_as_string(hide_password=False)


def redact_url(url: str) -> str:
    """``url`` with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


# How long a SQLite connection waits for another's write lock.
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Write-ahead log pages after which a commit copies the log into the database file (SQLite's
# default); a connection that leaves that to `Store.checkpoint` is set back to it when it
# returns to the pool.
SQLITE_AUTOCHECKPOINT_PAGES = 1000
DEFERRED_CHECKPOINTS = "papers_bot_deferred_checkpoints"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_checkin(dbapi_conn: Any, record: Any) -> None:
    if record is not None and record.info.pop(DEFERRED_CHECKPOINTS, False):
        # A closed or broken connection has no setting left to restore.
        with contextlib.suppress(sqlite3.Error):
            dbapi_conn.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT_PAGES}")


# The JSON columns (each paper's raw item is one) through orjson: the standard library's encoder
# was a fifth of a first load's time.
_JSON_CODEC: dict[str, Any] = {"json_serializer": jsonio.dumps, "json_deserializer": jsonio.loads}


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url`` (plain forms accepted), with SQLite tuned for a bot."""
    full = normalize_url(url)
    parsed = make_url(full)
    if parsed.get_backend_name() == "sqlite":
        memory = parsed.database in (None, "", ":memory:")
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
        if memory:
            kwargs["poolclass"] = StaticPool
        elif parsed.database:
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(full, echo=echo, **_JSON_CODEC, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "checkin", _sqlite_checkin)
        return engine
    # A database that stops answering must not hold a worker thread for the OS's TCP timeout.
    connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": 10}
    return create_engine(
        full,
        echo=echo,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        connect_args=connect_args,
        **_JSON_CODEC,
    )


_REVISION = re.compile(r"^revision\s*(?::[^=]*)?=\s*[\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\s*(?::[^=]*)?=\s*(.+)$", re.MULTILINE)


def head_revision() -> str | None:
    """The newest migration's revision, read from the migration files as text: Alembic itself
    takes a fifth of a second to import and load them (None when there is no single head)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        found = _REVISION.search(text)
        if found is None:
            continue
        revisions.add(found[1])
        down = _DOWN_REVISION.search(text)
        if down is not None:
            parents.update(re.findall(r"[\"']([^\"']+)[\"']", down[1]))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def at_head(engine: Engine) -> bool:
    """Whether the database is already at the newest migration."""
    head = head_revision()
    if head is None:
        return False
    try:
        with engine.connect() as conn:
            current = list(
                conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars()
            )
    except SQLAlchemyError:  # a new database: no alembic_version table yet
        return False
    return current == [head]


def upgrade(engine: Engine) -> None:
    """Apply all Alembic migrations (idempotent; safe with several replicas on PostgreSQL).
    A database already at the newest revision costs one query: every start of every command
    checks, so Alembic is only imported when there is something to do."""
    if at_head(engine):
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Replicas starting together must not race to create the same tables.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(726173)")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


# What an outage looks like through SQLAlchemy: a refused or dropped connection, a locked SQLite
# file, an exhausted pool. Bugs (IntegrityError, ProgrammingError) are not among them.
UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError, PoolTimeoutError)
RETRY_SECONDS = 60.0

T = TypeVar("T")


async def retry_unavailable(
    fn: Callable[..., T], /, *args: Any, budget: float = RETRY_SECONDS, **kwargs: Any
) -> T:
    """``fn(*args, **kwargs)`` in a worker thread, tried again (0.5, 1, 2 ... up to 10 seconds
    apart) while the database is unavailable, for at most ``budget`` seconds; then the last
    error is raised. For recording what already happened, which must not be lost."""
    deadline = time.monotonic() + budget
    wait = 0.5
    while True:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except UNAVAILABLE:
            if time.monotonic() + wait > deadline:
                raise
        await asyncio.sleep(wait)
        wait = min(wait * 2, 10.0)
