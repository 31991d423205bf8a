"""Discord: ``/papers`` as an application command group, digests as embeds over REST."""

from __future__ import annotations

from adapters.discord.adapter import DiscordAdapter, from_context

__all__ = ["DiscordAdapter", "from_context"]
