"""Sending a channel's digest through whatever adapter serves its platform."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from bot.digest import DigestBuilder
from bot.models import Channel, Digest

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """Posting failed. ``permanent`` failures (channel gone, bot removed, token revoked) pause the
    channel; the others are retried later."""

    permanent: bool = False


class PermanentDeliveryError(DeliveryError):
    permanent = True


class Sender(Protocol):
    """What delivery needs from an adapter."""

    async def send_digest(self, digest: Digest, *, nonce: str | None = None) -> list[str]: ...


@dataclass(slots=True)
class DeliveryResult:
    status: str  # "sent" | "empty"
    digest: Digest
    message_ids: list[str] = field(default_factory=list)


async def deliver(
    digests: DigestBuilder,
    channel: Channel,
    day: date,
    sender: Sender,
    *,
    nonce: str | None = None,
    now: datetime | None = None,
) -> DeliveryResult:
    """Build ``channel``'s digest for ``day``, post it, and remember its papers as posted.

    An empty digest with no notice posts nothing. Raises DeliveryError when posting fails."""
    digest = await asyncio.to_thread(digests.build, channel, day, now=now)
    if digest.is_empty and digest.notice is None:
        return DeliveryResult("empty", digest)
    try:
        ids = await sender.send_digest(digest, nonce=nonce)
    except PermanentDeliveryError as e:
        # One clear line, then the channel stays quiet until someone resumes it.
        log.warning("pausing %s: %s (resume with /papers schedule on)", channel.target, e)
        await asyncio.to_thread(
            digests.store.set_schedule, channel.target, paused=True, pause_reason=str(e)
        )
        raise
    await asyncio.to_thread(digests.mark_sent, channel, digest, at=now)
    log.info("digest for %s on %s sent (%d papers)", channel.target, day, len(digest.papers))
    return DeliveryResult("sent", digest, ids)
