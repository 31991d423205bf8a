from __future__ import annotations

import gc
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, create_engine, event, func, insert, inspect, select, text
from sqlalchemy.engine import make_url

from bench import synth
from bot import jsonio
from bot.app import (
    INGEST_GC_THRESHOLD,
    App,
    IngestError,
    IngestReport,
    _load_gc,
    read_daily_papers_file,
)
from bot.config import Settings
from bot.db import MIGRATIONS, DatabaseURLError, PaperRow, normalize_url, redact_url
from bot.models import Paper, Target
from bot.search import Searcher
from bot.sources.huggingface import parse_items
from bot.store import (
    _MERGED_COLUMNS,
    _SEARCH_COLUMN_NAMES,
    Store,
    UpsertStats,
    _tsvector_literal,
    _vocabulary_words,
    paper_to_row,
)
from bot.words import distinct_words, text_key
from tests.conftest import POSTGRES_URL
from tests.factories import api_item, corpus, paper

SLACK = Target.parse("slack:T1/C1")


def test_urls_take_the_plain_forms() -> None:
    assert normalize_url("postgresql://u:p@h:5432/db").startswith("postgresql+psycopg://u:p@h")
    assert normalize_url("postgres://u@h/db").startswith("postgresql+psycopg://")
    assert normalize_url("sqlite:///papers.db") == "sqlite:///papers.db"
    with pytest.raises(DatabaseURLError):
        normalize_url("mysql://u@h/db")
    with pytest.raises(DatabaseURLError):
        normalize_url("not a url")
    assert "s3cret" not in redact_url("postgresql://u:s3cret@h/db")


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: object) -> None:
    st = Store(f"sqlite:///{tmp_path}/x.db")
    with st.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    st.close()


def test_migrations_are_idempotent(db_url: str) -> None:
    Store(db_url).close()
    st = Store(db_url)  # a second start applies nothing and breaks nothing
    assert st.count_papers() == 0
    st.close()


def _stored(store: Store, arxiv_id: str) -> dict[str, object]:
    """A paper's row as the driver returns it (JSON and times as stored), but its keys."""
    with store.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM papers WHERE arxiv_id = :id"), {"id": arxiv_id})
        values = dict(row.mappings().one())
    return {k: v for k, v in values.items() if k not in ("pk", "arxiv_id", "search_words")}


def test_a_load_stores_papers_exactly_as_sqlalchemy_does(store: Store) -> None:
    # SQLite loads hand the driver values converted beforehand (JSON, dates, times) through
    # statements compiled once: rows inserted and merged that way must be what SQLAlchemy writes.
    full = paper(
        "2611.70001",
        "Holographic optics",
        upvotes=5,
        num_comments=2,
        ai_summary="Thin holograms focus light.",
        ai_keywords=["optics", "holography"],
        github_repo="https://github.com/example/holo",
        github_stars=7,
        project_page="https://example.org/holo",
        organization="Example Lab",
        thumbnail="https://example.org/holo.png",
        submitted_by="ada",
        withdrawn_at=datetime(2026, 11, 21, 8, 30, 15, 250, tzinfo=UTC),
        raw={"paper": {"id": "2611.70001", "title": "Holographic optics"}, "numComments": 2},
    )
    bare = paper("2611.70002", "Origami robots", published_at=None, authors=[], raw=None)
    store.upsert_papers([full, bare])
    store.upsert_papers([replace(full, id="2611.70002", title="Origami robots")])  # a merge
    with store.session() as s:
        seen = s.scalar(select(PaperRow.first_seen_at).where(PaperRow.arxiv_id == "2611.70001"))
    rows = [
        dict(paper_to_row(replace(p, id=i)), first_seen_at=seen)
        for p, i in ((full, "2611.70003"), (bare, "2611.70004"))
    ]
    table = PaperRow.__table__
    with store.engine.begin() as conn:
        conn.execute(insert(table), rows)
        merged = dict(paper_to_row(replace(full, id="2611.70004", title="Origami robots")))
        conn.execute(store._paper_update, [{f"new_{k}": merged[k] for k in _MERGED_COLUMNS}])
    assert _stored(store, "2611.70001") == _stored(store, "2611.70003")
    assert _stored(store, "2611.70002") == _stored(store, "2611.70004")
    assert _stored(store, "2611.70002")["published_at"] is not None  # filled by the merge


def test_a_day_with_odd_values_is_stored_whole(store: Store) -> None:
    """One item with a count past the integer columns and one with half an emoji (a lone
    surrogate escape, which orjson refuses) fail neither their day nor the other papers."""
    items = [
        api_item(paper("2611.30001", "Plain paper")),
        api_item(paper("2611.30002", "Starry paper")),
        api_item(paper("2611.30003", "Cut emoji", ai_summary="placeholder")),
    ]
    items[1]["paper"]["githubStars"] = 1e20
    items[1]["paper"]["upvotes"] = 10**12
    body = json.dumps(items).replace("placeholder", "We beat it \\ud83d")
    papers, skipped = parse_items(jsonio.loads(body.encode()))
    assert skipped == 0
    assert store.upsert_papers(papers).inserted == 3
    starry = store.get_paper("2611.30002")
    assert starry is not None and (starry.github_stars, starry.upvotes) == (None, 0)
    cut = store.get_paper("2611.30003")
    assert cut is not None and cut.ai_summary == "We beat it \ufffd"
    assert cut.raw is not None and cut.raw["paper"]["ai_summary"] == "We beat it \ufffd"


def test_ingest_twice_changes_nothing_but_counts(store: Store) -> None:
    papers = corpus()
    first = store.upsert_papers(papers)
    assert (first.inserted, first.updated) == (len(papers), 0)
    before = {p.id: p for p in (store.get_paper(p.id) for p in papers) if p}
    bumped = [replace(p, upvotes=p.upvotes + 10, num_comments=4) for p in papers]
    again = store.upsert_papers(bumped)
    assert (again.inserted, again.updated) == (0, len(papers))
    assert store.count_papers() == len(papers)
    for p in papers:
        after = store.get_paper(p.id)
        assert after is not None
        assert after.upvotes == p.upvotes + 10 and after.num_comments == 4
        assert replace(after, upvotes=0, num_comments=0) == replace(
            before[p.id], upvotes=0, num_comments=0
        )


def test_an_older_payload_does_not_erase_newer_fields(store: Store) -> None:
    rich = paper(
        "2611.20001",
        "Rich",
        ai_summary="Short.",
        ai_keywords=["moe"],
        github_repo="https://github.com/example-lab/x",
        github_stars=10,
        authors=["Ada Example", "Bo Sample", "Cy Placeholder"],
    )
    store.upsert_papers([rich])
    # No ai_* fields, no stars, no authors (null in the payload): what is known stays.
    bare = paper("2611.20001", "Rich", upvotes=5, authors=[])
    store.upsert_papers([bare])
    got = store.get_paper("2611.20001")
    assert got is not None
    assert got.ai_summary == "Short." and got.ai_keywords == ["moe"]
    assert got.github_repo == "https://github.com/example-lab/x"
    assert got.upvotes == 5
    assert got.github_stars == 10
    assert got.authors == ["Ada Example", "Bo Sample", "Cy Placeholder"]
    assert [h.paper.id for h in Searcher(store).search("Placeholder")] == ["2611.20001"]
    # New authors and stars do replace the old.
    store.upsert_papers([replace(bare, authors=["Di Dummy"], github_stars=12)])
    got = store.get_paper("2611.20001")
    assert got is not None and (got.authors, got.github_stars) == (["Di Dummy"], 12)


def test_counts_an_item_does_not_give_are_kept(store: Store) -> None:
    """An item whose upvotes or comments are null (or no count) keeps a known paper's counts,
    loaded as its own batch and beside new papers; a new paper without them stores 0."""
    known = paper("2611.21001", "Counted", upvotes=9, num_comments=4, github_stars=3)
    store.upsert_papers([known])
    again = api_item(replace(known, upvotes=0, num_comments=0))
    again["paper"]["upvotes"] = None
    again["numComments"] = "many"
    fresh = api_item(paper("2611.21002", "Uncounted"))
    fresh["paper"]["upvotes"] = None
    fresh["numComments"] = None
    papers, skipped = parse_items([again, fresh])
    assert skipped == 0
    assert [(p.upvotes, p.num_comments) for p in papers] == [(None, None), (None, None)]
    stats = store.upsert_papers(papers)
    assert (stats.inserted, stats.updated) == (1, 1)
    got = store.get_paper("2611.21001")
    assert got is not None and (got.upvotes, got.num_comments, got.github_stars) == (9, 4, 3)
    new = store.get_paper("2611.21002")
    assert new is not None and (new.upvotes, new.num_comments, new.github_stars) == (0, 0, None)
    # A count that is given still replaces the known one, a 0 included.
    store.upsert_papers([replace(known, upvotes=0, num_comments=1)])
    got = store.get_paper("2611.21001")
    assert got is not None and (got.upvotes, got.num_comments) == (0, 1)


def test_a_batch_larger_than_one_statement(store: Store) -> None:
    many = [paper(f"2611.{i:05d}", f"Paper {i}") for i in range(1200)]
    assert store.upsert_papers(many).inserted == 1200
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(PaperRow)) == 1200


def test_papers_on_a_day_most_upvoted_first_and_withdrawn_left_out(store: Store) -> None:
    papers = corpus()
    papers.append(
        paper(
            "2611.19999", "Withdrawn", upvotes=999, withdrawn_at=datetime(2026, 11, 20, tzinfo=UTC)
        )
    )
    store.upsert_papers(papers)
    day = store.papers_on(date(2026, 11, 20))
    assert [p.upvotes for p in day] == sorted((p.upvotes for p in day), reverse=True)
    assert "2611.19999" not in {p.id for p in day}
    assert store.latest_featured_date() == date(2026, 11, 20)
    assert store.latest_featured_date(date(2026, 11, 19)) == date(2026, 11, 19)
    assert store.latest_featured_date(date(2020, 1, 1)) is None


def test_subscriptions_fold_case_and_space(store: Store) -> None:
    assert store.subscribe(SLACK, "Diffusion   Models")
    assert not store.subscribe(SLACK, "diffusion models")
    ch = store.get_channel(SLACK)
    assert ch is not None and ch.topics == ["Diffusion Models"]
    assert not store.unsubscribe(SLACK, "mixture of experts")
    assert store.unsubscribe(SLACK, "DIFFUSION MODELS")
    assert store.get_channel(SLACK).topics == []  # type: ignore[union-attr]


def test_schedule_changes(store: Store) -> None:
    ch = store.set_schedule(SLACK, time="07:15", timezone="Europe/Berlin", weekdays_only=True)
    assert (ch.schedule.time, ch.schedule.timezone, ch.schedule.weekdays_only) == (
        "07:15",
        "Europe/Berlin",
        True,
    )
    ch = store.set_schedule(SLACK, paused=True, pause_reason="channel_not_found")
    assert ch.schedule.paused and store.pause_reason(SLACK) == "channel_not_found"
    ch = store.set_schedule(SLACK, paused=False)
    assert not ch.schedule.paused and store.pause_reason(SLACK) is None
    assert ch.schedule.time == "07:15"


def test_config_seeding_keeps_command_changes_until_the_config_changes(store: Store) -> None:
    spec = {
        "time": "09:30",
        "timezone": "Europe/Berlin",
        "weekdays_only": True,
        "paused": False,
        "topics": ["diffusion models", "MoE"],
    }
    assert store.seed_channels([(SLACK, spec)]) == 1
    store.subscribe(SLACK, "robotics")
    store.unsubscribe(SLACK, "MoE")
    store.set_schedule(SLACK, time="10:00")
    assert store.seed_channels([(SLACK, spec)]) == 0  # unchanged config: commands win
    ch = store.get_channel(SLACK)
    assert ch is not None and ch.schedule.time == "10:00"
    assert sorted(ch.topics) == ["diffusion models", "robotics"]
    edited = {**spec, "time": "08:00", "topics": ["diffusion models", "3D reconstruction"]}
    assert store.seed_channels([(SLACK, edited)]) == 1  # an edited config is applied
    ch = store.get_channel(SLACK)
    assert ch is not None and ch.schedule.time == "08:00"
    assert sorted(ch.topics) == ["3D reconstruction", "diffusion models", "robotics"]


LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def _schedule_changed_long_ago(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE channels SET schedule_changed_at = :t"), {"t": datetime(2020, 1, 1)}
        )


def _schedule_changed_at(store: Store) -> datetime | None:
    ch = store.get_channel(SLACK)
    assert ch is not None
    return ch.schedule_changed_at


def test_only_a_schedule_change_counts_as_one(store: Store) -> None:
    spec = {"time": "09:30", "timezone": "Europe/Berlin", "topics": ["diffusion models"]}
    store.seed_channels([(SLACK, spec)])
    assert (_schedule_changed_at(store) or LONG_AGO) > datetime.now(UTC) - timedelta(minutes=1)
    _schedule_changed_long_ago(store)
    # Topics, from commands or the config, and a schedule set to what it was: no change.
    store.subscribe(SLACK, "robotics")
    store.unsubscribe(SLACK, "diffusion models")
    assert store.seed_channels([(SLACK, {**spec, "topics": ["MoE"]})]) == 1
    store.set_schedule(SLACK, time="09:30", timezone="Europe/Berlin", paused=False)
    assert _schedule_changed_at(store) == LONG_AGO
    # Each part of the schedule, from a command or the config: a change.
    for change in (
        lambda: store.set_schedule(SLACK, time="10:00"),
        lambda: store.set_schedule(SLACK, timezone="Asia/Tokyo"),
        lambda: store.set_schedule(SLACK, weekdays_only=True),
        lambda: store.set_schedule(SLACK, paused=True, pause_reason="channel_not_found"),
        lambda: store.clear_channel_pause(SLACK),
        lambda: store.seed_channels([(SLACK, {**spec, "time": "08:00"})]),
    ):
        before = datetime.now(UTC)
        change()
        assert (_schedule_changed_at(store) or LONG_AGO) >= before
        _schedule_changed_long_ago(store)


@contextmanager
def _alembic(store: Store) -> Iterator[tuple[Config, Connection]]:
    """Alembic's config on a transaction of ``store``'s, to move its schema by hand."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        yield cfg, conn


def _migrate_again(store: Store, since: str) -> None:
    """Down to revision ``since`` and up again, as from an older version of the bot."""
    with _alembic(store) as (cfg, _):
        command.downgrade(cfg, since)
        command.upgrade(cfg, "head")


def test_the_migration_takes_schedule_changes_from_the_last_change(store: Store) -> None:
    store.set_schedule(SLACK, time="07:15")
    with _alembic(store) as (cfg, conn):
        command.downgrade(cfg, "0007")
        conn.execute(text("UPDATE channels SET updated_at = :t"), {"t": datetime(2020, 1, 1)})
        command.upgrade(cfg, "head")
    assert _schedule_changed_at(store) == LONG_AGO
    ch = store.get_channel(SLACK)
    assert ch is not None and ch.schedule.time == "07:15"


def _title_keys(store: Store) -> dict[str, str | None]:
    with store.engine.connect() as conn:
        return dict(conn.execute(select(PaperRow.arxiv_id, PaperRow.title_key)).all())


def test_papers_keep_their_title_key_as_the_title_changes(store: Store) -> None:
    first = paper("2611.00001", "Ünified  Sparse-Attention: A Survey")
    store.upsert_papers([first, paper("2611.00002", "Another")])
    assert _title_keys(store) == {
        "2611.00001": "unified sparse attention a survey",
        "2611.00002": "another",
    }
    store.upsert_papers([replace(first, title="Sparse Attention, Revisited")])
    assert _title_keys(store)["2611.00001"] == "sparse attention revisited"


def test_queries_by_date_read_the_one_index_on_the_featured_date(store: Store) -> None:
    # The index on the date alone is gone (0012): the one on (date, upvotes) serves each query.
    names = {i["name"] for i in inspect(store.engine).get_indexes("papers")}
    assert "ix_papers_featured_upvotes" in names and "ix_papers_featured_date" not in names
    day = date(2026, 11, 20)
    papers = corpus()
    store.upsert_papers(papers)
    on_day = sorted(p.id for p in papers if p.featured_date == day)
    last_two = [p for p in papers if day - timedelta(days=1) <= (p.featured_date or day) <= day]
    statements: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        assert sorted(p.id for p in store.papers_on(day)) == on_day
        assert store.latest_featured_date(day + timedelta(days=3)) == day
        assert len(store.papers_between(day - timedelta(days=1), day)) == len(last_two)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert len(statements) == 3
    if store.dialect == "sqlite":
        with store.engine.connect() as conn:
            for statement, parameters in statements:
                plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
                assert any("ix_papers_featured_upvotes" in row[-1] for row in plan), plan


def test_the_migration_gives_stored_papers_their_title_keys(store: Store) -> None:
    titles = {f"2611.{i:05d}": f"Paper Number {i}: Ablations" for i in range(1, 8)}
    store.upsert_papers([paper(pid, title) for pid, title in titles.items()])
    _migrate_again(store, "0008")
    assert _title_keys(store) == {pid: text_key(title) for pid, title in titles.items()}
    assert Searcher(store).search("paper number 3 ablations")[0].paper.id == "2611.00003"


def test_the_migration_analyses_stored_papers_again_without_accents(store: Store) -> None:
    store.upsert_papers(
        [
            paper("2611.00001", "Poincaré maps of recurrent networks", authors=["Zoë Lefèvre"]),
            paper("2611.00002", "Recurrent networks, revisited"),
        ]
    )
    _migrate_again(store, "0009")
    searcher = Searcher(store)
    assert [p.paper.id for p in searcher.search("poincaré maps")][:1] == ["2611.00001"]
    assert [p.paper.id for p in searcher.search("poincare")] == ["2611.00001"]
    assert [p.paper.id for p in searcher.search("zoe lefevre")] == ["2611.00001"]
    assert len(searcher.search("recurrent networks")) == 2
    if store.dialect == "postgresql":  # the vectors searches read kept in the row
        with store.engine.connect() as conn:
            storage = conn.exec_driver_sql(
                "SELECT attstorage FROM pg_attribute"
                " WHERE attrelid = 'papers'::regclass AND attname = 'search_vector'"
            )
            assert storage.scalar() == "m"


@pytest.mark.postgres
def test_without_unaccent_search_works_and_a_warning_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A role that may not install the unaccent extension (no CREATE on its database) still
    migrates: search works as before, accents matter, and the log says why."""
    if not POSTGRES_URL:
        pytest.skip("PAPERS_BOT_TEST_POSTGRES_URL is not set")
    name = f"t_{uuid.uuid4().hex[:12]}"
    real = make_url(normalize_url(POSTGRES_URL))
    admin = create_engine(real, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        conn.exec_driver_sql(f'CREATE ROLE "{name}" LOGIN')
    owner = create_engine(real.set(database=name), isolation_level="AUTOCOMMIT")
    try:
        with owner.connect() as conn:  # the role's own schema, first on its search path
            conn.exec_driver_sql(f'CREATE SCHEMA "{name}" AUTHORIZATION "{name}"')
        with caplog.at_level(logging.WARNING, logger="bot.migrations"):
            store = Store(real.set(database=name, username=name).render_as_string(False))
        try:
            assert "unaccent not installed: this database role may not install it" in caplog.text
            store.upsert_papers([paper("2611.00001", "Poincaré maps"), paper("2", "Other maps")])
            searcher = Searcher(store)
            assert [p.paper.id for p in searcher.search("Poincaré")] == ["2611.00001"]
            assert len(searcher.search("maps")) == 2
        finally:
            store.close()
    finally:
        owner.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'DROP ROLE "{name}"')
        admin.dispose()


def test_posted_window(store: Store) -> None:
    ch = store.ensure_channel(SLACK)
    assert ch.id is not None
    now = datetime(2026, 11, 20, 9, tzinfo=UTC)
    store.mark_posted(ch.id, ["a", "b"], at=now - timedelta(days=40))
    store.mark_posted(ch.id, ["c"], at=now - timedelta(days=2))
    assert store.posted_ids(ch.id, 30, now) == {"c"}
    assert store.posted_ids(ch.id, 60, now) == {"a", "b", "c"}
    store.mark_posted(ch.id, ["a"], at=now)
    assert store.posted_ids(ch.id, 30, now) == {"a", "c"}
    assert store.posted_ids(ch.id, 0, now) == set()


def test_list_channels(store: Store) -> None:
    store.subscribe(Target.parse("discord:1/2"), "MoE")
    store.ensure_channel(SLACK)
    store.set_schedule(SLACK, paused=True)
    assert [str(c.target) for c in store.list_channels()] == ["discord:1/2", "slack:T1/C1"]
    assert [str(c.target) for c in store.list_channels(include_paused=False)] == ["discord:1/2"]
    assert store.list_channels()[0].topics == ["MoE"]


def _save(path: Path, papers: list[Paper], *, newer: bool = True) -> Path:
    path.write_text(json.dumps([api_item(p, newer=newer) for p in papers]), encoding="utf-8")
    return path


def test_files_loaded_together_merge_as_if_loaded_one_by_one(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two papers a transaction, so the three files below cross a transaction boundary.
    monkeypatch.setattr("bot.app.INGEST_FILES_BATCH", 2)
    rich = paper("2611.30001", "Holographic optics", ai_summary="Short.", ai_keywords=["optics"])
    first = _save(tmp_path / "a.json", [rich, paper("2611.30002", "Origami robots")])
    # An older payload of the same paper (no ai_* fields) and a new paper.
    older = _save(
        tmp_path / "b.json",
        [replace(rich, upvotes=9), paper("2611.30003", "Zebrafish tracking")],
        newer=False,
    )
    bad = tmp_path / "c.json"
    bad.write_text("[{", encoding="utf-8")
    later = _save(tmp_path / "d.json", [paper("2611.30004", "Never read")])
    app = App(Settings(database_url=db_url))
    try:
        with pytest.raises(IngestError, match=r"c\.json: not valid JSON"):
            app.ingest_files([first, older, bad, later])
        # Everything before the bad file is loaded and searchable; nothing after it is read.
        assert app.store.count_papers() == 3
        got = app.store.get_paper("2611.30001")
        assert got is not None and got.upvotes == 9
        assert got.ai_summary == "Short." and got.ai_keywords == ["optics"]
        assert [h.paper.id for h in app.searcher.search("zebrafish")] == ["2611.30003"]
        assert [h.paper.id for h in app.searcher.search("holographic")] == ["2611.30001"]
        report = app.ingest_files([first, older, later])
        assert (report.inserted, report.updated, report.skipped) == (1, 4, 0)
        assert [h.paper.id for h in app.searcher.search("never read")] == ["2611.30004"]
        if app.store.dialect == "sqlite":
            with app.store.engine.begin() as conn:
                for index in ("papers_fts", "papers_words"):
                    conn.exec_driver_sql(f"INSERT INTO {index}({index}) VALUES ('integrity-check')")
    finally:
        app.close()


def test_a_load_lets_the_collector_look_seldom_and_then_as_before(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1,500 papers in 30 files, three batches; then a load stopped by a bad file.
    files = [
        _save(
            tmp_path / f"{f}.json",
            [
                paper(f"2612.{f:02d}{i:03d}", f"Sparse routing {f} {i}", summary="Experts. " * 20)
                for i in range(50)
            ],
        )
        for f in range(30)
    ]
    monkeypatch.setattr("bot.app.INGEST_FILES_BATCH", 500)
    bad = tmp_path / "bad.json"
    bad.write_text("[{", encoding="utf-8")
    before = gc.get_threshold()
    seen: list[int] = []

    def read(path: Path) -> tuple[list[Paper], int]:
        seen.append(gc.get_threshold()[0])
        return read_daily_papers_file(path)

    monkeypatch.setattr("bot.app.read_daily_papers_file", read)
    looks: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            looks.append(info["generation"])

    app = App(Settings(database_url=db_url))
    try:
        gc.collect()
        gc.callbacks.append(count)
        try:
            assert app.ingest_files(files).inserted == 1500
        finally:
            gc.callbacks.remove(count)
        assert set(seen) == {max(before[0], INGEST_GC_THRESHOLD)}
        # At Python's default the collector looked 36 times here, every forty-odd papers; a
        # load that frees each batch once written hardly ever gives it cause.
        assert len(looks) <= 3, looks
        assert gc.get_threshold() == before
        with pytest.raises(IngestError, match="not valid JSON"):
            app.ingest_files([files[0], bad])
        assert gc.get_threshold() == before
        assert [h.paper.id for h in app.searcher.search("sparse routing 29 49")][:1] == [
            "2612.29049"
        ]
    finally:
        app.close()


def test_loads_at_once_put_the_collector_back_when_the_last_ends() -> None:
    before = gc.get_threshold()
    with _load_gc():
        with _load_gc():
            assert gc.get_threshold()[0] == max(before[0], INGEST_GC_THRESHOLD)
        assert gc.get_threshold()[0] == max(before[0], INGEST_GC_THRESHOLD)
        assert gc.get_threshold()[1:] == before[1:]
    assert gc.get_threshold() == before


def test_a_payload_with_nul_characters_loads_on_every_backend(db_url: str, tmp_path: Path) -> None:
    # PostgreSQL's text cannot hold NUL; a stray one in a title must not fail the whole load.
    item = api_item(paper("2611.31001", "Holographic optics", ai_keywords=["optics"]))
    item["title"] = "Holographic\x00optics"
    item["paper"]["summary"] = "Thin holograms\x00 focus light."
    item["paper"]["authors"][0]["name"] = "Ada\x00Example"
    item["paper"]["ai_keywords"] = ["op\x00tics"]
    path = tmp_path / "nul.json"
    path.write_text(json.dumps([item]), encoding="utf-8")
    app = App(Settings(database_url=db_url))
    try:
        assert app.ingest_files([path]).inserted == 1
        got = app.store.get_paper("2611.31001")
        assert got is not None
        assert (got.title, got.summary) == ("Holographic optics", "Thin holograms focus light.")
        assert got.authors[0] == "Ada Example" and got.ai_keywords == ["op tics"]
        assert got.raw is not None and got.raw["title"] == "Holographic\x00optics"  # as sent
        assert [h.paper.id for h in app.searcher.search("holograms")] == ["2611.31001"]
    finally:
        app.close()


def test_new_papers_are_indexed_once_beside_known_ones(store: Store) -> None:
    searcher = Searcher(store)
    store.upsert_papers([paper("2611.40001", "Volumetric displays")])
    # One call that updates a known paper's title and inserts new ones.
    store.upsert_papers(
        [
            paper("2611.40001", "Volumetric screens"),
            paper("2611.40002", "Acoustic levitation"),
            paper("2611.40003", "Acoustic holograms"),
        ]
    )
    assert {h.paper.id for h in searcher.search("acoustic")} == {"2611.40002", "2611.40003"}
    assert [h.paper.id for h in searcher.search("volumetric screens")] == ["2611.40001"]
    assert searcher.search("displays") == []
    if store.dialect == "sqlite":
        with store.engine.begin() as conn:
            for index in ("papers_fts", "papers_words"):
                conn.exec_driver_sql(f"INSERT INTO {index}({index}) VALUES ('integrity-check')")
                # Each paper once in each index: no row was added twice.
                rows = conn.exec_driver_sql(f"SELECT count(*) FROM {index}").scalar()
                assert rows == 3


def _search_words(store: Store, arxiv_id: str) -> set[str]:
    with store.engine.connect() as conn:
        words = conn.exec_driver_sql(
            "SELECT tsvector_to_array(search_words) FROM papers WHERE arxiv_id = %s", (arxiv_id,)
        ).scalar_one()
    return set(words)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgres_vocabulary_words_come_with_papers_and_follow_changes(store: Store) -> None:
    title = "GPT-4 meets the Schrödinger café"
    store.upsert_papers([paper("2401.00001", title, summary="See arxiv.org/abs for axolotls.")])
    # Written by the store: the words of every searched text, as search splits them.
    expected = distinct_words([title, "See arxiv.org/abs for axolotls.", "Ada Example Bo Sample"])
    assert _search_words(store, "2401.00001") == expected
    assert {"gpt", "4", "schrodinger", "arxiv", "org", "axolotls"} <= expected

    # Another writer's row gets them from the trigger, without the punctuated tokens.
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO papers (arxiv_id, title, summary, authors, authors_text, keywords_text,"
            " upvotes, num_comments, ai_keywords, first_seen_at) VALUES ('2401.00002',"
            " 'Vision-language tadpoles', 'Frogs at the café.', '[]', '', '', 0, 0, '[]', now())"
        )
    # Without accents, as the store writes them.
    expected = {"vision", "language", "tadpoles", "frogs", "at", "the", "cafe"}
    assert _search_words(store, "2401.00002") == expected

    # A changed text changes the words; a change of counts alone leaves them.
    store.upsert_papers([paper("2401.00001", title, summary="Newts, not salamanders.")])
    changed = _search_words(store, "2401.00001")
    assert {"newts", "salamanders"} <= changed and "axolotls" not in changed
    store.upsert_papers([paper("2401.00001", title, summary="Newts, not salamanders.", upvotes=9)])
    assert _search_words(store, "2401.00001") == changed
    searcher = Searcher(store)
    assert [p.paper.id for p in searcher.search("salamandres")] == ["2401.00001"]

    # The migration goes back to the generated column and forth again.
    for revision in ("0006", "head"):
        with _alembic(store) as (cfg, _):
            (command.downgrade if revision == "0006" else command.upgrade)(cfg, revision)
        assert "newts" in _search_words(store, "2401.00001")
    store.upsert_papers([paper("2401.00003", "Origami robots")])
    assert "origami" in _search_words(store, "2401.00003")


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgres_copies_vocabulary_words_in_binary_as_a_statement_writes_them(
    store: Store,
) -> None:
    # The copy sends each paper's words in the tsvector's binary form, in no order: the stored
    # value must be the one the same words give as a literal, as a statement sends them, its
    # lexemes in the server's order (bytes, as Python orders strings) for searches to find.
    texts = {
        "2611.80001": "Zebra ab a abc b Über ßeta éclair Λόγος λόγος 42 4 x86 日本語 ﬁne émigré",
        "2611.80002": "???",  # no words at all
    }
    store.upsert_papers(
        [paper(i, t, summary=t, authors=[]) for i, t in texts.items()]
        + [paper("2611.80003", "Plain loaders", summary="Short.", authors=["Ada Example"])]
    )
    with store.engine.connect() as conn:
        for arxiv_id, title in [*texts.items(), ("2611.80003", None)]:
            row = paper_to_row(store.get_paper(arxiv_id))  # type: ignore[arg-type]
            words = _vocabulary_words(row)  # as the store sends them
            stored, same = conn.exec_driver_sql(
                "SELECT ARRAY(SELECT lexeme FROM unnest(search_words)), search_words = %s::tsvector"
                " FROM papers WHERE arxiv_id = %s",
                (_tsvector_literal(words), arxiv_id),
            ).one()
            assert stored == sorted(words), title
            assert same, title
    assert len(words) > 0 and stored[0] == "ada"
    by_title = [h.paper.id for h in Searcher(store).search("λόγος")]
    assert by_title == ["2611.80001"]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgres_keeps_most_of_a_papers_values_in_its_row(store: Store) -> None:
    # At PostgreSQL's default target a row kept little but its search vector: the raw item,
    # the abstract, the vocabulary words and small values went to the TOAST table one by one,
    # 5-6 values a paper. In half a page, the raw item goes out and at most one value more.
    papers, _ = parse_items(synth.generate(200))
    assert store.upsert_papers(papers).inserted == 200
    with store.engine.connect() as conn:
        toast = conn.exec_driver_sql(
            "SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = 'papers'::regclass"
        ).scalar_one()
        values = conn.exec_driver_sql(f"SELECT count(DISTINCT chunk_id) FROM {toast}").scalar()
        per_page = conn.exec_driver_sql(
            "SELECT count(*) / count(DISTINCT (ctid::text::point)[0]) FROM papers"
        ).scalar()
    assert 200 <= values < 2 * 200
    assert per_page == 2
    assert next(h.paper.id for h in Searcher(store).search(papers[0].title)) == papers[0].id


_OTHER_WRITERS_PAPER = (
    "INSERT INTO papers (arxiv_id, title, summary, authors, authors_text, keywords_text,"
    " upvotes, num_comments, ai_keywords, first_seen_at)"
    " VALUES (%s, 'Tadpole optics', 'Frogs.', '[]', '', '', 1, 0, '[]', now())"
)


def _named(db_url: str) -> tuple[str, str]:
    """``db_url`` (a PostgreSQL schema's) with an application name of its own, and the name:
    its connections are then told apart in pg_stat_activity from every other's."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    return f"{db_url}&application_name={name}", name


# A session of ours waiting for another transaction's key, in the middle of a COPY; and one
# that has written and waits, in its transaction, before committing.
_COPY_WAITING = "wait_event_type = 'Lock' AND query LIKE 'COPY %%'"
_WRITTEN_NOT_COMMITTED = "state = 'idle in transaction' AND backend_xid IS NOT NULL"


def _wait_for_sessions(store: Store, name: str, *conditions: str) -> None:
    """Wait until, for each condition, some session of ``name`` meets it (at most 20 s)."""
    deadline = time.monotonic() + 20
    while True:
        with store.engine.connect() as conn:
            met = [
                conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity"
                    f" WHERE application_name = %s AND {condition}",
                    (name,),
                ).scalar_one()
                > 0
                for condition in conditions
            ]
        if all(met):
            return
        assert time.monotonic() < deadline, f"sessions never met {conditions}: {met}"
        time.sleep(0.02)


@contextmanager
def _copy_given_way(
    db_url: str, held: str, papers: list[Paper], listener: Callable[..., None] | None = None
) -> Iterator[tuple[Store, UpsertStats]]:
    """``papers`` upserted into a new store while another writer holds paper ``held`` (inserted,
    not yet committed): the copy waits for it, then fails when it commits, and the store falls
    back. ``listener`` hears the store's statements (``before_cursor_execute``). Yields the
    store and the upsert's stats."""
    url, name = _named(db_url)
    store, another = Store(url), Store(db_url, migrate=False)
    if listener is not None:
        event.listen(store.engine, "before_cursor_execute", listener)
    try:
        # The other writer's connection closes (rolling back) before the pool waits for the load.
        with ThreadPoolExecutor(1) as pool, another.engine.connect() as other:
            other.exec_driver_sql(_OTHER_WRITERS_PAPER, (held,))  # not yet committed
            loading = pool.submit(store.upsert_papers, papers)
            # The copy waits for the other transaction on the paper's key; then it commits.
            _wait_for_sessions(store, name, _COPY_WAITING)
            other.commit()
            stats = loading.result(timeout=20)
        yield store, stats
    finally:
        store.close()
        another.close()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgres_copy_gives_way_to_a_paper_another_writer_inserted_meanwhile(
    db_url: str,
) -> None:
    # New papers are copied in; a paper another process inserts after the store looked it up
    # makes the copy fail, and the store merges that paper as a known one (a count its item
    # did not give keeps the other writer's) and inserts the rest.
    papers = [
        paper("2611.70001", "Axolotl optics", upvotes=None, num_comments=5),
        paper("2611.70002", "Zebrafish tracking", upvotes=None),
    ]
    with _copy_given_way(db_url, "2611.70001", papers) as (store, _):
        assert store.count_papers() == 2
        merged = store.get_paper("2611.70001")
        assert merged is not None
        assert (merged.title, merged.upvotes, merged.num_comments) == ("Axolotl optics", 1, 5)
        inserted = store.get_paper("2611.70002")
        assert inserted is not None and inserted.upvotes == 0
        # Written by the INSERT, its vocabulary words are the store's, as the copy's are.
        texts = paper_to_row(inserted)
        assert _search_words(store, "2611.70002") == distinct_words(
            texts[c] for c in _SEARCH_COLUMN_NAMES
        )
        assert [h.paper.id for h in Searcher(store).search("zebrafish")] == ["2611.70002"]
        assert [h.paper.id for h in Searcher(store).search("axolotl")] == ["2611.70001"]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgres_copy_fallback_merges_a_paper_a_third_writer_inserts_after_its_lookup(
    db_url: str,
) -> None:
    # The copy gives way to a paper another writer inserted; the store looks the batch up
    # again and inserts the rest. A third writer inserting one of the rest between that lookup
    # and the INSERT must not lose its counts to the 0 a new paper without them would get.
    third = Store(db_url, migrate=False)
    third_inserted: list[str] = []

    def third_writer(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT INTO papers") and not third_inserted:
            third_inserted.append(statement)
            with third.engine.begin() as writing:
                writing.exec_driver_sql(_OTHER_WRITERS_PAPER, ("2611.70004",))

    papers = [
        paper("2611.70003", "Axolotl optics", upvotes=None),
        paper("2611.70004", "Newt optics", upvotes=None, num_comments=None),
        paper("2611.70005", "Zebrafish tracking", upvotes=None),
    ]
    try:
        with _copy_given_way(db_url, "2611.70003", papers, third_writer) as (store, stats):
            assert third_inserted, "the fallback's INSERT never ran"
            assert store.count_papers() == 3
            assert (stats.inserted, stats.updated) == (3, 0)  # as looked up before the copy
            newt = store.get_paper("2611.70004")
            assert newt is not None
            # The item's title, the third writer's counts (its item gave none).
            assert (newt.title, newt.upvotes, newt.num_comments) == ("Newt optics", 1, 0)
            assert [h.paper.id for h in Searcher(store).search("newt")] == ["2611.70004"]
            zebrafish = store.get_paper("2611.70005")
            assert zebrafish is not None and zebrafish.upvotes == 0
            assert [h.paper.id for h in Searcher(store).search("zebrafish")] == ["2611.70005"]
    finally:
        third.close()


@dataclass
class _HeldLoad:
    app: App
    other: Connection  # another writer's, holding the first batch's paper uncommitted
    pool: ThreadPoolExecutor
    loading: Future[IngestReport]


@contextmanager
def _first_batch_held(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, papers: list[Paper]
) -> Iterator[_HeldLoad]:
    """A PostgreSQL load of ``papers``, one batch each, under way: another transaction holds
    the first paper, so the first batch waits on the server, while the second has been written
    on a connection of its own and waits, in its transaction, to commit after the first."""
    monkeypatch.setattr("bot.app.INGEST_FILES_BATCH", 1)
    files = [_save(tmp_path / f"{i}.json", [p]) for i, p in enumerate(papers)]
    url, name = _named(db_url)
    app, another = App(Settings(database_url=url)), Store(db_url, migrate=False)
    try:
        # The other writer's connection closes (rolling back) before the pool waits for the load.
        with ThreadPoolExecutor(2) as pool, another.engine.connect() as other:
            other.exec_driver_sql(_OTHER_WRITERS_PAPER, (papers[0].id,))
            loading = pool.submit(app.ingest_files, files)
            _wait_for_sessions(app.store, name, _COPY_WAITING, _WRITTEN_NOT_COMMITTED)
            yield _HeldLoad(app, other, pool, loading)
    finally:
        app.close()
        another.close()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgres_load_writes_two_batches_at_once_and_commits_them_in_order(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    papers = [
        paper("2611.71001", "Holographic optics"),
        paper("2611.71002", "Origami robots"),
        paper("2611.71003", "Zebrafish tracking"),
    ]
    with _first_batch_held(db_url, tmp_path, monkeypatch, papers) as held:
        assert held.app.store.get_paper("2611.71002") is None  # written, not committed yet
        held.other.rollback()
        report = held.loading.result(timeout=20)
        assert (report.inserted, report.updated) == (3, 0)
        assert held.app.store.count_papers() == 3
        assert [h.paper.id for h in held.app.searcher.search("origami")] == ["2611.71002"]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgres_load_gives_up_a_batch_that_waits_too_long_for_the_one_before_it(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another writer holds the first batch's paper and then waits for one the second batch has
    # written: the server sees two waits, but not the second batch waiting for the first.
    # The second batch gives up after INGEST_ORDER_WAIT_SECONDS, and the rest goes through.
    monkeypatch.setattr("bot.app.INGEST_ORDER_WAIT_SECONDS", 2.0)
    papers = [
        paper("2611.72001", "Holographic optics", upvotes=7),
        paper("2611.72002", "Origami robots"),
    ]
    with _first_batch_held(db_url, tmp_path, monkeypatch, papers) as held:
        other = held.other
        pid = other.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        inserting = held.pool.submit(other.exec_driver_sql, _OTHER_WRITERS_PAPER, ("2611.72002",))
        try:
            inserting.result(timeout=30)  # once the second batch has given up
        finally:
            if not inserting.done():  # never given up: end the other writer, not the test
                with held.app.store.engine.connect() as conn:
                    conn.exec_driver_sql("SELECT pg_terminate_backend(%s)", (pid,))
        other.commit()
        with pytest.raises(IngestError, match=r"waited over 2 s for the batch before it"):
            held.loading.result(timeout=30)
        first = held.app.store.get_paper("2611.72001")
        second = held.app.store.get_paper("2611.72002")
        assert first is not None and (first.title, first.upvotes) == ("Holographic optics", 7)
        assert second is not None and second.title == "Tadpole optics"  # the other writer's


def test_a_begun_upsert_commits_when_finished_in_another_thread(db_url: str) -> None:
    writer, reader = Store(db_url), Store(db_url, migrate=False)
    try:
        finish = writer.begin_upsert([paper("2611.50001", "Axolotl limb regeneration")])
        assert reader.count_papers() == 0  # nothing committed yet
        with ThreadPoolExecutor(1) as pool:
            stats = pool.submit(finish).result()
        assert (stats.inserted, stats.updated) == (1, 0)
        assert reader.count_papers() == 1
        assert [h.paper.id for h in Searcher(reader).search("axolotl")] == ["2611.50001"]
        assert writer.begin_upsert([])().total == 0
    finally:
        writer.close()
        reader.close()


def test_a_begun_upsert_waits_for_after_before_writing_and_stops_if_it_fails(
    store: Store,
) -> None:
    calls: list[int] = []
    finish = store.begin_upsert(
        [paper("2611.50004", "Holographic optics")],
        after=lambda: calls.append(store.count_papers()),
    )
    assert calls == [0]  # called once, before anything was written
    assert finish().inserted == 1
    store.begin_upsert([], after=lambda: calls.append(-1))()
    assert calls == [0, -1]  # an empty batch still calls it

    def previous_batch_failed() -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        store.begin_upsert([paper("2611.50005", "Origami robots")], after=previous_batch_failed)
    assert store.get_paper("2611.50005") is None
    store.upsert_papers([paper("2611.50006", "Zebrafish tracking")])  # no lock left behind
    assert store.count_papers() == 2


def test_a_load_can_leave_copying_the_log_to_checkpoint(tmp_path: Path) -> None:
    # Past 1,000 pages of write-ahead log a commit copies the log into the database file; a
    # loader may leave that to Store.checkpoint in another thread. Then the file grows only then,
    # and the connection goes back to the pool copying as usual.
    db = tmp_path / "papers.db"
    store = Store(f"sqlite:///{db}")
    try:

        def big_batch(first: int) -> list[Paper]:
            text_ = "Holograms focus light through thin films of varying index. " * 300
            return [
                paper(f"2611.{first + i:05d}", f"Optics {i}", summary=text_) for i in range(300)
            ]

        size = db.stat().st_size
        store.begin_upsert(big_batch(0), checkpoint=False)()
        assert db.stat().st_size == size  # all of it still in the log
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
        store.checkpoint()
        grown = db.stat().st_size
        assert grown > size + 4_000_000
        store.begin_upsert(big_batch(1000))()  # as usual: the commit copies the log
        assert db.stat().st_size > grown + 4_000_000
        assert store.count_papers() == 600
    finally:
        store.close()


def test_a_load_of_many_batches_into_a_database_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One connection serves every thread there: nothing may run beside the writer on it.
    monkeypatch.setattr("bot.app.INGEST_FILES_BATCH", 1)
    files = [
        _save(tmp_path / f"{i}.json", [paper(f"2611.8000{i}", f"Optics {i}")]) for i in range(9)
    ]
    app = App(Settings(database_url="sqlite://"))
    try:
        assert app.ingest_files(files).inserted == 9
        assert app.store.count_papers() == 9
        assert app.searcher.search("optics 4")[0].paper.id == "2611.80004"
    finally:
        app.close()


def test_a_begun_upsert_never_finished_is_rolled_back(store: Store) -> None:
    finish = store.begin_upsert([paper("2611.50002", "Origami robots")])
    del finish
    gc.collect()
    # The transaction is gone, and with it SQLite's write lock.
    store.upsert_papers([paper("2611.50003", "Zebrafish tracking")])
    assert store.get_paper("2611.50002") is None
    assert store.count_papers() == 1


def test_a_failed_write_stops_a_load_and_keeps_what_was_committed(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.app.INGEST_FILES_BATCH", 1)
    files = [
        _save(tmp_path / f"{i}.json", [paper(f"2611.6000{i}", title)])
        for i, title in enumerate(["Holographic optics", "Origami robots", "Zebrafish tracking"])
    ]
    app = App(Settings(database_url=db_url))
    try:
        begin = app.store.begin_upsert

        def failing_second(papers: Iterable[Paper], **kwargs: Any) -> Callable[[], UpsertStats]:
            finish = begin(papers, **kwargs)
            if any(p.id == "2611.60001" for p in papers):

                def fail() -> UpsertStats:
                    finish()
                    raise OSError("disk full")

                return fail
            return finish

        monkeypatch.setattr(app.store, "begin_upsert", failing_second)
        with pytest.raises(OSError, match="disk full"):
            app.ingest_files(files)
        # The error of the second batch's worker reaches the caller; the third is not
        # written (on PostgreSQL it was begun beside the second, and is rolled back).
        assert app.store.get_paper("2611.60000") is not None
        assert app.store.get_paper("2611.60002") is None
        assert [h.paper.id for h in app.searcher.search("holographic")] == ["2611.60000"]
    finally:
        app.close()


def test_forget_channel_takes_its_topics_and_records(store: Store) -> None:
    target = Target.parse("slack:T1/C1")
    store.subscribe(target, "diffusion")
    store.upsert_papers([paper("2611.50001", "Kept paper")])
    ch = store.get_channel(target)
    assert ch is not None and ch.id is not None
    store.mark_posted(ch.id, ["2611.50001"])
    assert store.forget_channel(target) and store.get_channel(target) is None
    assert not store.forget_channel(target)
    again = store.ensure_channel(target)  # a new channel of that name starts afresh
    assert again.topics == [] and again.id is not None
    assert store.posted_ids(again.id, 30) == set()
    assert store.get_paper("2611.50001") is not None
