"""Search quality at the benchmark's scale, judged by construction.

`bench.eval_search` judges 40 queries over the 84 sample papers by hand; it cannot tell what a
change does to 100k papers, where words common to thousands of papers and the newest-matches
window shape the answers. This uses the benchmark's own synthetic papers and topics instead:
every generated paper is about one topic (three in ten touch a second one), and each of the 200
benchmark topics is typed from one topic ("VLM", "recent papers on latent diffusion models",
a typo of a topic's name) or, for a combination such as "diffusion models for code
generation", from two. A paper is relevant (grade 2) when it is about every topic asked (its
main topic, or for a combination its two topics), partly (1) when it touches one of them.

Prints nDCG@5 for single topics, combinations and all, for our `Searcher` and for plain BM25
(`bench.eval_search.baseline`), and how many topics each answered with nothing.

    python -m bench.eval_scale [--papers 100000] [--json]

It builds a temporary SQLite database with ``papers-bot ingest`` (`App.ingest_files`): about a
minute for 100k papers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.eval_search import Ranker, baseline, ndcg, ours
from bench.ingest import day_files, day_payloads, ingest_files, open_app
from bench.synth import generate, topics_asked

Topics = tuple[str, str]  # a paper's main and second topic (the same for most papers)


def grade(about: Topics, asked: frozenset[str]) -> int:
    """How relevant a paper about ``about`` is to a query asking about ``asked``."""
    main, second = about
    if len(asked) == 1:
        return 2 if main in asked else 1 if second in asked else 0
    touched = asked & {main, second}
    return 2 if touched == asked else 1 if touched else 0


def judgments(
    ids: Sequence[str], abouts: Sequence[Topics], asked: frozenset[str]
) -> dict[str, int]:
    """Every relevant paper's grade for a query asking about ``asked``."""
    out = {}
    for pid, about in zip(ids, abouts, strict=True):
        if g := grade(about, asked):
            out[pid] = g
    return out


def evaluate(
    systems: Mapping[str, Ranker],
    queries: Sequence[tuple[str, frozenset[str]]],
    ids: Sequence[str],
    abouts: Sequence[Topics],
) -> dict[str, Any]:
    # Judging one query reads every paper; queries about the same topics share it.
    by_topics: dict[frozenset[str], dict[str, int]] = {}
    scores: dict[str, dict[str, list[float]]] = {s: {"one": [], "two": []} for s in systems}
    empty: Counter[str] = Counter()
    for query, asked in queries:
        if asked not in by_topics:
            by_topics[asked] = judgments(ids, abouts, asked)
        relevant = by_topics[asked]
        kind = "one" if len(asked) == 1 else "two"
        for name, rank in systems.items():
            ranked = rank(query)
            empty[name] += not ranked
            scores[name][kind].append(ndcg(ranked, relevant))
    summary: dict[str, Any] = {"queries": len(queries), "papers": len(ids), "systems": {}}
    for name, by_kind in scores.items():
        every = by_kind["one"] + by_kind["two"]
        summary["systems"][name] = {
            "ndcg@5 one topic": statistics.mean(by_kind["one"]),
            "ndcg@5 two topics": statistics.mean(by_kind["two"]) if by_kind["two"] else None,
            "ndcg@5 all": statistics.mean(every),
            "answered nothing": empty[name],
        }
    summary["two-topic queries"] = sum(1 for _, asked in queries if len(asked) > 1)
    return summary


def render(summary: Mapping[str, Any]) -> str:
    columns = ("ndcg@5 one topic", "ndcg@5 two topics", "ndcg@5 all", "answered nothing")
    lines = [
        f"{summary['queries']} topics ({summary['two-topic queries']} of two topics) over "
        f"{summary['papers']:,} papers",
        f"{'system':10}" + "".join(f"{c:>20}" for c in columns),
    ]
    for name, figures in summary["systems"].items():
        lines.append(f"{name:10}" + "".join(_cell(figures[c]) for c in columns))
    return "\n".join(lines)


def _cell(value: float | int | None) -> str:
    if value is None:
        return f"{'—':>20}"
    return f"{value:>20.3f}" if isinstance(value, float) else f"{value:>20}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.eval_scale", description=__doc__)
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--topics", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args(argv)

    abouts: list[Topics] = []
    items = generate(args.papers, about=abouts)
    ids = [item["paper"]["id"] for item in items]
    queries = topics_asked(args.topics)
    with tempfile.TemporaryDirectory(prefix="papers-bot-eval-") as tmp:
        folder = Path(tmp)
        paths = day_files(folder / "days", day_payloads(items))
        del items
        with open_app(f"sqlite:///{folder}/papers.db") as app:
            ingest_files(app, paths)
            systems = {"ours": ours(app.store), "bm25": baseline(app.store)}
            summary = evaluate(systems, queries, ids, abouts)
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        print()
    else:
        print(render(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
