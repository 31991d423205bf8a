"""The Slack adapter: bolt in Socket Mode or over HTTP, and digests through chat.postMessage."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from adapters.base import Adapter, DeliveryError, Journal, PermanentDeliveryError
from adapters.slack.app import (
    EVENTS_PATH,
    INSTALL_PATH,
    SlackCredentials,
    build_bolt_app,
    web_client,
)
from adapters.slack.listeners import Listeners, register
from adapters.slack.render import (
    DIGEST_EVENT_TYPE,
    Message,
    digest_post_bodies,
    reply_messages,
)
from adapters.slack.stores import ThreadedInstallationStore, ThreadedOAuthStateStore
from bot.app import App
from bot.config import ConfigError, SlackConfig
from bot.delivery import posted_before
from bot.models import Digest, Platform, Reply, Target

log = logging.getLogger("adapters.slack")

# chat.postMessage errors that retrying cannot fix: the channel is paused with the reason.
PERMANENT_ERRORS = {
    "not_in_channel": "the bot is not in the channel; invite it with /invite @Daily Papers",
    "channel_not_found": "the channel does not exist or the bot cannot see it",
    "is_archived": "the channel is archived",
    "account_inactive": "the bot's Slack account is deactivated; reinstall the app",
    "invalid_auth": "Slack rejects the bot token; reinstall the app or check SLACK_BOT_TOKEN",
    "not_authed": "no Slack token for this workspace",
    "token_revoked": "the bot token was revoked; reinstall the app",
    "missing_scope": "the app lacks a permission it needs; reinstall it with the manifest's scopes",
    "restricted_action": "the workspace does not let the bot post in this channel",
}
_REJECTED_TOKEN = {"invalid_auth", "token_revoked", "account_inactive", "not_authed"}
_NETWORK_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


def error_code(e: SlackApiError) -> str:
    """Slack's error code from an API error (``not_in_channel``...), or a stand-in."""
    try:
        return str(e.response.get("error") or f"http_{e.response.status_code}")
    except Exception:
        return "unexpected_response"


class SlackAdapter(Adapter):
    """Slack through bolt's AsyncApp.

    ``socket`` mode connects out with SLACK_APP_TOKEN; ``http`` mode serves ``POST
    /slack/events`` on the bot's own HTTP server. With SLACK_CLIENT_ID and SLACK_CLIENT_SECRET the
    app is installable in many workspaces (``/slack/install``), installations kept in the bot's
    database; with only SLACK_BOT_TOKEN it serves that token's workspace.

    Rendering needs no secrets (``papers-bot digest slack:... --json``); anything that talks to
    Slack raises the ConfigError for missing ones, ``mount`` included, so ``papers-bot run``
    stops before it starts anything."""

    platform = Platform.SLACK

    def __init__(self, core: App, config: SlackConfig, credentials: SlackCredentials) -> None:
        self.core = core
        self.config = config
        self._credentials = credentials
        self.client = web_client(config.api_url)  # tokens are passed per call
        self.installations: ThreadedInstallationStore | None = None
        if credentials.oauth:
            assert credentials.client_id is not None
            self.installations = ThreadedInstallationStore(credentials.client_id, core.store.engine)
        self._bolt: AsyncApp | None = None
        self._listeners: Listeners | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._socket_task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._verifier: SignatureVerifier | None = None
        self._stopping = False

    # -- set-up -----------------------------------------------------------------------------

    @property
    def credentials(self) -> SlackCredentials:
        """The credentials, all that the configured mode needs; else the ConfigError."""
        problem = self._credentials.problem()
        if problem is not None:
            raise problem
        return self._credentials

    @property
    def bolt(self) -> AsyncApp:
        """The bolt AsyncApp with the bot's listeners (built on first use)."""
        if self._bolt is None:
            creds = self.credentials
            states = ThreadedOAuthStateStore(self.core.store.engine) if creds.oauth else None
            self._bolt = build_bolt_app(self.config, creds, self.installations, states)
            self._listeners = Listeners(self.core, self.installations)
            register(self._bolt, self._listeners)
        return self._bolt

    def mount(self, web_app: web.Application) -> None:
        """Add the Slack routes to the bot's HTTP server: ``POST /slack/events`` in http mode,
        ``GET /slack/install`` and ``/slack/oauth_redirect`` when installable."""
        bolt = self.bolt
        creds = self.credentials
        if creds.mode == "http":
            assert creds.signing_secret is not None
            self._verifier = SignatureVerifier(creds.signing_secret)
            web_app.router.add_post(EVENTS_PATH, self._events)
        flow = bolt.oauth_flow
        if flow is not None:
            web_app.router.add_get(flow.install_path, self._install)
            web_app.router.add_get(flow.redirect_uri_path, self._oauth_redirect)

    async def _events(self, request: web.Request) -> web.Response:
        if self._stopping:
            # Stopping: work taken now could not be answered. Slack shows the person an error
            # at once (and sends events again, to another replica if there is one).
            return web.Response(status=503, text="stopping")
        # The signature is checked here, on the raw body, before bolt sees the request: bolt
        # parses the body (JSON, ``payload=``) first and reads the timestamp with a bare int(),
        # so garbage from anyone answered 500 with a traceback instead of 401.
        if not self._signed(request.headers, await request.read()):
            return web.Response(status=401, text="invalid signature")
        try:
            bolt_request = await to_bolt_request(request)
        except ValueError:  # correctly signed yet unparseable: Slack never sends that
            log.warning("Slack: a signed request with a body that cannot be parsed")
            return web.Response(status=400, text="unparseable body")
        response = await self.bolt.async_dispatch(bolt_request)
        return await to_aiohttp_response(response)

    def _signed(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether ``body`` carries a valid, at most five minutes old signature of the app's
        signing secret. Anything malformed (a timestamp that is no number, a body that is no
        UTF-8) is simply not signed."""
        verifier = self._verifier
        if verifier is None:
            return False
        timestamp = headers.get("X-Slack-Request-Timestamp", "")
        signature = headers.get("X-Slack-Signature")
        try:
            int(timestamp)  # slack-sdk's own int() is unguarded
            text = body.decode("utf-8")  # and so is its decode
        except ValueError:
            return False
        return verifier.is_valid(text, timestamp, signature)

    async def _install(self, request: web.Request) -> web.Response:
        flow = self.bolt.oauth_flow
        assert flow is not None
        response = await flow.handle_installation(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def _oauth_redirect(self, request: web.Request) -> web.Response:
        flow = self.bolt.oauth_flow
        assert flow is not None
        response = await flow.handle_callback(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def start(self) -> None:
        """Check the tokens and, in socket mode, connect in the background (the SDK keeps
        reconnecting on its own; a rejected token stops start-up with a ConfigError)."""
        creds = self.credentials
        if creds.bot_token and not creds.oauth:
            await self._check_token(creds.bot_token)
        # One connection pool for every Web API call while running: left to itself, slack-sdk
        # opens a session (a TCP and, to Slack, a TLS handshake) per call. A one-off send
        # (``papers-bot digest --send``) never starts, and keeps the SDK's own.
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.client.timeout)
        )
        self.client.session = self._session
        if creds.mode != "socket":
            log.info("Slack: serving %s", EVENTS_PATH)
            return
        assert creds.app_token is not None
        handler = AsyncSocketModeHandler(self.bolt, creds.app_token)
        # The SDK's connect() retries every error forever, a revoked token included; asking for
        # the first socket URL here turns that into one clear line at start-up.
        try:
            opened = await self.client.apps_connections_open(app_token=creds.app_token)
        except SlackApiError as e:
            code = error_code(e)
            if code in _REJECTED_TOKEN:
                await self._close_session()
                raise ConfigError(f"SLACK_APP_TOKEN was rejected by Slack ({code})") from None
            log.warning("Slack: apps.connections.open failed (%s); retrying", code)
        except _NETWORK_ERRORS as e:
            log.warning("Slack: cannot reach Slack (%s); retrying", type(e).__name__)
        else:
            handler.client.wss_uri = opened["url"]
        self._socket = handler
        self._socket_task = asyncio.create_task(handler.connect_async())  # type: ignore[no-untyped-call]
        log.info("Slack: connecting in Socket Mode")

    async def _check_token(self, token: str) -> None:
        try:
            resp = await self.client.auth_test(token=token)
        except SlackApiError as e:
            code = error_code(e)
            if code in _REJECTED_TOKEN:
                raise ConfigError(f"SLACK_BOT_TOKEN was rejected by Slack ({code})") from None
            log.warning("Slack: auth.test failed (%s); carrying on", code)
        except _NETWORK_ERRORS as e:
            api, kind = self.config.api_url, type(e).__name__
            log.warning("Slack: cannot reach %s (%s); carrying on", api, kind)
        else:
            log.info("Slack: workspace %s (%s)", resp.get("team"), resp.get("team_id"))

    async def readiness(self) -> str | None:
        """In Socket Mode: None while the socket is connected. HTTP mode needs no connection."""
        if self.config.mode != "socket":
            return None
        if self._socket is None:
            return "Socket Mode not started"
        if not await self._socket.client.is_connected():
            return "Socket Mode not connected"
        return None

    async def stop(self) -> None:
        """Disconnect Socket Mode and refuse Slack's requests over HTTP (503), then let the
        answers under way finish (the HTTP routes stop with the server)."""
        self._stopping = True
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        if self._socket_task is not None:
            self._socket_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._socket_task
            self._socket_task = None
        if self._listeners is not None:
            await self._listeners.close()
        await self._close_session()

    async def _close_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            self.client.session = None
            await session.close()

    # -- sending ----------------------------------------------------------------------------

    def render_digest(self, digest: Digest) -> list[dict[str, Any]]:
        """The exact chat.postMessage bodies, in order (``thread_ts`` is added when posting)."""
        return digest_post_bodies(digest, threads=self.config.threads)

    async def send_digest(
        self,
        digest: Digest,
        *,
        nonce: str | None = None,
        resume: bool = False,
        journal: Journal | None = None,
    ) -> list[str]:
        """Post ``digest``; returns the messages' ``ts``. Each message's metadata carries
        ``nonce``; when resuming a delivery, the parts already in the channel with that nonce are
        not posted again (this reads the channel's history, so only retries do it). Each part
        posted is also recorded in ``journal``, and the parts recorded there are not posted
        again either: the bot may lack the scopes to read the history."""
        bodies = self.render_digest(digest)
        if not bodies:
            return []
        target = digest.target
        token = await self.token_for(target.workspace)
        found = await self.posted_parts(digest, token, nonce) if resume and nonce else {}
        done = posted_before(journal, resume, target, len(bodies), found)
        ids: list[str] = []
        for i, body in enumerate(bodies):
            ts = done.get(i)
            if ts is None:
                if nonce is not None:
                    meta = body["metadata"]
                    body = {
                        **body,
                        "metadata": {
                            **meta,
                            "event_payload": {**meta["event_payload"], "nonce": nonce},
                        },
                    }
                if i > 0 and self.config.threads:
                    body = {**body, "thread_ts": ids[0]}
                ts = done[i] = await self._post(token, target, body)
                if journal is not None:
                    await journal.record(dict(done))
            ids.append(ts)
        return ids

    async def post_reply(self, target: Target, reply: Reply) -> list[str]:
        """Post ``reply`` where the channel sees it."""
        token = await self.token_for(target.workspace)
        ids = []
        for message in reply_messages(reply):
            body = {k: v for k, v in message.items() if k != "response_type"}
            body.update(channel=target.channel, unfurl_links=False, unfurl_media=False)
            ids.append(await self._post(token, target, body))
        return ids

    def send_problem(self) -> ConfigError | None:
        return self._credentials.problem(sending=True)

    async def token_for(self, team_id: str) -> str:
        """The bot token for workspace ``team_id``: SLACK_BOT_TOKEN, or its installation's (that
        of an Enterprise Grid workspace, or its org's org-wide one, included).
        Only these are needed: ``papers-bot digest --send`` works without the app token."""
        creds = self._credentials
        problem = creds.problem(sending=True)
        if problem is not None:
            raise problem
        if self.installations is None:
            assert creds.bot_token is not None
            return creds.bot_token
        try:
            bot = await self.installations.async_find_workspace_bot(team_id)
        except Exception as e:
            raise DeliveryError(f"cannot read Slack installations ({type(e).__name__})") from None
        if bot is None or not bot.bot_token:
            raise PermanentDeliveryError(
                f"the app is not installed in Slack workspace {team_id}; install it at "
                f"{INSTALL_PATH}"
            )
        token: str = bot.bot_token
        return token

    async def posted_parts(self, digest: Digest, token: str, nonce: str) -> dict[int, str]:
        """The parts of delivery ``nonce`` already in the channel (part index -> ts), found by
        their metadata among the channel's last 200 messages (and the thread's, with threads).
        Empty when the history cannot be read (it needs channels:history / groups:history)."""
        channel = digest.target.channel
        try:
            resp = await self.client.conversations_history(
                token=token, channel=channel, include_all_metadata=True, limit=200
            )
            found = _digest_parts(resp.get("messages") or [], digest, nonce)
            if self.config.threads and 0 in found:
                resp = await self.client.conversations_replies(
                    token=token, channel=channel, ts=found[0], include_all_metadata=True, limit=200
                )
                found.update(_digest_parts(resp.get("messages") or [], digest, nonce))
        except SlackApiError as e:
            log.debug("%s: cannot read the history (%s)", digest.target, error_code(e))
            return {}
        except _NETWORK_ERRORS:
            return {}
        return found

    async def _post(self, token: str, target: Target, body: Message) -> str:
        try:
            resp = await self.client.chat_postMessage(token=token, **body)
        except SlackApiError as e:
            code = error_code(e)
            reason = PERMANENT_ERRORS.get(code)
            if reason is not None:
                raise PermanentDeliveryError(f"{target}: {reason} ({code})") from None
            raise DeliveryError(f"{target}: Slack answered {code}") from None
        except _NETWORK_ERRORS as e:
            raise DeliveryError(f"{target}: cannot reach Slack ({type(e).__name__})") from None
        return str(resp["ts"])


def _digest_parts(messages: list[dict[str, Any]], digest: Digest, nonce: str) -> dict[int, str]:
    found: dict[int, str] = {}
    for m in messages:
        meta = m.get("metadata") or {}
        payload = meta.get("event_payload") or {}
        if (
            meta.get("event_type") == DIGEST_EVENT_TYPE
            and payload.get("target") == str(digest.target)
            and payload.get("day") == digest.day.isoformat()
            and payload.get("nonce") == nonce
            and isinstance(payload.get("part"), int)
        ):
            found.setdefault(payload["part"], str(m["ts"]))
    return found
