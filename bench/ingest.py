"""Ingest: saved ``/api/daily_papers`` JSON, parsed and upserted by the bot.

Two of the bot's paths, both reading the JSON the API sends (one list per featured day):

- files (``papers-bot ingest FILE...``): `App.ingest_files` over one saved file per day, which
  writes up to `bot.app.INGEST_FILES_BATCH` papers a transaction;
- days (what ``papers-bot fetch`` and the scheduled fetch do): ``jsonio.loads`` →
  ``parse_items`` → `App.ingest`, one day a transaction.

Both feed the full-text indexes as they go. The baseline is the floor any loader pays: the same
files read and parsed the same way, then a bare DB-API ``executemany`` of the same rows into a
table with no indexes, committed as often as the files path commits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from bench.report import Stopwatch
from bench.synth import by_day
from bot import jsonio
from bot.app import INGEST_FILES_BATCH, App, read_daily_papers_file
from bot.config import Settings
from bot.sources.huggingface import parse_items
from bot.store import paper_to_row


def day_payloads(items: list[dict[str, Any]]) -> list[bytes]:
    """``items`` as the JSON bodies the API would send, one per featured day."""
    return [json.dumps(batch, ensure_ascii=False).encode() for _, batch in by_day(items)]


def day_files(folder: Path, payloads: Sequence[bytes]) -> list[Path]:
    """``payloads`` saved in ``folder``, one file per day, as ``papers-bot ingest`` reads them."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, raw in enumerate(payloads):
        path = folder / f"daily-papers-{i:05d}.json"
        path.write_bytes(raw)
        paths.append(path)
    return paths


@contextmanager
def open_app(url: str) -> Iterator[App]:
    """An App on ``url`` (migrated), closed afterwards."""
    app = App(Settings(database_url=url))
    try:
        yield app
    finally:
        app.close()


def ingest_files(app: App, paths: Sequence[Path]) -> tuple[float, int]:
    """Load saved files as ``papers-bot ingest`` does: (seconds, papers read)."""
    with Stopwatch() as sw:
        report = app.ingest_files(paths)
    return sw.seconds, report.inserted + report.updated


def ingest_days(app: App, payloads: Sequence[bytes]) -> tuple[float, int]:
    """Load API bodies one day a transaction, as a fetch does: (seconds, papers)."""
    count = 0
    with Stopwatch() as sw:
        for raw in payloads:
            papers, skipped = parse_items(jsonio.loads(raw))
            app.ingest(papers, skipped)
            count += len(papers)
    return sw.seconds, count


_BARE_COLUMNS = ("arxiv_id", "title", "summary", "authors", "ai_summary", "raw")


def bare_insert(engine: Engine, paths: Sequence[Path]) -> tuple[float, int]:
    """The baseline: the same files read and parsed, then plain ``executemany`` INSERTs into a
    table without indexes, committed every `INGEST_FILES_BATCH` papers (the table is dropped
    afterwards)."""
    cols = ", ".join(_BARE_COLUMNS)
    marks = ", ".join(["%s" if engine.dialect.name == "postgresql" else "?"] * len(_BARE_COLUMNS))
    insert = f"INSERT INTO bench_bare ({cols}) VALUES ({marks})"
    raw_conn = engine.raw_connection()
    try:
        cur = raw_conn.cursor()
        cur.execute("DROP TABLE IF EXISTS bench_bare")
        cur.execute(f"CREATE TABLE bench_bare ({', '.join(c + ' TEXT' for c in _BARE_COLUMNS)})")
        raw_conn.commit()
        count = 0
        rows: list[tuple[Any, ...]] = []
        with Stopwatch() as sw:
            for path in paths:
                papers, _ = read_daily_papers_file(path)
                for p in papers:
                    r = paper_to_row(p)
                    rows.append(
                        (
                            r["arxiv_id"],
                            r["title"],
                            r["summary"],
                            jsonio.dumps(r["authors"]),
                            r["ai_summary"],
                            jsonio.dumps(r["raw"]),
                        )
                    )
                if len(rows) >= INGEST_FILES_BATCH or path == paths[-1]:
                    cur.executemany(insert, rows)
                    raw_conn.commit()
                    count += len(rows)
                    rows = []
        cur.execute("DROP TABLE bench_bare")
        raw_conn.commit()
    finally:
        raw_conn.close()
    return sw.seconds, count


def text_analysis_rate(engine: Engine) -> float:
    """Papers per second PostgreSQL computes the stored ``search_vector`` of the papers in
    ``engine`` at, on one core: the column's own expression (read from the catalog) over every
    row, nothing stored. No first load that keeps this search can go faster on one backend."""
    with engine.connect() as conn:
        expression = conn.exec_driver_sql(
            "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a"
            " ON a.attrelid = d.adrelid AND a.attnum = d.adnum"
            " WHERE d.adrelid = 'papers'::regclass AND a.attname = 'search_vector'"
        ).scalar_one()
        conn.exec_driver_sql("SET max_parallel_workers_per_gather = 0")
        with Stopwatch() as sw:
            count = conn.exec_driver_sql(
                f"SELECT count(*) FROM papers WHERE length({expression}) >= 0"
            ).scalar_one()
        conn.rollback()
    return int(count) / sw.seconds
