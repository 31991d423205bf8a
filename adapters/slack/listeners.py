"""What the bot does when Slack calls: ``/papers``, the "Share in channel" button, uninstalls.

Bolt runs each listener before it answers Slack's request (``process_before_response``): a
command or button listener acknowledges and hands its work to a task of its own, so the HTTP
answer goes back the moment it returns (Slack gives three seconds). Otherwise bolt runs the
listener as a task and looks every 10 ms for its ack: up to 10 ms of waiting on every
acknowledgement, and a wake-up of the event loop per request in flight every 10 ms. The core's
command handler runs in a worker thread and the answer goes back through ``respond``. Events
(uninstalls) are short and stay inline: one that fails answers 500 and Slack sends it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack.render import SHARE_ACTION_ID, reply_messages, shared_paper_message
from adapters.slack.stores import ThreadedInstallationStore
from bot.app import App
from bot.commands import SETTINGS_COMMANDS, SORRY, parse
from bot.db import UNAVAILABLE
from bot.models import Invocation, Platform, Reply, ReplyKind, Target, TargetError

log = logging.getLogger("adapters.slack")

# Commands handled at once (in worker threads); more wait their turn, already acknowledged.
COMMAND_THREADS = 2

Ack = Callable[..., Awaitable[Any]]
Respond = Callable[..., Awaitable[Any]]

# Errors that mean "the bot cannot post here", answered with a hint instead of a failure.
_INVITE = "Invite me with `/invite @Daily Papers`, then try again."
CANNOT_POST = {
    "not_in_channel": f"I'm not in this channel. {_INVITE}",
    "channel_not_found": f"I can't see this channel. {_INVITE}",
    "is_archived": "This channel is archived, so I can't post in it.",
}
_NETWORK_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


def slack_target(team_id: str | None, channel_id: str | None) -> Target:
    """``slack:{team}/{channel}``; TargetError when Slack sent something else."""
    return Target.parse(f"{Platform.SLACK}:{team_id or ''}/{channel_id or ''}")


def pause_workspace(core: App, team_id: str, reason: str) -> int:
    """Pause every channel of ``team_id`` that is not paused yet, with ``reason``."""
    paused = 0
    for channel in core.store.list_channels(include_paused=False):
        target = channel.target
        if target.platform is Platform.SLACK and target.workspace == team_id:
            core.store.set_schedule(target, paused=True, pause_reason=reason)
            paused += 1
    return paused


class Listeners:
    """Bolt listeners bound to the core app (bolt passes arguments by parameter name)."""

    def __init__(self, core: App, installations: ThreadedInstallationStore | None) -> None:
        self.core = core
        self.installations = installations
        # Commands run in worker threads, and a search is mostly Python: each thread more than
        # the CPUs can use only takes the GIL from the event loop, delaying the next ack.
        self._working = asyncio.Semaphore(COMMAND_THREADS)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def _later(self, work: Awaitable[None]) -> None:
        """Run ``work`` after the listener has returned (and bolt has answered Slack)."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("answering Slack failed", exc_info=error)

    def _answers(self) -> aiohttp.ClientSession:
        # One connection pool for every answer: a session per answer (what bolt's respond()
        # does) cost a TCP and, to Slack, a TLS handshake on the event loop each time.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self, grace: float = 5.0) -> None:
        """Let answers under way finish (for up to ``grace`` seconds; the rest are cancelled),
        then close the connections they were posted on. Answers begun meanwhile (a request bolt
        was still dispatching when the bot began to stop) are waited for too: close returns
        only when none is left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._tasks and (left := deadline - loop.time()) > 0:
            await asyncio.wait(set(self._tasks), timeout=left)
        late = set(self._tasks)
        for task in late:
            task.cancel()
        if late:
            log.warning("stopped %d answer(s) still under way", len(late))
            await asyncio.wait(late)
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- /papers ----------------------------------------------------------------------------

    async def can_manage(self, client: AsyncWebClient, text: str, user_id: str) -> bool:
        """Whether ``user_id`` may change channel settings. Only a command that changes settings
        costs a users.info call, and only when permissions.settings is ``managers``."""
        settings = self.core.settings
        if settings.permissions.settings == "everyone" or user_id in settings.slack.managers:
            return True
        if parse(text).action not in SETTINGS_COMMANDS:
            return False
        try:
            resp = await client.users_info(user=user_id)
        except SlackApiError as e:
            log.warning("users.info failed (%s); treating %s as no admin", _code(e), user_id)
            return False
        user = resp.get("user") or {}
        return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))

    async def papers_command(
        self, ack: Ack, command: dict[str, Any], respond: Respond, client: AsyncWebClient
    ) -> None:
        """``/papers <text>``: acknowledged at once, answered through the response_url."""
        await ack()
        self._later(self._answer(command, respond, client))

    async def _answer(
        self, command: dict[str, Any], respond: Respond, client: AsyncWebClient
    ) -> None:
        text = str(command.get("text") or "")
        user_id = str(command.get("user_id") or "")
        try:
            target = slack_target(command.get("team_id"), command.get("channel_id"))
        except TargetError:
            await _say_privately(respond, "Sorry, I can't tell which channel this is.")
            return
        try:
            who = Invocation(
                target=target,
                user_id=user_id,
                user_name=str(command.get("user_name") or ""),
                can_manage=await self.can_manage(client, text, user_id),
            )
            async with self._working:
                reply = await asyncio.to_thread(self.core.commands.handle, text, who)
        except Exception:
            log.exception("/papers failed in %s", target)
            reply = Reply(
                "Sorry, something went wrong on my side while answering that. "
                "Please try again in a minute.",
                ReplyKind.ERROR,
            )
        await _respond(respond, reply, session=self._answers())

    # -- Share in channel -------------------------------------------------------------------

    async def share_paper(
        self,
        ack: Ack,
        body: dict[str, Any],
        action: dict[str, Any],
        respond: Respond,
        client: AsyncWebClient,
    ) -> None:
        """The "Share in channel" button: posts the paper visibly, "shared by <@user>"."""
        await ack()
        self._later(self._share(body, action, respond, client))

    async def _share(
        self,
        body: dict[str, Any],
        action: dict[str, Any],
        respond: Respond,
        client: AsyncWebClient,
    ) -> None:
        arxiv_id = str(action.get("value") or "")
        user_id = str((body.get("user") or {}).get("id") or "")
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
            "channel_id"
        )
        # The clicker always hears back, as a /papers command would in the same state: an
        # outage (the database, the network) gets one warning line and "try again".
        try:
            await self._post_shared(arxiv_id, user_id, channel, respond, client)
        except UNAVAILABLE as e:
            log.warning("sharing %s: database unavailable (%s)", arxiv_id, type(e).__name__)
            await _say_privately(respond, SORRY)
        except _NETWORK_ERRORS as e:
            log.warning(
                "sharing %s in %s: cannot reach Slack (%s)", arxiv_id, channel, type(e).__name__
            )
            await _say_privately(respond, SORRY)
        except Exception:
            log.exception("sharing %s in %s failed", arxiv_id, channel)
            await _say_privately(respond, SORRY)

    async def _post_shared(
        self,
        arxiv_id: str,
        user_id: str,
        channel: str | None,
        respond: Respond,
        client: AsyncWebClient,
    ) -> None:
        paper = await asyncio.to_thread(self.core.store.get_paper, arxiv_id) if arxiv_id else None
        if paper is None or not channel:
            await _say_privately(respond, "Sorry, I can't find that paper any more.")
            return
        message = shared_paper_message(paper, user_id)
        try:
            await client.chat_postMessage(
                channel=channel, unfurl_links=False, unfurl_media=False, **message
            )
        except SlackApiError as e:
            code = _code(e)
            log.warning("sharing %s in %s failed: %s", arxiv_id, channel, code)
            hint = CANNOT_POST.get(code, f"Sorry, Slack didn't let me post that ({code}).")
            await _say_privately(respond, hint)

    # -- uninstalls -------------------------------------------------------------------------

    async def app_uninstalled(self, context: AsyncBoltContext) -> None:
        """The app was removed from a workspace: forget it and pause its channels."""
        await self._forget(context, "the app was uninstalled from this Slack workspace")

    async def tokens_revoked(self, event: dict[str, Any], context: AsyncBoltContext) -> None:
        """Tokens were revoked: forget revoked user tokens; a revoked bot token is an uninstall."""
        tokens = event.get("tokens") or {}
        if self.installations is not None:
            for user_id in tokens.get("oauth") or []:
                await self.installations.async_delete_installation(
                    enterprise_id=context.enterprise_id, team_id=context.team_id, user_id=user_id
                )
        if tokens.get("bot"):
            await self._forget(context, "the bot's Slack token was revoked")

    async def _forget(self, context: AsyncBoltContext, reason: str) -> None:
        team_id = context.team_id
        if not team_id:
            # An org-wide install (Enterprise Grid) has no workspace: its installation goes,
            # and its workspaces' channels pause when their next digest finds no token.
            enterprise_id = context.enterprise_id
            if enterprise_id and self.installations is not None:
                await self.installations.async_delete_all(enterprise_id=enterprise_id, team_id=None)
                log.warning("Slack org %s: %s (installed org-wide)", enterprise_id, reason)
            return
        if self.installations is not None:
            await self.installations.async_delete_all(
                enterprise_id=context.enterprise_id, team_id=team_id
            )
        paused = await asyncio.to_thread(
            pause_workspace, self.core, team_id, f"{reason} (resume with /papers schedule on)"
        )
        log.warning("Slack workspace %s: %s; %d channel(s) paused", team_id, reason, paused)


def register(bolt: AsyncApp, listeners: Listeners) -> None:
    """Attach the bot's listeners to ``bolt``."""
    bolt.command("/papers")(listeners.papers_command)
    bolt.action(SHARE_ACTION_ID)(listeners.share_paper)
    bolt.event("app_uninstalled")(listeners.app_uninstalled)
    bolt.event("tokens_revoked")(listeners.tokens_revoked)


def _code(e: SlackApiError) -> str:
    try:
        return str(e.response.get("error") or "unknown_error")
    except Exception:
        return "unknown_error"


async def _respond(
    respond: Respond,
    reply: Reply,
    *,
    session: aiohttp.ClientSession | None = None,
    **extra: Any,
) -> None:
    # With a session, the same posts as respond() makes, on that session's connections.
    url = getattr(respond, "response_url", None) if session is not None else None
    for message in reply_messages(reply):
        try:
            if url:
                resp = await AsyncWebhookClient(url, session=session).send_dict(
                    {**message, **extra}
                )
            else:
                resp = await respond({**message, **extra})
        except Exception as e:
            log.warning("answering through the response_url failed: %s", type(e).__name__)
            return
        status = getattr(resp, "status_code", 200)
        if status != 200:
            log.warning("the response_url answered %s: %s", status, getattr(resp, "body", ""))
            return


async def _say_privately(respond: Respond, text: str) -> None:
    # A new ephemeral message; the search results the button sat on stay as they were.
    await _respond(respond, Reply(text, ReplyKind.ERROR), replace_original=False)
