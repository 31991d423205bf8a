"""Start-up skips Alembic when the database is already at the newest migration: the cheap check
must agree with Alembic about what the newest migration is, and must never skip real work."""

from __future__ import annotations

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from bot.db import MIGRATIONS, at_head, head_revision, make_engine, upgrade
from bot.store import Store
from tests.factories import corpus


def alembic_head() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def test_the_head_read_from_the_files_is_alembics_head() -> None:
    assert head_revision() is not None
    assert head_revision() == alembic_head()


def test_a_database_at_head_is_not_migrated_again(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    Store(db_url).close()  # migrated the usual way
    engine = make_engine(db_url)
    try:
        assert at_head(engine)
        calls: list[str] = []
        monkeypatch.setattr("alembic.command.upgrade", lambda cfg, rev: calls.append(rev))
        upgrade(engine)
        assert calls == []
    finally:
        engine.dispose()


def test_a_new_or_older_database_goes_through_alembic(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(db_url)
    try:
        assert not at_head(engine)  # nothing there yet
        upgrade(engine)
        assert at_head(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        assert not at_head(engine)
        calls: list[str] = []
        monkeypatch.setattr("alembic.command.upgrade", lambda cfg, rev: calls.append(rev))
        upgrade(engine)
        assert calls == ["head"]
    finally:
        engine.dispose()


def _row_versions(store: Store) -> list[str]:
    """Something that changes whenever a paper's row is rewritten."""
    with store.engine.connect() as conn:
        if store.dialect == "postgresql":
            return list(conn.execute(text("SELECT xmin::text FROM papers ORDER BY pk")).scalars())
        return [str(n) for n in conn.execute(text("SELECT count(*) FROM rewrites")).scalars()]


def test_loading_the_same_papers_again_rewrites_nothing(store: Store) -> None:
    if store.dialect == "sqlite":
        with store.engine.begin() as conn:
            conn.execute(text("CREATE TABLE rewrites (pk INTEGER)"))
            conn.execute(
                text(
                    "CREATE TRIGGER count_rewrites AFTER UPDATE ON papers "
                    "BEGIN INSERT INTO rewrites VALUES (new.pk); END"
                )
            )
    papers = corpus()
    store.upsert_papers(papers)
    before = _row_versions(store)
    stats = store.upsert_papers(corpus())
    assert stats.updated == len(papers) and stats.inserted == 0
    assert _row_versions(store) == before
    # A changed count is still written, and only that paper's row.
    changed = corpus()
    changed[0].upvotes += 5
    store.upsert_papers(changed)
    assert _row_versions(store) != before
    stored = store.get_paper(changed[0].id)
    assert stored is not None and stored.upvotes == changed[0].upvotes
