"""Search over stored papers, on SQLite (FTS5) and PostgreSQL (tsvector) alike."""

from __future__ import annotations

import copy
import random
import sqlite3
import unicodedata
from datetime import UTC, date, datetime
from pathlib import Path
from typing import NoReturn

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session

from bot.db import SQLITE_BUSY_TIMEOUT_MS, PaperRow, SearchVocabularyRow
from bot.models import Paper
from bot.search import (
    CANDIDATES,
    Searcher,
    Vocabulary,
    _fts_phrases,
    _joint_groups,
    _order,
    _planner_settings,
    _rank,
    _retrieval_phrases,
    _walk_is_shorter,
    _wanted_phrases,
    analyze,
    normalize_query,
    query_tokens,
    query_words,
)
from bot.store import Store
from bot.words import WORD

DAY = date(2024, 5, 6)


def paper(pid: str, title: str, summary: str = "", **kw: object) -> Paper:
    kw.setdefault("featured_date", DAY)
    return Paper(id=pid, title=title, summary=summary, **kw)  # type: ignore[arg-type]


def unrelated(n: int) -> list[Paper]:
    """``n`` papers about graph learning: the rest of a collection, none of it a test's topic."""
    return [paper(f"other{i}", f"Graph learning, part {i}", "Message passing.") for i in range(n)]


def ids(searcher: Searcher, query: str, **kw: object) -> list[str]:
    return [hit.paper.id for hit in searcher.search(query, **kw)]  # type: ignore[arg-type]


@pytest.fixture
def corpus(store: Store) -> Searcher:
    store.upsert_papers(
        [
            paper(
                "2401.00001",
                "Scaling Sparse Mixture of Experts Routers",
                "We study token routing in sparse expert layers.",
                upvotes=10,
            ),
            paper(
                "2401.00002",
                "Fast MoE Inference on Commodity GPUs",
                "An inference engine that offloads experts.",
                upvotes=20,
            ),
            paper(
                "2401.00003",
                "Video Diffusion Models with Temporal Attention",
                "Diffusing noise over frames yields coherent video generation.",
                upvotes=5,
            ),
            paper(
                "2401.00004",
                "Running Large Language Models on Phones",
                "On-device inference of LLMs with 4-bit weights on mobile hardware.",
                ai_keywords=["on-device inference", "quantization"],
                upvotes=7,
            ),
            paper(
                "2401.00005",
                "Continual Learning without Catastrophic Forgetting",
                "A replay-free method for lifelong learning.",
                authors=["Ada Lovelace", "Alan Turing"],
                upvotes=3,
            ),
            paper(
                "2401.00006",
                "Segment Anything in Medical Images",
                "We adapt SAM to CT scans.",
                ai_summary="SAM is adapted to clinical CT segmentation.",
                upvotes=4,
            ),
        ]
    )
    return Searcher(store)


# -- hostile input ---------------------------------------------------------------------------------

HOSTILE = [
    "",
    "   ",
    '"',
    '""',
    '"mixture',
    "experts\"'",
    "*",
    "expert*",
    "-experts",
    "NOT experts",
    "experts AND OR NEAR",
    "AND",
    "OR OR OR",
    "NEAR(experts mixture, 2)",
    "((experts",
    "experts))]]}",
    "{title}: experts",
    "title:experts",
    "^experts",
    "experts:*",
    "'; DROP TABLE papers; --",
    "a' | 'b",
    "!experts & <-> |",
    "\\'\\\\",
    "🙂🚀🔥",
    "mixture 🙂 of 🔥 experts",
    "\x00\x01\x02",
    "ｍｏｅ",
    "x" * 200,
    "the of and to",
    "papers about",
    "é" * 50,
    "日本語の論文",
    "%_%",
    "$$ $tag$",
    ":A :B",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_input_never_raises(corpus: Searcher, query: str) -> None:
    hits = corpus.search(query)
    assert isinstance(hits, list)
    assert all(0.0 <= h.score <= 1.0 for h in hits)


def test_nothing_searchable_is_empty(corpus: Searcher) -> None:
    for query in ["", "   ", "🙂🚀", "*-()\"'", "papers about the", "how to"]:
        assert corpus.search(query) == []


def test_operators_are_plain_words(corpus: Searcher) -> None:
    # FTS5 syntax in the query does not act: "-experts" and "NOT experts" still find experts.
    assert "2401.00001" in ids(corpus, "-experts")
    assert "2401.00001" in ids(corpus, 'NEAR("mixture" experts')
    assert "2401.00002" in ids(corpus, "MoE*")


_ALPHABET = (
    "abcdefghijklmnopqrstuvwxyz0123456789 \"'*-+()[]{}:^!&|<>~\\/.,;%$#@`=?\t\nÄéß漢字🙂\u200b"
)


@pytest.mark.parametrize("seed", range(20))
def test_fuzz_random_strings(corpus: Searcher, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(10):
        query = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 200)))
        hits = corpus.search(query, limit=3)
        assert len(hits) <= 3


def test_normalize_query() -> None:
    assert normalize_query('  "Mixture-of-Experts"  (MoE)* ') == "mixture of experts moe"
    assert normalize_query("🙂 **") == ""
    assert normalize_query("ＬＬＭｓ") == "llms"


# -- what matches ----------------------------------------------------------------------------------


def test_acronym_finds_expansion(corpus: Searcher) -> None:
    assert ids(corpus, "MoE")[:2] == ["2401.00002", "2401.00001"]
    assert "2401.00004" in ids(corpus, "LLM")
    assert "2401.00006" in ids(corpus, "segment anything")


@pytest.mark.parametrize(
    ("acronym", "title"),
    [
        ("PTQ", "Post-Training Quantization of Vision Transformers"),
        ("QAT", "Quantization-Aware Training for 2-bit Speech Models"),
        ("FL", "Federated Learning with Noisy Clients"),
    ],
)
def test_acronym_written_out_in_every_paper(store: Store, acronym: str, title: str) -> None:
    store.upsert_papers([paper("hit", title, "Results."), paper("other", "Graph kernels", "Ok.")])
    assert ids(Searcher(store), acronym) == ["hit"]


def test_expansion_finds_acronym(corpus: Searcher) -> None:
    found = ids(corpus, "mixture of experts")
    assert set(found[:2]) == {"2401.00001", "2401.00002"}
    assert ids(corpus, "large language models")[0] == "2401.00004"


def test_typo_is_corrected(corpus: Searcher) -> None:
    assert ids(corpus, "difusion")[:1] == ["2401.00003"]
    assert ids(corpus, "catastrophic forgeting")[:1] == ["2401.00005"]
    assert set(ids(corpus, "mixtrue of experts")[:2]) == {"2401.00001", "2401.00002"}


def test_typo_correction_rules() -> None:
    vocab = Vocabulary(
        [
            ("diffusion", 5),
            ("transformer", 3),
            ("transformers", 9),
            ("cat", 2),
            ("model", 9),
            ("modal", 3),
        ],
        10,
    )
    assert vocab.correct("difusion") == "diffusion"
    assert vocab.correct("tarnsformer") == "transformer"  # fewer edits beats more documents
    assert vocab.correct("tarnsfromer") == "transformer"  # 2 edits allowed when long
    assert vocab.correct("modol") == "model"  # on a tie, the more frequent word
    assert vocab.correct("diffusion") is None  # known
    assert vocab.correct("diffusions") is None  # a plain inflection of a known word
    assert vocab.correct("cta") is None  # too short to guess
    assert vocab.correct("dfuson") is None  # 2 edits on a short word is too many


def test_stemming(corpus: Searcher) -> None:
    assert "2401.00003" in ids(corpus, "diffusion")  # the paper says "diffusing", "Diffusion"
    assert "2401.00003" in ids(corpus, "diffused")
    assert "2401.00004" in ids(corpus, "language model")
    assert "2401.00001" in ids(corpus, "router")


def test_synonyms(corpus: Searcher) -> None:
    assert ids(corpus, "llms on smartphones")[:1] == ["2401.00004"]
    assert "2401.00005" in ids(corpus, "lifelong learning")
    assert "2401.00002" in ids(corpus, "cheaper moe")


def test_filler_is_ignored(corpus: Searcher) -> None:
    assert ids(corpus, "new papers about video diffusion") == ids(corpus, "video diffusion")
    assert ids(corpus, "how to do video diffusion")[:1] == ["2401.00003"]


def test_filler_after_a_topic_word_can_be_part_of_the_topic(store: Store) -> None:
    """ "research" and "study" are filler ("research on X"), but "deep research" and "user study"
    are topics: "deep research" searched "deep", and the newer, more upvoted papers on deep
    networks came first."""
    store.upsert_papers(
        [
            paper("dr1", "Benchmarking Deep Research Agents", "They browse and cite.", upvotes=3),
            paper("dr2", "Open Deep Research with Small Models", "Trained with RL.", upvotes=4),
            paper("us", "Interfaces for Annotators", "A user study with 40 annotators.", upvotes=1),
        ]
        + [
            paper(
                f"n{i}",
                f"Deep Networks for Recommendation {i}",
                f"A deep network of users; this research study shows gains on task {i}.",
                upvotes=50,
                featured_date=date(2024, 5, 7),
            )
            for i in range(12)
        ]
    )
    searcher = Searcher(store)
    found = ids(searcher, "deep research")
    assert set(found[:2]) == {"dr1", "dr2"}
    assert "n0" in found  # the first word alone still matches, below the two in a row
    assert ids(searcher, "user study")[:1] == ["us"]
    assert ids(searcher, "research on recommendation")[:1] != ["us"]  # filler before the topic


def test_model_names_with_versions(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL's parser keeps "Qwen2.5" and "v1.5" whole where search splits them into
    words ("qwen2", "5"): on PostgreSQL "Qwen2.5" found only papers that happened to be among
    the newest with a "5" in them. (At scale: the newest 2,000 matches are scored, and a word
    in more than COMMON_DF papers picks no candidates.)"""
    monkeypatch.setattr("bot.search.WINDOW", 10)
    monkeypatch.setattr("bot.search.COMMON_DF", 10)
    store.upsert_papers(
        [
            paper("q", "Qwen2.5-Math Technical Report", "A model for math.", featured_date=DAY),
            paper("v", "Scaling Laws, v1.5", "Revised scaling laws.", featured_date=DAY),
        ]
        + [
            paper(
                f"n{i}",
                f"Benchmark Suite {i}",
                "We evaluate on 5 tasks with 5 seeds and report a 2.5 point gain.",
                upvotes=60,
                featured_date=date(2024, 6, 1),
            )
            for i in range(20)
        ]
    )
    searcher = Searcher(store)
    assert ids(searcher, "Qwen2.5")[:1] == ["q"]
    assert ids(searcher, "qwen2.5 math")[:1] == ["q"]
    assert ids(searcher, "scaling laws v1.5")[:1] == ["v"]


def test_authors_are_searchable(corpus: Searcher) -> None:
    assert ids(corpus, "Turing") == ["2401.00005"]


def test_compound_spellings(store: Store) -> None:
    store.upsert_papers(
        [
            paper("1", "Finetuning made simple", "x"),
            paper("2", "Fine-tuning at scale", "y"),
            paper("3", "Tuning the fine print", "z"),
        ]
    )
    searcher = Searcher(store)
    assert set(ids(searcher, "fine tuning")[:2]) == {"1", "2"}
    assert set(ids(searcher, "finetuning")[:2]) == {"1", "2"}


def test_words_spelled_with_sharp_s_or_final_sigma(store: Store) -> None:
    """Typed as the paper writes them. Case folding would make ß "ss" (and ς "σ"), which
    neither index does: "Weiß" found nothing."""
    store.upsert_papers(
        [
            paper("1", "Straßennetz extraction from aerial images", "x"),
            paper("2", "Scaling laws revisited", "y", authors=["Johanna Weiß"]),
            paper("3", "Λόγος embeddings for Greek", "z"),
            paper("4", "Unrelated work", "w"),
        ]
    )
    searcher = Searcher(store)
    assert ids(searcher, "Straßennetz") == ["1"]
    assert ids(searcher, "STRAßENNETZ extraction")[:1] == ["1"]
    assert ids(searcher, "Weiß") == ["2"]
    assert ids(searcher, "λόγος") == ["3"]


def test_accents_do_not_matter(store: Store) -> None:
    """A word typed with or without its accents finds the papers that write it either way. On
    PostgreSQL "poincare" found nothing while the paper wrote "Poincaré"."""
    store.upsert_papers(
        [
            paper("1", "Poincaré embeddings for hierarchies", "x", authors=["Jürgen Müller"]),
            paper("2", "Naive Bayes rebooted", summary="A naïve classifier with Fréchet bounds."),
            paper("3", "Hyperbolic cafe menus", summary="Menus of the café-bar, then others."),
            paper("4", "Unrelated work on graphs", "w"),
        ]
    )
    searcher = Searcher(store)
    for query in ("Poincaré", "poincare", "POINCARE embeddings", "Muller", "müller", "jurgen"):
        assert ids(searcher, query) == ["1"], query
    for query in ("frechet", "Fréchet bounds", "naïve bayes"):
        assert ids(searcher, query)[:1] == ["2"], query
    assert ids(searcher, "café bar") == ["3"]
    assert sorted(ids(searcher, "cafe")) == ["3"]


def test_a_word_asked_with_plus_plus_or_sharp_matches_only_as_written(store: Store) -> None:
    """ "C++" and "C#" are kept by both indexes as the bare word "c": every paper with an
    "Appendix C", a "C#" or a list of languages came back for "C++", the wrong one first."""
    store.upsert_papers(
        [
            paper("cpp", "Fast GPU kernels for sparse attention", "Written in C++ and CUDA."),
            paper("cs", "A C# toolkit for agents in game engines", "A C# library for Unity."),
            paper("app", "Vision transformers for medical scans", "Proofs: Appendix C, Table F."),
            paper("langs", "Code generation benchmarks", "Python, C, and Rust programs."),
            paper("objc", "Porting Objective-C++ kernels", "Mixed Objective-C++ and Swift."),
            paper("cppx", "C++x kernels", "Nothing here is written as the language."),
            *unrelated(6),
        ]
    )
    searcher = Searcher(store)
    assert sorted(ids(searcher, "C++")) == ["cpp", "objc"]
    assert ids(searcher, "c#") == ["cs"]
    both = ids(searcher, "C++ kernels", limit=10)
    assert sorted(both[:2]) == ["cpp", "objc"] and both[2:] == ["cppx"]
    # The bare letter still means the bare word, wherever it is written.
    assert {"cpp", "cs", "app", "langs"} <= set(ids(searcher, "C", limit=10))
    assert ids(searcher, "F#") == [] and ids(searcher, "F") == ["app"]
    # Papers holding part of the query still come; none holding only the bare letter.
    assert sorted(ids(searcher, "C# kernels", limit=10)) == ["cpp", "cppx", "cs", "objc"]


def test_c_plus_plus_with_a_version_is_c_plus_plus(store: Store) -> None:
    """ "C++17" in a paper is C++, and "/papers C++17" asks for C++ and the version; "C++x" is
    still not C++."""
    store.upsert_papers(
        [
            paper("v17", "Tensor compilers with modules", "The runtime is ported to C++17."),
            paper("v20", "Coroutines for data loaders", "Loaders written with C++20 coroutines."),
            paper("x", "C++x sketches", "A notation, not the language."),
            paper("bare", "Appendix notes", "See Appendix C and Table 17."),
            *unrelated(6),
        ]
    )
    searcher = Searcher(store)
    assert sorted(ids(searcher, "C++")) == ["v17", "v20"]
    # The version and C++ first; then papers holding one of them, none holding only the letter.
    found = ids(searcher, "C++17")
    assert found[0] == "v17" and sorted(found[1:]) == ["bare", "v20"]
    # "c" is in more papers than "17", "c++" in fewer: holding "17" alone is half the query at
    # most (coverage share 0.6 × 1/2, no title match, engine share 0.15 at most).
    scores = {hit.paper.id: hit.score for hit in searcher.search("C++17")}
    assert scores["bare"] <= 0.6 / 2 + 0.15 + 1e-6 < scores["v17"]
    assert ids(searcher, "C++20 coroutines") == ["v20", "v17"]


def test_papers_writing_c_plus_plus_are_found_among_many_with_the_letter(store: Store) -> None:
    """The engine ranks by the bare "c", so papers that merely enumerate "(a), (b), (c)" filled
    its candidates; the papers writing "C++" are asked for too."""
    newer = date(2024, 5, 9)
    store.upsert_papers(
        [
            paper(f"cpp{i}", f"Compiler passes for tensor programs {i}", "A C++ runtime.")
            for i in range(3)
        ]
        + [
            paper(
                f"enum{i:03d}",
                f"Benchmark suite {i}",
                "Tasks (a), (b), (c): c c c.",
                featured_date=newer,
            )
            for i in range(CANDIDATES + 30)
        ]
    )
    searcher = Searcher(store)
    assert sorted(ids(searcher, "C++", limit=10)) == ["cpp0", "cpp1", "cpp2"]
    assert sorted(ids(searcher, "C++ runtime", limit=10)[:3]) == ["cpp0", "cpp1", "cpp2"]
    assert ids(searcher, "C++", since=newer) == []
    assert sorted(ids(searcher, "C++", until=DAY)) == ["cpp0", "cpp1", "cpp2"]


def test_query_words_and_how_each_was_asked() -> None:
    assert query_tokens("C++ vs C# (and F#) for c#3, notepad++!") == [
        ("c", "c++"),
        ("vs", "vs"),
        ("c", "c#"),
        ("and", "and"),
        ("f", "f#"),
        ("for", "for"),
        ("c", "c"),
        ("3", "3"),
        ("notepad", "notepad++"),
    ]
    assert query_tokens("c++x c##") == [("c", "c"), ("x", "x"), ("c", "c")]
    # A version may follow "++"; after "#" a number is a number sign's.
    assert query_tokens("C++17 c++20x C#10") == [
        ("c", "c++"),
        ("17", "17"),
        ("c", "c++"),
        ("20x", "20x"),
        ("c", "c"),
        ("10", "10"),
    ]


@given(st.text(alphabet=st.sampled_from("cC+#_- é1ＣＯ\n"), max_size=40))
def test_query_words_are_the_words_whatever_follows_them(typed: str) -> None:
    """Reading "++" and "#" after a word changes none of the words a query is cut into."""
    words = WORD.findall(unicodedata.normalize("NFKC", typed).lower())
    assert [w for w, _ in query_tokens(typed)] == words == query_words(typed)
    for word, asked in query_tokens(typed):
        assert asked in (word, word + "++", word + "#")


# -- ranking ---------------------------------------------------------------------------------------


def test_title_beats_abstract(store: Store) -> None:
    long_abstract = " ".join(["We study optimisers for training deep networks at scale."] * 4)
    store.upsert_papers(
        [
            # Shorter, more upvoted, the word once in the abstract...
            paper("a", "Optimisers", "Notes on tokenizers.", upvotes=50),
            # ...loses to the word once in a title.
            paper("t", "Tokenizers revisited", long_abstract, upvotes=0),
        ]
    )
    assert ids(Searcher(store), "tokenizers") == ["t", "a"]


def test_a_paper_asked_for_by_its_title_comes_first_however_old(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The newest papers sharing its words filled the answer: an older paper's own title did
    not find it (here the newest 10 matches are scored, as the newest 2,000 are at scale)."""
    monkeypatch.setattr("bot.search.WINDOW", 10)
    title = "Sparse Attention for Long-context Language Models"
    store.upsert_papers(
        [
            paper("old", title, "An older paper.", upvotes=1, featured_date=date(2022, 3, 1)),
            paper("gone", title, "Withdrawn.", withdrawn_at=datetime(2022, 4, 1, tzinfo=UTC)),
        ]
        + [
            paper(
                f"n{i}",
                f"Scaling Sparse Attention for Long-context Language Models {i}",
                "Sparse attention for long-context language models, scaled.",
                upvotes=90,
            )
            for i in range(30)
        ]
    )
    searcher = Searcher(store)
    assert ids(searcher, title)[:1] == ["old"]
    assert ids(searcher, "sparse attention: for LONG CONTEXT language-models")[:1] == ["old"]
    assert searcher.search(title)[0].score == 1.0
    assert "gone" not in ids(searcher, title, limit=50)
    assert "old" not in ids(searcher, title, since=date(2024, 1, 1))
    assert "old" not in ids(searcher, title, exclude=["old"])


def test_covering_every_word_beats_repeating_one(store: Store) -> None:
    store.upsert_papers(
        [
            paper("rare", "Quokka quokka", "Quokka quokka quokka quokka habitat."),
            paper("both", "Quokka locomotion", "How the quokka moves: locomotion gaits."),
        ]
    )
    searcher = Searcher(store)
    assert ids(searcher, "quokka locomotion") == ["both", "rare"]


def test_ties_break_by_upvotes_then_recency(store: Store) -> None:
    text_ = "Identical abstract about hyperbolic embeddings."
    store.upsert_papers(
        [
            paper(
                "old-low", "Hyperbolic embeddings", text_, upvotes=1, featured_date=date(2024, 1, 1)
            ),
            paper(
                "new-low", "Hyperbolic embeddings", text_, upvotes=1, featured_date=date(2024, 3, 1)
            ),
            paper("top", "Hyperbolic embeddings", text_, upvotes=9, featured_date=date(2023, 1, 1)),
            paper(
                "same-day-later",
                "Hyperbolic embeddings",
                text_,
                upvotes=1,
                featured_date=date(2024, 3, 1),
                published_at=datetime(2024, 2, 28, tzinfo=UTC),
            ),
        ]
    )
    found = ids(Searcher(store), "hyperbolic embeddings", limit=10)
    assert found == ["top", "same-day-later", "new-low", "old-low"]


def test_scores_are_normalised_and_ordered(corpus: Searcher) -> None:
    hits = corpus.search("sparse mixture of experts inference", limit=10)
    assert hits
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert hits[0].score > 0.6


def test_limit(corpus: Searcher) -> None:
    assert len(corpus.search("experts OR video OR diffusion OR phones", limit=2)) == 2
    assert corpus.search("experts", limit=0) == []


def test_a_limit_above_the_engines_candidates_is_answered_in_full(store: Store) -> None:
    # The engine hands over its best CANDIDATES (50) to re-rank; the command line asks for up
    # to 100. Every one of 120 matches is a good answer.
    store.upsert_papers(
        [paper(f"p{i:03d}", f"Protein folding {i}", "Folding proteins.") for i in range(120)]
    )
    searcher = Searcher(store)
    for limit in (60, 100):
        found = ids(searcher, "protein folding", limit=limit)
        assert len(found) == len(set(found)) == limit


# -- filters ---------------------------------------------------------------------------------------


def test_since_until_filter_featured_date(store: Store) -> None:
    store.upsert_papers(
        [
            paper(f"p{d}", "Protein folding", "Folding proteins.", featured_date=date(2024, 1, d))
            for d in range(1, 6)
        ]
    )
    searcher = Searcher(store)
    found = ids(searcher, "protein folding", since=date(2024, 1, 2), until=date(2024, 1, 4))
    assert sorted(found) == ["p2", "p3", "p4"]
    assert ids(searcher, "protein folding", since=date(2024, 1, 5)) == ["p5"]
    assert ids(searcher, "protein folding", until=date(2024, 1, 1)) == ["p1"]


def test_a_date_range_finds_papers_added_out_of_featured_order(store: Store) -> None:
    # Searches over a date range score only the papers stored between the first and the last
    # one in it; days loaded out of order (a backfill) must still all be found.
    for d in (9, 3, 7, 1, 5, 2, 8):
        store.upsert_papers(
            [paper(f"p{d}", "Protein folding", "Folding.", featured_date=date(2024, 1, d))]
        )
    store.upsert_papers([paper("other", "Graph kernels", "Graphs.", featured_date=DAY)])
    searcher = Searcher(store)
    found = ids(searcher, "protein folding", since=date(2024, 1, 2), until=date(2024, 1, 7))
    assert sorted(found) == ["p2", "p3", "p5", "p7"]
    assert sorted(ids(searcher, "protein folding", since=date(2024, 1, 8))) == ["p8", "p9"]
    assert sorted(ids(searcher, "protein folding", until=date(2024, 1, 2))) == ["p1", "p2"]
    assert ids(searcher, "protein folding", since=date(2024, 2, 1), until=date(2024, 2, 9)) == []


def test_exclude(corpus: Searcher) -> None:
    assert ids(corpus, "MoE", exclude={"2401.00002"}) == ["2401.00001"]
    assert ids(corpus, "MoE", exclude=["2401.00001", "2401.00002"]) == []


def test_min_score_drops_partial_matches(corpus: Searcher) -> None:
    everything = corpus.search("video diffusion experts", limit=10)
    assert {h.paper.id for h in everything} >= {"2401.00001", "2401.00003"}
    strict = corpus.search("video diffusion experts", limit=10, min_score=0.7)
    assert [h.paper.id for h in strict] == ["2401.00003"]
    assert corpus.search("video diffusion", min_score=1.01) == []


def test_withdrawn_papers_are_left_out(store: Store) -> None:
    store.upsert_papers(
        [
            paper("kept", "Neural cellular automata", "x"),
            paper(
                "gone",
                "Neural cellular automata",
                "y",
                withdrawn_at=datetime(2024, 5, 1, tzinfo=UTC),
            ),
        ]
    )
    assert ids(Searcher(store), "cellular automata") == ["kept"]


# -- staying in sync -------------------------------------------------------------------------------


def test_reingest_keeps_index_in_sync(store: Store) -> None:
    searcher = Searcher(store)
    store.upsert_papers([paper("x", "Holographic displays", "Optics.", upvotes=1)])
    assert ids(searcher, "holographic") == ["x"]
    # Re-ingesting with new counts only leaves the index as it was.
    store.upsert_papers([paper("x", "Holographic displays", "Optics.", upvotes=40)])
    hits = searcher.search("holographic")
    assert [h.paper.id for h in hits] == ["x"] and hits[0].paper.upvotes == 40
    # A changed title replaces the old one in the index.
    store.upsert_papers([paper("x", "Volumetric screens", "Optics.", upvotes=41)])
    assert ids(searcher, "volumetric screens") == ["x"]
    assert ids(searcher, "holographic") == []
    if store.dialect == "sqlite":
        with store.engine.begin() as conn:
            for table in ("papers_fts", "papers_words"):
                conn.execute(text(f"INSERT INTO {table}({table}) VALUES ('integrity-check')"))


def test_vocabulary_follows_new_papers_and_invalidate(store: Store) -> None:
    searcher = Searcher(store)
    store.upsert_papers([paper("a", "Origami robots", "Folding machines.")])
    assert ids(searcher, "zebrafsh") == []
    store.upsert_papers([paper("b", "Zebrafish larvae tracking", "Fish.")])
    assert ids(searcher, "zebrafsh") == ["b"]  # a new paper refreshes the vocabulary
    store.upsert_papers([paper("a", "Origami axolotls", "Folding machines.")])
    searcher.invalidate()  # a changed text needs telling
    assert ids(searcher, "axolotsl") == ["a"]


def _saved(store: Store) -> tuple[int, int | None]:
    with store.session() as s:
        row = s.get(SearchVocabularyRow, 1)
        assert row is not None
        return row.generation, row.snapshot_generation


def test_a_new_process_uses_the_vocabulary_an_earlier_one_saved(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.upsert_papers(
        [
            paper("a", "Zebrafish larvae tracking", "Fish."),
            paper("b", "量子 annealing schedules", "Schrödinger bridges."),
        ]
    )
    assert ids(Searcher(store), "zebrafsh") == ["a"]
    generation, saved_at = _saved(store)
    assert saved_at == generation > 0
    later = Searcher(store)

    def index_words(*_: object) -> NoReturn:
        raise AssertionError("the index was read though a saved vocabulary was current")

    monkeypatch.setattr(later, "_index_words", index_words)
    # Typo fixes need the vocabulary: it came from the saved copy, non-ASCII words included.
    assert ids(later, "zebrafsh") == ["a"]
    assert ids(later, "schrodingr bridges") == ["b"]
    assert ids(later, "量子") == ["b"]


def test_a_saved_vocabulary_is_not_used_once_papers_change(store: Store) -> None:
    store.upsert_papers([paper("a", "Origami robots", "Folding machines.")])
    first = Searcher(store)
    assert ids(first, "origami") == ["a"]
    store.upsert_papers([paper("b", "Axolotl limb regeneration", "Salamanders.")])
    generation, saved_at = _saved(store)
    assert saved_at is not None and saved_at < generation
    # A new process reads the index again, and so does the one already running.
    assert ids(Searcher(store), "axolotll") == ["b"]
    assert ids(first, "axolotll") == ["b"]
    assert _saved(store)[1] == generation


def test_a_vocabulary_read_before_a_write_is_not_saved_over_it(store: Store) -> None:
    store.upsert_papers([paper("a", "Origami robots", "Folding machines.")])
    searcher = Searcher(store)
    with store.session() as session:
        searcher._refresh(session)  # read at this generation...
    store.upsert_papers([paper("b", "Axolotl limb regeneration", "Salamanders.")])
    searcher._save_vocabulary()  # ...and saved after another write: refused
    generation, saved_at = _saved(store)
    assert saved_at is None and generation == 2
    assert ids(Searcher(store), "axolotll") == ["b"]


def test_a_busy_database_is_left_alone_and_keeps_its_lock_wait(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/papers.db")
    store.upsert_papers([paper("a", "Zebrafish larvae tracking", "Fish.")])
    writer = sqlite3.connect(tmp_path / "papers.db", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another process is writing
        assert ids(Searcher(store), "zebrafsh") == ["a"]  # answered; the copy is not saved
        assert _saved(store)[1] is None
        writer.execute("ROLLBACK")
        with store.engine.connect() as conn:  # pooled connections wait as long as before
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
        assert ids(Searcher(store), "zebrafsh") == ["a"]
        assert _saved(store)[1] == 1
    finally:
        writer.close()
        store.close()


def test_analyze_builds_concepts() -> None:
    vocab = Vocabulary([("mixture", 2), ("experts", 2), ("efficient", 4), ("phones", 1)], 10)
    query = analyze("Papers about cheaper MoE on phones", vocab)
    alternatives = [set(c.alternatives) for c in query.concepts]
    assert len(alternatives) == 3
    assert ("efficient",) in alternatives[0] and ("cheaper",) in alternatives[0]
    assert ("mixture", "of", "experts") in alternatives[1] and ("moe",) in alternatives[1]
    assert ("smartphone",) in alternatives[2] and ("on", "device") in alternatives[2]
    assert not analyze("papers about the", vocab)
    (deep,) = analyze("deep research papers", vocab).concepts
    assert deep.alternatives == (("deep", "research"), ("deep",)) and deep.own == 1
    vocab = Vocabulary([("finetuning", 3), ("fine", 1), ("tuning", 1)], 10)
    (tuning,) = analyze("fine tuning study", vocab).concepts
    assert tuning.alternatives[0] == ("fine", "tuning", "study")


def test_acronym_is_not_a_surname(store: Store) -> None:
    store.upsert_papers(
        [
            paper("name", "Bimanual cloth folding", "Robots fold shirts.", authors=["Erik Moe"]),
            paper("topic", "Sparse routing at scale", "A mixture-of-experts language model."),
        ]
    )
    searcher = Searcher(store)
    hits = searcher.search("MoE")
    assert [h.paper.id for h in hits][:1] == ["topic"]
    assert [h.paper.id for h in searcher.search("MoE", min_score=0.3)] == ["topic"]
    # A plain name is still found through the author list.
    assert ids(searcher, "Moe")[:1] == ["topic"] or "name" in ids(searcher, "Erik")


def test_phrase_alternatives_count_as_coverage(store: Store) -> None:
    store.upsert_papers(
        [
            paper(
                "rlvr",
                "Verifier-guided policy optimisation",
                "Math reasoning.",
                ai_keywords=["reinforcement learning with verifiable rewards"],
            ),
            paper("other", "Verifiable computing", "Rewards for learning."),
        ]
    )
    hits = Searcher(store).search("RLVR")
    assert [h.paper.id for h in hits] == ["rlvr"]
    # Found through the expansion (0.8 credit), in the keywords, best engine rank.
    assert hits[0].score == pytest.approx(0.6 * 0.8 + 0.25 * 0.8 + 0.15)


def test_vocabulary_forms_follow_the_porter_stemmer() -> None:
    vocab = Vocabulary(
        [("diffusion", 3), ("diffusing", 1), ("diffuse", 1), ("different", 4), ("models", 5)], 9
    )
    assert {"diffusion", "diffusing", "diffuse"} <= vocab.forms("diffused")
    assert "different" not in vocab.forms("diffusion")
    assert vocab.df("model") == 5  # known through an inflection
    assert vocab.count("model") == 0


def test_common_words_do_not_pick_candidates() -> None:
    vocab = Vocabulary([("neural", 9000), ("network", 8000), ("zebrafish", 3)], 10000)
    rare = _retrieval_phrases(_wanted_phrases(analyze("zebrafish neural network", vocab)), vocab)
    assert ("zebrafish",) in rare
    assert ("neural",) not in rare and ("network",) not in rare
    # All common: the single words, not the (slow) phrase.
    assert _retrieval_phrases(_wanted_phrases(analyze("neural network", vocab)), vocab) == [
        ("neural",),
        ("network",),
    ]
    # Unknown words cost nothing and may be newer than the vocabulary.
    assert _retrieval_phrases(_wanted_phrases(analyze("axolotl", vocab)), vocab) == [("axolotl",)]
    assert set(_retrieval_phrases(_wanted_phrases(analyze("axolotl network", vocab)), vocab)) == {
        ("axolotl",),
        ("network",),
        ("axolotl", "network"),
    }


def test_postgres_walks_the_newest_papers_only_where_that_reads_fewer() -> None:
    """PostgreSQL's plan for the newest matches: a walk from the newest paper, or the GIN
    index. The index finds a word by its stem, so "object" also hands over every paper with
    "objective": 39k of 100k papers here, though "object" itself is in 3.6k."""
    vocab = Vocabulary(
        [
            ("object", 3600),
            ("objective", 36000),
            ("detection", 8600),
            ("state", 4400),
            ("space", 3200),
            ("spaces", 3200),
            ("zebrafish", 30),
            ("benchmark", 2000),
            ("benchmarks", 60000),
        ],
        100_000,
    )
    assert _walk_is_shorter([("object",), ("object", "detection")], vocab)
    assert _walk_is_shorter([("zebrafish",), ("benchmark",)], vocab)
    # Phrases of one topic hold mostly the same papers: not 4% + 6% + 4% of all.
    assert not _walk_is_shorter([("state",), ("space",), ("state", "space", "model")], vocab)
    assert not _walk_is_shorter([("zebrafish",), ("detection",)], vocab)
    assert not _walk_is_shorter([("unknown",)], vocab)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_planner_settings_hold_for_one_statement(store: Store) -> None:
    def setting(s: Session) -> str:
        return str(s.scalar(text("SELECT current_setting('enable_bitmapscan')")))

    with store.session() as s:
        with _planner_settings(s, {"enable_bitmapscan": "off"}):
            assert setting(s) == "off"
        assert setting(s) == "on"  # for the statements after it in the same transaction


def test_ranking_only_the_best_few_keeps_them_exactly(store: Store) -> None:
    # _rank(keep=k) leaves out candidates that cannot reach the best k without reading their
    # abstracts; the best k must be the same papers, scores and order as when all are scored.
    rng = random.Random(11)
    words = [
        "sparse",
        "expert",
        "routing",
        "diffusion",
        "video",
        "attention",
        "kernel",
        "graph",
        "token",
        "cache",
    ]
    store.upsert_papers(
        [
            paper(
                f"p{i:02d}",
                " ".join(rng.sample(words, rng.randint(1, 3))),
                " ".join(rng.choices(words, k=rng.randint(0, 12))) + ".",
                upvotes=rng.randint(0, 3),
            )
            for i in range(60)
        ]
    )
    searcher = Searcher(store)
    pruned = pruned_above = 0
    for _ in range(40):
        query = " ".join(rng.sample(words, rng.randint(1, 4)))
        with store.session() as session:
            vocabulary = searcher._current_vocabulary(session)
            parsed = analyze(query, vocabulary)
            phrases = _retrieval_phrases(_wanted_phrases(parsed), vocabulary)
            found = searcher._matching(session, phrases, vocabulary, None, None, ())
        every = [(c.pk, c.score) for c in _rank(copy.deepcopy(found), parsed, vocabulary)]
        for keep in (1, 3, 5):
            best = _rank(copy.deepcopy(found), parsed, vocabulary, keep)
            assert [(c.pk, c.score) for c in best[:keep]] == every[:keep], (query, keep)
            pruned += len(found) - len(best)
            # Candidates found in two goes, as a search finds those holding every part of a query
            # (unranked by the engine) after the others: the second are ranked against the
            # first's best, and the best of both are those of ranking them together.
            later = copy.deepcopy(found[1::2])
            for c in later:
                c.engine = 0.0
            together = _rank(copy.deepcopy(found[::2] + later), parsed, vocabulary)
            first = _rank(copy.deepcopy(found[::2]), parsed, vocabulary, keep)
            floor = first[keep - 1].score if len(first) >= keep else 0.0
            second = _rank(later, parsed, vocabulary, keep, above=floor)
            merged = sorted(first + second, key=_order)
            best_together = [(c.pk, c.score) for c in together[:keep]]
            assert [(c.pk, c.score) for c in merged[:keep]] == best_together, (query, keep)
            pruned_above += len(later) - len(second)
    assert pruned > 0  # some abstracts were never read
    assert pruned_above > 0


def test_common_words_pick_candidates_when_the_rarer_alternatives_find_few(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As at scale: "efficient" and "attention" are common, so the rarer paraphrases of
    # "efficient" ("cheap", "fast", ...) are asked first; they find one paper, not about it.
    monkeypatch.setattr("bot.search.COMMON_DF", 3)
    attention = [f"att{i}" for i in range(6)]
    store.upsert_papers(
        [
            paper(pid, f"Efficient attention kernels {pid}", "Efficient attention.")
            for pid in attention
        ]
        + [paper(f"sort{i}", f"Efficient sorting {i}", "Efficient algorithms.") for i in range(4)]
        + [paper("cheap", "A cheap trick", "Cheap tricks for image classifiers.")]
        + [paper(f"graph{i}", f"Graph networks {i}", "Molecules as graphs.") for i in range(10)]
    )
    hits = ids(Searcher(store), "efficient attention")
    assert len(hits) == 5 and set(hits) <= set(attention)


def test_words_in_most_papers_are_not_asked_of_fts5_while_rarer_ones_remain() -> None:
    # "model" and "models" stem alike: 60,000 + 45,000 papers may hold the stem, over half.
    big = Vocabulary(
        [("model", 60_000), ("models", 45_000), ("language", 30_000), ("zebrafish", 40)], 100_000
    )
    assert _fts_phrases([("model",), ("language",), ("zebrafish",)], big) == [
        ("language",),
        ("zebrafish",),
    ]
    # Phrases stay (they are what tells papers apart), and so does a query of common words only,
    # or of common words beside words the vocabulary does not know yet.
    assert _fts_phrases([("model",), ("language", "model")], big) == [("language", "model")]
    assert _fts_phrases([("model",)], big) == [("model",)]
    assert _fts_phrases([("model",), ("axolotl",)], big) == [("model",), ("axolotl",)]
    # Spellings of a phrase that stem alike are asked once; single words are left as they are.
    spellings = [("ssm",), ("ssms",), ("state", "space", "model"), ("state", "space", "models")]
    assert _fts_phrases(spellings, big) == spellings[:3]
    # A small collection keeps every word: leaving one out would save nothing there.
    small = Vocabulary([("model", 80), ("zebrafish", 2)], 100)
    assert _fts_phrases([("model",), ("zebrafish",)], small) == [("model",), ("zebrafish",)]


def test_window_bounds_undated_search_only(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.upsert_papers(
        [
            paper(f"p{d}", "Protein folding", "Folding.", featured_date=date(2024, 1, d))
            for d in range(1, 6)
        ]
    )
    monkeypatch.setattr("bot.search.WINDOW", 2)
    searcher = Searcher(store)
    # Without dates only the newest matches are scored; a date range is searched in full.
    assert sorted(ids(searcher, "folding")) == ["p4", "p5"]
    found = ids(searcher, "folding", since=date(2024, 1, 1), until=date(2024, 1, 2))
    assert sorted(found) == ["p1", "p2"]


def _two_topics(store: Store) -> None:
    """Two old papers about zebrafish and microscopy both, then newer ones about either."""
    both = "Light-sheet microscopy of zebrafish larvae."
    store.upsert_papers(
        [
            paper(f"both{d}", "Zebrafish microscopy", both, featured_date=date(2024, 1, d))
            for d in (1, 2)
        ]
    )
    fish = "Zebrafish larvae swimming."
    store.upsert_papers(
        [paper("fish-jan", "Zebrafish behaviour", fish, featured_date=date(2024, 1, 15))]
    )
    store.upsert_papers(
        [
            paper(f"fish{d}", "Zebrafish behaviour", fish, featured_date=date(2024, 2, d))
            for d in range(1, 6)
        ]
        + [
            paper(
                f"scope{d}",
                "Microscopy denoising",
                "Denoising microscope images.",
                featured_date=date(2024, 3, d),
            )
            for d in range(1, 6)
        ]
    )


def test_papers_holding_every_part_of_a_query_are_found_past_the_window(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The newest matches hold one topic or the other; the papers holding both are older than
    # the matches scored. They are asked for on their own.
    _two_topics(store)
    monkeypatch.setattr("bot.search.WINDOW", 4)
    searcher = Searcher(store)
    assert sorted(ids(searcher, "zebrafish microscopy")[:2]) == ["both1", "both2"]
    # Through the same filters as every candidate.
    assert ids(searcher, "zebrafish microscopy", exclude={"both2"})[0] == "both1"
    # One part alone: the window as before.
    assert set(ids(searcher, "microscopy", limit=10)) <= {f"scope{d}" for d in range(1, 6)}


def test_papers_holding_every_part_of_a_query_within_a_date_range(store: Store) -> None:
    _two_topics(store)
    searcher = Searcher(store)
    groups = [[("zebrafish",)], [("microscopy", "images"), ("microscopy",)]]

    def holding_all(since: date | None, until: date | None) -> list[str]:
        with store.session() as s:
            pks = searcher._holding_all(s, groups, since, until)
            return [s.get_one(PaperRow, pk).arxiv_id for pk in pks]

    assert holding_all(date(2024, 1, 2), date(2024, 1, 31)) == ["both2"]
    assert holding_all(None, date(2024, 1, 1)) == ["both1"]
    assert holding_all(date(2024, 2, 1), None) == []
    assert holding_all(None, None) == ["both2", "both1"]  # newest first


def test_joint_groups_one_per_part_of_the_query() -> None:
    vocab = Vocabulary(
        [
            ("state", 900),
            ("space", 900),
            ("models", 60_000),
            ("genomics", 40),
            ("ssm", 30),
            ("ssms", 9),
        ],
        100_000,
    )

    def groups(query: str) -> list[list[tuple[str, ...]]] | None:
        return _joint_groups(analyze(query, vocab), vocab)

    # Each word of "state space models" is satisfied by the phrase or its acronym: one part.
    assert groups("state space models") is None
    # Spellings that stem alike are asked once.
    assert groups("state space models for genomics") == [
        [("state", "space", "models"), ("ssm",)],
        [("genomics",)],
    ]
    # Inflections are counted once: 20,800 papers may hold "generation", "generate" or
    # "generating", not three times as many.
    forms = [("generation", 20_000), ("generate", 500), ("generating", 300)]
    inflected = Vocabulary([*forms, ("synthesis", 9000), ("genomics", 40)], 100_000)
    assert _joint_groups(analyze("generation for genomics", inflected), inflected) == [
        [("generation",), ("synthesis",)],
        [("genomics",)],
    ]
    # Words most papers hold, and words no paper holds, are left to re-ranking.
    assert groups("models for genomics") is None
    assert groups("genomics for axolotls") is None
    assert groups("genomics") is None


def test_large_vocabulary_reloads_in_background(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.search.SYNC_REFRESH_DOCS", 0)
    searcher = Searcher(store)
    store.upsert_papers([paper("a", "Origami robots", "Folding machines.")])
    assert ids(searcher, "origami") == ["a"]  # the first vocabulary is read before answering
    store.upsert_papers([paper("b", "Zebrafish larvae tracking", "Fish.")])
    ids(searcher, "zebrafish")  # answered with the old vocabulary; a reload starts
    refresher = searcher._refresher
    assert refresher is not None
    refresher.join(timeout=30)
    assert ids(searcher, "zebrafsh") == ["b"]
