"""A real HTTP server on 127.0.0.1 that behaves like the Hugging Face papers API.

Load it with items shaped exactly as ``/api/daily_papers`` returns them, point the real client at
``base_url``, and queue faults (rate limits, server errors, slow or non-JSON answers) to see how
the client copes. Every request is recorded so tests can assert on what was asked::

    with FakeHuggingFace() as hf:
        hf.add_day("2026-11-20", items)
        hf.rate_limit(times=1, retry_after=2)
        ...  # HuggingFaceClient(hf.base_url) ...
        assert hf.paths() == ["/api/daily_papers", "/api/daily_papers"]
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_LIMIT = 50  # the API's default page size
MAX_LIMIT = 100


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received: path (unquoted), query (first value of each key),
    headers (names lower-cased) and the raw request target."""

    method: str
    path: str
    query: dict[str, str]
    target: str
    headers: dict[str, str]


@dataclass
class Fault:
    """A queued answer that replaces the normal one (``status`` None: answer normally, late)."""

    status: int | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    path: str | None = None  # only requests whose path starts with this; None matches all


def _json(body: object) -> bytes:
    return json.dumps(body).encode()


def _paper_of(item: Any) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        return None
    paper = item.get("paper")
    return paper if isinstance(paper, dict) else item


def _featured_day(item: Any) -> str:
    """The day an item was featured: paper.submittedOnDailyAt, else the item's publishedAt."""
    paper = _paper_of(item) or {}
    top = item if isinstance(item, dict) else {}
    for value in (paper.get("submittedOnDailyAt"), top.get("publishedAt")):
        if isinstance(value, str) and len(value) >= 10:
            return value[:10]
    raise ValueError(f"cannot tell the featured day of item {str(item)[:80]}; pass day=")


def _upvotes(item: Any) -> int:
    paper = _paper_of(item) or {}
    votes = paper.get("upvotes")
    return votes if isinstance(votes, int) and not isinstance(votes, bool) else 0


def _haystack(item: Any) -> str:
    parts: list[str] = []
    for source in (item, _paper_of(item)):
        if isinstance(source, dict):
            parts += [v for k in ("title", "summary") if isinstance(v := source.get(k), str)]
    return " ".join(parts).casefold()


class FakeHuggingFace:
    """The Hugging Face papers API on a random local port; a context manager."""

    def __init__(self, days: Mapping[str | date, Iterable[Any]] | None = None) -> None:
        self._lock = threading.Lock()
        self._days: dict[str, list[Any]] = {}
        self._papers: dict[str, dict[str, Any]] = {}
        self._faults: deque[Fault] = deque()
        self._stopping = threading.Event()
        self.requests: list[RecordedRequest] = []
        for day, items in (days or {}).items():
            self.add_day(day, items)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host!s}:{port}"
        self._thread: threading.Thread | None = None

    # --- data ----------------------------------------------------------------------------------

    def add_day(self, day: str | date, items: Iterable[Any]) -> None:
        """Serve ``items`` (in this order) as the papers featured on ``day``.

        Items are served exactly as given, malformed ones included."""
        key = day.isoformat() if isinstance(day, date) else day
        with self._lock:
            self._days.setdefault(key, []).extend(items)

    def add_paper(self, paper: dict[str, Any]) -> None:
        """Serve ``paper`` (a bare paper object) at ``/api/papers/{paper['id']}``."""
        with self._lock:
            self._papers[str(paper["id"])] = paper

    def load_file(self, path: str | Path, day: str | date | None = None) -> None:
        """Load a saved ``/api/daily_papers`` JSON list under ``day``; without one, under the
        file name when it is a date (``2026-11-20.json``), else under each item's featured date."""
        file = Path(path)
        items = json.loads(file.read_text(encoding="utf-8"))
        if day is None:
            try:
                day = date.fromisoformat(file.stem)
            except ValueError:
                for item in items:
                    self.add_day(_featured_day(item), [item])
                return
        self.add_day(day, items)

    # --- faults --------------------------------------------------------------------------------

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        body: object = None,
        headers: Mapping[str, str] | None = None,
        path: str | None = None,
    ) -> None:
        """The next ``times`` matching requests get ``status`` (JSON ``body``) instead."""
        payload = _json(body if body is not None else {"error": f"HTTP {status}"})
        self._queue(times, Fault(status, payload, dict(headers or {}), path=path))

    def rate_limit(self, *, times: int = 1, retry_after: str | float | None = 1) -> None:
        """The next ``times`` requests get 429, with ``Retry-After`` when given."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        self.fail(429, times=times, body={"error": "Too Many Requests"}, headers=headers)

    def server_error(self, *, times: int = 1, status: int = 503) -> None:
        """The next ``times`` requests get a 5xx."""
        self.fail(status, times=times)

    def slow(self, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` requests are answered normally, but only after ``seconds``."""
        self._queue(times, Fault(None, delay=seconds))

    def not_json(self, *, times: int = 1, body: bytes = b"<html>Bad gateway</html>") -> None:
        """The next ``times`` requests get 200 with a body that is not JSON."""
        self._queue(times, Fault(200, body, {"Content-Type": "text/html"}))

    def _queue(self, times: int, fault: Fault) -> None:
        with self._lock:
            self._faults.extend([fault] * times)

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path is None or path.startswith(fault.path):
                    self._faults.remove(fault)
                    return fault
        return None

    # --- inspection ----------------------------------------------------------------------------

    def paths(self) -> list[str]:
        """The paths of the requests received so far, in order."""
        with self._lock:
            return [r.path for r in self.requests]

    def pending_faults(self) -> int:
        """How many queued faults have not been served yet."""
        with self._lock:
            return len(self._faults)

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving in a background thread."""
        # A short poll interval keeps shutdown (once per test) fast.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fake-huggingface",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; slow answers still pending are cut short."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- the API -------------------------------------------------------------------------------

    def _answer(self, path: str, query: dict[str, str]) -> tuple[int, object]:
        if path == "/api/daily_papers":
            return self._daily_papers(query)
        if path == "/api/papers/search":
            return self._search(query)
        if path.startswith("/api/papers/"):
            return self._paper(path.removeprefix("/api/papers/"))
        return 404, {"error": "Not Found"}

    def _daily_papers(self, query: dict[str, str]) -> tuple[int, object]:
        with self._lock:
            days = {k: list(v) for k, v in self._days.items()}
        day = query.get("date")
        if day is None:
            day = max(days, default="")  # no date: the latest day with papers
        else:
            try:
                date.fromisoformat(day)
            except ValueError:
                return 400, {"error": f"Invalid date: {day!r}, expected YYYY-MM-DD"}
        try:
            page = int(query.get("p", "0"))
            limit = int(query.get("limit", str(DEFAULT_LIMIT)))
        except ValueError:
            return 400, {"error": "p and limit must be integers"}
        if page < 0 or not 1 <= limit <= MAX_LIMIT:
            return 400, {"error": f"p must be >= 0 and limit between 1 and {MAX_LIMIT}"}
        sort = query.get("sort", "publishedAt")
        if sort not in ("publishedAt", "trending"):
            return 400, {"error": f"Invalid sort: {sort!r}"}
        items = days.get(day, [])
        if sort == "trending":
            items = sorted(items, key=_upvotes, reverse=True)
        return 200, items[page * limit : (page + 1) * limit]

    def _search(self, query: dict[str, str]) -> tuple[int, object]:
        needle = query.get("q", "").strip().casefold()
        if not needle:
            return 400, {"error": "Missing q"}
        try:
            limit = int(query.get("limit", "20"))
        except ValueError:
            return 400, {"error": "limit must be an integer"}
        with self._lock:
            candidates = [i for items in self._days.values() for i in items]
            candidates += list(self._papers.values())
        hits: list[Any] = []
        seen: set[object] = set()
        for item in candidates:
            paper = _paper_of(item)
            key = paper.get("id") if paper else None
            if key in seen or needle not in _haystack(item):
                continue
            seen.add(key)
            hits.append(item)
        return 200, hits[:limit]

    def _paper(self, arxiv_id: str) -> tuple[int, object]:
        with self._lock:
            found = self._papers.get(arxiv_id)
            if found is None:
                nested = (_paper_of(i) for items in self._days.values() for i in items)
                found = next((p for p in nested if p and p.get("id") == arxiv_id), None)
        if found is None:
            return 404, {"error": "Entry not found"}
        return 200, found

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                path = unquote(parts.path)
                query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                with fake._lock:
                    fake.requests.append(RecordedRequest("GET", path, query, self.path, headers))
                fault = fake._take_fault(path)
                if fault and fault.delay and fake._stopping.wait(fault.delay):
                    return
                if fault and fault.status is not None:
                    self._send(fault.status, fault.body, fault.headers)
                    return
                status, body = fake._answer(path, query)
                self._send(status, _json(body), {})

            def _send(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
                try:
                    self.send_response(status)
                    if "Content-Type" not in headers:
                        self.send_header("Content-Type", "application/json; charset=utf-8")
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test); nothing to tell it

            def log_message(self, format: str, *args: Any) -> None:
                pass  # tests assert on `requests`, not on stderr noise

        return Handler
