"""The adapter interface: what every platform (Slack, Discord, webhooks, console) provides."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from bot.config import ConfigError
from bot.delivery import DeliveryError, Journal, PermanentDeliveryError
from bot.models import Digest, Platform, Reply, Target

__all__ = ["Adapter", "DeliveryError", "Journal", "PermanentDeliveryError"]


class Adapter(ABC):
    """One chat platform. The core hands it neutral objects; it renders and sends them."""

    platform: ClassVar[Platform]

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect (gateways, sockets); adapters that only send need nothing here."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Disconnect and release resources."""

    async def readiness(self) -> str | None:
        """None while the adapter can serve; else what is wrong, in a few words ("gateway not
        connected"). ``/readyz`` reports it. Adapters with no connection are always ready."""
        return None

    def send_problem(self) -> ConfigError | None:
        """What posting would lack (a token), as the ConfigError posting would raise; None when
        nothing is missing. Lets a command refuse before it changes anything."""
        return None

    @abstractmethod
    def render_digest(self, digest: Digest) -> list[dict[str, Any]]:
        """The exact request bodies that posting ``digest`` would send, in order."""

    @abstractmethod
    async def send_digest(
        self,
        digest: Digest,
        *,
        nonce: str | None = None,
        resume: bool = False,
        journal: Journal | None = None,
    ) -> list[str]:
        """Post ``digest`` to its target; returns the platform's message ids.

        ``nonce`` identifies this delivery, so a retried post after a crash is not doubled
        where the platform supports it. ``journal`` keeps the parts posted, for adapters that
        cannot always find their own posts on the platform (webhooks, Discord, Slack without
        the history scopes); the console and memory adapters leave it alone."""

    async def post_reply(self, target: Target, reply: Reply) -> list[str]:
        """Post a reply where the whole channel sees it (confirmations, shared papers)."""
        raise NotImplementedError(f"{self.platform} adapters do not post replies")
