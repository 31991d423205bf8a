"""Semantic matching: papers and queries as dense vectors, fused with the lexical search.

A paper's title, keywords, AI summary and abstract are embedded once with a sentence-transformers
model (at ingest, by ``papers-bot embed``, or in the running bot's background, in batches) and
stored in ``paper_embeddings`` (migration 0004) with a hash of that text: a changed text, or
another model, is embedded again. A search encodes the query (cached), scores the stored vectors
as one normalised float32 matrix kept in memory (`bot.vectors`), and hands the lexical
`bot.search.Searcher` its nearest papers and every candidate's cosine; `Fusion` turns a paper's
lexical score and cosine into one score in [0, 1].

NumPy, PyTorch and the model are imported only once semantic matching is enabled and needed.
Without the ``[semantic]`` extra, or when the model cannot load, search stays lexical and says so
in one log line.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    and_,
    delete,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, PaperRow, utcnow
from bot.search import ACRONYMS, query_words
from bot.store import Store

if TYPE_CHECKING:
    from bot.vectors import Encoder, Similarity, VectorIndex

log = logging.getLogger(__name__)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
EXTRA_HINT = "pip install 'daily-papers-bot[semantic]'"
# The digest's topic sections keep papers scoring at least this when semantic matching is on
# and the config sets no digest.min_relevance (tuned on tests/data/search_judgments.json).
HYBRID_MIN_RELEVANCE = 0.35
# Papers the vectors propose per search, next to the lexical engine's candidates.
NEAREST = 20
# How often a search looks for vectors stored by another process (this one's own are seen at
# once): the check is a query, and vectors change when papers are fetched.
REFRESH_SECONDS = 2.0
# Without a date range only the newest vectors are scored, as the lexical engine scores only
# the newest matches: ~1.5 years of Daily Papers, a few milliseconds.
WINDOW = 25_000
# Papers read, embedded and written per transaction by `Semantic.sync`.
WRITE_BATCH = 256
_SCAN_PAGE = 2000


class SemanticUnavailable(RuntimeError):
    """The embedding model cannot be used (the extra is missing, or the model cannot load)."""


class EmbeddingRow(Base):
    """A paper's vector for one model (see migration 0004)."""

    __tablename__ = "paper_embeddings"
    __table_args__ = (
        UniqueConstraint("paper_pk", "model", name="uq_paper_embeddings_paper_model"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    paper_pk: Mapped[int] = mapped_column(ForeignKey("papers.pk", ondelete="CASCADE"))
    arxiv_id: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(300))
    dim: Mapped[int] = mapped_column(Integer)
    text_hash: Mapped[str] = mapped_column(String(32))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def extra_installed() -> bool:
    """Whether the ``[semantic]`` extra is importable (checked without importing it)."""
    try:
        return importlib.util.find_spec("sentence_transformers") is not None
    except (ImportError, ValueError):
        return False


def embedding_text(
    title: str, keywords_text: str | None, ai_summary: str | None, summary: str | None
) -> str:
    """What a paper is embedded from: title, keywords, AI summary, abstract (the model reads
    the first 256 word pieces, so the abstract is what gets cut)."""
    keywords = ", ".join(k.strip() for k in (keywords_text or "").split(" ; ") if k.strip())
    parts = (title, keywords, ai_summary or "", summary or "")
    return "\n".join(" ".join(p.split()) for p in parts if p and p.strip())


def text_hash(text: str) -> str:
    """A short fingerprint of an embedded text."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class Fusion:
    """One relevance score in [0, 1] from a paper's lexical score and its cosine with the
    query: ``lexical_weight`` × lexical + the rest × the cosine mapped linearly from ``floor``
    (no semantic evidence: what unrelated papers score with MiniLM-class models; the vectors
    alone never propose a paper under it) to ``ceiling`` (full). Tuned on the ``tune`` split of
    tests/data/search_judgments.json (``python -m bench.eval_semantic --tune``)."""

    lexical_weight: float = 0.65
    floor: float = 0.25
    ceiling: float = 0.55

    def similarity(self, cosine: float) -> float:
        """The semantic evidence in [0, 1] for a cosine."""
        return min(1.0, max(0.0, (cosine - self.floor) / (self.ceiling - self.floor)))

    def score(self, lexical: float, cosine: float | None, *, known: float = 1.0) -> float:
        """The fused score. ``known`` is the share of the query's words that any paper uses:
        the lexical score counts only those, so it is scaled by it (a topic like "volcano
        eruption forecasting" must not score as a full match for a forecasting paper). A paper
        without a vector (not embedded yet) keeps its lexical score."""
        if cosine is None:
            return lexical
        w = self.lexical_weight
        return w * lexical * known + (1.0 - w) * self.similarity(cosine)


@dataclass(slots=True)
class EmbedReport:
    """What `Semantic.sync` did: papers embedded now, and papers whose vectors were current."""

    embedded: int = 0
    current: int = 0


_Pending = tuple[int, str, str]  # (paper pk, arXiv id, text hash)


class Semantic:
    """Embeddings of a store's papers with one model, and the query side of hybrid search."""

    def __init__(self, store: Store, model: str = DEFAULT_MODEL, *, fusion: Fusion | None = None):
        self.store = store
        self.model = model
        self.fusion = fusion or Fusion()
        self._lock = threading.Lock()
        self._encoder: Encoder | None = None
        self._loader: threading.Thread | None = None
        self._failure: str | None = None
        self._index: VectorIndex | None = None
        self._index_checked = 0.0  # time.monotonic() of the last look at the database
        self._background = False
        self._sync_lock = threading.Lock()
        self._syncer: threading.Thread | None = None
        self._sync_again = False
        self._reported: set[str] = set()

    @classmethod
    def from_config(cls, store: Store, *, enabled: bool | None, model: str) -> Semantic | None:
        """Semantic matching as configured, or None: switched off, or (``enabled`` None: on
        when installed) the extra is not installed (an explicit ``enabled: true`` without it
        logs one warning)."""
        if enabled is False:
            return None
        if not extra_installed():
            if enabled:
                log.warning(
                    "semantic.enabled is true but the [semantic] extra is not installed "
                    "(%s): searching by keywords only",
                    EXTRA_HINT,
                )
            else:
                log.debug("semantic matching off: the [semantic] extra is not installed")
            return None
        return cls(store, model)

    # -- the model --

    def encoder(self, *, wait: bool = True) -> Encoder | None:
        """The model, loaded on first use (once per process). None when it cannot load (said
        once in the log) or, with ``wait`` false, while it is still loading."""
        if self._encoder is not None or self._failure is not None:
            return self._encoder
        with self._lock:
            loader = self._loader
            if loader is None:
                loader = self._loader = threading.Thread(
                    target=self._load, name="semantic-model", daemon=True
                )
                loader.start()
        if wait:
            loader.join()
        return self._encoder

    @property
    def failure(self) -> str | None:
        """Why the model could not load, once it could not."""
        return self._failure

    def _load(self) -> None:
        try:
            from bot.vectors import load_encoder

            self._encoder = load_encoder(self.model)
        except Exception as e:
            detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            if isinstance(e, ImportError):
                detail = f"{detail} ({EXTRA_HINT})"
            self._failure = f"cannot load the embedding model {self.model}: {detail}"
            log.warning("%s; searching by keywords only", self._failure)

    def warm(self) -> None:
        """For a long-running bot: load the model and the stored vectors and embed what is
        missing, all in the background. Until ready, searches stay lexical instead of waiting."""
        self._background = True
        self.encoder(wait=False)
        self.sync_in_background()

    # -- search --

    def similar(
        self,
        query: str,
        *,
        since: date | None = None,
        until: date | None = None,
        exclude: Collection[str] = (),
        correct: Callable[[str], str | None] | None = None,
    ) -> Similarity | None:
        """The papers nearest to ``query`` (at most `NEAREST`, none under the fusion floor)
        and the query's cosine with any paper. None when search must stay lexical: no vectors
        stored for the model yet, the model not loaded (or, for a warming bot, still loading),
        or any failure (logged once). ``correct`` is the lexical search's spelling fix (see
        `query_text`)."""
        if self._failure is not None:  # already in the log
            return None
        try:
            index, current = self._current_index(blocking=not self._background)
            if not len(index):
                if not current:  # the background is loading them
                    return None
                self._report_once(
                    "empty",
                    logging.INFO,
                    "no paper vectors for %s yet (papers-bot embed makes them): "
                    "searching by keywords only",
                )
                return None
            encoder = self.encoder(wait=not self._background)
            if encoder is None:
                return None
            return index.similar(
                encoder.query(self.query_text(query, encoder, correct)),
                limit=NEAREST,
                floor=self.fusion.floor,
                since=since,
                until=until,
                exclude=exclude,
                window=WINDOW,
            )
        except Exception:
            self._report_once(
                "search", logging.WARNING, "semantic search failed for %s", exc_info=True
            )
            return None

    @staticmethod
    def query_text(
        query: str, encoder: Encoder, correct: Callable[[str], str | None] | None = None
    ) -> str:
        """The query as the model reads it: the field's acronyms spelled out beside them
        ("moe (mixture of experts)"), which small models rarely know, and a word the model does
        not know whole and ``correct`` fixes ("gausian") as the papers spell it. Words the model
        knows are never "fixed": "medieval" is not a typo of "medical" to it."""
        out = []
        for word in query_words(query):
            expansions = ACRONYMS.get(word) or ACRONYMS.get(word.removesuffix("s"))
            if expansions:
                out.append(f"{word} ({expansions[0]})")
                continue
            if correct is not None and len(word) > 3 and not encoder.knows(word):
                word = correct(word) or word
            out.append(word)
        return " ".join(out)

    def _current_index(self, *, blocking: bool = True) -> tuple[VectorIndex, bool]:
        """The stored vectors, and whether they are current (False: another thread is
        reading them and ``blocking`` was false)."""
        index = self._index
        if index is None:
            from bot.vectors import VectorIndex

            with self._lock:
                index = self._index = self._index or VectorIndex(self.model)
        now = time.monotonic()
        if now - self._index_checked < REFRESH_SECONDS:
            return index, True
        with self.store.session() as session:
            current = index.refresh(session, blocking=blocking)
        if current:
            self._index_checked = now
        return index, current

    def _report_once(self, key: str, level: int, message: str, *, exc_info: bool = False) -> None:
        with self._lock:
            if key in self._reported:
                return
            self._reported.add(key)
        log.log(level, message, self.model, exc_info=exc_info)

    # -- keeping vectors in step with the papers --

    def sync(
        self,
        arxiv_ids: Collection[str] | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> EmbedReport:
        """Embed the papers (all, or those in ``arxiv_ids``) that have no vector for this model
        or one made from a text that has changed since. Batched; ``progress(done, total)`` is
        called as batches are stored. Raises `SemanticUnavailable` when the model cannot load
        and there is something to embed."""
        with self._sync_lock:
            pending, current = self._pending(arxiv_ids)
            report = EmbedReport(current=current)
            if not pending:
                return report
            encoder = self.encoder()
            if encoder is None:
                raise SemanticUnavailable(self._failure or f"cannot load {self.model}")
            if progress:
                progress(0, len(pending))
            for start in range(0, len(pending), WRITE_BATCH):
                batch = [pk for pk, _, _ in pending[start : start + WRITE_BATCH]]
                report.embedded += self._embed(encoder, batch)
                self._index_checked = 0.0  # searches take in the new vectors at once
                if progress:
                    progress(min(start + WRITE_BATCH, len(pending)), len(pending))
            return report

    def sync_in_background(self) -> None:
        """`sync` every paper in a background thread, one run at a time (a call during a run
        makes it go round once more), after loading the stored vectors."""
        with self._lock:
            if self._syncer is not None and self._syncer.is_alive():
                self._sync_again = True
                return
            self._syncer = threading.Thread(
                target=self._sync_loop, name="semantic-embed", daemon=True
            )
            self._syncer.start()

    def _sync_loop(self) -> None:
        while True:
            try:
                self._current_index()
                report = self.sync()
                if report.embedded:
                    log.info("embedded %d paper(s) with %s", report.embedded, self.model)
                    self._current_index()
            except SemanticUnavailable:
                return  # already in the log
            except Exception:
                log.warning(
                    "embedding papers failed; will retry after the next fetch", exc_info=True
                )
            with self._lock:
                if not self._sync_again:
                    return
                self._sync_again = False

    def _pending(self, arxiv_ids: Collection[str] | None) -> tuple[list[_Pending], int]:
        """Papers whose vector is missing or stale, and how many are current."""
        pending: list[_Pending] = []
        current = 0
        for pk, arxiv_id, text, stored in self._texts(arxiv_ids=arxiv_ids):
            fingerprint = text_hash(text)
            if stored == fingerprint:
                current += 1
            else:
                pending.append((pk, arxiv_id, fingerprint))
        return pending, current

    def _texts(
        self, *, arxiv_ids: Collection[str] | None = None, pks: Sequence[int] | None = None
    ) -> Iterator[tuple[int, str, str, str | None]]:
        """(pk, arXiv id, text to embed, stored hash or None) of the papers asked for (all of
        them by default), read a page at a time."""
        e = EmbeddingRow
        base = select(
            PaperRow.pk,
            PaperRow.arxiv_id,
            PaperRow.title,
            PaperRow.keywords_text,
            PaperRow.ai_summary,
            PaperRow.summary,
            e.text_hash,
        ).outerjoin(e, and_(e.paper_pk == PaperRow.pk, e.model == self.model))
        pages: Iterator[Any]
        if arxiv_ids is not None:
            ids = list(dict.fromkeys(arxiv_ids))
            pages = (
                base.where(PaperRow.arxiv_id.in_(ids[i : i + _SCAN_PAGE]))
                for i in range(0, len(ids), _SCAN_PAGE)
            )
        elif pks is not None:
            pages = iter([base.where(PaperRow.pk.in_(list(pks)))])
        else:
            pages = self._all_pages(base)
        for query in pages:
            with self.store.session() as session:
                rows = list(session.execute(query))
            for pk, arxiv_id, title, keywords, ai_summary, summary, stored in rows:
                yield pk, arxiv_id, embedding_text(title, keywords, ai_summary, summary), stored

    def _all_pages(self, base: Any) -> Iterator[Any]:
        last = 0
        while True:
            page = select(PaperRow.pk).where(PaperRow.pk > last).order_by(PaperRow.pk)
            with self.store.session() as session:
                keys = list(session.scalars(page.limit(_SCAN_PAGE)))
            if not keys:
                return
            yield base.where(PaperRow.pk.in_(keys))
            last = keys[-1]

    def _embed(self, encoder: Encoder, pks: Sequence[int]) -> int:
        """Embed and store the papers ``pks`` (texts read afresh). Returns how many."""
        from bot.vectors import to_bytes

        papers = sorted(self._texts(pks=pks), key=lambda p: len(p[2]))  # similar lengths batch well
        if not papers:
            return 0
        vectors = encoder.encode([text for _, _, text, _ in papers])
        now = utcnow()
        rows = [
            {
                "paper_pk": pk,
                "arxiv_id": arxiv_id,
                "model": self.model,
                "dim": encoder.dimension,
                "text_hash": text_hash(text),
                "vector": to_bytes(vector),
                "created_at": now,
            }
            for (pk, arxiv_id, text, _), vector in zip(papers, vectors, strict=True)
        ]
        for attempt in (1, 2):
            try:
                with self.store.session() as session:
                    # A new row, not an update: the new id is how searchers notice the change.
                    session.execute(
                        delete(EmbeddingRow).where(
                            EmbeddingRow.model == self.model,
                            EmbeddingRow.paper_pk.in_([r["paper_pk"] for r in rows]),
                        )
                    )
                    session.execute(insert(EmbeddingRow), rows)
                break
            except IntegrityError:  # another process stored the same papers meanwhile
                if attempt == 2:
                    raise
        return len(rows)
