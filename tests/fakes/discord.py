"""A real HTTP server on 127.0.0.1 that answers like Discord's REST API and Discord webhooks.

Point discord.py at it with ``discord.http.Route.BASE = fake.base_url`` (or ``discord.api_url``
in the settings) and the real ``HTTPClient`` logs in, posts messages, answers interactions and
sends follow-ups here. It answers as Discord does: ``Content-Type: application/json`` exactly,
``X-RateLimit-*`` headers on every answer, 429 with ``Retry-After`` and a JSON ``retry_after``
(plus the ``Via`` header discord.py uses to tell Discord's 429 from Cloudflare's), 401 for a
wrong token, 403 ``Missing Access``, 404 ``Unknown Channel`` / ``Unknown Webhook``, 400
``Invalid Form Body`` past any message limit, and ``enforce_nonce`` deduplication::

    with FakeDiscord() as api:
        api.forbid(123)                          # the bot may not post in channel 123
        api.rate_limit("/channels/", times=1, retry_after=0.1)
        ...  # Route.BASE = api.base_url; await client.login(api.token); ...
        assert api.channel_messages(456)[0]["embeds"][0]["title"] == "..."

Interactions: ``slash(...)``, ``autocomplete(...)`` and ``button(...)`` build gateway
``INTERACTION_CREATE`` payloads; what the bot answers (callbacks, follow-ups, edits of the
original) is kept per interaction token in ``answers(token)``, with whether each message is
ephemeral as Discord decides it (the first follow-up after a deferral inherits the deferral's
flags).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

# Message limits Discord enforces (400 Invalid Form Body past any of them).
CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBEDS_TOTAL_MAX = 6000
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
AUTHOR_MAX = 256
NONCE_MAX = 25
EPHEMERAL = 1 << 6
LOADING = 1 << 7

DEFAULT_TOKEN = "MTAwMDAwMDAwMDAwMDAwMDAy.fake.bot-token-for-tests-only"
APPLICATION_ID = 100000000000000001
BOT_USER_ID = 100000000000000002

_ids = itertools.count(200000000000000000)


def snowflake() -> str:
    """A fresh id, shaped like Discord's."""
    return str(next(_ids))


@dataclass(frozen=True)
class RecordedRequest:
    """One request: method, path (below ``/api`` or ``/api/v10``), query, headers (lower-case
    names, ``authorization`` replaced by whether it was right) and the JSON body."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Fault:
    """A queued answer that replaces the normal one for requests whose path starts with
    ``path`` (None: every request)."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    path: str | None = None
    method: str | None = None
    after: int = 0  # matching requests answered normally first


@dataclass
class Answer:
    """A message the bot showed in answer to an interaction."""

    via: str  # "callback" | "followup" | "original"
    body: dict[str, Any]
    ephemeral: bool


@dataclass
class InteractionLog:
    """What the bot did with one interaction token."""

    callbacks: list[dict[str, Any]] = field(default_factory=list)  # type and data, in order
    answers: list[Answer] = field(default_factory=list)
    deferred_ephemeral: bool | None = None  # set by a type 5 callback
    original_filled: bool = False

    @property
    def types(self) -> list[int]:
        return [c["type"] for c in self.callbacks]


@dataclass
class Webhook:
    id: str
    token: str
    channel_id: str
    messages: list[dict[str, Any]] = field(default_factory=list)


def _embed_length(embed: dict[str, Any]) -> int:
    n = len(embed.get("title") or "") + len(embed.get("description") or "")
    n += len((embed.get("footer") or {}).get("text") or "")
    n += len((embed.get("author") or {}).get("name") or "")
    return n + sum(
        len(f.get("name", "")) + len(f.get("value", "")) for f in embed.get("fields", [])
    )


def message_errors(body: Any) -> list[str]:
    """Why Discord would refuse ``body`` as a message (empty when it would take it)."""
    if not isinstance(body, dict):
        return ["body: not a JSON object"]
    errors: list[str] = []
    content = body.get("content")
    embeds = body.get("embeds") or []
    if content is not None and len(content) > CONTENT_MAX:
        errors.append(f"content: {len(content)} > {CONTENT_MAX}")
    if len(embeds) > EMBEDS_MAX:
        errors.append(f"embeds: {len(embeds)} > {EMBEDS_MAX}")
    total = 0
    for i, e in enumerate(embeds):
        total += _embed_length(e)
        checks = [
            ("title", len(e.get("title") or ""), TITLE_MAX),
            ("description", len(e.get("description") or ""), DESCRIPTION_MAX),
            ("fields", len(e.get("fields") or []), FIELDS_MAX),
            ("footer.text", len((e.get("footer") or {}).get("text") or ""), FOOTER_MAX),
            ("author.name", len((e.get("author") or {}).get("name") or ""), AUTHOR_MAX),
        ]
        for f in e.get("fields") or []:
            checks.append(("field.name", len(f.get("name", "")), FIELD_NAME_MAX))
            checks.append(("field.value", len(f.get("value", "")), FIELD_VALUE_MAX))
        errors += [f"embeds.{i}.{name}: {n} > {limit}" for name, n, limit in checks if n > limit]
    if total > EMBEDS_TOTAL_MAX:
        errors.append(f"embeds: {total} characters > {EMBEDS_TOTAL_MAX}")
    nonce = body.get("nonce")
    if nonce is not None and len(str(nonce)) > NONCE_MAX:
        errors.append(f"nonce: longer than {NONCE_MAX}")
    if not content and not embeds and not body.get("components"):
        errors.append("empty message")
    return errors


class FakeDiscord:
    """The fake Discord API; see the module docstring."""

    def __init__(
        self, token: str = DEFAULT_TOKEN, *, bucket_limit: int = 5, bucket_window: float = 0.2
    ) -> None:
        self.token = token
        self.application_id = APPLICATION_ID
        self.bot_user_id = BOT_USER_ID
        self.bucket_limit = bucket_limit
        self.bucket_window = bucket_window
        self.requests: list[RecordedRequest] = []
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel id -> stored messages
        self.bodies: dict[str, list[dict[str, Any]]] = {}  # channel id -> request bodies
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" or guild id -> commands
        self.interactions: dict[str, InteractionLog] = {}
        self.webhooks: dict[tuple[str, str], Webhook] = {}
        self.forbidden: set[str] = set()
        self.missing: set[str] = set()
        self.unexpected_429s = 0  # rate limits a client ran into by ignoring the headers
        self._faults: deque[Fault] = deque()
        # ``enforce_nonce`` holds "in the past few minutes" (Discord's docs): a test that lets
        # them pass sets this to 0.
        self.nonce_seconds = 300.0
        self._nonces: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._buckets: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        """What ``Route.BASE`` / ``discord.api_url`` should be."""
        return self.origin + "/api/v10"

    # -- set-up -----------------------------------------------------------------------------

    def forbid(self, channel_id: int | str) -> None:
        """Posting to the channel answers 403 Missing Access."""
        self.forbidden.add(str(channel_id))

    def remove_channel(self, channel_id: int | str) -> None:
        """Posting to the channel answers 404 Unknown Channel."""
        self.missing.add(str(channel_id))

    def add_webhook(self, channel_id: int | str = "300000000000000001") -> str:
        """A Discord webhook; returns its URL (``/api/webhooks/{id}/{token}``)."""
        hook = Webhook(snowflake(), "wh-" + snowflake() + "-secret-token-part", str(channel_id))
        self.webhooks[(hook.id, hook.token)] = hook
        return f"{self.origin}/api/webhooks/{hook.id}/{hook.token}"

    def delete_webhook(self, url: str) -> None:
        """The webhook answers 404 Unknown Webhook from now on."""
        m = re.search(r"/webhooks/(\d+)/([^/?]+)", url)
        assert m is not None
        self.webhooks.pop((m[1], m[2]), None)

    def webhook_messages(self, url: str) -> list[dict[str, Any]]:
        m = re.search(r"/webhooks/(\d+)/([^/?]+)", url)
        assert m is not None
        return self.webhooks[(m[1], m[2])].messages

    def rate_limit(
        self,
        path: str | None = None,
        *,
        times: int = 1,
        retry_after: float = 0.1,
        is_global: bool = False,
    ) -> None:
        """The next ``times`` requests under ``path`` get 429, headers and body as Discord sends
        them."""
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": is_global,
            "code": 0,
        }
        headers = {
            "Retry-After": f"{retry_after:g}",
            "X-RateLimit-Limit": str(self.bucket_limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": "fakebucket" + str(abs(hash(path)) % 10000),
            "X-RateLimit-Scope": "shared" if not is_global else "global",
            "Via": "1.1 google",
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        for _ in range(times):
            self._faults.append(Fault(429, body, headers, path))

    def fail(
        self,
        status: int = 500,
        *,
        times: int = 1,
        path: str | None = None,
        body: Any = None,
        after: int = 0,
    ) -> None:
        """The next ``times`` requests under ``path`` get ``status``, once ``after`` more have
        been answered."""
        for _ in range(times):
            self._faults.append(
                Fault(
                    status,
                    body
                    if body is not None
                    else {"message": "500: Internal Server Error", "code": 0},
                    {},
                    path,
                    after=after,
                )
            )

    # -- reading what happened ----------------------------------------------------------------

    def channel_messages(self, channel_id: int | str) -> list[dict[str, Any]]:
        """The message bodies posted to a channel (each exactly as received)."""
        return self.bodies.get(str(channel_id), [])

    def paths(self, method: str | None = None) -> list[str]:
        return [r.path for r in self.requests if method is None or r.method == method]

    def answers(self, token: str) -> InteractionLog:
        return self.interactions.setdefault(token, InteractionLog())

    async def wait_for(self, check: Callable[[], bool], seconds: float = 5.0) -> None:
        """Wait until ``check()`` holds (the bot answers from tasks of its own)."""
        deadline = time.monotonic() + seconds
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for the bot")
            await asyncio.sleep(0.01)

    # -- payloads the gateway would deliver ---------------------------------------------------

    def _base_interaction(
        self,
        type_: int,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        user_name: str,
        permissions: int,
    ) -> dict[str, Any]:
        token = "itoken-" + snowflake()
        self.interactions[token] = InteractionLog()
        user = {
            "id": str(user_id),
            "username": user_name,
            "discriminator": "0",
            "avatar": None,
            "global_name": user_name.title(),
        }
        payload: dict[str, Any] = {
            "id": snowflake(),
            "application_id": str(self.application_id),
            "type": type_,
            "token": token,
            "version": 1,
            "locale": "en-US",
            "app_permissions": str((1 << 10) | (1 << 11) | (1 << 14)),
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "authorizing_integration_owners": {"0": str(guild_id or 0)},
            "context": 0 if guild_id else 1,
        }
        if guild_id is not None:
            payload["guild_id"] = str(guild_id)
            payload["guild_locale"] = "en-US"
            payload["channel_id"] = str(channel_id)
            payload["channel"] = {
                "id": str(channel_id),
                "type": 0,
                "guild_id": str(guild_id),
                "name": "papers",
                "position": 0,
                "nsfw": False,
                "permission_overwrites": [],
                "parent_id": None,
                "permissions": str(permissions),
            }
            payload["member"] = {
                "user": user,
                "roles": [],
                "joined_at": "2026-01-01T00:00:00+00:00",
                "deaf": False,
                "mute": False,
                "flags": 0,
                "permissions": str(permissions),
                "nick": None,
                "avatar": None,
            }
        else:
            payload["channel_id"] = str(channel_id)
            payload["channel"] = {
                "id": str(channel_id),
                "type": 1,
                "recipients": [user],
                "last_message_id": None,
            }
            payload["user"] = user
        return payload

    def slash(
        self,
        sub: str,
        options: dict[str, Any] | None = None,
        *,
        guild_id: int | None = 500000000000000001,
        channel_id: int = 600000000000000001,
        user_id: int = 700000000000000001,
        user_name: str = "ada",
        permissions: int = (1 << 10) | (1 << 11),
        focused: str | None = None,
        name: str = "papers",
    ) -> dict[str, Any]:
        """An INTERACTION_CREATE payload for ``/papers <sub> option:value ...`` (type 2), or,
        with ``focused``, the autocomplete request for that option (type 4)."""
        kinds = {str: 3, int: 4, bool: 5}
        opts = []
        for key, value in (options or {}).items():
            opt: dict[str, Any] = {"name": key, "type": kinds[type(value)], "value": value}
            if key == focused:
                opt["focused"] = True
                opt["type"] = 3 if isinstance(value, str) else opt["type"]
            opts.append(opt)
        payload = self._base_interaction(
            4 if focused else 2, guild_id, channel_id, user_id, user_name, permissions
        )
        payload["data"] = {
            "id": snowflake(),
            "name": name,
            "type": 1,
            "options": [{"name": sub, "type": 1, "options": opts}],
        }
        if guild_id is not None:
            payload["data"]["guild_id"] = str(guild_id)
        return payload

    def autocomplete(
        self, sub: str, options: dict[str, Any], focused: str, **kwargs: Any
    ) -> dict[str, Any]:
        """An autocomplete request (type 4) for ``focused`` while ``options`` are typed."""
        return self.slash(sub, options, focused=focused, **kwargs)

    def button(
        self,
        custom_id: str,
        *,
        guild_id: int | None = 500000000000000001,
        channel_id: int = 600000000000000001,
        user_id: int = 700000000000000002,
        user_name: str = "bo",
        permissions: int = (1 << 10) | (1 << 11),
        ephemeral_message: bool = True,
    ) -> dict[str, Any]:
        """A button click (type 3) on a message that carries ``custom_id``."""
        payload = self._base_interaction(3, guild_id, channel_id, user_id, user_name, permissions)
        payload["data"] = {"custom_id": custom_id, "component_type": 2}
        message = self._message(
            str(channel_id),
            {
                "content": "results",
                "components": [
                    {
                        "type": 1,
                        "components": [
                            {"type": 2, "style": 2, "label": "Share 1", "custom_id": custom_id}
                        ],
                    }
                ],
            },
        )
        message["flags"] = EPHEMERAL if ephemeral_message else 0
        payload["message"] = message
        return payload

    # -- serving ------------------------------------------------------------------------------

    def _message(
        self,
        channel_id: str,
        body: dict[str, Any],
        *,
        webhook_id: str | None = None,
        flags: int = 0,
    ) -> dict[str, Any]:
        author_id = webhook_id or str(self.bot_user_id)
        message = {
            "id": snowflake(),
            "channel_id": channel_id,
            "author": {
                "id": author_id,
                "username": "papers-bot",
                "discriminator": "0000",
                "avatar": None,
                "global_name": None,
                "bot": True,
            },
            "content": body.get("content") or "",
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "pinned": False,
            "type": 0,
            "flags": flags | int(body.get("flags") or 0),
        }
        if webhook_id:
            message["webhook_id"] = webhook_id
        if body.get("nonce") is not None:
            message["nonce"] = body["nonce"]
        return message

    def _bucket_headers(self, key: str) -> tuple[dict[str, str], bool]:
        """Rate-limit headers for one more request on bucket ``key``; True when it is over."""
        now = time.monotonic()
        start, used = self._buckets.get(key, (now, 0))
        if now - start >= self.bucket_window:
            start, used = now, 0
        used += 1
        self._buckets[key] = (start, used)
        reset_after = max(0.0, self.bucket_window - (now - start))
        headers = {
            "X-RateLimit-Limit": str(self.bucket_limit),
            "X-RateLimit-Remaining": str(max(0, self.bucket_limit - used)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": "bucket-" + str(abs(hash(key.split(" ")[0])) % 100000),
        }
        return headers, used > self.bucket_limit

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in list(self._faults):
            if (fault.path is None or path.startswith(fault.path)) and (
                fault.method is None or fault.method == method
            ):
                if fault.after > 0:
                    fault.after -= 1
                    return None
                self._faults.remove(fault)
                return fault
        return None

    def handle(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        """The answer to one request: status, JSON body (None: no body), extra headers."""
        with self._lock:
            authorized = headers.get("authorization") == f"Bot {self.token}"
            shown = dict(headers)
            if "authorization" in shown:
                shown["authorization"] = "right" if authorized else "wrong"
            self.requests.append(RecordedRequest(method, path, query, shown, body))
            fault = self._take_fault(method, path)
            if fault is not None:
                return fault.status, fault.body, dict(fault.headers)
            return self._route(method, path, query, authorized, body)

    def _route(
        self, method: str, path: str, query: dict[str, str], authorized: bool, body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        unauthorized: tuple[int, Any, dict[str, str]] = (
            401,
            {"message": "401: Unauthorized", "code": 0},
            {},
        )
        m = re.fullmatch(r"/webhooks/(\d+)/([^/]+)(/messages/@original)?", path)
        if m:
            return self._webhook(method, m[1], m[2], bool(m[3]), query, body)
        m = re.fullmatch(r"/interactions/(\d+)/([^/]+)/callback", path)
        if m and method == "POST":
            return self._callback(m[1], m[2], body)
        if not authorized:
            return unauthorized
        if method == "GET" and path == "/users/@me":
            return (
                200,
                {
                    "id": str(self.bot_user_id),
                    "username": "papers-bot",
                    "discriminator": "0000",
                    "avatar": None,
                    "global_name": None,
                    "bot": True,
                    "verified": True,
                    "mfa_enabled": False,
                    "flags": 0,
                },
                {},
            )
        if method == "GET" and path == "/oauth2/applications/@me":
            return (
                200,
                {
                    "id": str(self.application_id),
                    "name": "papers-bot",
                    "description": "",
                    "icon": None,
                    "bot_public": True,
                    "bot_require_code_grant": False,
                    "owner": {"id": "1", "username": "owner", "discriminator": "0", "avatar": None},
                    "verify_key": "0" * 64,
                    "flags": 0,
                    "team": None,
                    "summary": "",
                },
                {},
            )
        m = re.fullmatch(r"/applications/(\d+)(?:/guilds/(\d+))?/commands", path)
        if m and method == "PUT":
            scope = m[2] or "global"
            out = [dict(c, id=snowflake(), application_id=m[1], version=snowflake()) for c in body]
            self.commands[scope] = out
            return 200, out, {}
        m = re.fullmatch(r"/channels/(\d+)/messages", path)
        if m and method == "POST":
            return self._post_message(m[1], body)
        return 404, {"message": "404: Not Found", "code": 0}, {}

    def _post_message(self, channel_id: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        headers, over = self._bucket_headers(f"POST /channels/{channel_id}/messages")
        if over:
            self.unexpected_429s += 1
            retry = float(headers["X-RateLimit-Reset-After"])
            return (
                429,
                {
                    "message": "You are being rate limited.",
                    "retry_after": retry,
                    "global": False,
                    "code": 0,
                },
                dict(
                    headers,
                    **{
                        "Retry-After": f"{retry:g}",
                        "X-RateLimit-Scope": "user",
                        "Via": "1.1 google",
                    },
                ),
            )
        if channel_id in self.missing:
            return 404, {"message": "Unknown Channel", "code": 10003}, headers
        if channel_id in self.forbidden:
            return 403, {"message": "Missing Access", "code": 50001}, headers
        errors = message_errors(body)
        if errors:
            return (
                400,
                {
                    "message": "Invalid Form Body",
                    "code": 50035,
                    "errors": {
                        "_errors": [{"code": "BASE_TYPE_INVALID", "message": e} for e in errors]
                    },
                },
                headers,
            )
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            earlier = self._nonces.get((channel_id, str(nonce)))
            if earlier is not None and time.monotonic() - earlier[0] < self.nonce_seconds:
                return 200, earlier[1], headers
        message = self._message(channel_id, body)
        self.messages.setdefault(channel_id, []).append(message)
        self.bodies.setdefault(channel_id, []).append(body)
        if nonce is not None and body.get("enforce_nonce"):
            self._nonces[(channel_id, str(nonce))] = (time.monotonic(), message)
        return 200, message, headers

    def _callback(
        self, interaction_id: str, token: str, body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        log = self.interactions.get(token)
        if log is None:
            return 404, {"message": "Unknown interaction", "code": 10062}, {}
        if log.callbacks:
            return 400, {"message": "Interaction has already been acknowledged.", "code": 40060}, {}
        kind = body.get("type")
        data = body.get("data") or {}
        log.callbacks.append({"type": kind, "data": data})
        ephemeral = bool(int(data.get("flags") or 0) & EPHEMERAL)
        message = None
        if kind == 4:
            errors = message_errors(data)
            if errors:
                log.callbacks.pop()
                return 400, {"message": "Invalid Form Body", "code": 50035, "errors": errors}, {}
            log.answers.append(Answer("callback", data, ephemeral))
            message = self._message("0", data)
        elif kind == 5:
            log.deferred_ephemeral = ephemeral
            message = self._message(
                "0", {"content": ""}, flags=LOADING | (EPHEMERAL if ephemeral else 0)
            )
        elif kind == 8:
            return 204, None, {}
        result: dict[str, Any] = {
            "interaction": {
                "id": interaction_id,
                "type": 2,
                "response_message_id": message["id"] if message else None,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": ephemeral,
            }
        }
        if message is not None:
            result["resource"] = {"type": kind, "message": message}
        return 200, result, {}

    def _webhook(
        self,
        method: str,
        hook_id: str,
        token: str,
        original: bool,
        query: dict[str, str],
        body: Any,
    ) -> tuple[int, Any, dict[str, str]]:
        headers, over = self._bucket_headers(f"webhook {hook_id}")
        if over:
            self.unexpected_429s += 1
            retry = float(headers["X-RateLimit-Reset-After"])
            limited = {
                "message": "You are being rate limited.",
                "retry_after": retry,
                "global": False,
                "code": 0,
            }
            return 429, limited, dict(headers, **{"Retry-After": f"{retry:g}", "Via": "1.1 google"})
        hook = self.webhooks.get((hook_id, token))
        log = self.interactions.get(token) if hook_id == str(self.application_id) else None
        if hook is None and log is None:
            return 404, {"message": "Unknown Webhook", "code": 10015}, headers
        if method not in ("POST", "PATCH"):
            return 405, {"message": "405: Method Not Allowed", "code": 0}, headers
        errors = message_errors(body)
        if errors and method == "POST":
            return 400, {"message": "Invalid Form Body", "code": 50035, "errors": errors}, headers
        if hook is not None:
            message = self._message(hook.channel_id, body, webhook_id=hook.id)
            hook.messages.append(body)
            if query.get("wait", "").lower() != "true":
                return 204, None, headers
            return 200, message, headers
        assert log is not None
        flags = int(body.get("flags") or 0)
        if original or (log.deferred_ephemeral is not None and not log.original_filled):
            # The first follow-up after a deferral fills the "thinking" message, with its flags.
            ephemeral = bool(log.deferred_ephemeral)
            log.original_filled = True
            log.answers.append(Answer("original", body, ephemeral))
        else:
            ephemeral = bool(flags & EPHEMERAL)
            log.answers.append(Answer("followup", body, ephemeral))
        return (
            200,
            self._message("0", body, webhook_id=hook_id, flags=EPHEMERAL if ephemeral else 0),
            headers,
        )


class _Handler(BaseHTTPRequestHandler):
    fake: FakeDiscord
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        path = re.sub(r"^/api(?:/v\d+)?", "", parts.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, payload, extra = self.fake.handle(self.command, path, query, headers, body)
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            # Exactly this: discord.py reads any other content type as text.
            self.send_header("Content-Type", "application/json")
        for key, value in extra.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve
