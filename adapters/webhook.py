"""``webhook:NAME`` targets: digests posted to a Slack incoming webhook or a Discord webhook from
the config's ``webhooks:`` list. Digest only: webhooks cannot receive commands.

A webhook URL is a secret (whoever has it can post): it is registered with the log redactor and
never appears in an exception message, which names the webhook instead ("webhook 'reading-group'").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
)

from adapters.base import Adapter
from adapters.discord import render as discord_render
from bot.config import WebhookConfig
from bot.delivery import DeliveryError, Journal, PermanentDeliveryError, posted_before
from bot.logs import redactor
from bot.models import Digest, Platform, Target

if TYPE_CHECKING:
    from adapters.registry import AdapterContext

log = logging.getLogger(__name__)

# What a Slack incoming webhook accepts; other keys of a chat.postMessage body are dropped.
SLACK_WEBHOOK_KEYS = ("text", "blocks", "attachments", "mrkdwn", "unfurl_links", "unfurl_media")
# Webhook deleted (Discord 401/403/404), revoked or its channel gone (Slack 403/404/410).
PERMANENT_STATUSES = frozenset({401, 403, 404, 410})
USER_AGENT = "daily-papers-bot (+https://github.com/daily-papers-bot)"


class _Retryable(Exception):
    """A failure worth another try: 429, 5xx, a connection error."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from a 429: Discord's JSON ``retry_after``, else the Retry-After header."""
    try:
        value = response.json().get("retry_after")
        if isinstance(value, int | float) and value >= 0:
            return float(value)
    except (ValueError, AttributeError):
        pass
    header = response.headers.get("Retry-After")
    try:
        return max(0.0, float(header)) if header is not None else None
    except ValueError:
        return None


def _error_text(response: httpx.Response) -> str:
    """The service's short error (Slack: ``channel_is_archived``; Discord: its message)."""
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:120]
    if isinstance(data, dict):
        return str(data.get("message") or data.get("error") or "")[:120]
    return ""


@dataclass
class WebhookAdapter(Adapter):
    """Posts digests to the config's webhooks, retrying 429 (after Retry-After), 5xx and
    connection errors a bounded number of times."""

    hooks: dict[str, WebhookConfig]
    attempts: int = 5
    backoff: float = 1.0  # first retry's wait when the service names none; doubles, jittered
    max_backoff: float = 30.0
    max_retry_after: float = 60.0  # a longer rate limit fails now; the scheduler comes back later
    timeout: float = 15.0
    sleep: Callable[[float], Awaitable[None]] | None = field(default=None, repr=False)

    platform = Platform.WEBHOOK

    def __post_init__(self) -> None:
        redactor().add(_secret_parts(self.hooks.values()))

    def hook(self, target: Target) -> WebhookConfig:
        """The configured webhook ``target`` names; PermanentDeliveryError when there is none."""
        hook = self.hooks.get(target.channel)
        if hook is None:
            raise PermanentDeliveryError(
                f"no webhook named {target.channel!r} in the config (webhooks:)"
            )
        return hook

    def render_digest(self, digest: Digest) -> list[dict[str, Any]]:
        """The exact JSON bodies posted for ``digest``: Discord message bodies (content, embeds,
        allowed_mentions) or Slack ``{text, blocks}`` messages with link unfurling off, by the
        webhook's kind."""
        hook = self.hook(digest.target)
        if hook.kind == "discord":
            return discord_render.digest_messages(digest)
        from adapters.slack.render import digest_post_bodies as slack_digest_post_bodies

        # The chat.postMessage bodies less what a webhook does not take (channel, metadata):
        # unfurl_links/unfurl_media false stay, so a digest's ten links bring no previews.
        return [
            {k: body[k] for k in SLACK_WEBHOOK_KEYS if k in body}
            for body in slack_digest_post_bodies(digest, threads=False)
        ]

    async def send_digest(
        self,
        digest: Digest,
        *,
        nonce: str | None = None,
        resume: bool = False,
        journal: Journal | None = None,
    ) -> list[str]:
        """Post ``digest``; returns Discord message ids (Slack webhooks return none). A deleted
        webhook or archived channel raises PermanentDeliveryError; anything else that still
        fails after the retries raises DeliveryError.

        A webhook can neither read its channel's history nor take a nonce (Discord's
        execute-webhook has none), so, unlike the Slack and Discord adapters, this adapter has
        nothing on the platform to find its own posts by: each part posted is recorded in
        ``journal`` (part index -> message id, "" from Slack, which returns none) at once, and
        a resumed delivery skips the parts recorded there, by whichever process."""
        hook = self.hook(digest.target)
        bodies = self.render_digest(digest)
        posted = posted_before(journal, resume, digest.target, len(bodies))
        async with httpx.AsyncClient(
            timeout=self.timeout, follow_redirects=False, headers={"User-Agent": USER_AGENT}
        ) as client:
            for i, body in enumerate(bodies):
                if i in posted:
                    continue
                message_id, pause = await self._post_with_retries(client, hook, body)
                posted[i] = message_id or ""
                if journal is not None:
                    await journal.record(dict(posted))
                if pause > 0 and i + 1 < len(bodies):
                    # Discord said the bucket is empty: wait it out instead of earning a 429.
                    await (self.sleep or asyncio.sleep)(pause)
        return [posted[i] for i in sorted(posted) if posted[i]]

    async def _post_with_retries(
        self, client: httpx.AsyncClient, hook: WebhookConfig, body: dict[str, Any]
    ) -> tuple[str | None, float]:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            before_sleep=lambda state: self._log_retry(hook, state),
            reraise=True,
            sleep=self.sleep or asyncio.sleep,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._post(client, hook, body)
        except _Retryable as e:
            raise DeliveryError(
                f"webhook {hook.name!r}: {e.reason} (gave up after {self.attempts} attempts)"
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return exc.retry_after
        # Exponential with jitter, so replicas that failed together do not retry together.
        backoff = self.backoff * float(2 ** (state.attempt_number - 1))
        return min(self.max_backoff, backoff + random.uniform(0, self.backoff))

    def _bucket_pause(self, response: httpx.Response) -> float:
        if response.headers.get("X-RateLimit-Remaining") != "0":
            return 0.0
        try:
            pause = float(response.headers.get("X-RateLimit-Reset-After", "0"))
        except ValueError:
            return 0.0
        return min(max(pause, 0.0), self.max_retry_after)

    def _log_retry(self, hook: WebhookConfig, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        reason = exc.reason if isinstance(exc, _Retryable) else type(exc).__name__
        log.warning("webhook %r: %s; retrying in %.1fs", hook.name, reason, wait)

    async def _post(
        self, client: httpx.AsyncClient, hook: WebhookConfig, body: dict[str, Any]
    ) -> tuple[str | None, float]:
        """One post: the message id (Discord) and how long to wait before the next post."""
        url = httpx.URL(hook.url.get_secret_value())
        if hook.kind == "discord":
            # wait=true: Discord answers with the message (and its id) instead of 204.
            url = url.copy_merge_params({"wait": "true"})
        try:
            response = await client.post(url, json=body)
        except httpx.TransportError as e:
            # The exception's text can carry the URL; only its kind is reported.
            raise _Retryable(f"cannot reach the webhook ({type(e).__name__})") from None
        status = response.status_code
        if 200 <= status < 300:
            message_id = None
            if hook.kind == "discord" and response.content:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    message_id = str(response.json()["id"])
            return message_id, self._bucket_pause(response)
        what = f"{status} {_error_text(response)}".strip()
        if status == 429:
            wait = _retry_after(response)
            if wait is not None and wait > self.max_retry_after:
                raise DeliveryError(f"webhook {hook.name!r}: rate limited for {wait:.0f}s")
            raise _Retryable(f"rate limited ({what})", wait)
        if status >= 500:
            raise _Retryable(f"server error ({what})")
        if status in PERMANENT_STATUSES:
            raise PermanentDeliveryError(
                f"webhook {hook.name!r} is gone or refuses posts ({what}): it was deleted, "
                "revoked, or its channel archived; update it under webhooks: in the config"
            )
        raise DeliveryError(f"webhook {hook.name!r} refused the message ({what})")


def _secret_parts(hooks: Iterable[WebhookConfig]) -> list[str]:
    """Each webhook URL, and its token (the last path segment) on its own."""
    out: list[str] = []
    for hook in hooks:
        url = hook.url.get_secret_value()
        out.append(url)
        token = urlsplit(url).path.rstrip("/").rpartition("/")[2]
        if len(token) >= 16:
            out.append(token)
    return out


def from_context(ctx: AdapterContext) -> WebhookAdapter:
    """Registry factory: one adapter for every webhook in the config."""
    return WebhookAdapter({h.name: h for h in ctx.settings.webhooks})
