"""SQLite: new papers enter the full-text indexes in one statement per load, not per row.

The per-row AFTER INSERT trigger of 0002 cost more than half of a first load. `Store.upsert_papers`
now adds every row it inserted to ``papers_fts`` and ``papers_words`` with one
``INSERT ... SELECT`` per index, in the same transaction; the UPDATE and DELETE triggers stay, so
changed and removed papers are still kept in step row by row. PostgreSQL is unchanged.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_COLUMNS = ("title", "keywords_text", "ai_summary", "summary", "authors_text")
_INDEXES = ("papers_fts", "papers_words")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS papers_search_ai")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        cols = ", ".join(_COLUMNS)
        values = ", ".join(f"new.{c}" for c in _COLUMNS)
        add = "".join(
            f"INSERT INTO {t}(rowid, {cols}) VALUES (new.pk, {values});" for t in _INDEXES
        )
        op.execute(f"CREATE TRIGGER papers_search_ai AFTER INSERT ON papers BEGIN {add} END")
