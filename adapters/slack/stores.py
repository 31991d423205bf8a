"""Slack installations and OAuth states in the bot's own database.

slack-sdk's SQLAlchemy stores hold the data (tables created by migration 0003). Bolt's AsyncApp
needs async stores; slack-sdk's async variants need an ``AsyncEngine``, i.e. a second, async
database driver (aiosqlite, asyncpg) and greenlet. Instead the sync stores run on the engine the
bot already has, each call in a worker thread, exactly as the rest of the bot uses its store.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import Engine, and_, desc, select

log = logging.getLogger(__name__)

# The tables migration 0003 creates (slack-sdk's default names).
BOTS_TABLE = SQLAlchemyInstallationStore.default_bots_table_name
INSTALLATIONS_TABLE = SQLAlchemyInstallationStore.default_installations_table_name
OAUTH_STATES_TABLE = SQLAlchemyOAuthStateStore.default_table_name
STATE_EXPIRATION_SECONDS = 600


class ThreadedInstallationStore(AsyncInstallationStore):
    """slack-sdk's ``SQLAlchemyInstallationStore`` on a sync engine, for bolt's AsyncApp."""

    def __init__(self, client_id: str, engine: Engine) -> None:
        self.sync = SQLAlchemyInstallationStore(client_id=client_id, engine=engine, logger=log)

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        await asyncio.to_thread(self.sync.save, installation)

    async def async_save_bot(self, bot: Bot) -> None:
        await asyncio.to_thread(self.sync.save_bot, bot)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        bot: Bot | None = await asyncio.to_thread(
            self.sync.find_bot,
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )
        return bot

    async def async_find_workspace_bot(self, team_id: str) -> Bot | None:
        """The bot that posts in workspace ``team_id``, whatever its enterprise; None when the
        app is not installed there. See ``find_workspace_bot``."""
        bot: Bot | None = await asyncio.to_thread(self.find_workspace_bot, team_id)
        return bot

    def find_workspace_bot(self, team_id: str) -> Bot | None:
        """The newest bot installed in workspace ``team_id``, whatever its enterprise; else the
        bot of an org-wide install, when one Enterprise Grid org has installed the app so.

        A digest's target names only the workspace (``slack:T0123/C0456``), but slack-sdk's
        ``find_bot`` matches the enterprise exactly: asked with none, it missed every workspace
        of an Enterprise Grid org (saved with its ``enterprise_id``)."""
        store = self.sync
        c = store.bots.c
        query = (
            store.bots.select()
            .where(
                and_(
                    c.client_id == store.client_id,
                    c.team_id == team_id,
                    c.bot_token.is_not(None),  # the latest one that has a bot token
                )
            )
            .order_by(desc(c.installed_at), desc(c.id))
            .limit(1)
        )
        # An org-wide install has no workspace: its rows carry the org's id and no team. Which
        # org a workspace belongs to is not stored, so it is used only when there is one org.
        orgs = (
            select(c.enterprise_id)
            .where(
                and_(
                    c.client_id == store.client_id,
                    c.team_id.is_(None),
                    c.is_enterprise_install.is_(True),
                    c.enterprise_id.is_not(None),
                    c.bot_token.is_not(None),
                )
            )
            .distinct()
            .limit(2)
        )
        with store.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                return store.build_bot_entity(row)
            enterprises = conn.execute(orgs).scalars().all()
        if len(enterprises) != 1:
            return None
        found: Bot | None = store.find_bot(
            enterprise_id=enterprises[0], team_id=None, is_enterprise_install=True
        )
        return found

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        found: Installation | None = await asyncio.to_thread(
            self.sync.find_installation,
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            is_enterprise_install=is_enterprise_install,
        )
        return found

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await asyncio.to_thread(self.sync.delete_bot, enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
    ) -> None:
        await asyncio.to_thread(
            self.sync.delete_installation,
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
        )

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> Any:
        await self.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)
        await self.async_delete_installation(enterprise_id=enterprise_id, team_id=team_id)


class ThreadedOAuthStateStore(AsyncOAuthStateStore):
    """slack-sdk's ``SQLAlchemyOAuthStateStore`` on a sync engine, for bolt's AsyncApp: the
    one-time ``state`` of an install in progress, shared by every replica."""

    def __init__(self, engine: Engine, expiration_seconds: int = STATE_EXPIRATION_SECONDS) -> None:
        self.sync = SQLAlchemyOAuthStateStore(
            expiration_seconds=expiration_seconds, engine=engine, logger=log
        )

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state: str = await asyncio.to_thread(self.sync.issue)
        return state

    async def async_consume(self, state: str) -> bool:
        ok: bool = await asyncio.to_thread(self.sync.consume, state)
        return ok
