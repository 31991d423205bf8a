"""PostgreSQL's search columns as SQL, for the migrations that (re)create them.

``search_vector`` is the weighted document searches match and rank (title A, keywords B, AI
summary C, abstract and authors D); ``search_words`` lists a paper's words for the vocabulary,
filled by the store or, for any other writer and whenever a text changes, by a trigger."""

from __future__ import annotations

from sqlalchemy import Connection

# The text search configurations of search (`document`) and of the vocabulary trigger (`words`):
# PostgreSQL's english and simple, with accents removed where the server has unaccent (0010).
ENGLISH = "papers_english"
SIMPLE = "papers_simple"

COLUMNS = ("title", "keywords_text", "ai_summary", "summary", "authors_text")


def document(config: str) -> str:
    """The ``search_vector`` expression, analysed with text search configuration ``config``."""

    def vector(expr: str, weight: str) -> str:
        return f"setweight(to_tsvector('{config}'::regconfig, {expr}), '{weight}')"

    return " || ".join(
        (
            vector("coalesce(title, '')", "A"),
            vector("coalesce(keywords_text, '')", "B"),
            vector("coalesce(ai_summary, '')", "C"),
            vector("coalesce(summary, '') || ' ' || coalesce(authors_text, '')", "D"),
        )
    )


def words(row: str, config: str) -> str:
    """The distinct words of ``row``'s texts as the trigger lists them: ``config``'s tokens less
    those with punctuation in them (``gpt-4``, ``arxiv.org``), whose parts are words of their
    own, as the store's are."""
    text = " || ' ' || ".join(f"coalesce({row}.{c}, '')" for c in COLUMNS)
    return (
        "array_to_tsvector(ARRAY(SELECT lexeme FROM"
        f" unnest(strip(to_tsvector('{config}'::regconfig, {text})))"
        " WHERE lexeme !~ '[[:punct:]]'))"
    )


def words_trigger_function(config: str) -> str:
    """``CREATE OR REPLACE`` of the trigger function that fills ``search_words`` with
    `words` for rows inserted without them and rows whose texts change."""
    changed = " OR ".join(f"new.{c} IS DISTINCT FROM old.{c}" for c in COLUMNS)
    return (
        "CREATE OR REPLACE FUNCTION papers_search_words() RETURNS trigger"
        " LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "  IF tg_op = 'INSERT' THEN\n"
        "    IF new.search_words IS NULL THEN\n"
        f"      new.search_words := {words('new', config)};\n"
        "    END IF;\n"
        "  ELSIF new.search_words IS NOT DISTINCT FROM old.search_words\n"
        f"      AND ({changed}) THEN\n"
        f"    new.search_words := {words('new', config)};\n"
        "  END IF;\n"
        "  RETURN new;\n"
        "END $$"
    )


def has_lz4(bind: Connection) -> bool:
    """Whether the server can compress with LZ4."""
    return bool(
        bind.exec_driver_sql(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        ).scalar()
    )
