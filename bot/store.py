"""The bot's data: papers, channels and their topics, and what was posted where.

Synchronous SQLAlchemy; async callers run it in a worker thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property, lru_cache
from typing import Any

from sqlalchemy import (
    Column,
    Dialect,
    Engine,
    MetaData,
    Row,
    Table,
    Text,
    bindparam,
    case,
    cast,
    delete,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.db import (
    DEFERRED_CHECKPOINTS,
    ChannelRow,
    PaperRow,
    PostedPaperRow,
    SearchVocabularyRow,
    SubscriptionRow,
    make_engine,
    upgrade,
    utcnow,
)
from bot.models import Channel, Paper, Schedule, Target, clean_text
from bot.words import distinct_words, text_key

log = logging.getLogger(__name__)

MAX_TOPIC_LENGTH = 200
# Rows per INSERT statement; keeps PostgreSQL's 65535-parameter limit far away.
_UPSERT_BATCH = 500
# PostgreSQL's SQLSTATE for a duplicate key.
_UNIQUE_VIOLATION = "23505"
# Counts that change from one fetch to the next; everything else is first-seen wins unless missing.
_COUNTS = ("upvotes", "num_comments", "github_stars")
# Counts a new paper stores as 0 when its item does not give them (the stars stay unknown).
_COUNTS_OF_NEW = ("upvotes", "num_comments")
_FILL_IF_MISSING = (
    "ai_summary",
    "github_repo",
    "project_page",
    "organization",
    "thumbnail",
    "submitted_by",
    "published_at",
    "featured_date",
    "withdrawn_at",
)


def topic_key(topic: str) -> str:
    """The form two topics are compared in: folded case and white space."""
    return clean_text(topic).casefold()


@dataclass(slots=True)
class UpsertStats:
    inserted: int = 0
    updated: int = 0

    @property
    def total(self) -> int:
        return self.inserted + self.updated


@dataclass(slots=True)
class ChannelDefaults:
    time: str = "09:00"
    timezone: str = "UTC"


# SQLite's full-text indexes (migration 0002) and the columns they index. Rows a load inserts are
# added to them in bulk by `Store.upsert_papers` (migration 0005); triggers handle the rest.
_SQLITE_SEARCH_INDEXES = ("papers_fts", "papers_words")
_PAPERS = PaperRow.metadata.tables[PaperRow.__tablename__]
_SEARCH_COLUMN_NAMES = ("title", "keywords_text", "ai_summary", "summary", "authors_text")
_SEARCH_COLUMNS = ", ".join(_SEARCH_COLUMN_NAMES)

# The values a known paper's row is merged with (see Store._paper_merge).
_MERGED_COLUMNS = (
    "arxiv_id",
    *_COUNTS,
    *_FILL_IF_MISSING,
    "ai_keywords",
    "keywords_text",
    "title",
    "title_key",
    "summary",
    "authors",
    "authors_text",
    "raw",
)


def _dialect_insert(dialect: str) -> Any:
    """The dialect's INSERT (for ON CONFLICT), imported on first use: PostgreSQL's dialect
    package costs a SQLite command's start-up some 25 ms for nothing."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


@dataclass(frozen=True, slots=True)
class _DriverStatement:
    """A statement compiled once, run by the driver itself over rows whose values were already
    converted to what the driver takes (`_SQLiteUpsert.process`)."""

    sql: str
    slots: tuple[tuple[str | None, Any], ...]  # per parameter: (its row key, None) or (None, value)

    @classmethod
    def compile(
        cls,
        statement: Any,
        dialect: Dialect,
        keys: dict[str, str],
        columns: list[str] | None = None,
    ) -> _DriverStatement:
        """``statement`` for ``dialect`` (a positional paramstyle) writing ``columns``, its
        parameters named as in ``keys`` filled from the row keys they map to; any other is a
        constant of the statement."""
        compiled = statement.compile(dialect=dialect, column_keys=columns)
        slots: list[tuple[str | None, Any]] = []
        for name in compiled.positiontup or ():
            if name in keys:
                slots.append((keys[name], None))
            else:
                bind = compiled.binds[name]
                process = bind.type.dialect_impl(dialect).bind_processor(dialect)
                value = bind.effective_value
                slots.append((None, process(value) if process else value))
        return cls(compiled.string, tuple(slots))

    def parameters(self, row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(row[key] if key is not None else value for key, value in self.slots)


@dataclass(frozen=True, slots=True)
class _SQLiteUpsert:
    """A load's INSERT and UPDATE of papers on SQLite, and the conversion SQLAlchemy would give
    each value (JSON, dates and times), done apart: a loader converts a batch while SQLite is
    still writing the previous one."""

    insert: _DriverStatement
    merge: _DriverStatement
    processors: Mapping[str, Callable[[Any], Any]]

    @classmethod
    def build(cls, insert: Any, merge: Any, dialect: Dialect) -> _SQLiteUpsert:
        columns = [c.name for c in _PAPERS.columns if c.name != "pk"]  # pk: SQLite assigns it
        return cls(
            _DriverStatement.compile(insert, dialect, {c: c for c in columns}, columns),
            _DriverStatement.compile(merge, dialect, {f"new_{c}": c for c in _MERGED_COLUMNS}),
            _bind_processors(_PAPERS, dialect),
        )

    def process(self, row: dict[str, Any]) -> dict[str, Any]:
        processors = self.processors
        return {k: (p(v) if (p := processors.get(k)) else v) for k, v in row.items()}


def _bind_processors(table: Table, dialect: Dialect) -> dict[str, Callable[[Any], Any]]:
    """What SQLAlchemy itself runs on each value of ``table``'s columns for ``dialect`` (the
    dialect's own types: JSON, aware times made naive UTC), by column, where it runs anything."""
    return {
        c.name: process
        for c in table.columns
        if (process := c.type.dialect_impl(dialect).bind_processor(dialect))
    }


@dataclass(frozen=True, slots=True)
class _PostgresCopy:
    """New papers on PostgreSQL written with ``COPY ... FROM STDIN``: the server reads plain
    rows instead of parsing and running a many-row INSERT with its ON CONFLICT check, and the
    driver writes them in C. A fifth less CPU a paper, the client's and the server's together,
    than the INSERT (318–338 µs against 376–445 µs, 20k papers); a first load is bound by it.

    The rows go in PostgreSQL's binary format: the server takes each value by its length
    instead of scanning every byte of some 7 kB a paper for delimiters and escapes, and a
    tsvector's words without parsing a literal (the same rows copied in by one backend: 29 µs
    a paper less of its CPU, the client's the same). And each row's vocabulary words are
    listed as it is sent, not all of a batch's before the copy starts, which kept its backend
    waiting a tenth of the time. Together, first loads of 30k papers 8% faster side by side."""

    sql: str
    columns: tuple[tuple[str, Callable[[Any], Any] | None], ...]  # (name, what makes its value)
    types: tuple[str, ...]  # per column, the type psycopg sends its values as

    @classmethod
    def build(cls, dialect: Dialect) -> _PostgresCopy:
        table = _pg_papers()
        processors = _bind_processors(table, dialect)
        # Every column but pk (from its sequence) and, last, search_words (`write`).
        columns = [c for c in table.columns if c.name != "pk" and c.name != "search_words"]
        types = [
            # "VARCHAR(64)" -> "varchar"; "TIMESTAMP WITHOUT TIME ZONE" as it is.
            *(c.type.compile(dialect=dialect).split("(")[0].lower() for c in columns),
            "bytea",  # search_words: the tsvector's own binary form, which the column reads
        ]
        names = ", ".join([*(c.name for c in columns), "search_words"])
        return cls(
            f"COPY {table.name} ({names}) FROM STDIN (FORMAT BINARY)",
            tuple((c.name, processors.get(c.name)) for c in columns),
            tuple(types),
        )

    def write(self, connection: Any, rows: Iterable[dict[str, Any]]) -> None:
        """Write ``rows`` and their vocabulary words over ``connection``'s DB-API connection,
        in its transaction. Each row's words are listed as it is sent, while the server reads
        the rows before it."""
        columns = self.columns
        cursor = connection.connection.dbapi_connection.cursor()
        with cursor, cursor.copy(self.sql) as copy:
            copy.set_types(self.types)
            for r in rows:
                values = [p(r[c]) if p else r[c] for c, p in columns]
                values.append(_tsvector_binary(_vocabulary_words(r)))
                copy.write_row(values)


def paper_to_row(paper: Paper) -> dict[str, Any]:
    keywords = [k for k in paper.ai_keywords if k]
    return {
        "arxiv_id": paper.id,
        "title": paper.title,
        "title_key": text_key(paper.title),
        "summary": paper.summary,
        "authors": list(paper.authors),
        "authors_text": " ".join(paper.authors),
        "keywords_text": " ; ".join(keywords),
        "published_at": paper.published_at,
        "featured_date": paper.featured_date,
        "upvotes": paper.upvotes,
        "num_comments": paper.num_comments,
        "ai_summary": paper.ai_summary,
        "ai_keywords": keywords,
        "github_repo": paper.github_repo,
        "github_stars": paper.github_stars,
        "project_page": paper.project_page,
        "organization": paper.organization,
        "thumbnail": paper.thumbnail,
        "submitted_by": paper.submitted_by,
        "withdrawn_at": paper.withdrawn_at,
        "raw": paper.raw,
    }


def _counted(row: dict[str, Any]) -> dict[str, Any]:
    """A new paper's row: the counts its item did not give (None) as 0."""
    if all(row[c] is not None for c in _COUNTS_OF_NEW):
        return row
    return row | {c: 0 for c in _COUNTS_OF_NEW if row[c] is None}


def _vocabulary_words(row: dict[str, Any]) -> list[str]:
    """The distinct words of a paper row's searchable texts (its ``search_words``)."""
    return list(distinct_words(row[c] for c in _SEARCH_COLUMN_NAMES))


def _tsvector_literal(words: list[str]) -> str:
    """``words`` as a tsvector literal (words are letters and digits only, so quoting each
    needs no escapes)."""
    return "'" + "' '".join(words) + "'" if words else ""


def _tsvector_binary(words: list[str]) -> bytes:
    """``words`` in a tsvector's binary format: their count, then each word ended by a zero
    byte and followed by its number of positions (none: two zero bytes). The server sorts
    them."""
    if not words:
        return bytes(4)
    return len(words).to_bytes(4, "big") + ("\0\0\0".join(words) + "\0\0\0").encode()


@lru_cache(maxsize=1)
def _pg_papers() -> Table:
    """``papers`` as PostgreSQL has it: with ``search_words``, which SQLite has not."""
    from sqlalchemy.dialects.postgresql import TSVECTOR

    table = _PAPERS
    return Table(
        table.name,
        MetaData(),
        *(c._copy() for c in table.columns),
        Column("search_words", TSVECTOR),
    )


def row_to_paper(row: PaperRow | Row[Any]) -> Paper:
    """A paper from its ORM object or a row of all the table's columns."""
    return Paper(
        id=row.arxiv_id,
        title=row.title,
        summary=row.summary,
        authors=list(row.authors or []),
        published_at=row.published_at,
        featured_date=row.featured_date,
        upvotes=row.upvotes,
        num_comments=row.num_comments,
        ai_summary=row.ai_summary,
        ai_keywords=list(row.ai_keywords or []),
        github_repo=row.github_repo,
        github_stars=row.github_stars,
        project_page=row.project_page,
        organization=row.organization,
        thumbnail=row.thumbnail,
        submitted_by=row.submitted_by,
        withdrawn_at=row.withdrawn_at,
        raw=row.raw,
    )


def _row_to_channel(row: ChannelRow, topics: list[str]) -> Channel:
    return Channel(
        target=Target.parse(row.target),
        schedule=Schedule(
            time=row.post_time,
            timezone=row.timezone,
            weekdays_only=row.weekdays_only,
            paused=row.paused,
        ),
        topics=topics,
        id=row.id,
        schedule_changed_at=row.schedule_changed_at,
    )


def _apply_schedule(
    row: ChannelRow,
    *,
    time: str | None = None,
    timezone: str | None = None,
    weekdays_only: bool | None = None,
    paused: bool | None = None,
) -> None:
    """Set the parts of ``row``'s schedule given; when that changes it, note when (a digest
    due before the change is not owed; one due before a mere config or topic change is)."""
    before = (row.post_time, row.timezone, row.weekdays_only, row.paused)
    if time is not None:
        row.post_time = time
    if timezone is not None:
        row.timezone = timezone
    if weekdays_only is not None:
        row.weekdays_only = weekdays_only
    if paused is not None:
        row.paused = paused
    if (row.post_time, row.timezone, row.weekdays_only, row.paused) != before:
        row.schedule_changed_at = utcnow()


class Store:
    """All reads and writes of the bot's database."""

    def __init__(self, engine: Engine | str, *, migrate: bool = True) -> None:
        self.engine = make_engine(engine) if isinstance(engine, str) else engine
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            upgrade(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()

    # -- papers -----------------------------------------------------------------------------

    def upsert_papers(self, papers: Iterable[Paper]) -> UpsertStats:
        """Insert new papers; for known ones update the counts and fill fields that were missing.

        Loading the same papers again never duplicates and changes nothing but counts."""
        return self.begin_upsert(papers)()

    def begin_upsert(
        self,
        papers: Iterable[Paper],
        *,
        after: Callable[[], object] | None = None,
        before_commit: Callable[[], object] | None = None,
        checkpoint: bool = True,
    ) -> Callable[[], UpsertStats]:
        """`upsert_papers` in steps, for a loader that does other work meanwhile. The papers'
        values are converted for the database first; then ``after`` is called (a loader waits
        there for its previous batch to be committed); then the part that needs the
        interpreter is done here, and the function returned does the rest and commits, in this
        thread or one other, while this one goes on (on PostgreSQL the rest is the server's
        work; on SQLite, filling the full-text indexes and committing, which run in SQLite's C
        code without the interpreter lock). Call it once: the transaction ends with it (or,
        never called, is rolled back when it is garbage-collected). ``before_commit`` is
        called once the rows are written, before the commit (a loader writing two batches at
        once waits there for the earlier one); if it raises, the transaction is rolled back.

        ``checkpoint=False``: on SQLite the commit does not copy the write-ahead log into the
        database file (and wait for the disk) when the log has grown; the loader has
        `checkpoint` do that in another thread."""
        steps = self._upsert(papers, after, before_commit, checkpoint)
        try:
            next(steps)
        except StopIteration as done:
            stats: UpsertStats = done.value
            return lambda: stats

        def finish() -> UpsertStats:
            try:
                next(steps)
            except StopIteration as done:
                result: UpsertStats = done.value
                return result
            raise RuntimeError("an upsert pauses only once")

        return finish

    def _upsert(
        self,
        papers: Iterable[Paper],
        after: Callable[[], object] | None,
        before_commit: Callable[[], object] | None,
        checkpoint: bool,
    ) -> Generator[None, None, UpsertStats]:
        """The upsert, pausing (``yield``) once where `begin_upsert` hands it over."""
        rows: dict[str, dict[str, Any]] = {}
        for paper in papers:
            rows[paper.id] = paper_to_row(paper)  # the last copy of an id in one batch wins
        items = list(rows.values())
        now = utcnow()
        for r in items:
            r["first_seen_at"] = now
        sqlite = self.dialect == "sqlite"
        if sqlite and items:
            # SQLAlchemy's share of writing the rows, done ahead: the driver takes them as they are.
            items = [self._sqlite_upsert.process(r) for r in items]
        if after is not None:
            after()
        stats = UpsertStats()
        if not items:
            return stats
        if not sqlite:
            yield  # the rest is mostly waiting for the server
        with self.session() as s:
            # SQLite gives new rows keys above every existing one, and this transaction's
            # snapshot is the one it writes on (a write after another's commit fails instead).
            last_pk = (s.scalar(select(func.max(PaperRow.pk))) or 0) if sqlite else 0
            conn = s.connection()
            if sqlite and not checkpoint:
                conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
                conn.info[DEFERRED_CHECKPOINTS] = True  # set back when the pool takes it back
            for start in range(0, len(items), _UPSERT_BATCH):
                batch = items[start : start + _UPSERT_BATCH]
                ids = [r["arxiv_id"] for r in batch]
                known = set(s.scalars(select(PaperRow.arxiv_id).where(PaperRow.arxiv_id.in_(ids))))
                fresh = [r for r in batch if r["arxiv_id"] not in known]
                merged = [r for r in batch if r["arxiv_id"] in known]
                if sqlite:
                    upsert = self._sqlite_upsert
                    fresh = [_counted(r) for r in fresh]
                    for statement, chosen in ((upsert.insert, fresh), (upsert.merge, merged)):
                        if chosen:
                            conn.exec_driver_sql(
                                statement.sql, [statement.parameters(r) for r in chosen]
                            )
                else:
                    if fresh:
                        self._insert_new(s, fresh)
                    if merged:
                        self._merge_known(s, merged)
                stats.updated += len(known)
                stats.inserted += len(batch) - len(known)
            if sqlite:
                yield  # the rest is SQLite's own work
            if before_commit is not None:
                before_commit()
            # Searchers (here and in other processes) know by this that papers changed.
            s.execute(
                update(SearchVocabularyRow)
                .where(SearchVocabularyRow.id == 1)
                .values(generation=SearchVocabularyRow.generation + 1)
            )
            if sqlite and stats.inserted:
                for index in _SQLITE_SEARCH_INDEXES:
                    s.execute(
                        text(
                            f"INSERT INTO {index}(rowid, {_SEARCH_COLUMNS})"
                            f" SELECT pk, {_SEARCH_COLUMNS} FROM papers WHERE pk > :last_pk"
                        ),
                        {"last_pk": last_pk},
                    )
        return stats

    def _insert_new(self, s: Session, rows: list[dict[str, Any]]) -> None:
        """PostgreSQL: insert papers that were not in the table when looked up in this
        transaction. Copied in, unless another writer has inserted one of them since: then
        the copy is undone, those papers are merged as known ones and the rest inserted (one a
        third writer inserts meanwhile is merged as known too)."""
        try:
            with s.begin_nested():
                self._postgres_copy.write(s.connection(), [_counted(r) for r in rows])
        except Exception as e:
            if getattr(e, "sqlstate", None) != _UNIQUE_VIOLATION:
                raise
            log.debug("a paper being loaded was inserted meanwhile by another writer")
            ids = [r["arxiv_id"] for r in rows]
            known = set(s.scalars(select(PaperRow.arxiv_id).where(PaperRow.arxiv_id.in_(ids))))
            # Merged as known, a count the item did not give keeps the other writer's.
            self._merge_known(s, [r for r in rows if r["arxiv_id"] in known])
            rest = [r for r in rows if r["arxiv_id"] not in known]
            if not rest:
                return
            written = set(
                s.scalars(
                    self._paper_insert_new,
                    [
                        _counted(r) | {"search_words": _tsvector_literal(_vocabulary_words(r))}
                        for r in rest
                    ],
                )
            )
            # One a third writer inserted since that lookup is merged as known too, not given
            # the 0 of a count its item did not give.
            self._merge_known(s, [r for r in rest if r["arxiv_id"] not in written])

    def _merge_known(self, s: Session, rows: list[dict[str, Any]]) -> None:
        """PostgreSQL: merge ``rows`` into the stored papers of their ids."""
        if rows:
            names = _MERGED_COLUMNS
            s.execute(self._paper_update, [{f"new_{k}": r[k] for k in names} for r in rows])

    @cached_property
    def _postgres_copy(self) -> _PostgresCopy:
        return _PostgresCopy.build(self.engine.dialect)

    @staticmethod
    def _paper_merge(table: Table, new: Callable[[str], Any]) -> tuple[dict[str, Any], Any]:
        """What a known paper's row of ``table`` becomes given its new values
        (``new(column)``), and the condition that this changes anything."""
        col = table.c
        # A payload without a count (None) says nothing about it, unlike a 0.
        changes: dict[str, Any] = {c: func.coalesce(new(c), col[c]) for c in _COUNTS}
        for c in _FILL_IF_MISSING:
            changes[c] = func.coalesce(col[c], new(c))
        # Keywords and the texts that feed search come with the newest payload when it has them
        # (older payloads carry no keywords at all).
        changes["ai_keywords"] = case(
            (new("keywords_text") != "", new("ai_keywords")), else_=col["ai_keywords"]
        )
        changes["keywords_text"] = func.coalesce(
            func.nullif(new("keywords_text"), ""), col["keywords_text"]
        )
        changes["title"] = new("title")
        changes["title_key"] = new("title_key")
        changes["summary"] = func.coalesce(func.nullif(new("summary"), ""), col["summary"])
        # So do the authors: a payload without them (null, or none that parse) keeps the known.
        changes["authors"] = case((new("authors_text") != "", new("authors")), else_=col["authors"])
        changes["authors_text"] = func.coalesce(
            func.nullif(new("authors_text"), ""), col["authors_text"]
        )
        changes["raw"] = func.coalesce(new("raw"), col["raw"])
        # JSON has no equality operator on PostgreSQL: compared as text.
        json_columns = {"authors", "ai_keywords", "raw"}
        changed = or_(
            *(
                cast(col[c], Text).is_distinct_from(cast(v, Text))
                if c in json_columns
                else col[c].is_distinct_from(v)
                for c, v in changes.items()
            )
        )
        return changes, changed

    # Both statements are built once (building one costs more than running it for a day's
    # papers) and run over many parameter sets, so SQLAlchemy compiles each once.

    @cached_property
    def _paper_insert(self) -> Any:
        """SQLite: INSERT for papers not seen before; one another process inserted meanwhile
        is merged as a known one."""
        stmt = _dialect_insert(self.dialect)(_PAPERS)
        changes, changed = self._paper_merge(_PAPERS, lambda c: stmt.excluded[c])
        return stmt.on_conflict_do_update(index_elements=["arxiv_id"], set_=changes, where=changed)

    @cached_property
    def _paper_insert_new(self) -> Any:
        """PostgreSQL: INSERT for papers not seen before, with their vocabulary words
        (migration 0007), answering the ids it wrote: one another writer inserted meanwhile is
        left for `_merge_known`, which keeps a count the new item does not give."""
        table = _pg_papers()
        stmt = _dialect_insert(self.dialect)(table).on_conflict_do_nothing(
            index_elements=["arxiv_id"]
        )
        return stmt.returning(table.c.arxiv_id)

    @cached_property
    def _paper_update(self) -> Any:
        """UPDATE for known papers, writing only those that change: a paper loaded again as it
        was costs no new row version and, on PostgreSQL, no recomputed search vectors (which
        an INSERT ... ON CONFLICT computes even when it then updates nothing)."""
        table = _PAPERS
        col = table.c
        changes, changed = self._paper_merge(
            table, lambda c: bindparam(f"new_{c}", type_=col[c].type)
        )
        where = (col.arxiv_id == bindparam("new_arxiv_id"), changed)
        return update(table).where(*where).values(changes)

    @cached_property
    def _sqlite_upsert(self) -> _SQLiteUpsert:
        return _SQLiteUpsert.build(self._paper_insert, self._paper_update, self.engine.dialect)

    def get_paper(self, arxiv_id: str) -> Paper | None:
        with self.session() as s:
            row = s.scalar(select(PaperRow).where(PaperRow.arxiv_id == arxiv_id))
            return row_to_paper(row) if row else None

    def get_papers(self, arxiv_ids: Sequence[str]) -> list[Paper]:
        """Papers by id, in the order asked (unknown ids are left out)."""
        if not arxiv_ids:
            return []
        with self.session() as s:
            rows = s.scalars(select(PaperRow).where(PaperRow.arxiv_id.in_(list(arxiv_ids))))
            by_id = {r.arxiv_id: row_to_paper(r) for r in rows}
        return [by_id[i] for i in arxiv_ids if i in by_id]

    def papers_on(self, day: date, limit: int | None = None) -> list[Paper]:
        """Papers featured on ``day``, most upvoted first (withdrawn ones left out)."""
        with self.session() as s:
            q = (
                select(PaperRow)
                .where(PaperRow.featured_date == day, PaperRow.withdrawn_at.is_(None))
                .order_by(PaperRow.upvotes.desc(), PaperRow.published_at.desc(), PaperRow.pk)
            )
            if limit is not None:
                q = q.limit(limit)
            return [row_to_paper(r) for r in s.scalars(q)]

    def papers_between(self, first: date, last: date) -> list[Paper]:
        """Papers featured from ``first`` to ``last`` inclusive, most upvoted first."""
        with self.session() as s:
            q = (
                select(PaperRow)
                .where(
                    PaperRow.featured_date >= first,
                    PaperRow.featured_date <= last,
                    PaperRow.withdrawn_at.is_(None),
                )
                .order_by(PaperRow.upvotes.desc(), PaperRow.featured_date.desc(), PaperRow.pk)
            )
            return [row_to_paper(r) for r in s.scalars(q)]

    def latest_featured_date(self, on_or_before: date | None = None) -> date | None:
        with self.session() as s:
            q = select(func.max(PaperRow.featured_date))
            if on_or_before is not None:
                q = q.where(PaperRow.featured_date <= on_or_before)
            return s.scalar(q)

    def checkpoint(self) -> None:
        """SQLite: copy the write-ahead log's committed pages into the database file, as a
        commit does once the log has grown, without waiting for or blocking any writer
        (``PASSIVE``); for a loader whose commits leave it to this (``checkpoint=False``).
        Nothing to do on PostgreSQL, or for a database in memory (it has no log, and its one
        connection is shared by every thread)."""
        if self.dialect != "sqlite" or self.engine.url.database in (None, "", ":memory:"):
            return
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except SQLAlchemyError as e:
            # Nothing is lost: the log keeps the pages, and the next commit copies them.
            log.warning("could not copy SQLite's write-ahead log into the database: %s", e)

    def count_papers(self) -> int:
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(PaperRow)) or 0

    # -- channels ---------------------------------------------------------------------------

    def _channel_row(self, s: Session, target: Target) -> ChannelRow | None:
        return s.scalar(select(ChannelRow).where(ChannelRow.target == str(target)))

    def _topics(self, s: Session, channel_id: int) -> list[str]:
        q = (
            select(SubscriptionRow.topic)
            .where(SubscriptionRow.channel_id == channel_id)
            .order_by(SubscriptionRow.created_at, SubscriptionRow.id)
        )
        return list(s.scalars(q))

    def get_channel(self, target: Target) -> Channel | None:
        with self.session() as s:
            row = self._channel_row(s, target)
            return _row_to_channel(row, self._topics(s, row.id)) if row else None

    def ensure_channel(self, target: Target, defaults: ChannelDefaults | None = None) -> Channel:
        """The channel for ``target``, created with the default schedule when new."""
        defaults = defaults or ChannelDefaults()
        with self.session() as s:
            row = self._channel_row(s, target)
            if row is None:
                row = ChannelRow(
                    target=str(target),
                    platform=str(target.platform),
                    post_time=defaults.time,
                    timezone=defaults.timezone,
                    weekdays_only=False,
                    paused=False,
                )
                s.add(row)
                s.flush()
            return _row_to_channel(row, self._topics(s, row.id))

    def forget_channel(self, target: Target) -> bool:
        """Delete ``target``'s channel, with its topics and records (a channel created by a
        send that failed); True when there was one."""
        with self.session() as s:
            row = self._channel_row(s, target)
            if row is None:
                return False
            s.delete(row)
            return True

    def list_channels(self, *, include_paused: bool = True) -> list[Channel]:
        with self.session() as s:
            q = select(ChannelRow).order_by(ChannelRow.target)
            if not include_paused:
                q = q.where(ChannelRow.paused.is_(False))
            rows = list(s.scalars(q))
            subs: dict[int, list[str]] = {}
            sq = select(SubscriptionRow.channel_id, SubscriptionRow.topic).order_by(
                SubscriptionRow.created_at, SubscriptionRow.id
            )
            for channel_id, topic in s.execute(sq):
                subs.setdefault(channel_id, []).append(topic)
            return [_row_to_channel(r, subs.get(r.id, [])) for r in rows]

    def set_schedule(
        self,
        target: Target,
        *,
        time: str | None = None,
        timezone: str | None = None,
        weekdays_only: bool | None = None,
        paused: bool | None = None,
        pause_reason: str | None = None,
        defaults: ChannelDefaults | None = None,
    ) -> Channel:
        """Change any part of a channel's schedule (the channel is created when new)."""
        self.ensure_channel(target, defaults)
        with self.session() as s:
            row = self._channel_row(s, target)
            assert row is not None
            _apply_schedule(
                row, time=time, timezone=timezone, weekdays_only=weekdays_only, paused=paused
            )
            if paused is not None:
                row.pause_reason = pause_reason if paused else None
            s.flush()
            return _row_to_channel(row, self._topics(s, row.id))

    def pause_reason(self, target: Target) -> str | None:
        with self.session() as s:
            row = self._channel_row(s, target)
            return row.pause_reason if row else None

    def subscribe(
        self, target: Target, topic: str, defaults: ChannelDefaults | None = None
    ) -> bool:
        """Add ``topic`` to the channel; False when it was already there."""
        topic = clean_text(topic)[:MAX_TOPIC_LENGTH]
        channel = self.ensure_channel(target, defaults)
        assert channel.id is not None
        key = topic_key(topic)
        with self.session() as s:
            exists = s.scalar(
                select(SubscriptionRow.id).where(
                    SubscriptionRow.channel_id == channel.id, SubscriptionRow.topic_key == key
                )
            )
            if exists:
                return False
            s.add(SubscriptionRow(channel_id=channel.id, topic=topic, topic_key=key))
            return True

    def unsubscribe(self, target: Target, topic: str) -> bool:
        """Remove ``topic`` from the channel; False when it was not there."""
        with self.session() as s:
            row = self._channel_row(s, target)
            if row is None:
                return False
            result = s.execute(
                delete(SubscriptionRow).where(
                    SubscriptionRow.channel_id == row.id,
                    SubscriptionRow.topic_key == topic_key(topic),
                )
            )
            return bool(getattr(result, "rowcount", 0))

    def seed_channels(self, declared: Iterable[tuple[Target, dict[str, Any]]]) -> int:
        """Create or update channels declared in the config.

        ``declared`` pairs a target with its settings (``time``, ``timezone``,
        ``weekdays_only``, ``paused``, ``topics``). A channel is (re)applied only when its
        declaration changed since the last seed, so changes made by commands survive restarts
        while a config edit still takes effect. Returns how many channels were applied."""
        applied = 0
        for target, spec in declared:
            snapshot = dict(spec)
            with self.session() as s:
                row = self._channel_row(s, target)
                if row is not None and row.config_snapshot == snapshot:
                    continue
                if row is None:
                    row = ChannelRow(target=str(target), platform=str(target.platform))
                    s.add(row)
                previous = row.config_snapshot or {}
                _apply_schedule(
                    row,
                    time=spec["time"],
                    timezone=spec["timezone"],
                    weekdays_only=bool(spec.get("weekdays_only", False)),
                    paused=bool(spec.get("paused", False)),
                )
                row.pause_reason = None
                row.config_snapshot = snapshot
                s.flush()
                have = {topic_key(t) for t in self._topics(s, row.id)}
                dropped = {topic_key(t) for t in previous.get("topics", [])} - {
                    topic_key(t) for t in spec.get("topics", [])
                }
                if dropped:
                    s.execute(
                        delete(SubscriptionRow).where(
                            SubscriptionRow.channel_id == row.id,
                            SubscriptionRow.topic_key.in_(dropped),
                        )
                    )
                for topic in spec.get("topics", []):
                    key = topic_key(topic)
                    if key not in have:
                        have.add(key)
                        s.add(
                            SubscriptionRow(
                                channel_id=row.id, topic=clean_text(topic), topic_key=key
                            )
                        )
                applied += 1
        return applied

    # -- what was posted where --------------------------------------------------------------

    def posted_ids(
        self, channel_id: int, window_days: int, now: datetime | None = None
    ) -> set[str]:
        """Ids of papers posted to the channel within the last ``window_days`` days."""
        if window_days <= 0:
            return set()
        since = (now or utcnow()) - timedelta(days=window_days)
        with self.session() as s:
            q = select(PostedPaperRow.arxiv_id).where(
                PostedPaperRow.channel_id == channel_id, PostedPaperRow.posted_at >= since
            )
            return set(s.scalars(q))

    def mark_posted(
        self, channel_id: int, arxiv_ids: Iterable[str], at: datetime | None = None
    ) -> None:
        """Record papers as posted to the channel (a repost after the window moves the date)."""
        ids = list(dict.fromkeys(arxiv_ids))
        if not ids:
            return
        at = at or utcnow()
        insert = _dialect_insert(self.dialect)
        with self.session() as s:
            stmt = insert(PostedPaperRow).values(
                [{"channel_id": channel_id, "arxiv_id": i, "posted_at": at} for i in ids]
            )
            s.execute(
                stmt.on_conflict_do_update(
                    index_elements=["channel_id", "arxiv_id"], set_={"posted_at": at}
                )
            )

    def clear_channel_pause(self, target: Target) -> None:
        with self.session() as s:
            row = self._channel_row(s, target)
            if row is not None:
                _apply_schedule(row, paused=False)
                row.pause_reason = None
