"""``python -m bench``: the performance suite. Prints a table and writes the figures as JSON.

    python -m bench                 # everything at full size (several minutes)
    python -m bench --quick         # small sizes, well under a minute: CI runs this
    python -m bench --only search,startup

PostgreSQL figures need a server: ``--postgres-url`` or ``PAPERS_BOT_TEST_POSTGRES_URL`` (the
benchmark works in a schema of its own and drops it). No figure is asserted on; the command fails
only when a benchmark itself fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine

from bench import fanout, process
from bench.ingest import (
    bare_insert,
    day_files,
    day_payloads,
    ingest_days,
    ingest_files,
    open_app,
    text_analysis_rate,
)
from bench.report import Figure, load, percentile, table, write_json
from bench.search import command_latencies, naive_latencies, warm_up
from bench.synth import generate, other_topics, search_topics
from bot.db import make_engine, normalize_url

SECTIONS = ("search", "ingest", "fanout", "latency", "memory", "startup")
ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "bot" / "data" / "sample"


@dataclass(frozen=True)
class Sizes:
    papers: tuple[int, ...]  # search databases; the largest is also ingested and run
    topics: int
    naive_topics: dict[int, int]  # papers -> how many topics the naive scan runs
    channels: int
    fanout_rounds: int
    commands: int
    concurrency: int
    startup_runs: int


FULL = Sizes((10_000, 100_000), 200, {10_000: 50, 100_000: 20}, 5000, 4, 500, 50, 7)
QUICK = Sizes((2_000,), 50, {2_000: 50}, 1000, 2, 100, 50, 3)


def _label(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 else str(n)


@contextlib.contextmanager
def postgres_schema(url: str | None) -> Iterator[str | None]:
    """A URL on a new, empty schema of ``url`` (dropped afterwards); None without a server."""
    if not url:
        yield None
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        normalize_url(url), isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except Exception as e:
        print(f"bench: PostgreSQL not reachable ({type(e).__name__}); skipping it", file=sys.stderr)
        admin.dispose()
        yield None
        return
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


class Suite:
    def __init__(self, sizes: Sizes, only: set[str], folder: Path, pg_url: str | None) -> None:
        self.sizes, self.only, self.folder, self.pg_url = sizes, only, folder, pg_url
        self.figures: list[Figure] = []
        self.extra: dict[str, Any] = {}
        self.big_sqlite: str | None = None  # the largest SQLite database, for the processes
        self.day_data: dict[int, tuple[list[bytes], list[Path]]] = {}

    def add(self, *figures: Figure) -> None:
        for f in figures:
            self.figures.append(f)
            print(table([f]).splitlines()[-1], flush=True)

    # -- search and ingest ----------------------------------------------------------------

    def databases(self) -> None:
        s = self.sizes
        biggest = max(s.papers)
        started = time.perf_counter()
        items = generate(biggest)
        self.extra["generate_seconds"] = {str(biggest): round(time.perf_counter() - started, 2)}
        # The harness's millions of objects out of the collector's sight: a full collection
        # walking them would land in some search's time, which the bot would never pay.
        gc.collect()
        gc.freeze()
        try:
            self._databases(items, biggest)
        finally:
            gc.unfreeze()

    def _databases(self, items: list[Any], biggest: int) -> None:
        s = self.sizes
        topics = search_topics(s.topics)
        for n in s.papers:
            db = f"sqlite:///{self.folder}/papers-{n}.db"
            self._database("SQLite", db, items[-n:], n, n == biggest, topics)
            if n == biggest:
                self.big_sqlite = db
        for n in s.papers:
            with postgres_schema(self.pg_url) as pg:
                if pg is None:
                    break
                self._database("PostgreSQL", pg, items[-n:], n, n == biggest, topics)

    def _files(self, items: list[Any], n: int) -> tuple[list[bytes], list[Path]]:
        """The last ``n`` papers as API bodies and as saved day files (made once per size)."""
        if n not in self.day_data:
            payloads = day_payloads(items)
            self.day_data[n] = (payloads, day_files(self.folder / f"days-{n}", payloads))
        return self.day_data[n]

    def _database(
        self, backend: str, url: str, items: list[Any], n: int, biggest: bool, topics: list[str]
    ) -> None:
        label = f"{_label(n)}, {backend}"
        payloads, paths = self._files(items, n)
        with open_app(url) as app:
            seconds, count = ingest_files(app, paths)
            first = count / seconds
            seconds, count = ingest_files(app, paths)
            again = count / seconds
            if count != n or app.store.count_papers() != n:
                raise RuntimeError(f"ingest {label}: {app.store.count_papers()} of {n} papers")
            with app.store.engine.begin() as conn:
                if backend == "PostgreSQL":
                    # Statistics, as autovacuum keeps them; the planner is lost without any.
                    conn.exec_driver_sql("ANALYZE papers")
                else:
                    # The write-ahead log folded back, as when a loading process exits.
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            if biggest and "ingest" in self.only:
                self._ingest_figures(backend, label, payloads, paths, first, again)
            self.extra.setdefault("ingest", {})[label] = {"first": first, "again": again}
            if biggest and "ingest" in self.only and backend == "PostgreSQL":
                rate = text_analysis_rate(app.store.engine)
                self.add(
                    Figure("ingest", f"the server computing the search vectors alone ({label})",
                           rate, "papers/s", better="higher",
                           note="one core; a ceiling for any first load that keeps this search"),
                )  # fmt: skip
                self.extra["ingest"][label]["text_analysis"] = rate
            if "search" not in self.only:
                return
            vocabulary = warm_up(app)
            # A bot that has been answering for a while: other topics first (none of the
            # measured ones), which warms the per-word caches (inflections, stems) as traffic
            # would. Those first answers after start are reported too ("cold").
            cold, _ = command_latencies(app, other_topics(topics, self.sizes.topics // 2))
            ours, cpu = command_latencies(app, topics)
            naive_n = self.sizes.naive_topics.get(n, len(topics))
            naive = naive_latencies(app.store.engine, topics[:naive_n])
        target = 20.0 if (n >= 100_000 and backend == "SQLite") else None
        scan = f"naive LIKE scan, {naive_n} topics"
        self.add(
            Figure("search", f"search p50 ({label})", percentile(ours, 50), "ms",
                   percentile(naive, 50), scan),
            Figure("search", f"search p99 ({label})", percentile(ours, 99), "ms",
                   percentile(naive, 99), scan, target),
            Figure("search", f"search p99, first {len(cold)} after start ({label})",
                   percentile(cold, 99), "ms", percentile(naive, 99), scan),
        )  # fmt: skip
        self.extra.setdefault("search", {})[label] = {
            "topics": len(topics),
            "first_search_seconds": round(vocabulary, 3),
            "max_ms": max(ours),
            "mean_ms": statistics.fmean(ours),
            # CPU time of the handling thread: what the wall times would be on an idle machine
            # (SQLite works in that thread; PostgreSQL's share runs in the server, not counted).
            "cpu_p50_ms": percentile(cpu, 50),
            "cpu_p99_ms": percentile(cpu, 99),
            "cold_topics": len(cold),
            "cold_p50_ms": percentile(cold, 50),
            "cold_p99_ms": percentile(cold, 99),
            "naive_topics": naive_n,
        }

    def _ingest_figures(
        self,
        backend: str,
        label: str,
        payloads: list[bytes],
        paths: list[Path],
        first: float,
        again: float,
    ) -> None:
        """The baseline, and a day a transaction (the fetch's path), each in a database of its
        own: on SQLite a dropped table's pages would stay in the file searched next."""

        @contextlib.contextmanager
        def scratch(name: str) -> Iterator[str]:
            if backend == "SQLite":
                yield f"sqlite:///{self.folder}/{name}.db"
            else:
                with postgres_schema(self.pg_url) as pg:
                    assert pg is not None
                    yield pg

        with scratch("bare") as url:
            engine = make_engine(url)
            try:
                seconds, count = bare_insert(engine, paths)
            finally:
                engine.dispose()
        bare = count / seconds
        with scratch("days") as url, open_app(url) as app:
            seconds, count = ingest_days(app, payloads)
        days = count / seconds
        what = "read, parse + bare executemany"
        self.add(
            Figure("ingest", f"ingest files, first load ({label})", first, "papers/s", bare, what,
                   5000, "higher"),
            Figure("ingest", f"ingest files, again ({label})", again, "papers/s", bare, what,
                   5000, "higher"),
            Figure("ingest", f"ingest a day a transaction, first load ({label})", days,
                   "papers/s", bare, what, better="higher"),
        )  # fmt: skip
        self.extra.setdefault("ingest_days", {})[label] = days

    # -- fan-out --------------------------------------------------------------------------

    def fanout(self) -> None:
        s = self.sizes
        r = asyncio.run(fanout.run(self.folder, s.channels, s.fanout_rounds))
        n = s.channels
        self.add(
            Figure("fanout", f"fan-out to {n:,} channels: digests/s", n / r["bot_seconds"],
                   "digests/s", n / r["bare_seconds"], "bare AsyncWebClient", better="higher"),
            Figure("fanout", "fan-out: bot time ÷ bare client time",
                   r["bot_seconds"] / r["bare_seconds"], "×", 1.0, "bare AsyncWebClient", 1.3),
        )  # fmt: skip
        self.extra["fanout"] = r

    # -- processes --------------------------------------------------------------------------

    def _small_sqlite(self) -> str:
        """A SQLite database with the bundled sample papers (84)."""
        url = f"sqlite:///{self.folder}/samples.db"
        if not (self.folder / "samples.db").exists():
            with open_app(url) as app:
                app.ingest_files(sorted(SAMPLES.glob("*.json")))
        return url

    def _big_sqlite(self) -> str:
        if self.big_sqlite is None:
            n = max(self.sizes.papers)
            url = f"sqlite:///{self.folder}/papers-{n}.db"
            with open_app(url) as app:
                ingest_files(app, day_files(self.folder / "days", day_payloads(generate(n))))
            self.big_sqlite = url
        return self.big_sqlite

    def running(self) -> None:
        s = self.sizes
        big = self._big_sqlite()
        n = _label(max(s.papers))
        empty = f"sqlite:///{self.folder}/empty.db"
        with open_app(empty):  # migrated beforehand, like the other: start-up alike
            pass
        with process.fake_slack() as fake:
            if "memory" in self.only:
                with process.RunningBot(self.folder, empty, fake) as bot:
                    base_rss = process.idle_rss(bot)
            with process.RunningBot(self.folder, big, fake) as bot:
                rss = process.idle_rss(bot)
                if "memory" in self.only:
                    self.add(
                        Figure("memory", f"RSS of idle papers-bot run ({n} papers)", rss, "MB",
                               base_rss, "same, empty database", 200),
                    )  # fmt: skip
                if "latency" not in self.only:
                    return
                topics = search_topics(s.topics, seed=3)
                # A bot that has been up answers with its vocabulary loaded: one command first.
                asyncio.run(process.command_latency(bot, topics[:1], 1, 1))
                r = asyncio.run(process.command_latency(bot, topics, s.commands, s.concurrency))
                after = process.rss_mb(bot.pid)
        c = s.concurrency
        base = f"GET /healthz, concurrency {c}"
        self.add(
            Figure("latency", f"/papers ack p50 ({n} papers, concurrency {c})",
                   percentile(r["ack_ms"], 50), "ms", percentile(r["healthz_ms"], 50), base),
            Figure("latency", f"/papers ack p99 ({n} papers, concurrency {c})",
                   percentile(r["ack_ms"], 99), "ms", percentile(r["healthz_ms"], 99), base, 100),
        )  # fmt: skip
        self.extra["latency"] = {
            "commands": s.commands,
            "concurrency": c,
            "answer_p50_ms": percentile(r["answer_ms"], 50),
            "answer_p99_ms": percentile(r["answer_ms"], 99),
            "rss_after_commands_mb": after,
        }

    def startup(self) -> None:
        runs = self.sizes.startup_runs
        small = self._small_sqlite()
        median, bare, every = process.startup(small, self.folder, "diffusion models", runs)
        self.add(
            Figure("startup", f"papers-bot search, cold process (84 papers, median of {runs})",
                   median, "s", bare, "python -c pass", 1.0),
        )  # fmt: skip
        self.extra["startup"] = {"runs": every}
        if self.big_sqlite is not None:
            median, bare, every = process.startup(self.big_sqlite, self.folder, "diffusion", runs)
            n = _label(max(self.sizes.papers))
            self.add(
                Figure("startup", f"papers-bot search, cold process ({n} papers, median of "
                       f"{runs})", median, "s", bare, "python -c pass"),
            )  # fmt: skip
            self.extra["startup_big"] = {"runs": every}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI")
    parser.add_argument("--only", help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("PAPERS_BOT_TEST_POSTGRES_URL"),
        help="PostgreSQL server for the PostgreSQL figures (default $PAPERS_BOT_TEST_POSTGRES_URL)",
    )
    args = parser.parse_args(argv)
    only = set(SECTIONS) if not args.only else {s.strip() for s in args.only.split(",")}
    if only - set(SECTIONS):
        parser.error(f"unknown sections: {', '.join(sorted(only - set(SECTIONS)))}")
    sizes = QUICK if args.quick else FULL
    out = args.json or Path(__file__).parent / (
        "results-quick.json" if args.quick else "results.json"
    )
    folder = Path(tempfile.mkdtemp(prefix="papers-bench-"))
    suite = Suite(sizes, only, folder, args.postgres_url)
    started = time.perf_counter()
    load_before = load()
    print(f"bench: {'quick' if args.quick else 'full'} run, load {load_before}", flush=True)
    steps: list[tuple[set[str], Callable[[], None]]] = [
        ({"search", "ingest"}, suite.databases),
        ({"fanout"}, suite.fanout),
        ({"latency", "memory"}, suite.running),
        ({"startup"}, suite.startup),
    ]
    failed = []
    try:
        for sections, step in steps:
            if sections & only:
                try:
                    step()
                except Exception:
                    traceback.print_exc()
                    failed.append(step.__name__)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    meta = {
        "mode": "quick" if args.quick else "full",
        "seconds": round(time.perf_counter() - started, 1),
        "load_before": load_before,
        "load_after": load(),
        "postgres": bool(args.postgres_url),
        "failed": failed,
        "extra": suite.extra,
    }
    write_json(out, suite.figures, meta)
    print()
    print(table(suite.figures))
    print(f"\n{len(suite.figures)} figures in {meta['seconds']} s, load {load_before} -> "
          f"{meta['load_after']}; written to {out}")  # fmt: skip
    if failed:
        print(f"bench: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
