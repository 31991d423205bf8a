"""Ingest: saved ``/api/daily_papers`` JSON, parsed and upserted through ``App.ingest``.

The bot's path: ``json.loads`` → ``parse_items`` → ``App.ingest`` (``Store.upsert_papers``, which
also feeds the full-text indexes), one featured day (one API list) at a time. The baseline is the
same parse followed by a bare DB-API ``executemany`` of the same rows into a table with no
indexes: the floor any loader pays.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine

from bench.report import Stopwatch
from bench.synth import by_day
from bot.app import App
from bot.config import Settings
from bot.sources.huggingface import parse_items
from bot.store import paper_to_row


def day_payloads(items: list[dict[str, Any]]) -> list[bytes]:
    """``items`` as the JSON bodies the API would send, one per featured day."""
    return [json.dumps(batch, ensure_ascii=False).encode() for _, batch in by_day(items)]


@contextmanager
def open_app(url: str) -> Iterator[App]:
    """An App on ``url`` (migrated), closed afterwards."""
    app = App(Settings(database_url=url))
    try:
        yield app
    finally:
        app.close()


def ingest(app: App, payloads: Sequence[bytes]) -> tuple[float, int]:
    """Load ``payloads`` through the bot's path: (seconds, papers)."""
    count = 0
    with Stopwatch() as sw:
        for raw in payloads:
            papers, skipped = parse_items(json.loads(raw))
            app.ingest(papers, skipped)
            count += len(papers)
    return sw.seconds, count


_BARE_COLUMNS = ("arxiv_id", "title", "summary", "authors", "ai_summary", "raw")


def bare_insert(engine: Engine, payloads: Sequence[bytes]) -> tuple[float, int]:
    """The baseline: the same parse, then plain ``executemany`` INSERTs into a table without
    indexes, a transaction per day (the table is dropped afterwards)."""
    cols = ", ".join(_BARE_COLUMNS)
    marks = ", ".join(["%s" if engine.dialect.name == "postgresql" else "?"] * len(_BARE_COLUMNS))
    raw_conn = engine.raw_connection()
    try:
        cur = raw_conn.cursor()
        cur.execute("DROP TABLE IF EXISTS bench_bare")
        cur.execute(f"CREATE TABLE bench_bare ({', '.join(c + ' TEXT' for c in _BARE_COLUMNS)})")
        raw_conn.commit()
        count = 0
        with Stopwatch() as sw:
            for raw in payloads:
                papers, _ = parse_items(json.loads(raw))
                rows = []
                for p in papers:
                    r = paper_to_row(p)
                    rows.append(
                        (
                            r["arxiv_id"],
                            r["title"],
                            r["summary"],
                            json.dumps(r["authors"]),
                            r["ai_summary"],
                            json.dumps(r["raw"]),
                        )
                    )
                cur.executemany(f"INSERT INTO bench_bare ({cols}) VALUES ({marks})", rows)
                raw_conn.commit()
                count += len(rows)
        cur.execute("DROP TABLE bench_bare")
        raw_conn.commit()
    finally:
        raw_conn.close()
    return sw.seconds, count
