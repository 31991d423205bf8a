"""Search: ``/papers <topic>`` handled by ``CommandHandler.handle`` through the App, as a user's
command is, against a naive scan of the same papers.

The naive scan is SQL ``LIKE`` (``ILIKE`` on PostgreSQL): for each query word (stop words
dropped), whether the title or the abstract contains it; papers ranked by how many words they
contain, then upvotes; the best 5. It reads every paper on every query.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Engine, text

from bot.app import App
from bot.models import Invocation, ReplyKind, Target
from bot.search import STOPWORDS, query_words

WHO = Invocation(Target.parse("slack:T0BENCH/C0BENCH"), "U0BENCH", "bench", can_manage=True)
FAILED = "something went wrong"


def warm_up(app: App) -> float:
    """The first search after start: it loads the vocabulary. Seconds."""
    started = time.perf_counter()
    app.searcher.search("warm up the vocabulary")
    return time.perf_counter() - started


def command_latencies(app: App, topics: Sequence[str]) -> tuple[list[float], list[float]]:
    """Milliseconds ``app.commands.handle`` takes for each topic (each one once): wall time,
    and the CPU time of this thread."""
    wall, cpu = [], []
    for topic in topics:
        started, cpu_started = time.perf_counter(), time.thread_time()
        reply = app.commands.handle(topic, WHO)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - cpu_started) * 1000)
        if reply.kind is ReplyKind.ERROR and FAILED in reply.text:
            raise RuntimeError(f"/papers {topic!r} failed: {reply.text}")
    return wall, cpu


def naive_latencies(engine: Engine, topics: Sequence[str]) -> list[float]:
    """Milliseconds the naive LIKE scan takes for each topic."""
    like = "ILIKE" if engine.dialect.name == "postgresql" else "LIKE"
    out = []
    with engine.connect() as conn:
        for topic in topics:
            words = [w for w in query_words(topic) if w not in STOPWORDS] or query_words(topic)
            hits = " + ".join(
                f"(CASE WHEN title {like} :w{i} OR summary {like} :w{i} THEN 1 ELSE 0 END)"
                for i in range(len(words))
            )
            sql = text(
                f"SELECT arxiv_id, title, upvotes FROM (SELECT arxiv_id, title, upvotes, {hits}"
                " AS hits FROM papers WHERE withdrawn_at IS NULL) AS s WHERE hits > 0"
                " ORDER BY hits DESC, upvotes DESC LIMIT 5"
            )
            params = {f"w{i}": f"%{w}%" for i, w in enumerate(words)}
            started = time.perf_counter()
            conn.execute(sql, params).all()
            out.append((time.perf_counter() - started) * 1000)
    return out
