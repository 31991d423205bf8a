"""``DiscordAdapter``: the gateway bot for ``/papers`` and REST posting of digests.

Digests go out over the REST API with the bot token, so they can be sent without the gateway
(``papers-bot digest discord:G/C --send`` logs in over HTTP only). discord.py's HTTP client does
the rate limiting (per-route buckets, the global limit, 429 retries); it is not rewritten here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from discord.http import HTTPClient, Route

from adapters.base import Adapter
from adapters.discord.bot import PapersClient, PapersCommands
from adapters.discord.render import digest_messages, reply_messages
from bot.app import App
from bot.config import ConfigError, DiscordConfig, Secrets
from bot.delivery import DeliveryError, Journal, PermanentDeliveryError, posted_before
from bot.models import Digest, Platform, Reply, Target

if TYPE_CHECKING:
    from adapters.registry import AdapterContext

log = logging.getLogger(__name__)

TOKEN_NAME = "DISCORD_TOKEN"
NONCE_MAX = 25  # Discord accepts string nonces of up to 25 characters


def message_nonce(nonce: str, index: int) -> str:
    """The nonce of the ``index``-th message of a delivery: stable across retries, distinct per
    message, within Discord's 25 characters."""
    return hashlib.sha256(f"{nonce}:{index}".encode()).hexdigest()[:NONCE_MAX]


class DiscordAdapter(Adapter):
    """Discord: ``/papers`` over the gateway (``start``), digests and replies over REST."""

    platform = Platform.DISCORD

    def __init__(self, config: DiscordConfig, secrets: Secrets, app: App) -> None:
        self.config = config
        self.app = app
        self._token = secrets.get(TOKEN_NAME)
        self.commands = PapersCommands(app)
        self.client: PapersClient | None = None
        self._gateway: asyncio.Task[None] | None = None
        # discord.py builds every URL (REST, webhooks, interaction callbacks) from Route.BASE.
        Route.BASE = config.api_url.rstrip("/")

    def send_problem(self) -> ConfigError | None:
        if self._token:
            return None
        return ConfigError(
            f"{TOKEN_NAME} is not set: Discord needs the bot token in the environment "
            "(Developer Portal → your application → Bot → Reset Token)"
        )

    def _require_token(self) -> str:
        problem = self.send_problem()
        if problem is not None:
            raise problem
        assert self._token is not None
        return self._token

    # -- gateway ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in, register ``/papers``, then run the gateway in a background task."""
        token = self._require_token()
        client = PapersClient(
            self.commands, shard_count=self.config.shard_count, shard_ids=self.config.shard_ids
        )
        try:
            await client.login(token)
        except discord.LoginFailure:
            await client.close()
            raise ConfigError(f"{TOKEN_NAME} was rejected by Discord (401 Unauthorized)") from None
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as e:
            await client.close()
            raise RuntimeError(f"Discord login failed: {_describe(e)}") from None
        self.client = client
        try:
            await client.sync_commands(self.config.dev_guild_id)
        except discord.HTTPException as e:
            log.warning("could not register /papers with Discord: %s", _describe(e))
        self._gateway = asyncio.create_task(self._connect(client), name="discord-gateway")

    async def _connect(self, client: PapersClient) -> None:
        try:
            await client.connect(reconnect=True)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.error("Discord gateway stopped: %s", _describe(e))

    async def readiness(self) -> str | None:
        """None while the gateway is up (every shard this process runs); else why not."""
        client = self.client
        if client is None or client.is_closed():
            return "gateway not connected"
        if not client.is_ready():
            return "gateway not ready"
        down = sorted(i for i, shard in client.shards.items() if shard.is_closed())
        if down:
            return f"gateway shard {', '.join(map(str, down))} disconnected"
        return None

    async def stop(self) -> None:
        """Close the gateway and the HTTP session."""
        client, self.client = self.client, None
        if client is not None:
            await client.close()
        task, self._gateway = self._gateway, None
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, timeout=10)

    # -- REST -------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _http(self) -> AsyncIterator[HTTPClient]:
        """The running client's HTTP session, or a REST-only login for this one send."""
        if self.client is not None and not self.client.is_closed():
            yield self.client.http
            return
        token = self._require_token()
        http = HTTPClient(asyncio.get_running_loop())
        try:
            try:
                await http.static_login(token)
            except discord.LoginFailure:
                raise DeliveryError(f"{TOKEN_NAME} was rejected by Discord (401)") from None
            except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as e:
                raise DeliveryError(f"Discord login failed: {_describe(e)}") from None
            yield http
        finally:
            await http.close()

    async def _post(
        self,
        target: Target,
        bodies: list[dict[str, Any]],
        nonce: str | None = None,
        *,
        posted: dict[int, str] | None = None,
        journal: Journal | None = None,
    ) -> list[str]:
        """Post ``bodies`` in order, but not the parts in ``posted`` (index -> message id);
        each part posted is recorded in ``journal`` at once. Returns the message ids."""
        done = dict(posted or {})
        if all(i in done for i in range(len(bodies))):
            return [done[i] for i in sorted(done)]
        async with self._http() as http:
            for i, body in enumerate(bodies):
                if i in done:
                    continue
                payload = dict(body)
                if nonce:
                    # With enforce_nonce, a retried post within minutes returns the first message
                    # instead of creating a second one.
                    payload["nonce"] = message_nonce(nonce, i)
                    payload["enforce_nonce"] = True
                route = Route("POST", "/channels/{channel_id}/messages", channel_id=target.channel)
                try:
                    data = await http.request(route, json=payload)
                except discord.Forbidden as e:
                    raise PermanentDeliveryError(
                        f"Discord channel {target}: no permission to post there "
                        f"(403 {e.text or 'Forbidden'}); give the bot View Channel, Send Messages "
                        "and Embed Links"
                    ) from None
                except discord.NotFound as e:
                    raise PermanentDeliveryError(
                        f"Discord channel {target} not found (404 {e.text or 'Not Found'}): "
                        "deleted, or the bot was removed from the server"
                    ) from None
                except discord.HTTPException as e:
                    if e.status == 401:
                        raise PermanentDeliveryError(
                            f"Discord rejected {TOKEN_NAME} (401) while posting to {target}"
                        ) from None
                    raise DeliveryError(f"Discord channel {target}: {_describe(e)}") from None
                except (discord.RateLimited, aiohttp.ClientError, OSError, TimeoutError) as e:
                    raise DeliveryError(f"Discord channel {target}: {_describe(e)}") from None
                done[i] = str(data["id"])
                if journal is not None:
                    await journal.record(dict(done))
        return [done[i] for i in sorted(done)]

    def render_digest(self, digest: Digest) -> list[dict[str, Any]]:
        """The exact ``POST /channels/{id}/messages`` bodies for ``digest`` (without the
        per-delivery ``nonce``/``enforce_nonce`` that sending adds)."""
        return digest_messages(digest)

    async def send_digest(
        self,
        digest: Digest,
        *,
        nonce: str | None = None,
        resume: bool = False,
        journal: Journal | None = None,
    ) -> list[str]:
        """Post ``digest`` to its channel; returns the message ids. 403/404 (and a revoked token)
        raise PermanentDeliveryError, every other failure DeliveryError.

        Each message carries the delivery's ``nonce`` with ``enforce_nonce``, so a post retried
        within a few minutes returns the first message instead of a second one. Retries come
        later than that (the scheduler backs off up to 16 minutes; a crashed process's claim is
        taken over after its lease), so each part posted is also recorded in ``journal`` and a
        resumed delivery posts only the parts not recorded there; the nonce still covers a
        crash between a post and its record."""
        bodies = self.render_digest(digest)
        posted = posted_before(journal, resume, digest.target, len(bodies))
        return await self._post(digest.target, bodies, nonce, posted=posted, journal=journal)

    async def post_reply(self, target: Target, reply: Reply) -> list[str]:
        """Post ``reply`` publicly in ``target``'s channel."""
        bodies = [{k: v for k, v in b.items() if k != "flags"} for b in reply_messages(reply)]
        return await self._post(target, bodies)


def _describe(e: BaseException) -> str:
    if isinstance(e, discord.RateLimited):
        return f"rate limited for {e.retry_after:.0f}s"
    if isinstance(e, discord.HTTPException):
        return f"{e.status} {e.text or e.response.reason or ''}".strip()
    # aiohttp's messages name the URL; the kind of failure is enough.
    return f"cannot reach Discord ({type(e).__name__})"


def from_context(ctx: AdapterContext) -> DiscordAdapter:
    """Registry factory: the adapter for ``discord:`` channels. It needs DISCORD_TOKEN only to
    start or send, so previews (``--json``) work without it."""
    config: DiscordConfig = ctx.settings.discord
    if config.shard_ids is not None:
        if config.shard_count is None:
            raise ConfigError("discord.shard_ids: set discord.shard_count too")
        bad = [i for i in config.shard_ids if not 0 <= i < config.shard_count]
        if bad:
            raise ConfigError(
                f"discord.shard_ids: {bad[0]} is not below discord.shard_count "
                f"({config.shard_count})"
            )
    return DiscordAdapter(config, ctx.secrets, ctx.app)
