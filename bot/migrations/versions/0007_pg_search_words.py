"""PostgreSQL: the vocabulary's words come with each new paper instead of from the server's parser.

``search_words`` (migration 0002) was a stored generated column: PostgreSQL parsed every
paper's whole text a second time, for the vocabulary alone, a quarter of the server's work in a
load. It becomes a plain column that `Store.upsert_papers` fills for each new paper with the
words search would split its texts into (`bot.words.distinct_words`, a fraction of the cost). A
trigger keeps it right for every other writer: a row inserted without words, or whose texts
change, gets them from ``to_tsvector('simple', ...)`` as before, less the tokens with punctuation
in them (``gpt-4``, ``arxiv.org``), whose parts are words of their own, as the store's are.

Where the server has LZ4, the large columns (the raw payload, the abstract, both tsvectors) are
compressed with it from now on instead of pglz: several times faster to write, a little larger.
Rows already stored keep theirs.

SQLite is untouched: its ``papers_words`` index is fed in bulk already (migration 0005).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

from bot.migrations import pg_search

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_COLUMNS = pg_search.COLUMNS
_COMPRESSED = ("raw", "summary", "search_vector", "search_words")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE papers ALTER COLUMN search_words DROP EXPRESSION")
    op.execute(pg_search.words_trigger_function("simple"))
    op.execute(
        "CREATE TRIGGER papers_search_words BEFORE INSERT OR UPDATE ON papers"
        " FOR EACH ROW EXECUTE FUNCTION papers_search_words()"
    )
    if pg_search.has_lz4(op.get_bind()):
        op.execute(
            "ALTER TABLE papers "
            + ", ".join(f"ALTER COLUMN {c} SET COMPRESSION lz4" for c in _COMPRESSED)
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS papers_search_words ON papers")
    op.execute("DROP FUNCTION IF EXISTS papers_search_words()")
    op.execute(
        "ALTER TABLE papers "
        + ", ".join(f"ALTER COLUMN {c} SET COMPRESSION DEFAULT" for c in _COMPRESSED)
    )
    words = " || ' ' || ".join(f"coalesce({c}, '')" for c in _COLUMNS)
    op.execute("ALTER TABLE papers DROP COLUMN search_words")
    op.execute(
        "ALTER TABLE papers ADD COLUMN search_words tsvector GENERATED ALWAYS AS"
        f" (strip(to_tsvector('simple'::regconfig, {words}))) STORED"
    )
