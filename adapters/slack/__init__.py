"""Slack: bolt's AsyncApp (Socket Mode or HTTP, one workspace or many) and Block Kit rendering."""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.slack.adapter import SlackAdapter
from adapters.slack.app import SlackCredentials
from adapters.slack.render import digest_messages, reply_message, reply_messages

if TYPE_CHECKING:
    from adapters.registry import AdapterContext

__all__ = [
    "SlackAdapter",
    "digest_messages",
    "from_context",
    "reply_message",
    "reply_messages",
]


def from_context(ctx: AdapterContext) -> SlackAdapter:
    """Registry factory. Missing secrets do not fail here, so a digest can be previewed as Block
    Kit without tokens; they fail (ConfigError) as soon as the adapter would talk to Slack."""
    credentials = SlackCredentials.from_secrets(ctx.settings.slack, ctx.secrets)
    return SlackAdapter(ctx.app, ctx.settings.slack, credentials)
