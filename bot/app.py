"""The bot's core assembled from its settings: store, search, digests and commands."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bot import jsonio
from bot.commands import CommandHandler, CommandSettings
from bot.config import ConfigError, Settings, load_settings
from bot.digest import LEXICAL_MIN_RELEVANCE, DigestBuilder, DigestOptions
from bot.metrics import Metrics
from bot.models import Channel, Paper, Target
from bot.search import Searcher
from bot.semantic import HYBRID_MIN_RELEVANCE, Semantic, SemanticUnavailable
from bot.sources.huggingface import MalformedItem, parse_items
from bot.store import ChannelDefaults, Store, UpsertStats

log = logging.getLogger(__name__)


@dataclass(slots=True)
class IngestReport:
    """What loading a batch of papers did."""

    inserted: int = 0
    updated: int = 0
    skipped: int = 0

    def add(self, stats: UpsertStats, skipped: int = 0) -> None:
        self.inserted += stats.inserted
        self.updated += stats.updated
        self.skipped += skipped


# Papers per transaction when loading many saved files (`App.ingest_files`).
INGEST_FILES_BATCH = 2000
# Batches after which such a load copies SQLite's whole write-ahead log into the database file
# before going on, so that the log starts over (some 20 MB a batch).
INGEST_LOG_RESTART_BATCHES = 4
# Batches such a load writes at once on PostgreSQL, each on a connection (a server backend) of
# its own.
INGEST_PG_WRITERS = 2
# The collector's first threshold while such a load runs: how many more containers (dicts,
# lists, objects) may be alive than at its last look before it looks again (see `_load_gc`).
INGEST_GC_THRESHOLD = 50_000
# How long a batch written beside an earlier one waits for it before giving up (rolled back).
# It waits holding its rows' locks, which the server cannot see: should another writer wait
# for those while holding a paper the earlier batch waits for, nothing else would end it.
INGEST_ORDER_WAIT_SECONDS = 300.0


_load_gc_lock = threading.Lock()
_load_gc_depth = 0
_load_gc_saved: tuple[int, ...] = ()


@contextlib.contextmanager
def _load_gc() -> Iterator[None]:
    """The garbage collector looking less often while a bulk load runs, as it was after.

    A load's papers are containers by the million (each parsed item is a tree of dicts and
    lists), and a few batches of them are alive at once. At Python's default threshold (700
    more containers alive than at its last look) the collector looked every forty-odd
    papers, walking the live ones again and again and moving them up to the older
    generations, whose collections walk everything: 10-24 µs of the client's 100-120 µs a
    paper. At `INGEST_GC_THRESHOLD` it looks when the load has that many more alive than at
    its last look, which a load that frees each batch once written seldom reaches (4-9 times
    in 100k papers, against some 2,450). Reference counting still frees everything else as
    soon as it is let go, and cyclic garbage, all it leaves to the collector, stays bounded by
    that many containers. Loads in several threads at once share the setting; the last one
    out puts the process's own back."""
    global _load_gc_depth, _load_gc_saved
    with _load_gc_lock:
        if _load_gc_depth == 0:
            _load_gc_saved = gc.get_threshold()
            first, *rest = _load_gc_saved
            gc.set_threshold(max(first, INGEST_GC_THRESHOLD), *rest)
        _load_gc_depth += 1
    try:
        yield
    finally:
        with _load_gc_lock:
            _load_gc_depth -= 1
            if _load_gc_depth == 0:
                gc.set_threshold(*_load_gc_saved)


class IngestError(ValueError):
    """A file that is not a saved ``/api/daily_papers`` list, or a load that could not go on."""


def read_daily_papers_file(path: Path) -> tuple[list[Paper], int]:
    """Papers from a saved ``/api/daily_papers`` JSON file, and how many items were skipped."""
    try:
        data = jsonio.loads(path.read_bytes())
    except FileNotFoundError:
        raise IngestError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise IngestError(f"{path}: cannot read ({e})") from None
    except json.JSONDecodeError as e:
        raise IngestError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
    try:
        return parse_items(data)
    except MalformedItem as e:
        raise IngestError(f"{path}: {e}") from None


class App:
    """Everything the bot does that no platform needs to know about."""

    def __init__(
        self,
        settings: Settings,
        store: Store | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.store = store or Store(settings.database_url)
        self.semantic = Semantic.from_config(
            self.store, enabled=settings.semantic.enabled, model=settings.semantic.model
        )
        self.searcher = Searcher(self.store, self.semantic)
        self.metrics = Metrics()
        d = settings.digest
        self.digests = DigestBuilder(
            self.store,
            self.searcher,
            DigestOptions(
                trending=d.trending,
                per_topic=d.per_topic,
                repost_window_days=d.repost_window_days,
                when_empty=d.when_empty,
                min_relevance=self.min_relevance,
            ),
        )
        self.defaults = ChannelDefaults(time=d.time, timezone=settings.timezone)
        self._config_path: Path | None = getattr(type(settings), "yaml_file", None)
        self._config_mtime = self._mtime()
        self._channel_listeners: list[Callable[[Channel], None]] = []
        self.commands = CommandHandler(
            self.store,
            self.searcher,
            self.digests,
            CommandSettings(
                default_time=d.time,
                default_timezone=settings.timezone,
                permission=settings.permissions.settings,
            ),
            clock=clock,
            on_channel_change=self._channel_changed,
            metrics=self.metrics,
        )

    def close(self) -> None:
        self.store.close()

    @property
    def min_relevance(self) -> float:
        """digest.min_relevance, by default `HYBRID_MIN_RELEVANCE` with semantic matching on
        (the fused score of a paper related to the topic in neither way is near 0), else
        `LEXICAL_MIN_RELEVANCE`."""
        configured = self.settings.digest.min_relevance
        if configured is not None:
            return configured
        return HYBRID_MIN_RELEVANCE if self.semantic is not None else LEXICAL_MIN_RELEVANCE

    # -- channels ---------------------------------------------------------------------------

    def on_channel_change(self, listener: Callable[[Channel], None]) -> None:
        """Call ``listener`` whenever a command changes a channel (the scheduler follows)."""
        self._channel_listeners.append(listener)

    def _channel_changed(self, channel: Channel) -> None:
        for listener in self._channel_listeners:
            listener(channel)

    def declared_channels(self) -> list[tuple[Target, dict[str, Any]]]:
        """Channels and webhooks the config declares, with their settings filled in."""
        out: list[tuple[Target, dict[str, Any]]] = []
        for ch in self.settings.channels:
            spec = {
                "time": ch.time or self.defaults.time,
                "timezone": ch.timezone or self.defaults.timezone,
                "weekdays_only": ch.weekdays_only,
                "paused": ch.paused,
                "topics": list(ch.topics),
            }
            out.append((Target.parse(ch.id), spec))
        for hook in self.settings.webhooks:
            spec = {
                "time": hook.time or self.defaults.time,
                "timezone": hook.timezone or self.defaults.timezone,
                "weekdays_only": hook.weekdays_only,
                "paused": hook.paused,
                "topics": list(hook.topics),
            }
            out.append((Target.parse(f"webhook:{hook.name}"), spec))
        return out

    def _mtime(self) -> float | None:
        try:
            return self._config_path.stat().st_mtime if self._config_path else None
        except OSError:
            return None

    def reload_channels(self) -> bool:
        """Re-read the config file's ``channels:`` and ``webhooks:`` when the file changed, and
        apply them. A broken edit is logged and the last good configuration is kept."""
        mtime = self._mtime()
        if self._config_path is None or mtime == self._config_mtime:
            return False
        self._config_mtime = mtime
        try:
            fresh = load_settings(self._config_path)
        except ConfigError as e:
            log.warning("config edit not applied: %s", e)
            return False
        self.settings.channels = fresh.channels
        self.settings.webhooks = fresh.webhooks
        applied = self.seed()
        log.info("config reloaded: %d channel declaration(s) applied", applied)
        return True

    def seed(self) -> int:
        """Apply the channels declared in the config (only those whose declaration changed)."""
        return self.store.seed_channels(self.declared_channels())

    def channel(self, target: Target) -> Channel:
        """The stored channel for ``target``, or a new one with the default schedule."""
        return self.store.get_channel(target) or self.store.ensure_channel(target, self.defaults)

    def local_today(self, channel: Channel) -> date:
        from zoneinfo import ZoneInfo

        return self.clock().astimezone(ZoneInfo(channel.schedule.timezone)).date()

    # -- papers -----------------------------------------------------------------------------

    def ingest(self, papers: Iterable[Paper], skipped: int = 0) -> IngestReport:
        papers = list(papers)
        report = IngestReport()
        report.add(self.store.upsert_papers(papers), skipped)
        self.searcher.invalidate()
        self.embed([p.id for p in papers])
        return report

    def ingest_files(self, paths: Iterable[Path]) -> IngestReport:
        """Load saved ``/api/daily_papers`` files; a bad file raises IngestError before any
        later file is read (earlier files stay loaded)."""
        report = IngestReport()
        ids: list[str] = []
        # Files are written together, up to INGEST_FILES_BATCH papers a transaction: a commit
        # and a full-text index segment per day's file was a third of a bulk load's time. A
        # paper already waiting goes in first, so a later file merges with it as it would alone.
        waiting: dict[str, Paper] = {}
        # Each batch is finished (the database's own work, and the commit) by a worker thread
        # while the next files are read and parsed here, so that work runs on the other core.
        # SQLite writes one batch at a time. On PostgreSQL, whose server does most of the work
        # (text analysis and the GIN index, one backend per connection), two batches are
        # written at once on two connections; a batch holding a paper of one still being
        # written waits for it, so a later file's copy of a paper is still merged last.
        in_flight = INGEST_PG_WRITERS if self.store.dialect == "postgresql" else 1
        writing: deque[tuple[Future[UpsertStats], list[str]]] = deque()
        # Their commits leave copying SQLite's write-ahead log into the database file (and
        # waiting for the disk: a fifth of a load) to a thread of its own, one copy at a time.
        copying: Future[None] | None = None
        committed = 0

        def settle() -> None:
            nonlocal copying, committed
            if not writing:
                return
            future, written = writing.popleft()
            report.add(future.result())
            ids.extend(written)
            committed += 1
            if committed % INGEST_LOG_RESTART_BATCHES == 0:
                # The whole log copied before the next batch, which then starts it over: else
                # it would grow by everything the load writes.
                if copying is not None:
                    copying.result()
                self.store.checkpoint()
            elif copying is None or copying.done():
                copying = checkpointer.submit(self.store.checkpoint)

        def write() -> None:
            nonlocal waiting
            if not waiting:
                settle()
                return
            batch, waiting = waiting, {}

            def ready() -> None:
                # Room for this batch, and none of its papers still being written elsewhere.
                while len(writing) >= in_flight or any(
                    not batch.keys().isdisjoint(written) for _, written in writing
                ):
                    settle()

            # Batches commit in order: one written beside an earlier batch commits only once
            # that one has, and not at all if it failed.
            earlier: list[Future[UpsertStats]] = []

            def in_order() -> None:
                for future in earlier:
                    try:
                        future.result(timeout=INGEST_ORDER_WAIT_SECONDS)
                    except TimeoutError:
                        raise IngestError(
                            f"a batch of {len(batch)} papers waited over"
                            f" {INGEST_ORDER_WAIT_SECONDS:g} s for the batch before it to be"
                            " written (another writer holding some of their papers?); it was"
                            " not written: run the load again"
                        ) from None

            # The batch's values are converted while earlier batches are being written; its
            # rows go in once there is room for it.
            finish = self.store.begin_upsert(
                batch.values(), after=ready, before_commit=in_order, checkpoint=False
            )
            earlier.extend(future for future, _ in writing)
            writing.append((writer.submit(finish), list(batch)))

        with (
            _load_gc(),
            ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="ingest") as writer,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint") as checkpointer,
        ):
            try:
                for path in paths:
                    papers, skipped = read_daily_papers_file(path)
                    report.skipped += skipped
                    if len(waiting) + len(papers) > INGEST_FILES_BATCH or any(
                        p.id in waiting for p in papers
                    ):
                        write()
                    waiting.update((p.id, p) for p in papers)
            finally:
                try:
                    write()
                    while writing:
                        settle()
                finally:
                    self.searcher.invalidate()
                    self.embed(ids)
            # The log left as a commit would have left it: copied, before the load returns.
            if copying is not None:
                copying.result()
            self.store.checkpoint()
        return report

    def embed(self, arxiv_ids: Collection[str] | None = None) -> None:
        """With semantic matching on, embed the papers (all, or those in ``arxiv_ids``) that
        are new or changed. A model that cannot load was already logged: papers stay lexical."""
        if self.semantic is None or (arxiv_ids is not None and not arxiv_ids):
            return
        with contextlib.suppress(SemanticUnavailable):
            self.semantic.sync(arxiv_ids)
