"""Slack installations, bots and OAuth states (slack-sdk's SQLAlchemy store tables).

The table definitions are slack-sdk's own (``build_installations_table``, ``build_bots_table``,
``build_oauth_states_table``), so the stores in ``adapters/slack/stores.py`` read and write exactly
the columns they expect. They are built from the installed slack-sdk at upgrade time; a later
slack-sdk that adds columns needs a migration of its own for databases created before it.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _metadata() -> sa.MetaData:
    metadata = sa.MetaData()
    store = SQLAlchemyInstallationStore
    store.build_installations_table(metadata, store.default_installations_table_name)
    store.build_bots_table(metadata, store.default_bots_table_name)
    states = SQLAlchemyOAuthStateStore
    states.build_oauth_states_table(metadata, states.default_table_name)
    return metadata


def upgrade() -> None:
    # checkfirst: a deployment that already let slack-sdk create_tables() keeps its data.
    _metadata().create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    _metadata().drop_all(op.get_bind(), checkfirst=True)
