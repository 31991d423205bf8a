"""Topic search over the stored papers, done by the database's own full-text engine.

SQLite ranks with FTS5 bm25() and PostgreSQL with ts_rank_cd() over a weighted tsvector (both
set up by migration 0002); the title weighs most, then keywords, AI summary, abstract, authors.
User text never reaches SQL: it is cut into word tokens here, and every token is quoted into the
engine's query language (FTS5 ``"tok"``, tsquery ``'tok'``) and passed as a bound parameter.

A query is analysed into *concepts*, each a set of alternative phrases any of which satisfies
it: the user's word, its acronym or expansion ("MoE" <-> "mixture of experts"), a few common
paraphrases ("cheaper" <-> "efficient"), the spelling fix for a word the index has never seen,
and split or joined compounds ("fine tuning" <-> "finetuning"). The engine fetches the best few
hundred papers matching any of them; those are re-ranked here by how much of the query they
cover (concepts weighted by rarity) and whether they cover it in the title.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import OSA
from sqlalchemy import Date, Float, Integer, bindparam, func, select, text
from sqlalchemy.orm import Session

from bot.db import PaperRow, UTCDateTime
from bot.models import ScoredPaper
from bot.store import Store, row_to_paper

# How many engine hits are re-ranked here; the rest are left to the engine's order.
CANDIDATES = 200
MAX_QUERY_CHARS = 500
MAX_CONCEPTS = 10
MAX_ALTERNATIVES = 12
MAX_WORD_LENGTH = 40

# Shares of the normalised score (they sum to 1; see `Searcher.search`).
_COVERAGE_SHARE = 0.6
_TITLE_SHARE = 0.25
_ENGINE_SHARE = 0.15

# bm25() column weights, in the FTS5 column order: title, keywords, AI summary, abstract, authors.
_BM25_WEIGHTS = (10.0, 5.0, 3.0, 1.0, 1.0)
# ts_rank_cd() weights for the tsvector labels {D, C, B, A}.
_PG_WEIGHTS = "{0.1, 0.3, 0.5, 1.0}"

_WORD = re.compile(r"[^\W_]+")

_STOPWORD_TEXT = """
    a about above after again against all also am among an and any are as at be because been
    before being below between both but by can could did do does doing done down during each
    either else etc ever every for from further get gets had has have having he her here hers
    herself him himself his how however i if in into is it its itself just let like ll me might
    mine more most much must my myself neither nor not now of off often on once only or other
    our ours ourselves out over own per please quite rather re really same shall she should so
    some such than that the their theirs them themselves then there these they this those
    though through thus to too under until up upon us very was we well were what whats when
    where whether which while who whom whose why will with within without would yet you your
    yours yourself yourselves
    anything article articles find give interesting latest list lot lots new newest paper papers
    preprint preprints publication publications recent recently regarding related research show
    something stuff studies study topic topics using via work works
"""
# English function words and the filler of requests ("papers about", "new work on", "how to").
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

# Acronyms of the field and what they stand for; matched both ways.
ACRONYMS: dict[str, tuple[str, ...]] = {
    "moe": ("mixture of experts",),
    "llm": ("large language model", "language model"),
    # Used interchangeably in the literature.
    "vlm": ("vision language model", "mllm", "lmm", "multimodal large language model"),
    "mllm": ("multimodal large language model", "multimodal llm", "vlm", "vision language model"),
    "lmm": ("large multimodal model", "vlm", "mllm"),
    "vit": ("vision transformer",),
    "nas": ("neural architecture search",),
    "gnn": ("graph neural network",),
    "gcn": ("graph convolutional network",),
    "asr": ("automatic speech recognition", "speech recognition"),
    "tts": ("text to speech",),
    "rl": ("reinforcement learning",),
    "rlhf": ("reinforcement learning from human feedback",),
    "rlvr": ("reinforcement learning with verifiable rewards",),
    "rag": ("retrieval augmented generation",),
    "ssm": ("state space model",),
    "ffn": ("feed forward network", "feedforward network"),
    "nerf": ("neural radiance field",),
    "gan": ("generative adversarial network",),
    "vae": ("variational autoencoder",),
    "kd": ("knowledge distillation",),
    "peft": ("parameter efficient fine tuning", "parameter efficient finetuning"),
    "lora": ("low rank adaptation",),
    "cot": ("chain of thought",),
    "dpo": ("direct preference optimization",),
    "ppo": ("proximal policy optimization",),
    "grpo": ("group relative policy optimization",),
    "sft": ("supervised fine tuning", "supervised finetuning"),
    "ocr": ("optical character recognition",),
    "ner": ("named entity recognition",),
    "qa": ("question answering",),
    "vqa": ("visual question answering",),
    "kv": ("key value",),
    "mlp": ("multilayer perceptron", "multi layer perceptron"),
    "cnn": ("convolutional neural network",),
    "rnn": ("recurrent neural network",),
    "lstm": ("long short term memory",),
    "sam": ("segment anything",),
    "clip": ("contrastive language image pre training", "contrastive language image pretraining"),
    "3dgs": ("3d gaussian splatting", "gaussian splatting"),
    "slam": ("simultaneous localization and mapping",),
    "nlp": ("natural language processing",),
    "icl": ("in context learning",),
    "mcts": ("monte carlo tree search",),
    "dit": ("diffusion transformer",),
    "ldm": ("latent diffusion model",),
    "ddpm": ("denoising diffusion probabilistic model",),
    "sae": ("sparse autoencoder",),
    "mae": ("masked autoencoder",),
    "vla": ("vision language action",),
    "ssl": ("self supervised learning",),
    "prm": ("process reward model",),
    "ood": ("out of distribution",),
    "t2i": ("text to image",),
    "t2v": ("text to video",),
    "i2v": ("image to video",),
    "nmt": ("neural machine translation",),
    "snn": ("spiking neural network",),
    "pinn": ("physics informed neural network",),
    "uav": ("unmanned aerial vehicle", "drone"),
}

# Everyday paraphrases of the field's vocabulary. Modest on purpose: each group is a set of
# words people use for one idea, not a thesaurus.
SYNONYMS: tuple[tuple[str, ...], ...] = (
    (
        "efficient",
        "efficiency",
        "cheap",
        "cheaper",
        "low cost",
        "fast",
        "faster",
        "speedup",
        "accelerate",
        "acceleration",
        "lightweight",
    ),
    ("phone", "smartphone", "mobile", "on device", "edge device"),
    ("forgetting", "continual", "lifelong"),
    ("backpropagation", "backprop", "back propagation"),
    ("gradient free", "derivative free", "zeroth order", "backpropagation free"),
    ("image", "picture", "photo", "photograph"),
    ("generation", "generate", "generating", "synthesis", "synthesize"),
    ("robot", "robotic", "robotics", "embodied"),
    ("math", "mathematics", "mathematical"),
    ("code", "coding", "programming"),
    ("speech", "spoken", "voice"),
    ("medical", "clinical", "biomedical", "healthcare"),
    ("small", "tiny", "compact"),
    ("hallucination", "hallucinate", "factuality"),
    ("jailbreak", "red teaming", "adversarial prompt"),
    ("quantization", "quantize", "quantized", "low bit"),
    ("self driving", "autonomous driving"),
    ("interpretability", "interpretable", "explainability", "explainable"),
    ("multilingual", "cross lingual"),
    ("benchmark", "evaluation", "leaderboard"),
    ("long context", "long sequence"),
    ("tabular", "table", "spreadsheet"),
    ("super resolution", "upscaling"),
    ("chatbot", "dialogue", "dialog", "conversational"),
    ("inference", "serving", "deployment"),
    ("tool use", "tool calling", "function calling"),
    ("search", "retrieval", "retrieve", "look up"),
    ("summarization", "summarize", "summary"),
    ("music", "song"),
    ("avatar", "talking head", "digital human"),
    ("3d", "three dimensional"),
)

Phrase = tuple[str, ...]


def _fold(word: str) -> str:
    """A word as the indexes compare it: without diacritics."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def query_words(text: str) -> list[str]:
    """The words of ``text``, lower-cased: letters and digits only, everything else a separator.

    Bounded (the first `MAX_QUERY_CHARS` characters; over-long "words" are noise and dropped),
    so any input is cheap to analyse."""
    text = unicodedata.normalize("NFKC", text or "")[:MAX_QUERY_CHARS].casefold()
    return [w for w in _WORD.findall(text) if len(w) <= MAX_WORD_LENGTH]


def normalize_query(text: str) -> str:
    """``text`` as the words search sees, space separated ("" when nothing searchable is left)."""
    return " ".join(query_words(text))


def _singular(word: str) -> str:
    # Crude, and only used to look phrases up in the lexicon ("LLMs", "mixtures of experts").
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _lexicon() -> tuple[dict[Phrase, int], list[tuple[Phrase, ...]]]:
    index: dict[Phrase, int] = {}
    groups: list[tuple[Phrase, ...]] = []

    def add(members: Iterable[str]) -> None:
        phrases = tuple(dict.fromkeys(tuple(m.split()) for m in members))
        for phrase in phrases:
            index.setdefault(tuple(_singular(w) for w in phrase), len(groups))
        groups.append(phrases)

    for acronym, expansions in ACRONYMS.items():
        # "llms" is its own lexeme for PostgreSQL's stemmer, so acronyms' plurals are spelled out.
        add(f for e in (acronym, *expansions) for f in ((e, e + "s") if e in ACRONYMS else (e,)))
    for group in SYNONYMS:
        add(group)
    return index, groups


_LEXICON, _GROUPS = _lexicon()
_LONGEST_ENTRY = max(len(k) for k in _LEXICON)
_LEXICON_WORDS = frozenset(k[0] for k in _LEXICON if len(k) == 1)


class Vocabulary:
    """The words in the index with their document counts, for spotting and fixing typos."""

    def __init__(self, counts: Iterable[tuple[str, int]], documents: int) -> None:
        self.documents = max(documents, 1)
        self._df: dict[str, int] = {}
        self._spelling: dict[str, str] = {}
        for word, df in counts:
            key = _fold(word.casefold())
            if df > self._df.get(key, 0):
                self._df[key] = df
                self._spelling[key] = word
        self._by_length: dict[int, list[str]] = {}
        for key in self._df:
            if len(key) >= 3 and not key.isdigit():
                self._by_length.setdefault(len(key), []).append(key)

    def __len__(self) -> int:
        return len(self._df)

    def df(self, word: str) -> int:
        """Documents holding ``word`` or a plain inflection of it (0 when unknown)."""
        key = _fold(word)
        best = self._df.get(key, 0)
        for form in _inflections(key):
            best = max(best, self._df.get(form, 0))
        return best

    def correct(self, word: str) -> str | None:
        """The known word nearest to an unknown ``word`` (edit distance with transpositions:
        at most 1 for 4–7 characters, 2 for longer), the most frequent on a tie; else None."""
        key = _fold(word)
        if len(key) < 4 or key.isdigit() or self.df(key):
            return None
        limit = 1 if len(key) <= 7 else 2
        best: tuple[int, int, str] | None = None
        for length in range(len(key) - limit, len(key) + limit + 1):
            bucket = self._by_length.get(length)
            if not bucket:
                continue
            for candidate, distance, _ in process.extract(
                key, bucket, scorer=OSA.distance, score_cutoff=limit, limit=None
            ):
                rank = (int(distance), -self._df[candidate], candidate)
                if best is None or rank < best:
                    best = rank
        return self._spelling[best[2]] if best else None


def _inflections(word: str) -> list[str]:
    forms = []
    for suffix, replacement in (
        ("s", ""),
        ("es", ""),
        ("ed", ""),
        ("ed", "e"),
        ("ing", ""),
        ("ing", "e"),
        ("ies", "y"),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            forms.append(word[: -len(suffix)] + replacement)
    forms.extend((word + "s", word + "es"))
    return forms


@dataclass(frozen=True, slots=True)
class Concept:
    """One thing the query asks for: any of the alternative phrases satisfies it. ``weight`` is
    its rarity in the index (0 when nothing in the index can match it)."""

    alternatives: tuple[Phrase, ...]
    weight: float


@dataclass(frozen=True, slots=True)
class Query:
    """A query as the engines run it: concepts, and adjacent word pairs that earn a phrase bonus."""

    concepts: tuple[Concept, ...]
    phrases: tuple[Phrase, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.concepts)


def analyze(text: str, vocabulary: Vocabulary) -> Query:
    """Turn user text into concepts: fix typos, drop filler, add acronyms, paraphrases and
    compound spellings. Empty when nothing searchable is left."""
    words = query_words(text)
    fixed: list[tuple[str, str | None]] = []  # (word to use, the user's spelling if fixed)
    for word in words:
        if word in STOPWORDS or _singular(word) in _LEXICON_WORDS:
            fixed.append((word, None))
            continue
        correction = vocabulary.correct(word) if len(vocabulary) else None
        fixed.append((correction, word) if correction else (word, None))

    concepts: list[list[Phrase]] = []
    bonus: list[Phrase] = []
    previous: str | None = None  # the last content word, for phrase bonuses
    i = 0
    while i < len(fixed) and len(concepts) < MAX_CONCEPTS:
        span = _lexicon_match([w for w, _ in fixed[i : i + _LONGEST_ENTRY]])
        if span:
            length, group = span
            own = tuple(w for w, _ in fixed[i : i + length])
            content = [w for w in own if w not in STOPWORDS]
            if len(content) > 1:
                # Each word counts on its own (partial matches still rank), and is satisfied
                # by the whole phrase or its acronym; the phrase itself is one more concept.
                concepts += [[(w,), *_GROUPS[group]] for w in content]
            concepts.append([own, *_GROUPS[group]])
            previous = None
            i += length
            continue
        word, typed = fixed[i]
        i += 1
        if word in STOPWORDS:
            previous = None
            continue
        alternatives: list[Phrase] = [(word,)]
        if typed:
            alternatives.append((typed,))
        following = fixed[i][0] if i < len(fixed) else None
        if following and following not in STOPWORDS and vocabulary.df(word + following):
            # Two words the papers also write as one: "fine tuning" / "finetuning".
            alternatives = [(word, following), (word + following,)]
            i += 1
            word = word + following
        elif split := _split(word, vocabulary):
            alternatives.append(split)
        if previous:
            bonus.append((previous, word))
        previous = word
        concepts.append(alternatives)

    out = []
    for alternatives in concepts:
        unique = tuple(dict.fromkeys(alternatives))[:MAX_ALTERNATIVES]
        out.append(Concept(unique, _weight(unique, vocabulary)))
    return Query(tuple(out), tuple(dict.fromkeys(bonus))[:4])


def _lexicon_match(words: Sequence[str]) -> tuple[int, int] | None:
    singular = tuple(_singular(w) for w in words)
    for length in range(min(len(singular), _LONGEST_ENTRY), 0, -1):
        group = _LEXICON.get(singular[:length])
        if group is not None:
            return length, group
    return None


def _split(word: str, vocabulary: Vocabulary) -> Phrase | None:
    """A long word written as two known ones ("finetuning" -> "fine tuning"), if any."""
    if len(word) < 7 or len(word) > 30 or not word.isalpha():
        return None
    best: tuple[int, Phrase] | None = None
    for cut in range(3, len(word) - 2):
        head, tail = word[:cut], word[cut:]
        df = min(vocabulary.df(head), vocabulary.df(tail))
        if df and (best is None or df > best[0]):
            best = (df, (head, tail))
    return best[1] if best else None


def _weight(alternatives: Sequence[Phrase], vocabulary: Vocabulary) -> float:
    df = 0
    for phrase in alternatives:
        content = [w for w in phrase if w not in STOPWORDS] or list(phrase)
        df = max(df, min(vocabulary.df(w) for w in content))
    if not df:
        return 0.0
    n = vocabulary.documents
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


# -- engine query languages ---------------------------------------------------------------------


def _fts_phrase(phrase: Phrase) -> str:
    # Words are letters and digits only, so quoting cannot be escaped; doubling is belt and braces.
    return '"' + " ".join(phrase).replace('"', '""') + '"'


def _fts_any(phrases: Iterable[Phrase]) -> str:
    return "(" + " OR ".join(_fts_phrase(p) for p in phrases) + ")"


def _ts_phrase(phrase: Phrase, labels: str = "") -> str:
    suffix = f":{labels}" if labels else ""
    return " <-> ".join("'" + w.replace("'", "''") + "'" + suffix for w in phrase)


def _ts_any(phrases: Iterable[Phrase], labels: str = "") -> str:
    return "(" + " | ".join(f"({_ts_phrase(p, labels)})" for p in phrases) + ")"


# -- the searcher ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Candidate:
    pk: int
    engine: float
    upvotes: int
    featured: date | None
    published: datetime | None
    matched: list[bool]
    in_title: list[bool]
    score: float = 0.0


class Searcher:
    """Searches the papers in a `Store` (SQLite or PostgreSQL, migrated to 0002 or later)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._vocabulary: Vocabulary | None = None
        self._vocabulary_key: int | None = None

    def invalidate(self) -> None:
        """Forget the cached vocabulary; call after changing paper texts. (It is refreshed by
        itself when papers are added.)"""
        with self._lock:
            self._vocabulary = None
            self._vocabulary_key = None

    def search(
        self,
        query: str,
        *,
        limit: int = 5,
        since: date | None = None,
        until: date | None = None,
        exclude: Collection[str] = (),
        min_score: float = 0.0,
    ) -> list[ScoredPaper]:
        """The papers best matching ``query``, most relevant first; ties go to more upvotes,
        then the more recently featured (then published) paper. Withdrawn papers never appear.

        ``since``/``until`` bound the featured date (inclusive); ``exclude`` is arXiv ids to
        leave out. ``ScoredPaper.score`` is in [0, 1]: 0.6 × the share of the query's concepts
        (weighted by how rare they are in the index) the paper matches anywhere, + 0.25 × the
        share it matches in its title or keywords, + 0.15 × its engine rank relative to the
        best hit. So 0.6 means "mentions everything asked somewhere"; ``min_score`` drops
        papers below it. Any text is accepted; with nothing searchable in it the answer is []."""
        if limit <= 0 or not normalize_query(query):
            return []
        with self.store.session() as session:
            vocabulary = self._current_vocabulary(session)
            parsed = analyze(query, vocabulary)
            if not parsed:
                return []
            candidates = self._candidates(session, parsed, since, until, exclude)
            ranked = _rank(candidates, parsed)
            ranked = [c for c in ranked if c.score >= min_score][:limit]
            if not ranked:
                return []
            rows = session.scalars(select(PaperRow).where(PaperRow.pk.in_([c.pk for c in ranked])))
            by_pk = {row.pk: row_to_paper(row) for row in rows}
        return [ScoredPaper(by_pk[c.pk], c.score) for c in ranked if c.pk in by_pk]

    # -- vocabulary --

    def _current_vocabulary(self, session: Session) -> Vocabulary:
        key = session.scalar(select(func.max(PaperRow.pk))) or 0
        with self._lock:
            if self._vocabulary is not None and self._vocabulary_key == key:
                return self._vocabulary
        vocabulary = self._load_vocabulary(session)
        with self._lock:
            self._vocabulary, self._vocabulary_key = vocabulary, key
        return vocabulary

    def _load_vocabulary(self, session: Session) -> Vocabulary:
        documents = session.scalar(select(func.count()).select_from(PaperRow)) or 0
        if self.store.dialect == "postgresql":
            rows = session.execute(
                text(
                    "SELECT word, ndoc FROM ts_stat($$SELECT to_tsvector('simple', "
                    "coalesce(title, '') || ' ' || coalesce(keywords_text, '') || ' ' || "
                    "coalesce(ai_summary, '') || ' ' || coalesce(summary, '') || ' ' || "
                    "coalesce(authors_text, '')) FROM papers$$)"
                )
            )
        else:
            rows = session.execute(text("SELECT term, doc FROM papers_words_vocab"))
        return Vocabulary(((str(w), int(n)) for w, n in rows), documents)

    # -- candidates --

    def _candidates(
        self,
        session: Session,
        parsed: Query,
        since: date | None,
        until: date | None,
        exclude: Collection[str],
    ) -> list[_Candidate]:
        filters = ["p.withdrawn_at IS NULL"]
        params: dict[str, Any] = {"depth": CANDIDATES}
        if since is not None:
            filters.append("p.featured_date >= :since")
            params["since"] = since
        if until is not None:
            filters.append("p.featured_date <= :until")
            params["until"] = until
        if exclude:
            filters.append("p.arxiv_id NOT IN :exclude")
            params["exclude"] = list(exclude)
        where = " AND ".join(filters)
        concepts = parsed.concepts
        everything = [p for c in concepts for p in c.alternatives] + list(parsed.phrases)
        checks = []
        if self.store.dialect == "postgresql":
            params["q"] = " | ".join(f"({_ts_phrase(p)})" for p in everything)
            for i, concept in enumerate(concepts):
                params[f"c{i}"] = _ts_any(concept.alternatives)
                params[f"t{i}"] = _ts_any(concept.alternatives, "AB")
                checks.append(
                    f"v @@ to_tsquery('english', :c{i}) AS m{i}, "
                    f"v @@ to_tsquery('english', :t{i}) AS t{i}"
                )
            sql = (
                "WITH q AS (SELECT to_tsquery('english', :q) AS q), cand AS ("
                f" SELECT p.pk, ts_rank_cd('{_PG_WEIGHTS}', p.search_vector, q.q) AS engine,"
                "  p.upvotes, p.featured_date, p.published_at, p.search_vector AS v"
                f" FROM papers p, q WHERE p.search_vector @@ q.q AND {where}"
                " ORDER BY engine DESC LIMIT :depth)"
                f" SELECT pk, engine, upvotes, featured_date, published_at, {', '.join(checks)}"
                " FROM cand"
            )
        else:
            weights = ", ".join(str(w) for w in _BM25_WEIGHTS)
            params["q"] = " OR ".join(_fts_phrase(p) for p in everything)
            for i, concept in enumerate(concepts):
                params[f"c{i}"] = _fts_any(concept.alternatives)
                params[f"t{i}"] = "{title keywords_text} : " + _fts_any(concept.alternatives)
                checks.append(
                    f"EXISTS (SELECT 1 FROM papers_fts f WHERE f.papers_fts MATCH :c{i}"
                    f" AND f.rowid = cand.pk) AS m{i}, "
                    f"EXISTS (SELECT 1 FROM papers_fts f WHERE f.papers_fts MATCH :t{i}"
                    f" AND f.rowid = cand.pk) AS t{i}"
                )
            sql = (
                "WITH cand AS ("
                f" SELECT p.pk AS pk, -bm25(papers_fts, {weights}) AS engine,"
                "  p.upvotes AS upvotes, p.featured_date AS featured_date,"
                "  p.published_at AS published_at"
                " FROM papers_fts JOIN papers p ON p.pk = papers_fts.rowid"
                f" WHERE papers_fts MATCH :q AND {where}"
                " ORDER BY engine DESC LIMIT :depth)"
                f" SELECT pk, engine, upvotes, featured_date, published_at, {', '.join(checks)}"
                " FROM cand"
            )
        statement = text(sql).columns(
            pk=Integer, engine=Float, upvotes=Integer, featured_date=Date, published_at=UTCDateTime
        )
        if exclude:
            statement = statement.bindparams(bindparam("exclude", expanding=True))
        out = []
        n = len(concepts)
        for row in session.execute(statement, params):
            flags = [bool(v) for v in row[5:]]
            out.append(
                _Candidate(
                    pk=row.pk,
                    engine=max(float(row.engine or 0.0), 0.0),
                    upvotes=row.upvotes or 0,
                    featured=row.featured_date,
                    published=row.published_at,
                    matched=flags[0 : 2 * n : 2],
                    in_title=flags[1 : 2 * n : 2],
                )
            )
        return out


def _rank(candidates: list[_Candidate], parsed: Query) -> list[_Candidate]:
    weights = [c.weight for c in parsed.concepts]
    if not any(weights):  # nothing the vocabulary knows: count every concept alike
        weights = [1.0] * len(weights)
    total = sum(weights)
    best = max((c.engine for c in candidates), default=0.0)
    for c in candidates:
        coverage = sum(w for w, m in zip(weights, c.matched, strict=True) if m) / total
        title = sum(w for w, t in zip(weights, c.in_title, strict=True) if t) / total
        engine = c.engine / best if best > 0 else 0.0
        c.score = min(
            1.0, _COVERAGE_SHARE * coverage + _TITLE_SHARE * title + _ENGINE_SHARE * engine
        )

    def key(c: _Candidate) -> tuple[Any, ...]:
        featured = c.featured.toordinal() if c.featured else 0
        published = c.published.timestamp() if c.published else 0.0
        return (-round(c.score, 6), -c.upvotes, -featured, -published, c.pk)

    return sorted(candidates, key=key)
