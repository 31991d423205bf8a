"""Semantic matching against a tiny BERT model these tests build themselves (no download).

The model (hidden size 32, two layers, random weights, a WordPiece vocabulary of the sample
corpus's words) is saved as a sentence-transformers folder and loaded through
``semantic.model: <folder>``, exactly as a real one. Its vectors mean nothing, so fusion and
threshold tests store vectors they construct (a chosen cosine with a real query vector).
Skipped without the ``[semantic]`` extra.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot import semantic as semantic_module
from bot.app import App
from bot.config import SemanticConfig, Settings, load_settings
from bot.db import PaperRow
from bot.digest import LEXICAL_MIN_RELEVANCE
from bot.models import Target
from bot.search import Searcher, query_words
from bot.semantic import (
    HYBRID_MIN_RELEVANCE,
    EmbeddingRow,
    Fusion,
    Semantic,
    embedding_text,
    extra_installed,
    text_hash,
)
from bot.sources.huggingface import parse_items
from bot.store import Store
from tests.factories import corpus, paper

pytestmark = pytest.mark.semantic
pytest.importorskip("sentence_transformers", reason="needs the [semantic] extra")
np = pytest.importorskip("numpy")

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "bot" / "data" / "sample"
DAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)
TARGET = Target.parse("discord:1/2")


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # Tests store vectors behind the searcher's back, as another process would: see them now.
    monkeypatch.setattr(semantic_module, "REFRESH_SECONDS", 0.0)
    for name in list(os.environ):
        if name.startswith("PAPERS_BOT_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A sentence-transformers folder: a 2-layer BERT (hidden 32) with random weights, a
    WordPiece vocabulary of the sample papers' words, mean pooling."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    try:  # sentence-transformers 6 moved them
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:
        from sentence_transformers.models import Pooling, Transformer

    root = tmp_path_factory.mktemp("tiny-model")
    bert = root / "bert"
    bert.mkdir()
    words: set[str] = set()
    for path in SAMPLES.glob("*.json"):
        for p in parse_items(json.loads(path.read_text(encoding="utf-8")))[0]:
            words.update(query_words(" ".join([p.title, p.summary, *p.ai_keywords])))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(words)]
    (bert / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    # Positional: transformers 4 calls it vocab_file, 5 calls it vocab.
    tokenizer = BertTokenizerFast(str(bert / "vocab.txt"), do_lower_case=True)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(bert)
    tokenizer.save_pretrained(bert)
    model = SentenceTransformer(
        modules=[Transformer(str(bert), max_seq_length=64), Pooling(32, "mean")]
    )
    model.save(str(root / "model"))
    return str(root / "model")


def settings(url: str, model: str, enabled: bool | None = True, **digest: Any) -> Settings:
    return Settings(
        database_url=url,
        semantic=SemanticConfig(enabled=enabled, model=model),
        digest=digest or {},  # type: ignore[arg-type]
    )


@pytest.fixture
def app(db_url: str, tiny_model: str) -> Iterator[App]:
    a = App(settings(db_url, tiny_model))
    try:
        yield a
    finally:
        a.close()


def stored(store: Store, model: str) -> dict[str, tuple[int, str, int]]:
    """arXiv id -> (row id, text hash, dimension) of the vectors stored for ``model``."""
    with store.session() as s:
        rows = s.execute(
            select(
                EmbeddingRow.arxiv_id, EmbeddingRow.id, EmbeddingRow.text_hash, EmbeddingRow.dim
            ).where(EmbeddingRow.model == model)
        )
        return {r.arxiv_id: (r.id, r.text_hash, r.dim) for r in rows}


def unit(v: Any) -> Any:
    return (v / np.linalg.norm(v)).astype(np.float32)


def at_cosine(q: Any, cosine: float, seed: int) -> Any:
    """A unit vector whose cosine with the unit vector ``q`` is exactly ``cosine``."""
    r = np.random.default_rng(seed).standard_normal(q.shape[0]).astype(np.float32)
    r = unit(r - (r @ q) * q)
    return unit(cosine * q + math.sqrt(max(0.0, 1 - cosine**2)) * r)


def put_vectors(store: Store, model: str, vectors: dict[str, Any]) -> None:
    """Store chosen vectors for papers, as if the model had made them from their current text."""
    from bot.vectors import to_bytes

    with store.session() as s:
        rows = {
            r.arxiv_id: r for r in s.scalars(select(PaperRow).where(PaperRow.arxiv_id.in_(vectors)))
        }
        for arxiv_id, vector in vectors.items():
            row = rows[arxiv_id]
            text = embedding_text(row.title, row.keywords_text, row.ai_summary, row.summary)
            old = s.scalar(
                select(EmbeddingRow).where(
                    EmbeddingRow.paper_pk == row.pk, EmbeddingRow.model == model
                )
            )
            if old is not None:
                s.delete(old)
                s.flush()
            s.add(
                EmbeddingRow(
                    paper_pk=row.pk,
                    arxiv_id=arxiv_id,
                    model=model,
                    dim=int(vector.shape[0]),
                    text_hash=text_hash(text),
                    vector=to_bytes(vector),
                )
            )


def ids(hits: list[Any]) -> list[str]:
    return [h.paper.id for h in hits]


# -- the model ------------------------------------------------------------------------------------


def test_the_model_loads_from_a_folder_and_makes_unit_vectors(app: App) -> None:
    assert app.semantic is not None
    encoder = app.semantic.encoder()
    assert encoder is not None and encoder.dimension == 32
    vectors = encoder.encode(["mixture of experts routing", "diffusion models for video"])
    assert vectors.shape == (2, 32) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1])
    first = encoder.query("Mixture   of Experts")
    assert encoder.query("mixture of experts") is first  # cached, under the same key
    assert np.allclose(first, encoder.encode(["mixture of experts"])[0], atol=1e-5)


def test_queries_are_read_with_acronyms_spelled_out_and_unknown_words_fixed(app: App) -> None:
    assert app.semantic is not None
    encoder = app.semantic.encoder()
    assert encoder is not None
    asked: list[str] = []

    def correct(word: str) -> str | None:
        asked.append(word)
        return {"gausian": "gaussian"}.get(word)

    text = app.semantic.query_text("MoE and Gausian Splatting", encoder, correct)
    assert text == "moe (mixture of experts) and gaussian splatting"
    assert asked == ["gausian"]  # words the model knows whole are never "fixed"
    assert app.semantic.query_text("LLMs", encoder) == "llms (large language model)"


def test_the_model_setting_can_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_model: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PAPERS_BOT_SEMANTIC__MODEL", tiny_model)
    s = load_settings()
    assert s.semantic.model == tiny_model and s.semantic.enabled is None
    assert s.digest.min_relevance is None


# -- vectors kept in step with the papers ---------------------------------------------------------


def test_ingest_embeds_new_papers_and_re_embeds_changed_ones(app: App, tiny_model: str) -> None:
    papers = corpus()
    app.ingest(papers)
    first = stored(app.store, tiny_model)
    assert set(first) == {p.id for p in papers}
    assert {dim for _, _, dim in first.values()} == {32}

    app.ingest(papers)  # the same texts again: nothing to do
    assert stored(app.store, tiny_model) == first

    changed = papers[3]
    app.ingest([replace(changed, title="Pocket-Sized Transformers for Handheld Devices")])
    new = paper("2611.10099", "Learning Rules beyond Backpropagation", day=DAY)
    app.ingest([new])
    after = stored(app.store, tiny_model)
    assert after[changed.id][0] > first[changed.id][0]  # a new row...
    assert after[changed.id][1] != first[changed.id][1]  # ...from the new text
    assert new.id in after
    assert {k: v for k, v in after.items() if k not in (changed.id, new.id)} == {
        k: v for k, v in first.items() if k != changed.id
    }


def test_the_searchers_vectors_follow_the_database(app: App, tiny_model: str) -> None:
    assert app.semantic is not None
    app.ingest(corpus())
    encoder = app.semantic.encoder()
    assert encoder is not None
    assert app.searcher.search("routing tokens to experts")  # loads the matrix

    title = "Pocket-Sized Transformers for Handheld Devices"
    app.ingest([replace(corpus()[3], title=title)])
    app.ingest([paper("2611.10099", "Learning Rules beyond Backpropagation", day=DAY)])
    with app.store.session() as s:
        pks = {p.arxiv_id: p.pk for p in s.scalars(select(PaperRow))}
    similar = app.semantic.similar("learning rules beyond backpropagation")
    assert similar is not None
    text = embedding_text(title, "", None, corpus()[3].summary)
    expected = float(
        encoder.encode([text])[0] @ encoder.query("learning rules beyond backpropagation")
    )
    assert similar.cosine(pks["2611.10004"]) == pytest.approx(expected, abs=1e-5)
    assert similar.cosine(pks["2611.10099"]) is not None


def test_vectors_another_process_stores_are_seen_after_refresh_seconds(
    store: Store, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(semantic_module, "REFRESH_SECONDS", 60.0)
    store.upsert_papers(corpus())
    semantic = Semantic(store, tiny_model)
    semantic.sync(["2611.10001"])
    assert semantic.similar("routing") is not None  # the first search loads the vectors
    pk = _pk(store, "2611.10002")
    Semantic(store, tiny_model).sync(["2611.10002"])  # another process, in effect
    similar = semantic.similar("routing")
    assert similar is not None and similar.cosine(pk) is None  # not looked for yet
    monkeypatch.setattr(semantic_module, "REFRESH_SECONDS", 0.0)  # as if the time had come
    similar = semantic.similar("routing")
    assert similar is not None and similar.cosine(pk) is not None


def _pk(store: Store, arxiv_id: str) -> int:
    with store.session() as s:
        pk = s.scalar(select(PaperRow.pk).where(PaperRow.arxiv_id == arxiv_id))
    assert pk is not None
    return pk


def test_another_model_embeds_everything_again(store: Store, tiny_model: str) -> None:
    store.upsert_papers(corpus())
    assert Semantic(store, tiny_model).sync().embedded == 12
    renamed = tiny_model + os.sep  # the same files under another name: another model to us
    report = Semantic(store, renamed).sync()
    assert (report.embedded, report.current) == (12, 0)
    assert len(stored(store, renamed)) == len(stored(store, tiny_model)) == 12
    assert Semantic(store, renamed).sync().current == 12


# -- fusion ---------------------------------------------------------------------------------------


def test_fusion_scores() -> None:
    f = Fusion(lexical_weight=0.5, floor=0.2, ceiling=0.6)
    assert f.score(0.8, None) == 0.8  # not embedded yet: lexical alone
    assert f.score(0.0, 0.1) == 0.0 and f.score(0.0, 0.2) == 0.0
    assert f.score(0.0, 0.4) == pytest.approx(0.25)
    assert f.score(1.0, 0.9) == 1.0
    assert f.score(0.6, 0.5) > f.score(0.6, 0.4) > f.score(0.5, 0.4)


@pytest.fixture
def semantic(store: Store, tiny_model: str) -> Semantic:
    store.upsert_papers(corpus())
    return Semantic(store, tiny_model)


def query_vector(semantic: Semantic, text: str) -> Any:
    """The query's vector exactly as a search makes it (spelling fixed against the index)."""
    encoder = semantic.encoder()
    assert encoder is not None
    with semantic.store.session() as s:
        vocabulary = Searcher(semantic.store)._current_vocabulary(s)
    return encoder.query(semantic.query_text(text, encoder, vocabulary.correct))


def test_a_paper_is_found_by_meaning_alone(store: Store, semantic: Semantic) -> None:
    topic = "forward gradients from local perturbations"  # no word of it in any paper
    q = query_vector(semantic, topic)
    fusion = semantic.fusion
    vectors = {p.id: at_cosine(q, 0.0, i) for i, p in enumerate(corpus())}
    vectors["2611.10012"] = at_cosine(q, fusion.ceiling, 99)  # "A Benchmark for Code Agents"
    put_vectors(store, semantic.model, vectors)

    assert Searcher(store).search(topic) == []
    hits = Searcher(store, semantic).search(topic)
    assert ids(hits) == ["2611.10012"]
    assert hits[0].score == pytest.approx(1 - fusion.lexical_weight, abs=1e-5)


def test_equally_close_in_meaning_the_paper_with_the_words_wins(
    store: Store, semantic: Semantic
) -> None:
    topic = "gaussian splatting"
    q = query_vector(semantic, topic)
    vectors = {p.id: at_cosine(q, 0.0, i) for i, p in enumerate(corpus())}
    for i, pid in enumerate(("2611.10003", "2611.10005", "2611.10012")):
        vectors[pid] = at_cosine(q, 0.5, 100 + i)
    put_vectors(store, semantic.model, vectors)
    hits = Searcher(store, semantic).search(topic)
    assert hits[0].paper.id == "2611.10003"  # "Gaussian Splatting for Dynamic Scenes"
    assert set(ids(hits)) == {"2611.10003", "2611.10005", "2611.10012"}
    assert all(0.0 < h.score <= 1.0 for h in hits)


def test_papers_far_in_meaning_and_words_never_appear(store: Store, semantic: Semantic) -> None:
    topic = "medieval french poetry"
    q = query_vector(semantic, topic)
    floor = semantic.fusion.floor
    put_vectors(
        store, semantic.model, {p.id: at_cosine(q, floor - 0.05, i) for i, p in enumerate(corpus())}
    )
    assert Searcher(store, semantic).search(topic) == []


def test_vector_proposals_obey_dates_exclusions_and_withdrawals(
    store: Store, semantic: Semantic
) -> None:
    topic = "forward gradients from local perturbations"
    q = query_vector(semantic, topic)
    vectors = {p.id: at_cosine(q, 0.0, i) for i, p in enumerate(corpus())}
    # "A Benchmark for Code Agents" (Nov 18) and "Graph Neural Networks for Molecules" (Nov 20)
    f = semantic.fusion
    vectors["2611.10012"] = at_cosine(q, f.floor + 0.75 * (f.ceiling - f.floor), 98)
    vectors["2611.10005"] = at_cosine(q, f.floor + 0.5 * (f.ceiling - f.floor), 99)
    put_vectors(store, semantic.model, vectors)
    searcher = Searcher(store, semantic)
    assert ids(searcher.search(topic, limit=2)) == ["2611.10012", "2611.10005"]
    assert ids(searcher.search(topic, limit=2, since=DAY)) == ["2611.10005"]
    assert ids(searcher.search(topic, limit=2, until=date(2026, 11, 19))) == ["2611.10012"]
    assert ids(searcher.search(topic, limit=2, exclude={"2611.10012"})) == ["2611.10005"]
    withdrawn = replace(corpus()[4], withdrawn_at=NOW)
    store.upsert_papers([withdrawn])
    assert ids(searcher.search(topic, limit=2)) == ["2611.10012"]


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (date(2024, 5, 14), date(2024, 5, 14)),  # 8 of the 84 papers: those rows are gathered
        (date(2024, 5, 14) - timedelta(days=999), date(2026, 11, 18)),  # most: one product
    ],
)
def test_nearest_papers_within_a_date_range(app: App, first: date, last: date) -> None:
    assert app.semantic is not None
    app.ingest_files(sorted(SAMPLES.glob("*.json")))
    with app.store.session() as s:
        papers = list(s.execute(select(PaperRow.pk, PaperRow.arxiv_id, PaperRow.featured_date)))
    topic = "diffusion models for images"
    everything = app.semantic.similar(topic)
    assert everything is not None
    skip = next(p.arxiv_id for p in papers if p.featured_date == date(2024, 5, 14))
    similar = app.semantic.similar(topic, since=first, until=last, exclude={skip})
    assert similar is not None
    floor = app.semantic.fusion.floor
    expected = sorted(
        (
            p.pk
            for p in papers
            if first <= p.featured_date <= last
            and p.arxiv_id != skip
            and (everything.cosine(p.pk) or 0) >= floor
        ),
        key=lambda pk: -(everything.cosine(pk) or 0),
    )
    assert expected and similar.nearest == expected[: len(similar.nearest)]
    assert len(similar.nearest) == min(len(expected), semantic_module.NEAREST)


# -- the digest's threshold -----------------------------------------------------------------------


def test_a_topic_section_with_only_noise_stays_empty(app: App) -> None:
    assert app.semantic is not None
    assert app.min_relevance == HYBRID_MIN_RELEVANCE  # the default with semantic matching on
    assert app.digests.options.min_relevance == HYBRID_MIN_RELEVANCE
    app.ingest(corpus())
    topic = "medieval french poetry"
    q = query_vector(app.semantic, topic)
    fusion = app.semantic.fusion
    # Some papers a little closer than unrelated ones, none close enough to be about it.
    weak = fusion.floor + (fusion.ceiling - fusion.floor) * 0.5 * HYBRID_MIN_RELEVANCE
    assert fusion.score(0.0, weak) < HYBRID_MIN_RELEVANCE
    vectors = {p.id: at_cosine(q, fusion.floor - 0.1, i) for i, p in enumerate(corpus())}
    for i, pid in enumerate(("2611.10005", "2611.10009", "2611.10011")):
        vectors[pid] = at_cosine(q, weak, 50 + i)
    put_vectors(app.store, app.semantic.model, vectors)
    app.store.subscribe(TARGET, topic)
    app.store.subscribe(TARGET, "diffusion models")
    channel = app.store.get_channel(TARGET)
    assert channel is not None
    digest = app.digests.build(channel, DAY, now=NOW)
    assert topic not in [s.title for s in digest.sections]
    assert "diffusion models" in [s.title for s in digest.sections]
    # /papers still answers with the best it has: the threshold is the digest's.
    assert app.searcher.search(topic)

    vectors["2611.10009"] = at_cosine(q, fusion.ceiling, 60)  # one paper really about it
    put_vectors(app.store, app.semantic.model, {"2611.10009": vectors["2611.10009"]})
    digest = app.digests.build(channel, DAY, now=NOW)
    section = next(s for s in digest.sections if s.title == topic)
    assert [p.id for p in section.papers] == ["2611.10009"]


def test_an_explicit_min_relevance_wins(db_url: str, tiny_model: str) -> None:
    a = App(settings(db_url, tiny_model, min_relevance=0.05))
    try:
        assert a.min_relevance == 0.05
    finally:
        a.close()


# -- fallbacks ------------------------------------------------------------------------------------


def semantic_records(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("bot.") and r.levelno >= level and "semantic" in r.name
    ]


def test_without_the_extra_search_is_lexical_with_one_log_line(
    db_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # as if not installed
    assert not extra_installed()
    with caplog.at_level(logging.INFO):
        auto = App(settings(db_url, "whatever", enabled=None))
        try:
            assert auto.semantic is None and auto.min_relevance == LEXICAL_MIN_RELEVANCE
        finally:
            auto.close()
        assert semantic_records(caplog) == []  # not asked for: nothing to say
        a = App(settings(db_url, "whatever", enabled=True))
        try:
            assert a.semantic is None
            a.ingest(corpus())
            hits = a.searcher.search("mixture of experts")
            assert hits and hits == Searcher(a.store).search("mixture of experts")
        finally:
            a.close()
    lines = semantic_records(caplog, logging.WARNING)
    assert len(lines) == 1 and "[semantic]" in lines[0]


def test_an_extra_that_fails_to_import_means_lexical_results(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tiny_model: str
) -> None:
    store.upsert_papers(corpus())
    semantic = Semantic(store, tiny_model + "-broken")
    put_vectors(store, semantic.model, {p.id: unit(np.ones(32)) for p in corpus()})
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with caplog.at_level(logging.INFO):
        hybrid = Searcher(store, semantic)
        for topic in ("diffusion models", "learning without backpropagation"):
            assert hybrid.search(topic) == Searcher(store).search(topic)
    lines = semantic_records(caplog)
    assert len(lines) == 1 and "daily-papers-bot[semantic]" in lines[0]


def test_a_missing_model_folder_means_lexical_results_and_one_log_line(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, tiny_model: str
) -> None:
    missing = str(tmp_path / "no-such-model")
    with caplog.at_level(logging.INFO):
        a = App(settings(db_url, missing))
        try:
            a.ingest(corpus())  # cannot embed: says so, loads the papers all the same
            assert a.store.count_papers() == 12 and stored(a.store, missing) == {}
            # Vectors from before the folder went away change nothing either.
            put_vectors(a.store, missing, {p.id: unit(np.ones(32)) for p in corpus()})
            lexical = Searcher(a.store)
            for topic in ("diffusion models", "making language models cheaper to run on phones"):
                assert a.searcher.search(topic) == lexical.search(topic)
        finally:
            a.close()
    lines = semantic_records(caplog)
    assert len(lines) == 1 and "no model folder" in lines[0], lines


# -- the command line -----------------------------------------------------------------------------


def papers_bot(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PAPERS_BOT_", "SLACK_", "DISCORD_"))
    }
    full_env.update(
        PYTHONPATH=str(ROOT),
        HF_HUB_OFFLINE="1",
        PAPERS_BOT_DATABASE_URL=f"sqlite:///{tmp_path}/papers.db",
        **env,
    )
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=full_env,
        timeout=300,
    )


def test_papers_bot_embed(tmp_path: Path, tiny_model: str) -> None:
    model = {"PAPERS_BOT_SEMANTIC__MODEL": tiny_model}
    files = [str(p) for p in sorted(SAMPLES.glob("*.json"))]
    r = papers_bot(tmp_path, "ingest", *files, PAPERS_BOT_SEMANTIC__ENABLED="false", **model)
    assert r.returncode == 0, r.stderr

    r = papers_bot(tmp_path, "embed", **model)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"Embedded 84 papers with {tiny_model}; 0 already up to date."
    assert "Traceback" not in r.stderr

    r = papers_bot(tmp_path, "embed", **model)
    assert r.stdout.strip() == f"Embedded 0 papers with {tiny_model}; 84 already up to date."

    r = papers_bot(tmp_path, "search", "--json", "learning without backpropagation", **model)
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)
    assert hits and all(0.0 <= h["score"] <= 1.0 for h in hits)

    r = papers_bot(tmp_path, "embed", PAPERS_BOT_SEMANTIC__ENABLED="false", **model)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr


_IMPORTS = """
import sys
from bot.cli import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    assert not e.code, e.code
print("torch imported:", "torch" in sys.modules)
"""


def test_search_imports_no_torch_until_there_are_vectors(tmp_path: Path, tiny_model: str) -> None:
    env = {
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "PAPERS_BOT_DATABASE_URL": f"sqlite:///{tmp_path}/papers.db",
        "PAPERS_BOT_SEMANTIC__MODEL": tiny_model,
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(tmp_path)),
    }
    sample = str(sorted(SAMPLES.glob("*.json"))[0])

    def run(*args: str, **extra: str) -> str:
        r = subprocess.run(
            [sys.executable, "-c", _IMPORTS, *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**env, **extra},
            timeout=300,
        )
        assert r.returncode == 0, r.stderr
        return r.stdout.strip().splitlines()[-1]

    assert run("ingest", sample, PAPERS_BOT_SEMANTIC__ENABLED="false") == "torch imported: False"
    assert run("search", "diffusion") == "torch imported: False"  # no vectors: nothing to load
    assert run("search", "diffusion", PAPERS_BOT_SEMANTIC__ENABLED="false").endswith("False")
    assert run("embed") == "torch imported: True"
    assert run("search", "diffusion") == "torch imported: True"
