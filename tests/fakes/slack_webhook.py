"""A real HTTP server on 127.0.0.1 that answers like Slack incoming webhooks.

As Slack documents them: ``200 ok`` (plain text); ``400 invalid_payload`` for a body that is not
JSON, ``400 no_text`` for a message without ``text`` or ``blocks``, ``400 invalid_blocks`` past
Block Kit's limits; ``403 action_prohibited``; ``404 no_service`` (webhook removed) and
``404 channel_not_found``; ``410 channel_is_archived``; ``429`` with ``Retry-After`` (about one
message a second); ``500 rollup_error``. Every request is recorded::

    with FakeSlackWebhook() as slack:
        url = slack.add_hook()
        slack.rate_limit(times=1, retry_after=1)
        ...  # POST url {"text": ..., "blocks": [...]}
        assert slack.messages(url)[0]["text"] == "..."
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

from tests.fakes.slack import message_problems

_ids = itertools.count(1)


@dataclass
class Hook:
    path: str
    state: str = "ok"  # "ok" | "no_service" | "channel_not_found" | "channel_is_archived" | ...
    messages: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes


@dataclass
class Fault:
    status: int
    text: str
    headers: dict[str, str] = field(default_factory=dict)


_GONE = {
    "no_service": 404,
    "channel_not_found": 404,
    "no_team": 404,
    "action_prohibited": 403,
    "invalid_token": 403,
    "channel_is_archived": 410,
}


class FakeSlackWebhook:
    """Slack's ``hooks.slack.com/services/...`` endpoint, for any number of webhooks."""

    def __init__(self) -> None:
        self.hooks: dict[str, Hook] = {}
        self.requests: list[RecordedRequest] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, text, extra = fake.handle(urlsplit(self.path).path, headers, raw)
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html")
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
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

    # -- set-up -----------------------------------------------------------------------------

    def add_hook(self) -> str:
        """A new incoming webhook; returns its URL."""
        n = next(_ids)
        path = f"/services/T{n:08d}/B{n:08d}/fakeSecret{n:04d}abcdefghijkl"
        self.hooks[path] = Hook(path)
        return self.origin + path

    def set_state(self, url: str, state: str) -> None:
        """Make a webhook answer as removed (``no_service``), archived
        (``channel_is_archived``), ``channel_not_found`` or ``action_prohibited``."""
        self.hooks[urlsplit(url).path].state = state

    def rate_limit(self, *, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` posts get 429 with ``Retry-After``."""
        for _ in range(times):
            self._faults.append(Fault(429, "rate_limited", {"Retry-After": str(retry_after)}))

    def fail(self, status: int = 500, text: str = "rollup_error", *, times: int = 1) -> None:
        """The next ``times`` posts get ``status`` and ``text``."""
        for _ in range(times):
            self._faults.append(Fault(status, text))

    def messages(self, url: str) -> list[dict[str, Any]]:
        """The bodies a webhook accepted, in order."""
        return self.hooks[urlsplit(url).path].messages

    # -- serving ------------------------------------------------------------------------------

    def handle(
        self, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, str, dict[str, str]]:
        with self._lock:
            self.requests.append(RecordedRequest("POST", path, headers, raw))
            hook = self.hooks.get(path)
            if hook is None:
                return 404, "no_service", {}
            if self._faults:
                fault = self._faults.popleft()
                return fault.status, fault.text, dict(fault.headers)
            if hook.state != "ok":
                return _GONE.get(hook.state, 400), hook.state, {}
            try:
                body = json.loads(raw)
            except ValueError:
                return 400, "invalid_payload", {}
            if not isinstance(body, dict):
                return 400, "invalid_payload", {}
            if not body.get("text") and not body.get("blocks"):
                return 400, "no_text", {}
            if message_problems(body):
                return 400, "invalid_blocks", {}
            hook.messages.append(body)
            return 200, "ok", {}
