"""A real HTTP server on 127.0.0.1 that answers like the Slack Web API.

Point the real slack-sdk / bolt clients at ``api_url`` (``AsyncWebClient(base_url=...)``,
``slack.api_url`` in the settings) and hand bolt a ``response_url(key)`` served here too. It checks
bearer tokens (``not_authed`` / ``invalid_auth`` / ``token_revoked``), knows workspaces, users and
channels, enforces Block Kit limits (``invalid_blocks``), and answers queued faults: ``ok: false``
errors, 429 with ``Retry-After``, 5xx bursts. Every request is recorded, with the workspace its
token belongs to instead of the token itself::

    with FakeSlack() as slack:
        slack.add_workspace("T0001", bot_token="xoxb-test")
        slack.rate_limit("chat.postMessage", times=2, retry_after=0)
        ...  # AsyncWebClient(base_url=slack.api_url).chat_postMessage(...)
        assert len(slack.calls("chat.postMessage")) == 3
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

# Block Kit limits Slack enforces (invalid_blocks past any of them).
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_SECTION_FIELDS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BLOCK_ID = 255
MAX_ACTION_ID = 255
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_URL = 3000
MAX_MESSAGE_TEXT = 40000
RESPONSE_URL_USES = 5

_BLOCK_TYPES = {"section", "header", "context", "divider", "actions", "image", "rich_text"}
_POSTING = {"chat.postMessage", "chat.postEphemeral", "chat.update"}


def _text_problems(obj: Any, where: str, limit: int, types: set[str]) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in types:
        return [f"{where}: must be a text object of type {sorted(types)}"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"{where}: text must be a non-empty string"]
    if len(text) > limit:
        return [f"{where}: text is {len(text)} characters, more than {limit}"]
    return []


def _element_problems(el: Any, where: str) -> list[str]:
    if not isinstance(el, dict):
        return [f"{where}: must be an object"]
    problems: list[str] = []
    if el.get("type") == "button":
        problems += _text_problems(el.get("text"), f"{where}.text", MAX_BUTTON_TEXT, {"plain_text"})
        action_id = el.get("action_id", "")
        if not isinstance(action_id, str) or len(action_id) > MAX_ACTION_ID:
            problems.append(f"{where}: action_id longer than {MAX_ACTION_ID}")
        if len(str(el.get("value", ""))) > MAX_BUTTON_VALUE:
            problems.append(f"{where}: value longer than {MAX_BUTTON_VALUE}")
        if len(str(el.get("url", ""))) > MAX_URL:
            problems.append(f"{where}: url longer than {MAX_URL}")
    elif el.get("type") != "image":
        problems.append(f"{where}: unsupported element type {el.get('type')!r}")
    return problems


def block_problems(blocks: Any) -> list[str]:
    """Why Slack would answer ``invalid_blocks`` to ``blocks`` (empty when they are valid)."""
    if not isinstance(blocks, list):
        return ["blocks must be a list"]
    problems: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"{len(blocks)} blocks, more than {MAX_BLOCKS}")
    seen: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"blocks[{i}]"
        if not isinstance(block, dict) or block.get("type") not in _BLOCK_TYPES:
            problems.append(f"{where}: unknown block type")
            continue
        bid = block.get("block_id")
        if bid is not None:
            if not isinstance(bid, str) or not bid or len(bid) > MAX_BLOCK_ID:
                problems.append(f"{where}: block_id must be 1-{MAX_BLOCK_ID} characters")
            elif bid in seen:
                problems.append(f"{where}: duplicate block_id {bid!r}")
            else:
                seen.add(bid)
        kind = block["type"]
        if kind == "header":
            problems += _text_problems(
                block.get("text"), f"{where}.text", MAX_HEADER_TEXT, {"plain_text"}
            )
        elif kind == "section":
            text, fields = block.get("text"), block.get("fields")
            if text is None and not fields:
                problems.append(f"{where}: a section needs text or fields")
            if text is not None:
                problems += _text_problems(
                    text, f"{where}.text", MAX_SECTION_TEXT, {"plain_text", "mrkdwn"}
                )
            if fields is not None:
                if not isinstance(fields, list) or len(fields) > MAX_SECTION_FIELDS:
                    problems.append(f"{where}: at most {MAX_SECTION_FIELDS} fields")
                else:
                    for j, f in enumerate(fields):
                        problems += _text_problems(
                            f, f"{where}.fields[{j}]", MAX_FIELD_TEXT, {"plain_text", "mrkdwn"}
                        )
            if "accessory" in block:
                problems += _element_problems(block["accessory"], f"{where}.accessory")
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_CONTEXT_ELEMENTS:
                problems.append(f"{where}: context needs 1-{MAX_CONTEXT_ELEMENTS} elements")
            else:
                for j, el in enumerate(elements):
                    if isinstance(el, dict) and el.get("type") == "image":
                        continue
                    problems += _text_problems(
                        el, f"{where}.elements[{j}]", MAX_SECTION_TEXT, {"plain_text", "mrkdwn"}
                    )
        elif kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_ACTIONS_ELEMENTS:
                problems.append(f"{where}: actions needs 1-{MAX_ACTIONS_ELEMENTS} elements")
            else:
                for j, el in enumerate(elements):
                    problems += _element_problems(el, f"{where}.elements[{j}]")
    return problems


def message_problems(body: dict[str, Any]) -> list[str]:
    """Why Slack would refuse ``body`` as a message (``invalid_blocks``); empty when valid."""
    problems: list[str] = []
    text = body.get("text")
    if text is not None and (not isinstance(text, str) or len(text) > MAX_MESSAGE_TEXT):
        problems.append(f"text longer than {MAX_MESSAGE_TEXT}")
    if "blocks" in body:
        blocks = body["blocks"]
        if isinstance(blocks, str):  # form-encoded posts carry blocks as JSON text
            try:
                blocks = json.loads(blocks)
            except ValueError:
                return [*problems, "blocks is not JSON"]
        problems += block_problems(blocks)
    return problems


def signed_headers(
    signing_secret: str, body: str, *, timestamp: int | None = None, content_type: str = ""
) -> dict[str, str]:
    """The headers Slack sends with ``body``: ``X-Slack-Request-Timestamp`` and
    ``X-Slack-Signature`` (``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}``)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(signing_secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256)
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest.hexdigest()}",
        "Content-Type": content_type or "application/x-www-form-urlencoded",
    }


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received. ``method`` is the API method (``chat.postMessage``) or
    ``response_url``; ``headers`` are lower-cased with the Authorization value left out; ``team``
    is the workspace of the bearer token, if it was known."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    team: str | None
    status: int
    response: Any


@dataclass
class Workspace:
    team_id: str
    name: str
    bot_token: str
    bot_user_id: str
    bot_id: str
    revoked: bool = False


@dataclass
class PostedMessage:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None
    team: str | None = None
    bot_id: str | None = None


@dataclass
class _Fault:
    method: str | None
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    after: int = 0  # matching calls to let through first

    def matches(self, method: str) -> bool:
        return self.method is None or self.method == method


class FakeSlack:
    """The fake server; a context manager that starts and stops it."""

    def __init__(self, *, keep_alive: bool = False) -> None:
        # HTTP/1.1 with persistent connections, as Slack serves; off: a connection a request.
        self.keep_alive = keep_alive
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        # The client's (host, port) of every request: how many connections carried them.
        self.peers: list[tuple[str, int]] = []
        self.workspaces: dict[str, Workspace] = {}
        self.app_tokens: set[str] = set()
        self.users: dict[str, dict[str, Any]] = {}
        self.channel_errors: dict[str, str] = {}
        self.posted: list[PostedMessage] = []
        self.responses: dict[str, list[dict[str, Any]]] = {}
        self.oauth_codes: dict[str, str] = {}
        self._faults: deque[_Fault] = deque()
        # Seconds each posting call takes, like a slow Slack: lets a test kill a bot mid-post.
        self.post_delay = 0.0
        self._ts = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if self.keep_alive else "HTTP/1.0"

            def do_GET(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        """The Web API base URL, for ``AsyncWebClient(base_url=...)`` and ``slack.api_url``."""
        return f"{self.base_url}/api/"

    # -- world ----------------------------------------------------------------------------------

    def add_workspace(
        self,
        team_id: str,
        *,
        bot_token: str,
        name: str | None = None,
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
    ) -> Workspace:
        ws = Workspace(team_id, name or f"Team {team_id}", bot_token, bot_user_id, bot_id)
        with self._lock:
            self.workspaces[bot_token] = ws
        return ws

    def add_app_token(self, token: str) -> None:
        with self._lock:
            self.app_tokens.add(token)

    def revoke(self, token: str) -> None:
        """Later calls with ``token`` answer ``token_revoked``."""
        with self._lock:
            self.workspaces[token].revoked = True

    def add_user(
        self,
        user_id: str,
        *,
        team_id: str = "T0001",
        is_admin: bool = False,
        is_owner: bool = False,
        name: str = "",
    ) -> None:
        with self._lock:
            self.users[user_id] = {
                "id": user_id,
                "team_id": team_id,
                "name": name or user_id.lower(),
                "is_admin": is_admin,
                "is_owner": is_owner,
                "is_primary_owner": False,
                "is_bot": False,
                "deleted": False,
            }

    def set_channel_error(self, channel: str, error: str | None) -> None:
        """Posting to ``channel`` answers ``ok: false`` with ``error`` (``not_in_channel``,
        ``channel_not_found``, ``is_archived``...); None makes it a normal channel again."""
        with self._lock:
            if error is None:
                self.channel_errors.pop(channel, None)
            else:
                self.channel_errors[channel] = error

    def add_oauth_code(self, code: str, *, bot_token: str) -> None:
        """``oauth.v2.access`` with ``code`` installs the workspace that owns ``bot_token``."""
        with self._lock:
            self.oauth_codes[code] = bot_token

    # -- faults ---------------------------------------------------------------------------------

    def fail(self, method: str | None, error: str, *, times: int = 1, after: int = 0) -> None:
        """The next ``times`` calls of ``method`` (None: any) answer ``ok: false, error``, once
        ``after`` calls have gone through normally."""
        for _ in range(times):
            self._faults.append(_Fault(method, 200, {"ok": False, "error": error}, after=after))

    def rate_limit(
        self, method: str | None = None, *, times: int = 1, retry_after: int = 0
    ) -> None:
        """The next ``times`` calls answer 429 with ``Retry-After: retry_after``."""
        for _ in range(times):
            self._faults.append(
                _Fault(
                    method,
                    429,
                    {"ok": False, "error": "ratelimited"},
                    {"Retry-After": str(retry_after)},
                )
            )

    def server_error(self, method: str | None = None, *, times: int = 1, status: int = 500) -> None:
        """The next ``times`` calls answer ``status`` with an HTML page, like a load balancer."""
        for _ in range(times):
            self._faults.append(_Fault(method, status, "<html><body>Server Error</body></html>"))

    # -- what happened ----------------------------------------------------------------------------

    def calls(self, method: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method]

    def messages(self, channel: str | None = None) -> list[PostedMessage]:
        """Messages posted (chat.postMessage), oldest first."""
        with self._lock:
            return [m for m in self.posted if channel is None or m.channel == channel]

    def response_url(self, key: str) -> str:
        """A response_url served by the fake; posts to it are kept under ``key``."""
        with self._lock:
            self.responses.setdefault(key, [])
        return f"{self.base_url}/response/{key}"

    def responded(self, key: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.responses.get(key, []))

    async def until(self, condition: Callable[[], bool], within: float = 5.0) -> None:
        """Wait (without blocking the event loop) until ``condition()`` holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not condition():
            if loop.time() > deadline:
                raise AssertionError("timed out waiting for the fake Slack")
            await asyncio.sleep(0.02)

    # -- serving ----------------------------------------------------------------------------------

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.peers.append(req.client_address[:2])
        url = urlsplit(req.path)
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length) if length else b""
        body: dict[str, Any] = {k: v[0] for k, v in parse_qs(url.query).items()}
        ctype = req.headers.get("Content-Type", "")
        if raw and "json" in ctype:
            parsed = json.loads(raw)
            body.update(parsed if isinstance(parsed, dict) else {"_": parsed})
        elif raw:
            body.update({k: v[0] for k, v in parse_qs(raw.decode()).items()})
        headers = {k.lower(): v for k, v in req.headers.items() if k.lower() != "authorization"}
        auth = req.headers.get("Authorization", "")

        if url.path.startswith("/response/"):
            status, payload, extra = self._respond_url(url.path.removeprefix("/response/"), body)
            self._record("response_url", url.path, headers, body, None, status, payload)
            self._send(req, status, payload, extra)
            return
        if not url.path.startswith("/api/"):
            self._send(req, 404, "not found", {})
            return
        method = url.path.removeprefix("/api/")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
        if token is None and isinstance(body.get("token"), str):
            token = body.pop("token")
        with self._lock:
            ws = self.workspaces.get(token or "")
            fault = next((f for f in self._faults if f.matches(method)), None)
            if fault is not None and fault.after > 0:
                fault.after -= 1
                fault = None
            elif fault is not None:
                self._faults.remove(fault)
        team = ws.team_id if ws else None
        if fault is not None:
            status, payload, extra = fault.status, fault.body, fault.headers
        else:
            status, extra = 200, {}
            if self.post_delay and method in _POSTING:
                time.sleep(self.post_delay)
            payload = self._api(method, token, ws, body, auth)
        self._record(method, url.path, headers, body, team, status, payload)
        self._send(req, status, payload, extra)

    def _record(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: dict[str, Any],
        team: str | None,
        status: int,
        payload: Any,
    ) -> None:
        with self._lock:
            self.requests.append(
                RecordedRequest(method, path, headers, body, team, status, payload)
            )

    @staticmethod
    def _send(
        req: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str]
    ) -> None:
        if isinstance(payload, str):
            data = payload.encode()
            ctype = "text/html" if payload.startswith("<") else "text/plain"
        else:
            data = json.dumps(payload).encode()
            ctype = "application/json; charset=utf-8"
        req.send_response(status)
        req.send_header("Content-Type", ctype)
        req.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            req.send_header(k, v)
        req.end_headers()
        req.wfile.write(data)

    def _respond_url(self, key: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            if key not in self.responses:
                return 404, "expired_url", {}
            if len(self.responses[key]) >= RESPONSE_URL_USES:
                return 404, "used_url", {}
            if message_problems(body):
                return 400, "invalid_blocks", {}
            self.responses[key].append(body)
        return 200, "ok", {}

    def _next_ts(self) -> str:
        n = next(self._ts)
        return f"{1_700_000_000 + n}.{n:06d}"

    def _api(
        self,
        method: str,
        token: str | None,
        ws: Workspace | None,
        body: dict[str, Any],
        auth: str,
    ) -> dict[str, Any]:
        if method == "oauth.v2.access":
            return self._oauth_access(body, auth)
        if method == "apps.connections.open":
            if token not in self.app_tokens:
                return {"ok": False, "error": "invalid_auth"}
            return {"ok": True, "url": "ws://127.0.0.1:1/link?ticket=fake"}
        if not token:
            return {"ok": False, "error": "not_authed"}
        if ws is None:
            return {"ok": False, "error": "invalid_auth"}
        if ws.revoked:
            return {"ok": False, "error": "token_revoked"}
        if method == "auth.test":
            return {
                "ok": True,
                "url": f"https://{ws.team_id.lower()}.slack.com/",
                "team": ws.name,
                "user": "papers",
                "team_id": ws.team_id,
                "user_id": ws.bot_user_id,
                "bot_id": ws.bot_id,
                "is_enterprise_install": False,
            }
        if method == "users.info":
            with self._lock:
                user = self.users.get(str(body.get("user")))
            if user is None:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": user}
        if method in _POSTING:
            return self._post(method, ws, body)
        if method in ("conversations.history", "conversations.replies"):
            return self._history(method, body)
        return {"ok": False, "error": "unknown_method"}

    def _post(self, method: str, ws: Workspace, body: dict[str, Any]) -> dict[str, Any]:
        channel = str(body.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        with self._lock:
            error = self.channel_errors.get(channel)
        if error:
            return {"ok": False, "error": error}
        if not body.get("text") and not body.get("blocks"):
            return {"ok": False, "error": "no_text"}
        if message_problems(body):
            return {"ok": False, "error": "invalid_blocks"}
        metadata = body.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        if metadata is not None and (
            not isinstance(metadata, dict)
            or not isinstance(metadata.get("event_type"), str)
            or not isinstance(metadata.get("event_payload"), dict)
        ):
            return {"ok": False, "error": "invalid_metadata_format"}
        blocks = body.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        with self._lock:
            if method == "chat.update":
                for m in self.posted:
                    if m.channel == channel and m.ts == body.get("ts"):
                        m.text, m.blocks = str(body.get("text") or ""), blocks
                        return {"ok": True, "channel": channel, "ts": m.ts}
                return {"ok": False, "error": "message_not_found"}
            ts = self._next_ts()
            if method == "chat.postEphemeral":
                return {"ok": True, "message_ts": ts}
            message = PostedMessage(
                channel=channel,
                ts=ts,
                text=str(body.get("text") or ""),
                blocks=blocks,
                thread_ts=body.get("thread_ts"),
                metadata=metadata,
                team=ws.team_id,
                bot_id=ws.bot_id,
            )
            self.posted.append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": self._as_api(message, True)}

    @staticmethod
    def _as_api(m: PostedMessage, metadata: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "message",
            "ts": m.ts,
            "text": m.text,
            "blocks": m.blocks,
            "bot_id": m.bot_id,
        }
        if m.thread_ts:
            out["thread_ts"] = m.thread_ts
        if metadata and m.metadata is not None:
            out["metadata"] = m.metadata
        return out

    def _history(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        channel = str(body.get("channel") or "")
        with self._lock:
            error = self.channel_errors.get(channel)
            if error:
                return {"ok": False, "error": error}
            with_meta = str(body.get("include_all_metadata", "")).lower() in ("1", "true")
            limit = int(body.get("limit") or 100)
            if method == "conversations.history":
                found = [m for m in self.posted if m.channel == channel and not m.thread_ts]
                found.reverse()  # newest first, like Slack
            else:
                parent = str(body.get("ts") or "")
                found = [
                    m
                    for m in self.posted
                    if m.channel == channel and (m.ts == parent or m.thread_ts == parent)
                ]
            messages = [self._as_api(m, with_meta) for m in found[:limit]]
        return {"ok": True, "messages": messages, "has_more": len(found) > limit}

    def _oauth_access(self, body: dict[str, Any], auth: str) -> dict[str, Any]:
        client_id = body.get("client_id")
        if auth.startswith("Basic "):
            client_id = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")[0]
        if not client_id:
            return {"ok": False, "error": "invalid_client_id"}
        with self._lock:
            token = self.oauth_codes.pop(str(body.get("code")), None)
            ws = self.workspaces.get(token or "")
        if ws is None:
            return {"ok": False, "error": "invalid_code"}
        return {
            "ok": True,
            "app_id": "A0PAPERS",
            "authed_user": {"id": "UINSTALLER"},
            "scope": "commands,chat:write,chat:write.public,users:read",
            "token_type": "bot",
            "access_token": ws.bot_token,
            "bot_user_id": ws.bot_user_id,
            "team": {"id": ws.team_id, "name": ws.name},
            "enterprise": None,
            "is_enterprise_install": False,
        }
