"""Which adapter serves which platform. Adding a platform is one module plus one entry here."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from adapters.base import Adapter
from bot.app import App
from bot.config import Secrets, Settings
from bot.models import Platform


@dataclass(slots=True)
class AdapterContext:
    """What an adapter may need to build itself."""

    settings: Settings
    secrets: Secrets
    app: App


# platform -> "module:factory"; each factory takes an AdapterContext and returns an Adapter.
# Imported lazily, so a deployment that never uses a platform never imports its library.
REGISTRY: dict[Platform, str] = {
    Platform.SLACK: "adapters.slack:from_context",
    Platform.DISCORD: "adapters.discord:from_context",
    Platform.WEBHOOK: "adapters.webhook:from_context",
    Platform.CONSOLE: "adapters.console:from_context",
    Platform.MEMORY: "adapters.memory:from_context",
}


def make_adapter(platform: Platform, ctx: AdapterContext) -> Adapter:
    """A new adapter for ``platform``; raises ConfigError when it lacks what it needs."""
    spec = REGISTRY.get(platform)
    if spec is None:
        raise KeyError(f"no adapter for {platform}")
    module, _, name = spec.partition(":")
    factory: Callable[[AdapterContext], Adapter] = getattr(importlib.import_module(module), name)
    return factory(ctx)


def enabled_platforms(settings: Settings) -> list[Platform]:
    """The platforms ``papers-bot run`` starts adapters for."""
    out: list[Platform] = []
    if settings.slack.enabled:
        out.append(Platform.SLACK)
    if settings.discord.enabled:
        out.append(Platform.DISCORD)
    if settings.webhooks:
        out.append(Platform.WEBHOOK)
    return out
