"""PostgreSQL: accents no longer matter to search, as on SQLite ("Poincare" finds "Poincaré",
"Muller" finds "Müller").

Searches and search vectors are analysed with ``papers_english``, a copy of PostgreSQL's
``english`` configuration in which words with letters outside ASCII pass through the
``unaccent`` dictionary before the stemmer (ASCII words, nearly all of them, take the same path
as before, at the same cost); the vocabulary trigger lists words with ``papers_simple``, the
same over ``simple``. ``unaccent`` ships with PostgreSQL (contrib) and is a trusted extension:
this migration installs it (in ``public`` when it may, so that every schema shares it). Where it
cannot be had, both configurations are plain copies, search works as before, and a warning says
why accents still matter.

``search_vector`` is computed again for every stored paper: PostgreSQL rewrites the table and
builds its GIN index again: 26 s for 100k papers here. The vectors now stay in the row
(compressed, ``STORAGE MAIN``) rather than in the TOAST table: a search tests and ranks
thousands of them, and each one out of the row cost an index lookup more (100k papers: search
p99 165 -> 111 ms, the table 1% larger, a load within noise).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import logging

from alembic import op
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from bot.migrations import pg_search

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

log = logging.getLogger("bot.migrations")

# Token types of PostgreSQL's parser that hold letters outside ASCII.
_NON_ASCII = "word, hword, hword_part"
_CONFIGS = ((pg_search.ENGLISH, "english", "english_stem"), (pg_search.SIMPLE, "simple", "simple"))


def _installed(bind: Connection) -> str | None:
    return bind.exec_driver_sql(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'unaccent'"
    ).scalar()


def _unaccent(bind: Connection) -> str | None:
    """The schema of the ``unaccent`` extension, installed if need be; None if it cannot be."""
    schema = _installed(bind)
    if schema is not None:
        return schema
    available = "SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent'"
    if bind.exec_driver_sql(available).first():
        for where in (" SCHEMA public", ""):
            try:
                with bind.begin_nested():
                    bind.exec_driver_sql(f"CREATE EXTENSION IF NOT EXISTS unaccent{where}")
            except DBAPIError as e:  # no right to, or another migration installed it meanwhile
                log.debug("could not install unaccent%s: %s", where, e.orig)
            schema = _installed(bind)
            if schema is not None:
                return schema
        why = "this database role may not install it (CREATE EXTENSION unaccent)"
    else:
        why = "the server does not have it (PostgreSQL's contrib package)"
    log.warning("PostgreSQL extension unaccent not installed: %s; accents matter to search", why)
    return None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema = _unaccent(bind)
    for name, original, dictionary in _CONFIGS:
        op.execute(f"CREATE TEXT SEARCH CONFIGURATION {name} (COPY = pg_catalog.{original})")
        if schema is not None:
            unaccent = bind.dialect.identifier_preparer.quote_schema(schema) + ".unaccent"
            op.execute(
                f"ALTER TEXT SEARCH CONFIGURATION {name} ALTER MAPPING FOR {_NON_ASCII}"
                f" WITH {unaccent}, pg_catalog.{dictionary}"
            )
    op.execute(pg_search.words_trigger_function(pg_search.SIMPLE))
    _search_vector(bind, pg_search.ENGLISH)


def _search_vector(bind: Connection, config: str) -> None:
    """``search_vector`` again, analysed with ``config``: the column and its index rebuilt."""
    compression = " COMPRESSION lz4" if pg_search.has_lz4(bind) else ""
    op.execute("ALTER TABLE papers DROP COLUMN search_vector")  # and its index
    op.execute(
        f"ALTER TABLE papers ADD COLUMN search_vector tsvector{compression}"
        f" GENERATED ALWAYS AS ({pg_search.document(config)}) STORED,"
        # Kept in the row (compressed) while the row fits a page: searches test and rank
        # thousands of vectors each, and one in the TOAST table costs an index lookup more.
        " ALTER COLUMN search_vector SET STORAGE MAIN"
    )
    op.execute("CREATE INDEX ix_papers_search_vector ON papers USING gin (search_vector)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    _search_vector(bind, "english")
    op.execute(pg_search.words_trigger_function("simple"))
    for name, _, _ in _CONFIGS:
        op.execute(f"DROP TEXT SEARCH CONFIGURATION {name}")
