"""Search quality on the bundled sample papers: our `Searcher` against plain BM25.

Loads every ``bot/data/sample/*.json`` into a temporary SQLite store, runs the judged queries of
``tests/data/search_judgments.json`` through (a) `bot.search.Searcher` and (b) a baseline: BM25
over title and abstract only (an FTS5 table without stemming, the query's words OR-ed), and
prints nDCG@5, MRR@10 and Recall@5 per query kind and split for both.

    python -m bench.eval_search [--json] [--per-query] [--check]

``--check`` exits 1 unless ours beats the baseline on every held-out kind and is not worse on
plain keywords.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bot.search import Searcher, query_words
from bot.sources.huggingface import parse_items
from bot.store import Store

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "bot" / "data" / "sample"
JUDGMENTS = ROOT / "tests" / "data" / "search_judgments.json"
DEPTH = 10  # results asked of each system; nDCG and recall look at the first 5, MRR at all 10
CUTOFF = 5
KINDS = ("keyword", "acronym", "paraphrase", "typo")
SPLITS = ("tune", "heldout")
METRICS = ("ndcg@5", "mrr", "recall@5")

Ranker = Callable[[str], list[str]]


def load_store(folder: Path, url: str) -> Store:
    """A store holding every sample day in ``folder``."""
    store = Store(url)
    for path in sorted(folder.glob("*.json")):
        papers, _ = parse_items(json.loads(path.read_text(encoding="utf-8")))
        store.upsert_papers(papers)
    return store


def baseline(store: Store) -> Ranker:
    """Plain BM25 over title and abstract: no stemming, no other fields, the words OR-ed."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE VIRTUAL TABLE IF NOT EXISTS baseline_fts USING fts5(title, summary, "
            "content='papers', content_rowid='pk', tokenize='unicode61 remove_diacritics 2')"
        )
        conn.exec_driver_sql("INSERT INTO baseline_fts(baseline_fts) VALUES ('rebuild')")
    sql = text(
        "SELECT p.arxiv_id FROM baseline_fts JOIN papers p ON p.pk = baseline_fts.rowid"
        " WHERE baseline_fts MATCH :q AND p.withdrawn_at IS NULL"
        " ORDER BY bm25(baseline_fts) LIMIT :n"
    )

    def rank(query: str) -> list[str]:
        words = list(dict.fromkeys(query_words(query)))
        if not words:
            return []
        match = " OR ".join(f'"{w}"' for w in words)
        with store.engine.connect() as conn:
            return [r[0] for r in conn.execute(sql, {"q": match, "n": DEPTH})]

    return rank


def ours(store: Store) -> Ranker:
    searcher = Searcher(store)
    return lambda query: [h.paper.id for h in searcher.search(query, limit=DEPTH)]


def ndcg(ranked: Sequence[str], relevant: Mapping[str, int], k: int = CUTOFF) -> float:
    gains = [2 ** relevant.get(pid, 0) - 1 for pid in ranked[:k]]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted((2**g - 1 for g in relevant.values()), reverse=True)[:k]
    best = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / best if best else 0.0


def mrr(ranked: Sequence[str], relevant: Mapping[str, int]) -> float:
    return next((1.0 / (i + 1) for i, pid in enumerate(ranked) if relevant.get(pid)), 0.0)


def recall(ranked: Sequence[str], relevant: Mapping[str, int], k: int = CUTOFF) -> float:
    wanted = {pid for pid, grade in relevant.items() if grade}
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


def evaluate(queries: Sequence[Mapping[str, Any]], systems: Mapping[str, Ranker]) -> dict[str, Any]:
    """Per-query results and the mean of each metric per system, kind and split."""
    rows = []
    sums: dict[tuple[str, str, str], list[dict[str, float]]] = defaultdict(list)
    for q in queries:
        relevant = {str(k): int(v) for k, v in q["relevant"].items()}
        row: dict[str, Any] = {"q": q["q"], "kind": q["kind"], "split": q["split"]}
        for name, rank in systems.items():
            ranked = rank(q["q"])
            scores = {
                "ndcg@5": ndcg(ranked, relevant),
                "mrr": mrr(ranked, relevant),
                "recall@5": recall(ranked, relevant),
            }
            row[name] = {"ranked": ranked[:CUTOFF], **scores}
            for group in ((q["kind"], q["split"]), ("all", q["split"])):
                sums[(name, *group)].append(scores)
        rows.append(row)
    summary: dict[str, Any] = {}
    for (name, kind, split), values in sorted(sums.items()):
        means = {m: sum(v[m] for v in values) / len(values) for m in METRICS}
        summary.setdefault(name, {}).setdefault(split, {})[kind] = {"n": len(values), **means}
    return {"queries": rows, "summary": summary}


def check(summary: Mapping[str, Any]) -> list[str]:
    """What keeps ours from clearly beating the baseline (empty when it does)."""
    problems = []
    for kind in KINDS:
        a = summary["ours"]["heldout"].get(kind)
        b = summary["baseline"]["heldout"].get(kind)
        if a is None or b is None:
            continue
        if a["ndcg@5"] <= b["ndcg@5"] or (kind != "keyword" and a["ndcg@5"] < b["ndcg@5"] + 0.05):
            problems.append(f"held-out {kind}: nDCG@5 {a['ndcg@5']:.3f} vs {b['ndcg@5']:.3f}")
    for split in SPLITS:
        a = summary["ours"][split].get("keyword")
        b = summary["baseline"][split].get("keyword")
        if a and b and any(a[m] < b[m] - 1e-9 for m in METRICS):
            problems.append(f"{split} keyword: worse than the baseline")
    return problems


def render(summary: Mapping[str, Any]) -> str:
    head = f"{'split':8} {'kind':11} {'n':>3}  " + "  ".join(
        f"{m + ' ours':>14} {'base':>6}" for m in METRICS
    )
    lines = [head, "-" * len(head)]
    for split in SPLITS:
        for kind in (*KINDS, "all"):
            a = summary["ours"].get(split, {}).get(kind)
            b = summary["baseline"].get(split, {}).get(kind)
            if not a or not b:
                continue
            cells = "  ".join(f"{a[m]:>14.3f} {b[m]:>6.3f}" for m in METRICS)
            lines.append(f"{split:8} {kind:11} {a['n']:>3}  {cells}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.eval_search", description=__doc__)
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--per-query", action="store_true", help="also show every query")
    parser.add_argument("--check", action="store_true", help="exit 1 unless ours clearly wins")
    parser.add_argument("--samples", type=Path, default=SAMPLES)
    parser.add_argument("--judgments", type=Path, default=JUDGMENTS)
    args = parser.parse_args(argv)

    queries = json.loads(args.judgments.read_text(encoding="utf-8"))["queries"]
    with tempfile.TemporaryDirectory(prefix="eval-search-") as tmp:
        store = load_store(args.samples, f"sqlite:///{tmp}/eval.db")
        try:
            result = evaluate(queries, {"ours": ours(store), "baseline": baseline(store)})
        finally:
            store.close()
    problems = check(result["summary"])
    if args.json:
        json.dump({**result, "problems": problems}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        if args.per_query:
            for row in result["queries"]:
                a, b = row["ours"], row["baseline"]
                print(
                    f"{row['split']:7} {row['kind']:10} {a['ndcg@5']:.2f} {b['ndcg@5']:.2f}  "
                    f"{row['q']!r}"
                )
            print()
        print(render(result["summary"]))
        for problem in problems:
            print(f"not better: {problem}")
    return 1 if args.check and problems else 0


if __name__ == "__main__":
    sys.exit(main())
