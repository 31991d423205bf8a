"""Alembic environment: migrations run on the connection ``bot.db.upgrade`` hands over."""

from __future__ import annotations

from alembic import context

from bot.db import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - we never run alembic from its own CLI
    raise RuntimeError("run migrations through 'papers-bot db upgrade'")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
