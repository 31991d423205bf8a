"""An in-memory adapter: everything it would post is kept in lists. Tests drive the bot with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapters.base import Adapter, Journal, PermanentDeliveryError
from adapters.text import render_digest
from bot.models import Digest, Platform, Reply, Target


@dataclass
class Posted:
    target: Target
    text: str
    digest: Digest | None = None
    reply: Reply | None = None
    nonce: str | None = None


@dataclass
class MemoryAdapter(Adapter):
    """Keeps what it sends; ``gone`` channels fail permanently, like a deleted channel."""

    posted: list[Posted] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)

    platform = Platform.MEMORY

    def render_digest(self, digest: Digest) -> list[dict[str, Any]]:
        return [{"channel": str(digest.target), "text": render_digest(digest)}]

    async def send_digest(
        self,
        digest: Digest,
        *,
        nonce: str | None = None,
        resume: bool = False,
        journal: Journal | None = None,
    ) -> list[str]:
        if str(digest.target) in self.gone:
            raise PermanentDeliveryError(f"{digest.target}: channel not found")
        if resume and nonce is not None and any(p.nonce == nonce for p in self.posted):
            return [nonce]  # a resumed delivery: what it already posted is not posted again
        self.posted.append(Posted(digest.target, render_digest(digest), digest=digest, nonce=nonce))
        return [str(len(self.posted))]

    async def post_reply(self, target: Target, reply: Reply) -> list[str]:
        from adapters.text import render_reply

        self.posted.append(Posted(target, render_reply(reply), reply=reply))
        return [str(len(self.posted))]


def from_context(ctx: object) -> MemoryAdapter:
    """Registry factory."""
    return MemoryAdapter()
