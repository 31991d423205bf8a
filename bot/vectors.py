"""The heavy half of semantic matching: the sentence-transformers model and the vector matrix.

Imported only by `bot.semantic`, and only once semantic matching is enabled and first needed:
it imports NumPy at once and sentence-transformers (hence PyTorch) when a model is loaded.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.db import PaperRow
from bot.semantic import EmbeddingRow

log = logging.getLogger(__name__)

Vector: TypeAlias = npt.NDArray[np.float32]

# Query vectors kept (most recently used); a repeated /papers topic skips the model.
QUERY_CACHE = 4096
# Texts per forward pass. The model is locked for one pass at a time (tokenizers are not
# thread-safe), so a background batch holds a user's query back by one pass at most.
ENCODE_BATCH = 32


def to_bytes(vector: Vector) -> bytes:
    """A vector as stored: little-endian float32."""
    data: bytes = np.asarray(vector, dtype="<f4").tobytes()
    return data


def from_bytes(blob: bytes, dim: int) -> Vector:
    """A stored vector back (a copy: callers may keep it)."""
    return np.frombuffer(blob, dtype="<f4", count=dim).astype(np.float32)


def _normalised(matrix: Vector) -> Vector:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    out: Vector = (matrix / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return out


# -- the model --------------------------------------------------------------------------------


class Encoder:
    """A sentence-transformers model: unit-length float32 vectors for texts and queries."""

    def __init__(self, model: str) -> None:
        from sentence_transformers import SentenceTransformer

        _quiet_libraries()
        folder = _local_folder(model)
        st: Any
        if folder is not None:
            st = SentenceTransformer(str(folder), local_files_only=True)
        else:
            try:  # already in the Hugging Face cache: no network at all
                st = SentenceTransformer(model, local_files_only=True)
            except Exception:
                if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
                    raise
                # One quick request first: without a network the download itself retries for
                # over a minute before giving up.
                import huggingface_hub

                try:
                    huggingface_hub.model_info(model, timeout=10)
                except Exception as e:
                    raise RuntimeError(f"not downloaded, and the Hugging Face hub: {e}") from e
                log.info("downloading the embedding model %s (once)", model)
                st = SentenceTransformer(model)
        self.name = model
        self._model = st
        # Renamed in sentence-transformers 5; the old name still works there.
        get_dimension = getattr(st, "get_embedding_dimension", None)
        if get_dimension is None:
            get_dimension = st.get_sentence_embedding_dimension
        self.dimension = int(get_dimension())
        self._lock = threading.Lock()
        self._queries: OrderedDict[str, Vector] = OrderedDict()

    def encode(self, texts: Sequence[str]) -> Vector:
        """One unit-length row per text, in order."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), ENCODE_BATCH):
            batch = list(texts[start : start + ENCODE_BATCH])
            with self._lock:
                vectors = self._model.encode(
                    batch,
                    batch_size=ENCODE_BATCH,
                    show_progress_bar=False,
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                )
            out[start : start + len(batch)] = vectors
        return out

    def knows(self, word: str) -> bool:
        """Whether the model's tokenizer has ``word`` as one token: a word it has seen whole
        (so not a misspelling it would cut into pieces)."""
        tokenizer = getattr(self._model, "tokenizer", None)
        if tokenizer is None:
            return False
        with self._lock:
            try:
                tokens = tokenizer.tokenize(word)
            except Exception:
                return False
        return len(tokens) == 1 and tokens[0] != getattr(tokenizer, "unk_token", None)

    def query(self, text: str) -> Vector:
        """The vector of a query (cached, least recently used dropped first)."""
        key = " ".join(text.split()).casefold()
        with self._lock:
            found = self._queries.get(key)
            if found is not None:
                self._queries.move_to_end(key)
                return found
        vector: Vector = self.encode([key])[0]
        with self._lock:
            self._queries[key] = vector
            while len(self._queries) > QUERY_CACHE:
                self._queries.popitem(last=False)
        return vector


_encoders: dict[str, Encoder] = {}
_encoders_lock = threading.Lock()


def load_encoder(model: str) -> Encoder:
    """The model named ``model`` (a local folder or a Hugging Face model id), loaded once per
    process. Raises when it cannot load: the extra missing, no such folder, no network."""
    with _encoders_lock:
        encoder = _encoders.get(model)
        if encoder is None:
            encoder = _encoders[model] = Encoder(model)
        return encoder


def _local_folder(model: str) -> Path | None:
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if model.startswith(("/", ".", "~")) or "\\" in model:
        # Clearly meant as a folder: never ask the hub about it.
        raise FileNotFoundError(f"no model folder at {model}")
    return None


def _quiet_libraries() -> None:
    # Their progress bars and load reports would land in the middle of CLI output.
    logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
    try:
        transformers_logging: Any = importlib.import_module("transformers.utils.logging")
        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
    except Exception:  # pragma: no cover - an older or newer transformers
        pass


# -- the stored vectors -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Snapshot:
    matrix: Vector  # rows [0, size) are in use, unit length
    size: int
    pks: npt.NDArray[np.int64]
    featured: npt.NDArray[np.int32]  # date ordinal, 0 when unknown
    row_of_pk: dict[int, int]
    row_of_id: dict[str, int]


_EMPTY = _Snapshot(
    np.zeros((0, 0), dtype=np.float32),
    0,
    np.zeros(0, dtype=np.int64),
    np.zeros(0, dtype=np.int32),
    {},
    {},
)


class Similarity:
    """A query's nearest papers, and its cosine with any paper that has a vector."""

    def __init__(self, vector: Vector, snapshot: _Snapshot, nearest: list[tuple[int, float]]):
        self._vector = vector
        self._snapshot = snapshot
        self._cosines = dict(nearest)
        self.nearest = [pk for pk, _ in nearest]

    def cosine(self, pk: int) -> float | None:
        """Cosine similarity of the query and paper ``pk``; None when it has no vector yet."""
        found = self._cosines.get(pk)
        if found is not None:
            return found
        snap = self._snapshot
        row = snap.row_of_pk.get(pk)
        if row is None or row >= snap.size:
            return None
        found = self._cosines[pk] = float(snap.matrix[row] @ self._vector)
        return found


class VectorIndex:
    """Every stored vector of one model as a float32 matrix in memory, rows normalised, kept
    current by reading only the rows added since (``paper_embeddings.id`` grows)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._snapshot = _EMPTY
        self._last_id = 0
        self._dim = 0
        self._lock = threading.Lock()  # one refresh at a time
        self._warned_dims: set[int] = set()

    def __len__(self) -> int:
        return self._snapshot.size

    @property
    def dimension(self) -> int:
        return self._dim

    def refresh(self, session: Session, *, blocking: bool = True) -> bool:
        """Take in the vectors stored since the last call. With ``blocking`` false, return at
        once, keeping the current vectors, when another thread is refreshing (False then)."""
        if not self._lock.acquire(blocking=blocking):
            return False
        try:
            table = EmbeddingRow
            newest = session.scalar(select(func.max(table.id)).where(table.model == self.model))
            newest = newest or 0
            if newest == self._last_id:
                return True
            if newest < self._last_id or not self._dim:
                self._reload(session, newest)
                return True
            snapshot, last = self._append(session, self._last_id, self._snapshot)
            # A row committed late (concurrent writers), or rows gone: start over.
            total = session.scalar(
                select(func.count())
                .select_from(table)
                .where(table.model == self.model, table.dim == self._dim)
            )
            if total != snapshot.size:
                self._reload(session, newest)
            else:
                self._snapshot, self._last_id = snapshot, last
            return True
        finally:
            self._lock.release()

    def _reload(self, session: Session, newest: int) -> None:
        table = EmbeddingRow
        latest = session.scalar(
            select(table.dim).where(table.model == self.model).order_by(table.id.desc()).limit(1)
        )
        self._dim = int(latest or 0)
        snapshot, last = self._append(session, 0, _EMPTY) if self._dim else (_EMPTY, 0)
        # Readers keep the old vectors until the new ones are complete.
        self._snapshot, self._last_id = snapshot, max(last, newest)

    def _append(self, session: Session, after: int, snap: _Snapshot) -> tuple[_Snapshot, int]:
        """``snap`` with the rows stored after id ``after``, and the last id read."""
        table = EmbeddingRow
        rows = list(
            session.execute(
                select(
                    table.id,
                    table.paper_pk,
                    table.arxiv_id,
                    table.dim,
                    table.vector,
                    PaperRow.featured_date,
                )
                .join(PaperRow, PaperRow.pk == table.paper_pk)
                .where(table.model == self.model, table.id > after)
                .order_by(table.paper_pk)
            )
        )
        if not rows:
            return snap, after
        last = max(r.id for r in rows)
        dim = self._dim
        usable = [r for r in rows if r.dim == dim]
        for r in rows:
            if r.dim != dim and r.dim not in self._warned_dims:
                self._warned_dims.add(r.dim)
                log.warning(
                    "ignoring %d-dimensional vectors stored for %s (the model now makes %d): "
                    "run papers-bot embed",
                    r.dim,
                    self.model,
                    dim,
                )
        if not usable:
            return snap, last
        vectors = _normalised(
            np.frombuffer(b"".join(r.vector for r in usable), dtype="<f4")
            .reshape(len(usable), dim)
            .astype(np.float32)
        )
        row_of_pk = dict(snap.row_of_pk)
        row_of_id = dict(snap.row_of_id)
        size = snap.size + sum(1 for r in usable if r.paper_pk not in row_of_pk)
        matrix, pks, featured = snap.matrix, snap.pks, snap.featured
        if size > len(matrix):
            # Grow by half again, so a trickle of new papers does not copy the matrix each time.
            capacity = max(size + size // 2, 1024)
            matrix = np.zeros((capacity, dim), dtype=np.float32)
            pks = np.zeros(capacity, dtype=np.int64)
            featured = np.zeros(capacity, dtype=np.int32)
            if snap.size:
                matrix[: snap.size] = snap.matrix[: snap.size]
                pks[: snap.size] = snap.pks[: snap.size]
                featured[: snap.size] = snap.featured[: snap.size]
        at = snap.size
        for i, r in enumerate(usable):
            row = row_of_pk.get(r.paper_pk)
            if row is None:
                row = row_of_pk[r.paper_pk] = at
                at += 1
            row_of_id[r.arxiv_id] = row
            # Rows past snap.size are invisible to readers of the current snapshot; a re-embedded
            # paper's row is overwritten in place (a reader may see either vector).
            matrix[row] = vectors[i]
            pks[row] = r.paper_pk
            featured[row] = r.featured_date.toordinal() if r.featured_date else 0
        return _Snapshot(matrix, size, pks, featured, row_of_pk, row_of_id), last

    def similar(
        self,
        vector: Vector,
        *,
        limit: int,
        floor: float,
        since: date | None = None,
        until: date | None = None,
        exclude: Collection[str] = (),
        window: int | None = None,
    ) -> Similarity:
        """The ``limit`` papers nearest to ``vector`` with a cosine of at least ``floor``.

        ``since``/``until`` bound the featured date (papers of unknown date pass: the caller's
        SQL has the last word), ``exclude`` is arXiv ids to leave out; without a date range only
        the newest ``window`` vectors are scored."""
        snap = self._snapshot
        if not snap.size or vector.shape[-1] != snap.matrix.shape[1]:
            return Similarity(vector, snap, [])
        offset = 0
        rows: npt.NDArray[np.intp] | None = None
        if since is not None or until is not None:
            low = since.toordinal() if since else 0
            high = until.toordinal() if until else np.iinfo(np.int32).max
            featured = snap.featured[: snap.size]
            inside = (featured == 0) | ((featured >= low) & (featured <= high))
            rows = np.flatnonzero(inside)
            if rows.size * 4 > snap.size:  # most of it: one product beats copying the rows
                scores = snap.matrix[: snap.size] @ vector
                scores[~inside] = -np.inf
                rows = None
            else:
                scores = snap.matrix[rows] @ vector
        else:
            if window is not None and snap.size > window:
                offset = snap.size - window
            scores = snap.matrix[offset : snap.size] @ vector
        if exclude:
            out = np.fromiter(
                (r for r in (snap.row_of_id.get(i) for i in exclude) if r is not None),
                dtype=np.intp,
            )
            if out.size:
                if rows is not None:
                    scores[np.isin(rows, out)] = -np.inf
                else:
                    inside = out[(out >= offset) & (out < snap.size)]
                    scores[inside - offset] = -np.inf
        if not scores.size:
            return Similarity(vector, snap, [])
        k = min(limit, scores.size)
        top = np.argpartition(scores, scores.size - k)[scores.size - k :]
        top = top[np.argsort(-scores[top], kind="stable")]
        positions = rows[top] if rows is not None else top + offset
        nearest = [
            (int(snap.pks[row]), float(score))
            for row, score in zip(positions, scores[top], strict=True)
            if score >= floor
        ]
        return Similarity(vector, snap, nearest)
