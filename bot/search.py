"""Topic search over the stored papers, done by the database's own full-text engine.

SQLite ranks with FTS5 bm25() and PostgreSQL with ts_rank_cd() over a weighted tsvector (both
set up by migration 0002); the title weighs most, then keywords, AI summary, abstract, authors.
User text never reaches SQL: it is cut into word tokens here, and every token is quoted into the
engine's query language (FTS5 ``"tok"``, tsquery ``'tok'``) and passed as a bound parameter.

A query is analysed into *concepts*, each a set of alternative phrases any of which satisfies
it: the user's word, its acronym or expansion ("MoE" <-> "mixture of experts"), a few common
paraphrases ("cheaper" <-> "efficient"), the spelling fix for a word the index has never seen,
and split or joined compounds ("fine tuning" <-> "finetuning"). The engine ranks the papers
matching any of them (OR, so paraphrases still find partial matches) and hands over its best
`CANDIDATES` (as many as asked for when that is more); those are re-ranked here by how much of
the query they cover (concepts weighted by rarity, matched by Porter stem), whether they cover
it in the title, and the engine's rank. Equal scores go to more upvotes, then recency.

Cost stays bounded at any size: words too common to pick candidates by are left to the
re-ranking (`COMMON_DF`) unless the rarer phrases find too few papers, and without a date range
the engine scores only the newest `WINDOW` matches. The vocabulary (for typos, rarity and
inflections) is read from the index (``fts5vocab`` / ``ts_stat``) and cached until papers are
added or `Searcher.invalidate` is called.

With semantic matching on (`bot.semantic`), the papers nearest to the query's embedding join the
candidates and each candidate's score becomes a fusion of its lexical score and its cosine.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import heapq
import itertools
import logging
import math
import re
import sqlite3
import sys
import threading
import unicodedata
from array import array
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from rapidfuzz import process
from rapidfuzz.distance import OSA
from sqlalchemy import Date, Float, Integer, bindparam, func, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import TextualSelect

from bot.db import SQLITE_BUSY_TIMEOUT_MS, PaperRow, SearchVocabularyRow, UTCDateTime
from bot.migrations import pg_search
from bot.models import ScoredPaper
from bot.store import Store, row_to_paper
from bot.words import MAX_WORD_LENGTH, fold, split_words, text_key

if TYPE_CHECKING:
    from bot.semantic import Semantic

log = logging.getLogger(__name__)

# How many of the engine's best hits are re-ranked here (more when more answers are asked for).
CANDIDATES = 50
# Without a date range, only the newest matches (by insertion) are scored by the engine.
WINDOW = 2000
# Words in more papers than this are too common to pick candidates by (see _retrieval_phrases).
COMMON_DF = 5000
# Papers holding every part of a query, asked for when the best answers miss a part (see
# `_joint_groups`).
JOINT_CANDIDATES = 20
# A stale vocabulary of at most this many papers is reloaded before answering; a larger one in
# the background.
SYNC_REFRESH_DOCS = 5000
_MAX_FORMS = 400  # index words looked at for a word's inflections
_MAX_CACHED_FORMS = 100_000
MAX_QUERY_CHARS = 500
MAX_CONCEPTS = 10
MAX_ALTERNATIVES = 12
# A word with "++" or "#" right after it ("C++", "C#", "F#"), which the indexes keep as the bare
# word: such a word is asked for as written, and only a text holding it so counts as a match.
# Neither a letter ("C++x") nor more "+" or "#" may follow; a version may follow "++" ("C++17"),
# while "#" then numbers something ("item #3").
_AFTER_PLUS_PLUS = r"(?![^\W\d_]|[+#])"
_AFTER_SHARP = r"(?![^\W_]|[+#])"
_LITERAL_TOKEN = re.compile(rf"[^\W_]+(\+\+{_AFTER_PLUS_PLUS}|#{_AFTER_SHARP})?")

# Shares of the normalised score (they sum to 1; see `Searcher.search`).
_COVERAGE_SHARE = 0.6
_TITLE_SHARE = 0.25
_ENGINE_SHARE = 0.15
# Coverage credit for a concept found only through an acronym, expansion or paraphrase.
_RELATED_CREDIT = 0.8

# bm25() column weights, in the FTS5 column order: title, keywords, AI summary, abstract, authors.
_BM25_WEIGHTS = (10.0, 5.0, 3.0, 1.0, 1.0)
# The query :q analysed as the search vectors are (accents removed, English stems).
_PG_TSQUERY = f"to_tsquery('{pg_search.ENGLISH}', :q)"
# The texts a word asked with "++" or "#" is looked for in, as written (re-ranking's texts).
_WRITTEN_COLUMNS = ("title", "keywords_text", "ai_summary", "summary")
# ts_rank_cd() weights for the tsvector labels {D, C, B, A}.
_PG_WEIGHTS = "{0.1, 0.3, 0.5, 1.0}"


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
    able actually better different even good great keep keeping keeps kind make makes making
    made many old ones right run running runs several sort stay stays still thing things way ways
"""
# English function words and the filler of requests ("papers about", "new work on", "how to").
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
# Filler that after a word of the topic may be part of it ("deep research", "user study"): there
# the two words in a row count in full, the word alone nearly (as an expansion does).
_FILLER_TERMS = frozenset({"research", "study", "studies"})

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
    "ptq": ("post training quantization",),
    "qat": ("quantization aware training",),
    "fl": ("federated learning",),
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
    ("privacy", "private", "privacy preserving"),
    ("summarization", "summarize", "summary"),
    ("music", "song"),
    ("avatar", "talking head", "digital human"),
    ("3d", "three dimensional"),
)

Phrase = tuple[str, ...]


def query_words(text: str) -> list[str]:
    """The words of ``text``, lower-cased: letters and digits only, everything else a separator.

    Bounded (the first `MAX_QUERY_CHARS` characters; over-long "words" are noise and dropped),
    so any input is cheap to analyse."""
    return [word for word, _ in query_tokens(text)]


def query_tokens(text: str) -> list[tuple[str, str]]:
    """`query_words`, each with how it was asked: the word itself, or the word with the "++"
    or "#" written right after it ("c++", "c#")."""
    tokens = []
    for m in _LITERAL_TOKEN.finditer(
        unicodedata.normalize("NFKC", text or "")[:MAX_QUERY_CHARS].lower()
    ):
        word = m[0][: len(m[0]) - len(m[1] or "")]
        if len(word) <= MAX_WORD_LENGTH:
            tokens.append((word, m[0]))
    return tokens


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


class _PorterStems:
    """Porter stems exactly as SQLite FTS5 makes them, from a private in-memory FTS5 table, so
    re-ranking counts as "the same word" what the index does (PostgreSQL's English stemmer
    differs only at the margins)."""

    _LIMIT = 500_000  # cached stems; past this the cache starts over

    def __init__(self) -> None:
        self._db: sqlite3.Connection | None = None
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(":memory:", check_same_thread=False)
        # The tokenizer of papers_fts (migration 0002).
        tokenizer = "porter unicode61 remove_diacritics 2"
        db.execute(f"CREATE VIRTUAL TABLE words USING fts5(w, tokenize='{tokenizer}')")
        db.execute("CREATE VIRTUAL TABLE stems USING fts5vocab(words, 'instance')")
        return db

    def __call__(self, words: Iterable[str]) -> dict[str, str]:
        wanted = set(words)
        with self._lock:
            missing = [w for w in wanted if w not in self._cache]
            if missing:
                if len(self._cache) + len(missing) > self._LIMIT:
                    self._cache.clear()
                db = self._db = self._db or self._connect()
                with db:
                    db.executemany("INSERT INTO words(rowid, w) VALUES (?, ?)", enumerate(missing))
                    for term, doc in db.execute("SELECT term, doc FROM stems"):
                        self._cache[missing[doc]] = term
                    db.execute("DELETE FROM words")
                for w in missing:
                    self._cache.setdefault(w, w)
            return {w: self._cache.get(w, w) for w in wanted}


_stems = _PorterStems()


class Vocabulary:
    """The words in the index with their document counts: to spot and fix typos, to weigh a
    query's words by rarity, and to know the inflections of a word the papers use."""

    def __init__(self, counts: Iterable[tuple[str, int]], documents: int) -> None:
        self.documents = max(documents, 1)
        self._df: dict[str, int] = {}
        self._spelling: dict[str, str] = {}
        for word, df in counts:
            key = word.lower() if word.isascii() else fold(word.lower())
            if df > self._df.get(key, 0):
                self._df[key] = df
                self._spelling[key] = word
        self._sorted = sorted(self._df)
        self._near_index: dict[tuple[int, str], list[str]] | None = None
        self._forms: dict[str, frozenset[str]] = {}

    @property
    def _near(self) -> dict[tuple[int, str], list[str]]:
        """Spelling candidates by length and first or last two letters: one edit cannot change
        both ends of a word of five letters or more, so a typo's neighbours share one of them.
        Made at the first typo (half of building a vocabulary, which a command-line search of
        correctly spelled words would pay for nothing); two threads at once make equal ones."""
        if self._near_index is None:
            near: dict[tuple[int, str], list[str]] = defaultdict(list)
            for key in self._sorted:
                if len(key) >= 3 and not key.isdigit():
                    near[len(key), key[:2]].append(key)
                    near[-len(key), key[-2:]].append(key)
            self._near_index = near
        return self._near_index

    def __len__(self) -> int:
        return len(self._df)

    def count(self, word: str) -> int:
        """Documents holding exactly ``word``."""
        return self._df.get(fold(word), 0)

    def df(self, word: str) -> int:
        """Documents holding ``word``, or else its most used inflection (0 when unknown)."""
        key = fold(word)
        return self._df.get(key) or max((self._df.get(w, 0) for w in self.forms(key)), default=0)

    def forms(self, word: str) -> frozenset[str]:
        """``word`` and the words in the index with the same stem."""
        found = self._forms.get(word)
        if found is None:
            key = fold(word)
            stem = _stems([key])[key]
            # A stem is the start of its words but for a changed last letter ("happi").
            prefix = stem[:-1] if len(stem) > 3 else stem
            start = bisect.bisect_left(self._sorted, prefix)
            nearby = list(
                itertools.takewhile(
                    lambda w: w.startswith(prefix), self._sorted[start : start + _MAX_FORMS]
                )
            )
            same = _stems(nearby)
            found = frozenset((word, key, *(w for w in nearby if same[w] == stem)))
            if len(self._forms) < _MAX_CACHED_FORMS:
                self._forms[word] = found
        return found

    def correct(self, word: str) -> str | None:
        """The known word nearest to an unknown ``word`` (edit distance with transpositions:
        at most 1 for 4–7 characters, 2 for longer), the most frequent on a tie; else None."""
        key = fold(word)
        if len(key) < 4 or key.isdigit() or self.df(key):
            return None
        limit = 1 if len(key) <= 7 else 2
        candidates: set[str] = set()
        for length in range(len(key) - limit, len(key) + limit + 1):
            candidates.update(self._near.get((length, key[:2]), ()))
            candidates.update(self._near.get((-length, key[-2:]), ()))
        best: tuple[int, int, str] | None = None
        for candidate, distance, _ in process.extract(
            key, list(candidates), scorer=OSA.distance, score_cutoff=limit, limit=None
        ):
            rank = (int(distance), -self._df[candidate], candidate)
            if best is None or rank < best:
                best = rank
        return self._spelling[best[2]] if best else None


@dataclass(frozen=True, slots=True)
class Concept:
    """One thing the query asks for: any of the alternative phrases satisfies it, the first
    ``own`` (the user's words, spelling fixed) fully and the rest (acronyms, expansions,
    paraphrases) nearly. ``weight`` is its rarity in the index (0 when nothing in the index can
    match it); ``topical`` when it comes from the field's lexicon, so it is never a name."""

    alternatives: tuple[Phrase, ...]
    weight: float
    own: int = 1
    topical: bool = False
    literal: str = ""  # as asked ("c++"): then only a text holding it so matches


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
    tokens = query_tokens(text)
    # Words asked with "++" or "#" ("c++"), by position: taken as written, each a concept alone.
    literals = {i: asked for i, (word, asked) in enumerate(tokens) if asked != word}
    fixed: list[tuple[str, str | None]] = []  # (word to use, the user's spelling if fixed)
    for i, (word, _) in enumerate(tokens):
        if i in literals or word in STOPWORDS or _singular(word) in _LEXICON_WORDS:
            fixed.append((word, None))
            continue
        correction = vocabulary.correct(word) if len(vocabulary) else None
        fixed.append((correction, word) if correction else (word, None))

    # (alternatives, own, from the lexicon, literal)
    concepts: list[tuple[list[Phrase], int, bool, str]] = []
    bonus: list[Phrase] = []
    previous: str | None = None  # the last content word, for phrase bonuses
    i = 0
    while i < len(fixed) and len(concepts) < MAX_CONCEPTS:
        if literal := literals.get(i):
            concepts.append(([(fixed[i][0],)], 1, False, literal))
            previous = None
            i += 1
            continue
        window = next(
            (j for j in range(i, i + _LONGEST_ENTRY) if j in literals), i + _LONGEST_ENTRY
        )
        span = _lexicon_match([w for w, _ in fixed[i:window]])
        if span:
            length, group = span
            own = tuple(w for w, _ in fixed[i : i + length])
            content = [w for w in own if w not in STOPWORDS]
            if len(content) > 1:
                # Each word counts on its own (partial matches still rank), and is satisfied
                # by the whole phrase or its acronym; the phrase itself is one more concept.
                concepts += [([(w,), *_GROUPS[group]], 1, True, "") for w in content]
            concepts.append(([own, *_GROUPS[group]], 1, True, ""))
            previous = None
            i += length
            continue
        word, typed = fixed[i]
        i += 1
        if word in STOPWORDS:
            if word in _FILLER_TERMS and previous and concepts and not concepts[-1][2]:
                # The previous word's concept: its first spelling and this word in a row first
                # (in full), its own after.
                spellings = concepts[-1][0]
                concepts[-1] = ([(*spellings[0], word), *spellings], 1, False, "")
            previous = None
            continue
        alternatives: list[Phrase] = [(word,)]
        if typed:
            alternatives.append((typed,))
        following = fixed[i][0] if i < len(fixed) and i not in literals else None
        if following and following not in STOPWORDS and vocabulary.count(word + following):
            # Two words the papers also write as one: "fine tuning" / "finetuning".
            alternatives = [(word, following), (word + following,)]
            i += 1
            word = word + following
        elif split := _split(word, vocabulary):
            alternatives.append(split)
        if previous:
            bonus.append((previous, word))
        previous = word
        concepts.append((alternatives, len(alternatives), False, ""))

    weighed = []
    for alternatives, users, topical, literal in concepts:
        unique = tuple(dict.fromkeys(alternatives))[:MAX_ALTERNATIVES]
        mine = len(set(unique) & set(alternatives[:users]))
        weighed.append((unique, _weight(unique, vocabulary), mine, topical, literal))
    # The vocabulary knows how rare the bare word is ("c", in many papers), not how rare it is
    # written as asked ("c++"): such a word weighs at least as much as the rarest word asked, so
    # that a paper holding only the rest of "C++17" covers at most half of it.
    rarest = max((weight for _, weight, *_ in weighed), default=0.0)
    out = [
        Concept(unique, max(weight, rarest) if literal else weight, mine, topical, literal)
        for unique, weight, mine, topical, literal in weighed
    ]
    return Query(tuple(out), tuple(dict.fromkeys(bonus))[:4])


def _lexicon_match(words: Sequence[str]) -> tuple[int, int] | None:
    singular = tuple(_singular(w) for w in words)
    for length in range(min(len(singular), _LONGEST_ENTRY), 0, -1):
        group = _LEXICON.get(singular[:length])
        if group is not None:
            return length, group
    return None


def _split(word: str, vocabulary: Vocabulary) -> Phrase | None:
    """A long word the papers more often write as two ("finetuning" -> "fine tuning")."""
    if len(word) < 7 or len(word) > 30 or not word.isalpha():
        return None
    own = vocabulary.count(word)
    best: tuple[int, Phrase] | None = None
    for cut in range(3, len(word) - 2):
        head, tail = word[:cut], word[cut:]
        df = min(vocabulary.count(head), vocabulary.count(tail))
        if df > own and (best is None or df > best[0]):
            best = (df, (head, tail))
    return best[1] if best else None


def _weight(alternatives: Sequence[Phrase], vocabulary: Vocabulary) -> float:
    """A concept's rarity (BM25's idf), from the papers any of its alternatives may match."""
    df = max(_estimated_df(p, vocabulary) for p in alternatives)
    if not df:
        return 0.0
    n = vocabulary.documents
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def _estimated_df(phrase: Phrase, vocabulary: Vocabulary) -> int:
    """At most how many papers hold ``phrase``: those holding its rarest word."""
    content = [w for w in phrase if w not in STOPWORDS] or list(phrase)
    return min(vocabulary.df(w) for w in content)


# -- engine query languages ---------------------------------------------------------------------


def _fts_phrases(phrases: Sequence[Phrase], vocabulary: Vocabulary) -> list[Phrase]:
    """``phrases`` as FTS5 is asked for them. bm25() weighs each phrase by first reading every
    paper that holds it, whatever the LIMIT, so a common word costs the most to ask for; and a
    word in more than half the papers is weighed at nearly nothing (its idf is clamped to a
    millionth). Such words (when also in more than `COMMON_DF` papers: small collections keep
    them) are left out while a rarer known phrase remains. The engine then ranks by the phrases
    that tell papers apart, and re-ranking still credits the common words in every candidate;
    only papers holding nothing but common words are no longer candidates.

    A phrase of several words is asked once however many of its spellings stem alike ("state
    space model" and "... models", which the lexicon spells out for PostgreSQL): FTS5 would
    match and weigh each of them alike."""
    stems = _stems({w for p in phrases if len(p) > 1 for w in p})
    asked: dict[Phrase, Phrase] = {}
    for p in phrases:
        asked.setdefault(tuple(stems[w] for w in p) if len(p) > 1 else p, p)
    phrases = list(asked.values())
    common = max(vocabulary.documents / 2, COMMON_DF)
    rare = [p for p in phrases if len(p) > 1 or _stem_df(p[0], vocabulary) <= common]
    if len(rare) < len(phrases) and any(_estimated_df(p, vocabulary) for p in rare):
        return rare
    return phrases


def _stem_df(word: str, vocabulary: Vocabulary) -> int:
    """At most how many papers hold a word the index stems as it stems ``word``."""
    return sum(vocabulary.count(w) for w in vocabulary.forms(word))


def _walk_is_shorter(phrases: Sequence[Phrase], vocabulary: Vocabulary) -> bool:
    """PostgreSQL: whether walking the newest papers until `WINDOW` match ``phrases`` reads
    fewer papers than the GIN index would hand over. Both read each paper's search vector (the
    index keeps no word positions, so every paper it finds for a phrase is tested again).

    The index finds each word by its stem ("object" also finds "objective"), and a phrase's
    papers by all its stems at once; the walk stops after `WINDOW` papers that truly match.
    The phrases of a query mostly hold the same papers ("state", "space", "state space
    model"), so each count is the largest of any one phrase's. Both are then low, the walk's
    more (its share of matches is squared): a wrong walk can read the whole table, a wrong
    index scan no more than the papers it finds."""
    documents = max(vocabulary.documents, 1)
    found = matching = 0
    for phrase in phrases:
        content = [w for w in phrase if w not in STOPWORDS] or list(phrase)
        indexed = min(_stem_df(w, vocabulary) for w in content)
        found = max(found, indexed)
        matching = max(matching, indexed if len(phrase) == 1 else _estimated_df(phrase, vocabulary))
    walked = WINDOW * documents / max(min(matching, documents), 1)
    return walked < min(found, documents)


def _fts_phrase(phrase: Phrase) -> str:
    # Words are letters and digits only, so quoting cannot be escaped; doubling is belt and braces.
    return '"' + " ".join(phrase).replace('"', '""') + '"'


def _ts_phrase(phrase: Phrase) -> str:
    # Quoted lexemes joined by <->: to_tsquery() stems them and drops stopwords by itself.
    return " <-> ".join(_ts_word(w) for w in phrase)


# A word of letters then digits ("qwen2", "v1"): PostgreSQL's parser keeps what follows it with
# a dot or hyphen in one lexeme ("qwen2.5-math", "v1.5"), where search sees more words.
_GLUED = re.compile(r"[^\W\d_]+\d+")


def _ts_word(word: str) -> str:
    quoted = "'" + word.replace("'", "''").replace("\\", "") + "'"
    # As a prefix it also matches those lexemes; re-ranking then reads the words themselves.
    return quoted + ":*" if _GLUED.fullmatch(word) else quoted


def _joint_groups(query: Query, vocabulary: Vocabulary) -> list[list[Phrase]] | None:
    """What a paper holding every part of ``query`` matches: one group of phrases per concept,
    any of which satisfies it, for the engine to AND; None when there are not two parts.

    The first candidates are the engine's best matches for any concept, scored among the
    newest `WINDOW` matches only and without the words in more than `COMMON_DF` papers: for a
    query of two topics ("VLMs for navigation") they are papers about either one. This asks
    for the papers holding both. Phrases of common words (slow to find) are left out of a
    group, and a concept whose own phrase is one of them is left to re-ranking, as are concepts
    that most papers may hold and concepts implied by another's group (each word of "latent
    diffusion models" is satisfied by the phrase)."""
    common = max(vocabulary.documents / 2, COMMON_DF)
    stems = _stems({w for c in query.concepts for p in c.alternatives for w in p})
    groups: dict[frozenset[Phrase], list[Phrase]] = {}  # by the stems of their phrases
    for concept in query.concepts:
        df = {p: _estimated_df(p, vocabulary) for p in concept.alternatives}
        # Phrases that stem alike match alike: each is asked once, in its first spelling.
        spelled: dict[Phrase, Phrase] = {}
        for p, n in df.items():
            if n and (len(p) == 1 or n <= COMMON_DF):
                spelled.setdefault(tuple(stems[w] for w in p), p)
        # How many papers the group may match, as the engine counts: with a word's inflections.
        matching = sum(
            _stem_df(p[0], vocabulary) if len(p) == 1 else df[p] for p in spelled.values()
        )
        if concept.alternatives[0] in spelled.values() and matching <= common:
            groups[frozenset(spelled)] = list(spelled.values())
    # A group with all of another's phrases is implied by it.
    kept = [g for key, g in groups.items() if not any(o < key for o in groups)]
    return kept if len(kept) >= 2 else None


def _fts_any(phrases: Iterable[Phrase]) -> str:
    """An FTS5 query matching any of ``phrases``."""
    return " OR ".join(_fts_phrase(p) for p in phrases)


def _ts_any(phrases: Iterable[Phrase]) -> str:
    """to_tsquery() text matching any of ``phrases``."""
    return " | ".join(f"({_ts_phrase(p)})" for p in phrases)


def _wanted_phrases(query: Query) -> list[Phrase]:
    """Every alternative of every concept, and the phrase bonuses."""
    wanted = [p for c in query.concepts for p in c.alternatives] + list(query.phrases)
    return list(dict.fromkeys(wanted))


def _retrieval_phrases(wanted: Sequence[Phrase], vocabulary: Vocabulary) -> list[Phrase]:
    """What the engine is asked for first: ``wanted`` (`_wanted_phrases`), less phrases so
    common that scoring all their papers would be slow (they add little to bm25 anyway) when
    rarer ones remain."""
    df = {p: _estimated_df(p, vocabulary) for p in wanted}
    # Words unknown to the vocabulary cost the engine nothing, and may be newer than it.
    selective = [p for p in wanted if df[p] <= COMMON_DF]
    if any(df[p] for p in selective) or not any(df.values()):
        return selective
    # Everything known is common: single words only, phrases of common words are slow to find.
    singles = [p for p in wanted if len(p) == 1 and df[p]]
    return singles + [p for p in wanted if not df[p]] if singles else list(wanted)


def _more_phrases(wanted: Sequence[Phrase], asked: Sequence[Phrase]) -> list[Phrase]:
    """What to ask the engine for when ``asked`` (`_retrieval_phrases`) found too few papers:
    the single words of ``wanted`` left out, or when there are none the phrases left out.
    Phrases of common words are slow to find, and re-ranking credits them anyway."""
    left = [p for p in wanted if p not in asked]
    return [p for p in left if len(p) == 1] or left


# -- re-ranking ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Forms:
    """Whether a paper's text holds any of some phrases: an inflection of a single word, or
    inflections of a phrase's words in a row."""

    words: frozenset[str]
    phrases: tuple[tuple[frozenset[str], ...], ...]

    @classmethod
    def build(cls, alternatives: Iterable[Phrase], vocabulary: Vocabulary) -> _Forms:
        words: set[str] = set()
        phrases = []
        for phrase in alternatives:
            if len(phrase) == 1:
                words |= vocabulary.forms(phrase[0])
            else:
                phrases.append(
                    tuple(
                        frozenset((w,)) if w in STOPWORDS else vocabulary.forms(w) for w in phrase
                    )
                )
        return cls(frozenset(words), tuple(phrases))

    def found(self, text: _Text) -> bool:
        if not self.words.isdisjoint(text.words):
            return True
        for phrase in self.phrases:
            if any(forms.isdisjoint(text.words) for forms in phrase):
                continue
            rest = phrase[1:]
            for first in phrase[0] & text.words:
                needle = f" {first} "
                at = text.joined.find(needle)
                while at >= 0:
                    following = text.joined[at + len(needle) :].split(" ", len(rest))
                    if len(following) >= len(rest) and all(
                        w in forms for w, forms in zip(following, rest, strict=False)
                    ):
                        return True
                    at = text.joined.find(needle, at + 1)
        return False


def _written(literal: str) -> re.Pattern[str]:
    """Where a lower-cased text writes ``literal`` ("c++", "c#") as a word of its own."""
    after = _AFTER_PLUS_PLUS if literal.endswith("++") else _AFTER_SHARP
    return re.compile(rf"(?<![^\W_]){re.escape(literal)}{after}")


class _Matcher:
    """How well a paper's text holds a concept: 1 in the user's own words, `_RELATED_CREDIT`
    through an acronym, expansion or paraphrase, else 0. A concept asked as written ("c++")
    counts only where the text has it so, not where it has the bare word ("Appendix C")."""

    def __init__(self, concept: Concept, vocabulary: Vocabulary) -> None:
        self.own = _Forms.build(concept.alternatives[: concept.own], vocabulary)
        self.related = _Forms.build(concept.alternatives[concept.own :], vocabulary)
        self.literal = _written(concept.literal) if concept.literal else None

    def credit(self, text: _Text) -> float:
        if self.literal is not None:
            return 1.0 if self.own.found(text) and self.literal.search(text.lowered) else 0.0
        if self.own.found(text):
            return 1.0
        return _RELATED_CREDIT if self.related.found(text) else 0.0


class _Text:
    """A field's words, as a set and as one spaced string for phrase lookups; each made on
    first use (re-ranking may never read a text, and phrases seldom need the string)."""

    __slots__ = ("_joined", "_lowered", "_parts", "_tokens", "_words")

    def __init__(self, *parts: str | None) -> None:
        self._parts = parts
        self._lowered: str | None = None
        self._tokens: list[str] | None = None
        self._words: set[str] | None = None
        self._joined: str | None = None

    @property
    def lowered(self) -> str:
        """The text itself, lower-cased."""
        if self._lowered is None:
            self._lowered = " ".join(p for p in self._parts if p).lower()
        return self._lowered

    @property
    def tokens(self) -> list[str]:
        if self._tokens is None:
            self._tokens = split_words(self.lowered)
        return self._tokens

    @property
    def words(self) -> set[str]:
        if self._words is None:
            self._words = set(self.tokens)
        return self._words

    @property
    def joined(self) -> str:
        if self._joined is None:
            self._joined = " " + " ".join(self.tokens) + " "
        return self._joined


@dataclass(slots=True)
class _Candidate:
    pk: int
    engine: float
    upvotes: int
    featured: date | None
    published: datetime | None
    title: _Text  # title and keywords
    body: _Text  # AI summary and abstract
    authors: str
    score: float = 0.0
    coverage: float = 0.0  # the weighted share of the query's concepts found, in [0, 1]


# -- the searcher ---------------------------------------------------------------------------------


class Searcher:
    """Searches the papers in a `Store` (SQLite or PostgreSQL, migrated to 0002 or later);
    hybrid lexical and semantic when given a `Semantic`."""

    def __init__(self, store: Store, semantic: Semantic | None = None) -> None:
        self.store = store
        self.semantic = semantic
        self._lock = threading.Lock()
        self._vocabulary: Vocabulary | None = None
        self._vocabulary_key: int | None = None
        self._stale = False
        self._refresher: threading.Thread | None = None
        # Read from the index, not saved yet: (generation, documents, words with counts).
        self._unsaved: tuple[int, int, list[tuple[str, int]]] | None = None

    def invalidate(self) -> None:
        """Reload the vocabulary (typo fixes, word rarity) before long: call after an ingest
        changed paper texts. New papers alone are noticed without this."""
        with self._lock:
            self._stale = True

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
        """The papers best matching ``query``, most relevant first; equal scores go to more
        upvotes, then the more recently featured (then published) paper. Withdrawn papers
        never appear. Any text is accepted; with nothing searchable in it the answer is [].

        ``since``/``until`` bound the featured date (inclusive); ``exclude`` is arXiv ids to
        leave out. ``ScoredPaper.score`` is in [0, 1]:

        - 0.6 × coverage: the share of the query's concepts (each weighted by its rarity in the
          index) found in the paper's title, keywords, AI summary or abstract (an author-name
          match counts half);
        - 0.25 × the share found in the title or keywords;
        - 0.15 × the engine's rank (bm25 / ts_rank_cd) relative to the best hit.

        So a paper scoring 0.6 or more mentions everything asked somewhere, and one under 0.3
        misses most of it; ``min_score`` drops papers scoring below it. A paper whose title is
        the query itself (their words compared, `bot.words.text_key`) scores 1, however old.

        With semantic matching the score is `bot.semantic.Fusion`'s: the lexical score above
        and the cosine of query and paper embeddings, weighted; still in [0, 1], and a paper
        related to the query in neither way scores 0."""
        try:
            return self._search(query, limit, since, until, exclude, min_score)
        finally:
            self._save_vocabulary()  # outside the search's own transaction

    def _search(
        self,
        query: str,
        limit: int,
        since: date | None,
        until: date | None,
        exclude: Collection[str],
        min_score: float,
    ) -> list[ScoredPaper]:
        if limit <= 0 or not normalize_query(query):
            return []
        with self.store.session() as session:
            vocabulary = self._current_vocabulary(session)
            parsed = analyze(query, vocabulary)
            if not parsed:
                return []
            wanted = _wanted_phrases(parsed)
            phrases = _retrieval_phrases(wanted, vocabulary)
            # Re-ranking can only answer with papers the engine handed over: at least as many
            # as asked for.
            depth = max(CANDIDATES, limit)
            candidates = self._matching(session, phrases, vocabulary, since, until, exclude, depth)
            if len(candidates) < depth and (more := _more_phrases(wanted, phrases)):
                # The rarer phrases alone found few papers (paraphrases no paper uses, words
                # never written together): the common words pick candidates too, or a query of
                # common words could find nothing at all.
                # Those the rarer ones found stay: the newest papers with a common word could
                # fill the window without them.
                phrases = [*phrases, *more]
                found = self._matching(session, phrases, vocabulary, since, until, exclude, depth)
                again = {c.pk for c in found}
                candidates = found + [c for c in candidates if c.pk not in again]
            similar = None
            if self.semantic is not None:
                similar = self.semantic.similar(
                    query, since=since, until=until, exclude=exclude, correct=vocabulary.correct
                )
            if similar is not None:
                lexical = {c.pk for c in candidates}
                if extra := [pk for pk in similar.nearest if pk not in lexical]:
                    candidates += self._candidates(
                        session, (), False, since, until, exclude, depth, pks=extra
                    )
            # Every candidate is scored when the vectors will score them all again.
            keep = limit if similar is None else None
            ranked = _rank(candidates, parsed, vocabulary, keep)
            complete = sum(c.coverage > 1 - 1e-6 for c in ranked[:limit])
            if complete < limit:
                # The best answers miss part of the query: ask for papers holding all of it, and
                # for those writing a word as it was asked ("c++"), which the engine cannot
                # rank above the rest of the word's papers.
                pks = []
                if groups := _joint_groups(parsed, vocabulary):
                    pks += self._holding_all(session, groups, since, until)
                if any(c.literal for c in parsed.concepts):
                    pks += self._written_as_asked(session, parsed, since, until)
                seen = {c.pk for c in candidates}
                if extra := [pk for pk in dict.fromkeys(pks) if pk not in seen]:
                    whole = self._candidates(
                        session, (), False, since, until, exclude, depth, pks=extra
                    )
                    # Only those that can beat the answers so far are scored in full.
                    floor = ranked[limit - 1].score if keep and len(ranked) >= limit else 0.0
                    ranked = sorted(
                        ranked + _rank(whole, parsed, vocabulary, keep, above=floor), key=_order
                    )
            if similar is not None and self.semantic is not None:
                fusion = self.semantic.fusion
                # Coverage counts only the words the index knows (see _rank): a query that is
                # mostly words no paper uses is answered mostly by meaning.
                known = sum(1 for c in parsed.concepts if c.weight > 0) / len(parsed.concepts)
                for c in ranked:
                    c.score = fusion.score(c.score, similar.cosine(c.pk), known=known)
                ranked = sorted(ranked, key=_order)
            if exact := self._titled(session, query):
                # Asked for by its title: first, even when its words are in many newer papers.
                seen = {c.pk for c in ranked}
                if missing := [pk for pk in exact if pk not in seen]:
                    found = self._candidates(
                        session, (), False, since, until, exclude, depth, pks=missing
                    )
                    ranked += _rank(found, parsed, vocabulary)
                for c in ranked:
                    if c.pk in exact:
                        c.score = 1.0
                ranked.sort(key=lambda c: (c.pk not in exact, _order(c)))
            # Without the vectors, a paper holding none of the query answers nothing asked (the
            # engine's bare "c" for "C++").
            ranked = [
                c
                for c in ranked
                if c.score >= min_score and (c.coverage > 0 or similar is not None or c.pk in exact)
            ][:limit]
            if not ranked:
                return []
            rows = session.execute(_PAPERS_BY_PK, {"pks": [c.pk for c in ranked]})
            by_pk = {row.pk: row_to_paper(row) for row in rows}
        return [ScoredPaper(by_pk[c.pk], c.score) for c in ranked if c.pk in by_pk]

    # -- vocabulary --

    def _current_vocabulary(self, session: Session) -> Vocabulary:
        """The vocabulary, reloaded when papers were written (by any process) or `invalidate`
        was called: before answering while the index is small, else in the background
        (reading a large index's vocabulary takes a while) while the current one serves."""
        key = _generation(session)
        with self._lock:
            vocabulary = self._vocabulary
            if vocabulary is not None and self._vocabulary_key == key and not self._stale:
                return vocabulary
            if vocabulary is not None and vocabulary.documents > SYNC_REFRESH_DOCS:
                if self._refresher is None or not self._refresher.is_alive():
                    self._refresher = threading.Thread(
                        target=self._refresh_in_background, name="search-vocabulary", daemon=True
                    )
                    self._refresher.start()
                return vocabulary
        return self._refresh(session)

    def _refresh(self, session: Session) -> Vocabulary:
        with self._lock:
            stale, self._stale = self._stale, False  # an invalidate() from now on: reload again
        key = _generation(session)
        # The copy another process saved, while no paper was written since; but not after an
        # invalidate(), which says the index holds what that copy may not.
        saved = None if stale else _saved_vocabulary(session, key)
        if saved is not None:
            vocabulary = Vocabulary(*saved)
        else:
            documents = session.scalar(select(func.count()).select_from(PaperRow)) or 0
            words = list(self._index_words(session))
            vocabulary = Vocabulary(words, documents)
            with self._lock:
                self._unsaved = (key, documents, words)
        with self._lock:
            self._vocabulary, self._vocabulary_key = vocabulary, key
        return vocabulary

    def _refresh_in_background(self) -> None:
        try:
            with self.store.session() as session:
                self._refresh(session)
            self._save_vocabulary()
        except Exception:  # the current vocabulary keeps serving; the next search retries
            log.warning("could not reload the search vocabulary", exc_info=True)
            with self._lock:
                self._stale = True

    def _index_words(self, session: Session) -> Iterator[tuple[str, int]]:
        """Every word in the index, with how many papers hold it."""
        if self.store.dialect == "postgresql":
            rows = session.execute(
                text("SELECT word, ndoc FROM ts_stat('SELECT search_words FROM papers')")
            )
        else:
            rows = session.execute(text("SELECT term, doc FROM papers_words_vocab"))
        return ((str(w), int(n)) for w, n in rows)

    def _save_vocabulary(self) -> None:
        """Save the vocabulary last read from the index, for processes that start later, unless
        papers were written since. Never worth waiting for a lock: a busy database is left
        alone, and the next process reads the index."""
        with self._lock:
            unsaved, self._unsaved = self._unsaved, None
        if unsaved is None:
            return
        generation, documents, pairs = unsaved
        words, counts = _pack_words(pairs)
        sqlite = self.store.dialect == "sqlite"
        try:
            with self.store.engine.connect() as conn:
                try:
                    with conn.begin():
                        if sqlite:
                            conn.exec_driver_sql("PRAGMA busy_timeout=50")
                        else:
                            conn.exec_driver_sql("SET LOCAL lock_timeout = '50ms'")
                        conn.execute(
                            update(SearchVocabularyRow)
                            .where(
                                SearchVocabularyRow.id == 1,
                                SearchVocabularyRow.generation == generation,
                            )
                            .values(
                                snapshot_generation=generation,
                                documents=documents,
                                words=words,
                                counts=counts,
                            )
                        )
                finally:
                    if sqlite:  # the connection goes back to the pool as it came
                        try:
                            conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
                            conn.commit()
                        except SQLAlchemyError:
                            conn.invalidate()
        except SQLAlchemyError as e:
            log.debug("search vocabulary not saved (%s)", type(e).__name__)

    # -- candidates --

    def _matching(
        self,
        session: Session,
        phrases: Sequence[Phrase],
        vocabulary: Vocabulary,
        since: date | None,
        until: date | None,
        exclude: Collection[str],
        depth: int = CANDIDATES,
    ) -> list[_Candidate]:
        """The engine's best ``depth`` candidates for any of ``phrases``."""
        sqlite = self.store.dialect == "sqlite"
        dense = not sqlite and _walk_is_shorter(phrases, vocabulary)  # a PostgreSQL plan
        if sqlite:
            phrases = _fts_phrases(phrases, vocabulary)
        return self._candidates(session, phrases, dense, since, until, exclude, depth)

    @staticmethod
    def _titled(session: Session, query: str) -> set[int]:
        """The papers whose title is ``query`` (their `text_key`s equal)."""
        key = text_key(query)
        if not key or len(key) > MAX_QUERY_CHARS:
            return set()
        return set(session.scalars(_TITLED, {"key": key, "n": JOINT_CANDIDATES}))

    def _holding_all(
        self,
        session: Session,
        groups: Sequence[Sequence[Phrase]],
        since: date | None,
        until: date | None,
    ) -> list[int]:
        """The newest `JOINT_CANDIDATES` papers matching a phrase of every group (unscored: the
        engine's weighing of common words is what costs), in or about the date range."""
        params: dict[str, Any] = {"n": JOINT_CANDIDATES, "since": since, "until": until}
        dated = _dated(since, until)
        planner: dict[str, str] = {}
        if self.store.dialect == "postgresql":
            params["q"] = " & ".join(f"({_ts_any(g)})" for g in groups)
            where = "".join(f" AND {f}" for f in dated)
            # Through the GIN index: papers holding every part are few (no group is common),
            # and a walk from the newest paper until some are found could read the whole table.
            sql = (
                f"SELECT p.pk FROM papers p WHERE p.search_vector @@ {_PG_TSQUERY}"
                f"{where} ORDER BY p.pk + 0 DESC LIMIT :n"
            )
            planner["enable_seqscan"] = "off"
        else:
            params["q"] = " AND ".join(f"({_fts_any(g)})" for g in groups)
            sql = (
                "SELECT rowid FROM papers_fts WHERE papers_fts MATCH :q"
                f"{_stored_between(dated)} ORDER BY rowid DESC LIMIT :n"
            )
        with _planner_settings(session, planner):
            return list(session.scalars(_statement(sql), params))

    def _written_as_asked(
        self, session: Session, query: Query, since: date | None, until: date | None
    ) -> list[int]:
        """The newest `JOINT_CANDIDATES` papers writing each word asked with "++" or "#" as
        asked ("c++") in their title, keywords, AI summary or abstract, in the date range.
        Only the newest `WINDOW` papers holding the bare words are read for it, so the cost
        stays bounded however many papers write "(c)"."""
        literals = {c.literal: c.alternatives[0] for c in query.concepts if c.literal}
        params: dict[str, Any] = {
            "n": JOINT_CANDIDATES,
            "window": WINDOW,
            "since": since,
            "until": until,
        }
        like = "ILIKE" if self.store.dialect == "postgresql" else "LIKE"  # SQLite's: any case
        written = []
        for i, literal in enumerate(literals):
            params[f"l{i}"] = f"%{literal}%"  # letters, digits, "+" and "#": nothing to escape
            written.append(" OR ".join(f"p.{c} {like} :l{i}" for c in _WRITTEN_COLUMNS))
        dated = _dated(since, until)
        planner: dict[str, str] = {}
        if self.store.dialect == "postgresql":
            params["q"] = " & ".join(_ts_phrase(p) for p in literals.values())
            newest = (
                f"SELECT p.pk FROM papers p WHERE p.search_vector @@ {_PG_TSQUERY}"
                f"{''.join(f' AND {f}' for f in dated)} ORDER BY p.pk + 0 DESC LIMIT :window"
            )
            planner["enable_seqscan"] = "off"  # through the GIN index, as in `_holding_all`
        else:
            params["q"] = " AND ".join(_fts_phrase(p) for p in literals.values())
            newest = (
                "SELECT rowid AS pk FROM papers_fts WHERE papers_fts MATCH :q"
                f"{_stored_between(dated)} ORDER BY rowid DESC LIMIT :window"
            )
        sql = (
            f"SELECT p.pk FROM ({newest}) AS w JOIN papers p ON p.pk = w.pk"
            f" WHERE {' AND '.join(f'({w})' for w in [*written, *dated])}"
            " ORDER BY p.pk DESC LIMIT :n"
        )
        with _planner_settings(session, planner):
            return list(session.scalars(_statement(sql), params))

    def _candidates(
        self,
        session: Session,
        phrases: Sequence[Phrase],
        dense: bool,
        since: date | None,
        until: date | None,
        exclude: Collection[str],
        depth: int = CANDIDATES,
        *,
        pks: Sequence[int] | None = None,
    ) -> list[_Candidate]:
        """The engine's best ``depth`` papers for any of ``phrases``, with their texts.
        ``dense``: a good share of all papers may match. Given ``pks`` (papers the vectors
        proposed), those papers instead, through the same filters, with no engine rank."""
        params: dict[str, Any] = {"depth": depth, "window": WINDOW}
        params.update(since=since, until=until)
        planner: dict[str, str] = {}  # PostgreSQL settings for this statement alone
        dated = _dated(since, until)
        filters = ["p.withdrawn_at IS NULL", *dated]
        if exclude:
            filters.append("p.arxiv_id NOT IN :exclude")
            params["exclude"] = list(exclude)
        where = " AND ".join(filters)
        # Without a date range (which is selective by itself) only the newest WINDOW matches
        # are scored, which bounds the work for words that are everywhere.
        windowed = since is None and until is None
        if pks is not None:
            params["pks"] = list(pks)
            hits = "SELECT pk, 0.0 AS engine FROM papers WHERE pk IN :pks"
            sql = _CANDIDATE_SQL.format(hits=hits, where=where)
        elif self.store.dialect == "postgresql":
            params["q"] = _ts_any(phrases)
            # The tsquery is written out (not a CTE) so the planner sees how common it is.
            tsquery = _PG_TSQUERY
            rank = f"ts_rank_cd('{_PG_WEIGHTS}', f.search_vector, {tsquery})"
            if windowed:
                # Dense matches: walk the newest papers until WINDOW match. Sparse: collect them
                # through the GIN index first ("pk + 0" keeps the planner off the walk, whose
                # cost it underestimates).
                newest = "pk" if dense else "pk + 0"
                hits = (
                    f"SELECT f.pk, {rank} AS engine FROM ("
                    f" SELECT pk, search_vector FROM papers WHERE search_vector @@ {tsquery}"
                    f" ORDER BY {newest} DESC LIMIT :window) AS f"
                )
                # The planner's guess of how many papers match is far off for common words (and
                # without statistics, before a first ANALYZE, for any), so the plan is chosen
                # here. Sparse: left to itself the planner may test every paper's (TOASTed)
                # vector in a sequential scan rather than ask the GIN index, ten times slower.
                # Dense: it may collect every match through the index before keeping the
                # newest, a whole table's vectors read for a common word.
                planner["enable_seqscan"] = "off"
                if dense:
                    planner["enable_bitmapscan"] = "off"
                if not exclude:
                    # Rank before joining: the best ``depth`` (twice as many, so withdrawn
                    # papers still leave enough) are all the join needs to read.
                    hits = f"SELECT * FROM ({hits}) AS r ORDER BY engine DESC LIMIT :ranked"
                    params["ranked"] = 2 * depth
            else:
                hits = f"SELECT f.pk, {rank} AS engine FROM papers f"
                hits += f" WHERE f.search_vector @@ {tsquery}"
            sql = _CANDIDATE_SQL.format(hits=hits, where=where)
            # The driver prepares statements it sees often, and a generic plan cannot know
            # whether this query's words are rare (use the GIN index) or everywhere (walk the
            # newest papers): plan each search for its own words.
            planner["plan_cache_mode"] = "force_custom_plan"
        else:
            params["q"] = _fts_any(phrases)
            weights = ", ".join(str(w) for w in _BM25_WEIGHTS)
            hits = (
                f"SELECT rowid AS pk, -bm25(papers_fts, {weights}) AS engine FROM papers_fts"
                " WHERE papers_fts MATCH :q"
            )
            if windowed:
                hits += " ORDER BY rowid DESC LIMIT :window"
                if not exclude:
                    # Rank before joining: reading WINDOW papers' rows (large ones) only to keep
                    # the best ``depth`` took longer than scoring them. Twice as many are kept,
                    # so withdrawn papers (rare) still leave ``depth``.
                    hits = f"SELECT * FROM ({hits}) ORDER BY engine DESC LIMIT :ranked"
                    params["ranked"] = 2 * depth
            else:
                # A date range: the engine scores only the papers between the first and last
                # one in it (papers are mostly added in featured order, so about the range's
                # own), not every match in the index. A paper's score does not depend on which
                # others are scored, so the answers are the same.
                hits += _stored_between(dated)
            sql = _CANDIDATE_SQL.format(hits=hits, where=where)
        expanding = tuple(name for name in ("exclude", "pks") if name in params)
        statement = _candidate_statement(sql, expanding)
        with _planner_settings(session, planner):
            rows = session.execute(statement, params).all()
        return [
            _Candidate(
                pk=row.pk,
                engine=max(float(row.engine or 0.0), 0.0),
                upvotes=row.upvotes or 0,
                featured=row.featured_date,
                published=row.published_at,
                title=_Text(row.title, row.keywords_text),
                body=_Text(row.ai_summary, row.summary),
                authors=row.authors_text or "",
            )
            for row in rows
        ]


@contextlib.contextmanager
def _planner_settings(session: Session, settings: dict[str, str]) -> Iterator[None]:
    """PostgreSQL planner ``settings`` (names and values are ours, not user input) for the
    statements run inside, then back to the connection's own for the rest of the transaction."""
    if not settings:
        yield
        return
    session.execute(
        text("SELECT " + ", ".join(f"set_config('{k}', '{v}', true)" for k, v in settings.items()))
    )
    yield
    names = ", ".join(f"'{k}'" for k in settings)
    session.execute(
        text(f"SELECT set_config(name, reset_val, true) FROM pg_settings WHERE name IN ({names})")
    )


def _dated(since: date | None, until: date | None) -> list[str]:
    """The conditions on ``p.featured_date`` of a date range (bound as ``:since``, ``:until``)."""
    bounds = (("p.featured_date >= :since", since), ("p.featured_date <= :until", until))
    return [condition for condition, value in bounds if value is not None]


def _stored_between(dated: Sequence[str]) -> str:
    """For an FTS5 query: AND its rowid between the first and the last paper stored that is in
    the date range (``dated``: conditions on ``p.featured_date``); nothing without a range."""
    if not dated:
        return ""
    span = f"FROM papers p WHERE {' AND '.join(dated)}"
    return f" AND rowid >= (SELECT min(p.pk) {span}) AND rowid <= (SELECT max(p.pk) {span})"


# A statement from SQL text, made once per text: building one costs a parse of its text.
_statement = functools.lru_cache(maxsize=16)(text)


@functools.lru_cache(maxsize=64)
def _candidate_statement(sql: str, expanding: tuple[str, ...]) -> TextualSelect:
    """``sql`` as a statement with its result types, made once (the SQL varies only with the
    search's options and dialect): building one costs a parse of its text."""
    statement = text(sql).columns(
        pk=Integer, engine=Float, upvotes=Integer, featured_date=Date, published_at=UTCDateTime
    )
    return statement.bindparams(*(bindparam(name, expanding=True) for name in expanding))


# Built once: a statement's construction costs about as much as running these small queries.
_TITLED = text("SELECT pk FROM papers WHERE title_key = :key LIMIT :n")
_GENERATION = select(SearchVocabularyRow.generation).where(SearchVocabularyRow.id == 1)
# The papers as plain rows (no ORM objects: they are only read).
_PAPERS_BY_PK = select(PaperRow.__table__).where(
    PaperRow.__table__.c.pk.in_(bindparam("pks", expanding=True))
)

_CANDIDATE_SQL = (
    "SELECT p.pk, h.engine, p.upvotes, p.featured_date, p.published_at, p.title,"
    " p.keywords_text, p.ai_summary, p.summary, p.authors_text"
    " FROM ({hits}) AS h JOIN papers p ON p.pk = h.pk"
    " WHERE {where} ORDER BY h.engine DESC LIMIT :depth"
)


def _rank(
    candidates: list[_Candidate],
    query: Query,
    vocabulary: Vocabulary,
    keep: int | None = None,
    above: float = 0.0,
) -> list[_Candidate]:
    """``candidates`` scored (see `Searcher.search`), best first. Given ``keep``, only the best
    ``keep`` are sure to be there: a candidate whose score cannot reach theirs, even if its
    abstract held every concept, is left out without reading its abstract (the longest text);
    so is one that cannot reach ``above`` (the last of the best ``keep`` found elsewhere)."""
    matchers = [_Matcher(c, vocabulary) for c in query.concepts]
    weights = [c.weight for c in query.concepts]
    if not any(weights):  # nothing the vocabulary knows: count every concept alike
        weights = [1.0] * len(weights)
    total = sum(weights)
    best = max((c.engine for c in candidates), default=0.0)
    titles = [[m.credit(c.title) for m in matchers] for c in candidates]
    ceilings = [
        min(
            1.0,
            _COVERAGE_SHARE
            + _TITLE_SHARE * sum(w * t for w, t in zip(weights, ts, strict=True)) / total
            + _ENGINE_SHARE * (c.engine / best if best > 0 else 0.0),
        )
        for c, ts in zip(candidates, titles, strict=True)
    ]
    order = sorted(range(len(candidates)), key=ceilings.__getitem__, reverse=True)
    kept: list[float] = []  # a heap of the best `keep` scores so far
    ranked = []
    for i in order:
        if keep and (
            ceilings[i] < above - 1e-6 or (len(kept) >= keep and ceilings[i] < kept[0] - 1e-6)
        ):
            break  # nor can any after it (a margin, as `_order` rounds scores)
        c = candidates[i]
        coverage = title = 0.0
        authors: _Text | None = None
        for concept, weight, matcher, in_title in zip(
            query.concepts, weights, matchers, titles[i], strict=True
        ):
            found = max(in_title, matcher.credit(c.body)) if in_title < 1 else in_title
            if not found and c.authors and not concept.topical:
                authors = authors or _Text(c.authors)
                found = matcher.credit(authors) / 2
            coverage += weight * found
            title += weight * in_title
        engine = c.engine / best if best > 0 else 0.0
        c.coverage = coverage / total
        c.score = min(
            1.0,
            _COVERAGE_SHARE * coverage / total
            + _TITLE_SHARE * title / total
            + _ENGINE_SHARE * engine,
        )
        ranked.append(c)
        if keep:
            if len(kept) < keep:
                heapq.heappush(kept, c.score)
            elif c.score > kept[0]:
                heapq.heapreplace(kept, c.score)
    return sorted(ranked, key=_order)


def _generation(session: Session) -> int:
    """How many times papers were written: the vocabulary's version."""
    return session.scalar(_GENERATION) or 0


def _saved_vocabulary(
    session: Session, generation: int
) -> tuple[list[tuple[str, int]], int] | None:
    """The saved vocabulary (words with counts, documents) when saved at ``generation``."""
    row = session.execute(
        select(
            SearchVocabularyRow.words, SearchVocabularyRow.counts, SearchVocabularyRow.documents
        ).where(SearchVocabularyRow.id == 1, SearchVocabularyRow.snapshot_generation == generation)
    ).first()
    if row is None or row.words is None or row.counts is None:
        return None
    counts = array("I")
    counts.frombytes(row.counts)
    if sys.byteorder == "big":
        counts.byteswap()
    words = row.words.split("\n") if row.words else []
    if len(words) != len(counts):
        return None
    return list(zip(words, counts, strict=True)), row.documents or 0


def _pack_words(pairs: Sequence[tuple[str, int]]) -> tuple[str, bytes]:
    """Words with counts as one text (a word a line) and little-endian uint32s."""
    counts = array("I", (min(n, 0xFFFFFFFF) for _, n in pairs))
    if sys.byteorder == "big":
        counts.byteswap()
    return "\n".join(w for w, _ in pairs), counts.tobytes()


def _order(c: _Candidate) -> tuple[Any, ...]:
    featured = c.featured.toordinal() if c.featured else 0
    published = c.published.timestamp() if c.published else 0.0
    return (-round(c.score, 6), -c.upvotes, -featured, -published, c.pk)
