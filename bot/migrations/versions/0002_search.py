"""Full-text search over papers: SQLite FTS5, PostgreSQL tsvector + GIN.

SQLite keeps two external-content FTS5 indexes over ``papers``, both fed by the same triggers:
``papers_fts`` (Porter stemming) is what searches match and rank with bm25(); ``papers_words``
(no stemming, ``detail=none``, so small) exists only for its vocabulary, the real words typo
correction picks from, read through ``papers_words_vocab``. PostgreSQL gets a stored generated
``search_vector`` (title A, keywords B, AI summary C, abstract and authors D) with a GIN index,
and a stored ``search_words`` (the unstemmed words, no positions) that ``ts_stat`` reads the
vocabulary from.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

from bot.migrations import pg_search

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_COLUMNS = pg_search.COLUMNS
_INDEXES = ("papers_fts", "papers_words")


def _values(prefix: str) -> str:
    return ", ".join(f"{prefix}.{c}" for c in _COLUMNS)


def _sqlite_upgrade() -> None:
    cols = ", ".join(_COLUMNS)
    op.execute(
        f"CREATE VIRTUAL TABLE papers_fts USING fts5({cols}, content='papers', "
        "content_rowid='pk', tokenize='porter unicode61 remove_diacritics 2')"
    )
    op.execute(
        f"CREATE VIRTUAL TABLE papers_words USING fts5({cols}, content='papers', "
        "content_rowid='pk', tokenize='unicode61 remove_diacritics 2', detail='none')"
    )
    op.execute("CREATE VIRTUAL TABLE papers_words_vocab USING fts5vocab(papers_words, 'row')")

    def add() -> str:
        return "".join(
            f"INSERT INTO {t}(rowid, {cols}) VALUES (new.pk, {_values('new')});" for t in _INDEXES
        )

    def remove() -> str:
        return "".join(
            f"INSERT INTO {t}({t}, rowid, {cols}) VALUES ('delete', old.pk, {_values('old')});"
            for t in _INDEXES
        )

    op.execute(f"CREATE TRIGGER papers_search_ai AFTER INSERT ON papers BEGIN {add()} END")
    op.execute(f"CREATE TRIGGER papers_search_ad AFTER DELETE ON papers BEGIN {remove()} END")
    # Every re-ingest rewrites the counts (and names the text columns in its SET list), so the
    # index is touched only when an indexed value really changed.
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in _COLUMNS)
    op.execute(
        f"CREATE TRIGGER papers_search_au AFTER UPDATE OF {cols} ON papers "
        f"WHEN {changed} BEGIN {remove()}{add()} END"
    )
    for t in _INDEXES:
        op.execute(f"INSERT INTO {t}({t}) VALUES ('rebuild')")


def _postgresql_upgrade() -> None:
    document = pg_search.document("english")
    # The words themselves (no stemming, no positions), only for the vocabulary: ts_stat() over
    # a stored column is several times faster than parsing every text again.
    words = " || ' ' || ".join(f"coalesce({c}, '')" for c in _COLUMNS)
    # Adding stored generated columns rewrites the table, which backfills existing rows.
    op.execute(
        "ALTER TABLE papers"
        f" ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({document}) STORED,"
        " ADD COLUMN search_words tsvector GENERATED ALWAYS AS"
        f" (strip(to_tsvector('simple'::regconfig, {words}))) STORED"
    )
    op.execute("CREATE INDEX ix_papers_search_vector ON papers USING gin (search_vector)")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_upgrade()
    elif dialect == "postgresql":
        _postgresql_upgrade()


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("papers_search_ai", "papers_search_ad", "papers_search_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        for table in ("papers_words_vocab", "papers_words", "papers_fts"):
            op.execute(f"DROP TABLE IF EXISTS {table}")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_papers_search_vector")
        op.execute("ALTER TABLE papers DROP COLUMN IF EXISTS search_vector")
        op.execute("ALTER TABLE papers DROP COLUMN IF EXISTS search_words")
