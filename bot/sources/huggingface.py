"""Hugging Face Daily Papers: parse the API's items into `Paper` and fetch them over HTTP.

Parsing is strict only where a paper cannot exist without the field (its id and title); every
other field is optional upstream, changed shape over the years, and is coerced or dropped.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import quote

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from bot import jsonio
from bot.models import Paper, clean_text

log = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "https://huggingface.co"
MAX_PAGE_SIZE: Final = 100
SORTS: Final = ("publishedAt", "trending")

# arXiv ids, new style (2401.01234, 2401.01234v2) and old style (hep-th/9901001). Anything else
# would end up inside links we post, so it is refused rather than trusted.
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
_INT_RE = re.compile(r"^[+-]?\d+$")
_SPACE = re.compile(r"\s")
# http(s), then a host (no IPv6 literals: no paper links to one); the rest is left as it is.
_WEB_URL = re.compile(r"https?://[^/?#\s\[\]]+(?:[/?#]|$)", re.IGNORECASE)


class MalformedItem(ValueError):
    """An API item that cannot become a `Paper` (no usable id or title, or not an object)."""


class HuggingFaceError(RuntimeError):
    """Hugging Face could not be asked, refused, or answered with something unusable."""

    def __init__(
        self, message: str, *, request: str = "", status: int | None = None, attempts: int = 0
    ) -> None:
        super().__init__(message)
        self.request = request
        self.status = status
        self.attempts = attempts


# --- parsing -----------------------------------------------------------------------------------


def _text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return clean_text(value) or None


def _url(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    # Only web links with a host, and nothing that could end a link early: these end up as
    # clickable links in chat.
    if not _WEB_URL.match(value) or _SPACE.search(value) or not value.isprintable():
        return None
    return value


MAX_COUNT = 2**31 - 1


def _count(value: object) -> int | None:
    """A non-negative count from an int, a whole float or a numeric string; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and math.isfinite(value):
        number = int(value)
    elif isinstance(value, str) and _INT_RE.match(value.strip()):
        number = int(value.strip())
    else:
        return None
    # A count past the columns' range (PostgreSQL's integer) is nonsense, not a reason to fail
    # the whole day's load.
    return number if 0 <= number <= MAX_COUNT else None


def _datetime(value: object) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _date(value: object) -> date | None:
    parsed = _datetime(value)
    return parsed.date() if parsed else None


def _keywords(value: object) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return []
    out: list[str] = []
    seen: set[str] = set()
    for entry in value:
        keyword = _text(entry)
        if keyword and keyword.casefold() not in seen:
            seen.add(keyword.casefold())
            out.append(keyword)
    return out


def _authors(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    names: list[str] = []
    for entry in value:
        # Hidden authors keep their name when the API gives one; only nameless entries go.
        name = _text(entry.get("name")) if isinstance(entry, dict) else _text(entry)
        if name:
            names.append(name)
    return names


def _organization(value: object) -> str | None:
    if isinstance(value, dict):
        return _text(value.get("fullname")) or _text(value.get("name"))
    return _text(value)


def _user(value: object, key: str) -> str | None:
    if isinstance(value, dict):
        return _text(value.get(key))
    return _text(value)


def _first(*values: int | None) -> int | None:
    return next((v for v in values if v is not None), None)


def parse_item(item: object, featured: date | None = None) -> Paper:
    """One `/api/daily_papers` or `/api/papers/search` item, or a bare `/api/papers/{id}`
    object, as a `Paper`. ``featured`` overrides the featured date read from the item.

    Raises `MalformedItem` when the item has no usable id or title."""
    if not isinstance(item, dict):
        raise MalformedItem(f"expected an object, got {type(item).__name__}")
    nested = item.get("paper")
    if isinstance(nested, dict):
        paper: Mapping[str, Any] = nested
        top: Mapping[str, Any] = item
    else:
        # A bare paper: its publishedAt is the arXiv date, so it must not count as featured date.
        paper, top = item, {}

    raw_id = paper.get("id")
    paper_id = raw_id.strip() if isinstance(raw_id, str) else ""
    if not paper_id:
        raise MalformedItem("missing paper.id")
    if not _ID_RE.match(paper_id):
        raise MalformedItem(f"paper.id {paper_id[:80]!r} is not an arXiv id")
    title = _text(top.get("title")) or _text(paper.get("title"))
    if not title:
        raise MalformedItem(f"paper {paper_id} has no title")

    def pick(key: str) -> object:
        # Newer payloads nest these under `paper`; older or hand-made ones may have them on top.
        value = paper.get(key)
        return value if value is not None else top.get(key)

    return Paper(
        id=paper_id,
        title=title,
        summary=_text(paper.get("summary")) or _text(top.get("summary")) or "",
        authors=_authors(paper.get("authors")),
        published_at=_datetime(paper.get("publishedAt")),
        featured_date=featured
        or _date(paper.get("submittedOnDailyAt"))
        or _date(top.get("publishedAt")),
        upvotes=_count(paper.get("upvotes")),
        num_comments=_first(_count(top.get("numComments")), _count(paper.get("numComments"))),
        ai_summary=_text(paper.get("ai_summary")) or _text(top.get("ai_summary")),
        ai_keywords=_keywords(paper.get("ai_keywords")) or _keywords(top.get("ai_keywords")),
        github_repo=_url(paper.get("githubRepo")) or _url(top.get("githubRepo")),
        github_stars=_first(_count(paper.get("githubStars")), _count(top.get("githubStars"))),
        project_page=_url(paper.get("projectPage")) or _url(top.get("projectPage")),
        organization=_organization(paper.get("organization"))
        or _organization(top.get("organization")),
        thumbnail=_url(pick("thumbnail")),
        submitted_by=_user(top.get("submittedBy"), "name")
        or _user(paper.get("submittedOnDailyBy"), "user"),
        withdrawn_at=_datetime(pick("withdrawnAt")),
        raw=item,
    )


def parse_items(items: object, featured: date | None = None) -> tuple[list[Paper], int]:
    """Parse a list of items: ``(papers, skipped)``. Malformed items are logged and skipped;
    a repeated id keeps its first item. Raises `MalformedItem` when ``items`` is not a list."""
    if not isinstance(items, list):
        raise MalformedItem(f"expected a list of items, got {type(items).__name__}")
    papers: list[Paper] = []
    seen: set[str] = set()
    skipped = 0
    for index, item in enumerate(items):
        try:
            paper = parse_item(item, featured)
        except MalformedItem as exc:
            skipped += 1
            log.warning("skipping Hugging Face item %d: %s", index, exc)
            continue
        if paper.id not in seen:
            seen.add(paper.id)
            papers.append(paper)
    return papers, skipped


# --- HTTP --------------------------------------------------------------------------------------


@dataclass
class FetchResult:
    """Papers fetched in one call, and how many malformed items were skipped on the way."""

    papers: list[Paper] = field(default_factory=list)
    skipped: int = 0


class _Failure(Exception):
    """One failed attempt; `retryable` says whether another attempt may help."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        retryable: bool = True,
        retry_after: float | None = None,
        max_attempts: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.max_attempts = max_attempts


_NOT_FOUND: Final = object()


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP-date), or None."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _should_retry(state: RetryCallState) -> bool:
    exc = state.outcome.exception() if state.outcome else None
    if not isinstance(exc, _Failure) or not exc.retryable:
        return False
    return exc.max_attempts is None or state.attempt_number < exc.max_attempts


def _request_line(path: str, params: Mapping[str, str | int]) -> str:
    # What was asked, for logs and errors: method, path and query; never headers.
    url = httpx.URL(path, params=dict(params)) if params else httpx.URL(path)
    return f"GET {url}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class HuggingFaceClient:
    """Async client for the Hugging Face papers API, with retries on rate limits and faults.

    ``retries`` is how many times a request is tried again after the first attempt. ``sleep``
    is what waits between attempts (tests pass a recorder instead of really sleeping)."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 15.0,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = "daily-papers-bot/0.1",
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self._timeout = timeout
        self._retries = retries
        self._max_backoff = max_backoff
        self._sleep = sleep or asyncio.sleep
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            follow_redirects=True,
        )
        self._exponential = wait_exponential(multiplier=backoff, max=max_backoff) + wait_random(
            0, backoff
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the underlying connections."""
        await self._http.aclose()

    async def daily_papers(
        self,
        day: date | None = None,
        *,
        sort: str = "publishedAt",
        page_size: int = MAX_PAGE_SIZE,
        max_pages: int = 20,
    ) -> FetchResult:
        """All papers featured on ``day`` (the latest day when None), walking the pages.

        A day without papers gives an empty result; an invalid date raises `HuggingFaceError`."""
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        if max_pages < 1:
            raise ValueError("max_pages must be at least 1")
        result = FetchResult()
        seen: set[str] = set()
        for page in range(max_pages):
            params: dict[str, str | int] = {}
            if day is not None:
                params["date"] = day.isoformat()
            params |= {"p": page, "limit": page_size, "sort": sort}
            items = await self._get_list("/api/daily_papers", params)
            papers, skipped = parse_items(items, featured=day)
            result.skipped += skipped
            fresh = [p for p in papers if p.id not in seen]
            seen.update(p.id for p in fresh)
            result.papers.extend(fresh)
            if len(items) < page_size:
                break
            if papers and not fresh:
                # A full page of nothing new: the server ignores `p`; walking on would loop.
                log.warning("Hugging Face repeated page %d of %s; stopping", page, day or "latest")
                break
        else:
            log.warning(
                "stopped after %d pages of %s Daily Papers; there may be more",
                max_pages,
                day or "latest",
            )
        return result

    async def search(self, query: str, limit: int = 20) -> FetchResult:
        """Papers Hugging Face finds for ``query``, best first."""
        query = query.strip()
        if not query:
            raise ValueError("query must not be empty")
        if limit < 1:
            raise ValueError("limit must be at least 1")
        items = await self._get_list("/api/papers/search", {"q": query, "limit": limit})
        papers, skipped = parse_items(items)
        return FetchResult(papers, skipped)

    async def paper(self, arxiv_id: str) -> Paper | None:
        """One paper by arXiv id, or None when Hugging Face does not know it."""
        arxiv_id = arxiv_id.strip()
        if not arxiv_id:
            raise ValueError("arxiv_id must not be empty")
        path = "/api/papers/" + quote(arxiv_id, safe="")
        data = await self._get_json(path, {}, missing_ok=True)
        if data is _NOT_FOUND:
            return None
        try:
            return parse_item(data)
        except MalformedItem as exc:
            raise HuggingFaceError(
                f"Hugging Face answered GET {path} with a paper that does not parse: {exc}",
                request=f"GET {path}",
            ) from exc

    # --- internals -----------------------------------------------------------------------------

    async def _get_list(self, path: str, params: Mapping[str, str | int]) -> list[Any]:
        data = await self._get_json(path, params)
        if not isinstance(data, list):
            what = _request_line(path, params)
            raise HuggingFaceError(
                f"Hugging Face answered {what} with a JSON {type(data).__name__}, not a list",
                request=what,
            )
        return data

    async def _get_json(
        self, path: str, params: Mapping[str, str | int], *, missing_ok: bool = False
    ) -> object:
        what = _request_line(path, params)
        attempts = 0

        async def attempt() -> object:
            nonlocal attempts
            attempts += 1
            return await self._attempt(path, params, missing_ok)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retries + 1),
            wait=self._wait,
            retry=_should_retry,
            before_sleep=lambda state: self._log_retry(what, state),
            sleep=self._sleep,
        )
        try:
            return await retrying(attempt)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            status = last.status if isinstance(last, _Failure) else None
            raise HuggingFaceError(
                f"Hugging Face did not answer {what} after {_plural(attempts, 'attempt')}: {last}",
                request=what,
                status=status,
                attempts=attempts,
            ) from None
        except _Failure as exc:
            raise HuggingFaceError(
                f"Hugging Face rejected {what} after {_plural(attempts, 'attempt')}: {exc}",
                request=what,
                status=exc.status,
                attempts=attempts,
            ) from None

    async def _attempt(
        self, path: str, params: Mapping[str, str | int], missing_ok: bool
    ) -> object:
        try:
            response = await self._http.get(path, params=dict(params))
        except httpx.TimeoutException as exc:
            raise _Failure(f"no answer within {self._timeout:g}s ({type(exc).__name__})") from exc
        except httpx.UnsupportedProtocol as exc:
            raise _Failure(f"bad base URL: {exc}", retryable=False) from exc
        except httpx.TransportError as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise _Failure(reason) from exc
        status = response.status_code
        if status == 404 and missing_ok:
            return _NOT_FOUND
        if status == 429:
            raise _Failure(
                f"HTTP 429 {response.reason_phrase}".rstrip(),
                status=status,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if status >= 500:
            raise _Failure(f"HTTP {status} {response.reason_phrase}".rstrip(), status=status)
        if not 200 <= status < 300:
            raise _Failure(_describe_refusal(response), status=status, retryable=False)
        try:
            return jsonio.loads(response.content)
        except ValueError as exc:
            # A proxy or outage page served with 200: worth one more try, not a full round.
            kind = response.headers.get("Content-Type", "no content type").split(";")[0]
            raise _Failure(
                f"the answer is not JSON ({kind}, {len(response.content)} bytes)",
                status=status,
                max_attempts=2,
            ) from exc

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Failure) and exc.retry_after is not None:
            return min(exc.retry_after, self._max_backoff)
        return min(self._exponential(state), self._max_backoff)

    def _log_retry(self, what: str, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "Hugging Face %s failed on attempt %d of %d (%s); retrying in %.2fs",
            what,
            state.attempt_number,
            self._retries + 1,
            exc,
            delay,
        )


def _describe_refusal(response: httpx.Response) -> str:
    reason = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
    try:
        body = response.json()
    except ValueError:
        return reason
    message = _text(body.get("error")) if isinstance(body, dict) else None
    return f"{reason}: {message[:200]}" if message else reason
