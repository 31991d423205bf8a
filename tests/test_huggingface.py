"""The Hugging Face client and parser, driven through a real local HTTP server."""

from __future__ import annotations

import copy
import email.utils
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot import fetch
from bot.app import App
from bot.config import Settings
from bot.models import Paper
from bot.sources.huggingface import (
    FetchResult,
    HuggingFaceClient,
    HuggingFaceError,
    MalformedItem,
    parse_item,
    parse_items,
    retry_after_seconds,
)
from tests.fakes.huggingface import FakeHuggingFace

DAY = date(2026, 11, 20)
LOGGER = "bot.sources.huggingface"


def item_2024() -> dict[str, Any]:
    """A 2024 daily item: no ai_* fields, no submittedOnDailyAt, hard line breaks in paper.*."""
    return {
        "paper": {
            "id": "2401.00001",
            "authors": [
                {"_id": "a1", "name": "Ada Lovelace", "hidden": False},
                {"_id": "a2", "name": "Alan\n Turing", "hidden": False},
                {"_id": "a3", "hidden": True},
            ],
            "publishedAt": "2024-01-01T18:59:59.000Z",
            "title": "Scaling Laws\n  for Tiny Models",
            "summary": "We study scaling\nof tiny models.\n\nIt works.",
            "upvotes": 12,
            "discussionId": "d2401",
        },
        "publishedAt": "2024-01-02T03:00:00.000Z",
        "title": "Scaling Laws for Tiny Models",
        "summary": "We study scaling\nof tiny models.\n\nIt works.",
        "thumbnail": "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2401.00001.png",
        "numComments": 3,
        "submittedBy": {"_id": "u1", "name": "akhaliq", "fullname": "AK", "isPro": False},
        "isAuthorParticipating": False,
    }


def item_2025() -> dict[str, Any]:
    """A 2025 daily item: ai_*, githubRepo, organization... nested under `paper` only."""
    return {
        "paper": {
            "id": "2503.00002",
            "authors": [
                {"_id": "b1", "name": "Grace Hopper", "hidden": False, "user": {"user": "grace"}},
                {"_id": "b2", "name": "Hidden Author", "hidden": True},
            ],
            "publishedAt": "2025-03-03T17:00:00.000Z",
            "submittedOnDailyAt": "2025-03-04T01:23:45.000Z",
            "title": "Mixture of Experts\nRoute Better",
            "summary": "Mixture of experts\nroute tokens. Experts specialise.",
            "upvotes": 87,
            "discussionId": "d2503",
            "ai_summary": "MoE models\nroute tokens to specialised experts.",
            "ai_keywords": ["mixture of experts", "routing", "Routing"],
            "githubRepo": "https://github.com/example/moe",
            "githubStars": 1234,
            "projectPage": "https://moe.example.org",
            "submittedOnDailyBy": {"_id": "u2", "user": "grace", "fullname": "Grace H."},
            "organization": {"_id": "o1", "name": "google", "fullname": "Google"},
            "withdrawnAt": None,
        },
        "publishedAt": "2025-03-04T01:23:45.000Z",
        "title": "Mixture of Experts Route Better",
        "summary": "Mixture of experts\nroute tokens. Experts specialise.",
        "thumbnail": "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2503.00002.png",
        "numComments": 5,
        "submittedBy": {"_id": "u2", "name": "grace", "fullname": "Grace H."},
        "isAuthorParticipating": True,
        "mediaUrls": [],
    }


def small_item(n: int, upvotes: int = 0, title: str | None = None) -> dict[str, Any]:
    return {
        "paper": {"id": f"2611.{n:05d}", "title": title or f"Paper {n}", "upvotes": upvotes},
        "title": title or f"Paper {n}",
    }


class Sleeps:
    """Stands in for asyncio.sleep: records each wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def hf() -> Iterator[FakeHuggingFace]:
    with FakeHuggingFace() as server:
        yield server


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(hf: FakeHuggingFace, sleeps: Sleeps) -> AsyncIterator[HuggingFaceClient]:
    async with HuggingFaceClient(hf.base_url, timeout=5.0, sleep=sleeps) as c:
        yield c


# --- parsing, through the client -------------------------------------------------------------


async def test_2024_item_without_ai_fields(hf: FakeHuggingFace, client: HuggingFaceClient) -> None:
    hf.add_day(DAY, [item_2024()])
    result = await client.daily_papers(DAY)
    assert result == FetchResult(
        [
            Paper(
                id="2401.00001",
                title="Scaling Laws for Tiny Models",
                summary="We study scaling of tiny models. It works.",
                authors=["Ada Lovelace", "Alan Turing"],
                published_at=datetime(2024, 1, 1, 18, 59, 59, tzinfo=UTC),
                featured_date=DAY,
                upvotes=12,
                num_comments=3,
                thumbnail="https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2401.00001.png",
                submitted_by="akhaliq",
            )
        ],
        skipped=0,
    )
    assert result.papers[0].raw == item_2024()


async def test_2025_item_reads_nested_fields(
    hf: FakeHuggingFace, client: HuggingFaceClient
) -> None:
    hf.add_day(DAY, [item_2025()])
    [paper] = (await client.daily_papers(DAY)).papers
    assert paper == Paper(
        id="2503.00002",
        title="Mixture of Experts Route Better",
        summary="Mixture of experts route tokens. Experts specialise.",
        authors=["Grace Hopper", "Hidden Author"],
        published_at=datetime(2025, 3, 3, 17, 0, tzinfo=UTC),
        featured_date=DAY,
        upvotes=87,
        num_comments=5,
        ai_summary="MoE models route tokens to specialised experts.",
        ai_keywords=["mixture of experts", "routing"],
        github_repo="https://github.com/example/moe",
        github_stars=1234,
        project_page="https://moe.example.org",
        organization="Google",
        thumbnail="https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2503.00002.png",
        submitted_by="grace",
    )
    assert paper.tldr == "MoE models route tokens to specialised experts."


async def test_nulls_everywhere_keep_only_id_and_title(
    hf: FakeHuggingFace, client: HuggingFaceClient
) -> None:
    nested_keys = ["authors", "publishedAt", "summary", "upvotes", "ai_summary", "ai_keywords"]
    nested_keys += ["githubRepo", "githubStars", "projectPage", "submittedOnDailyAt"]
    nested_keys += ["submittedOnDailyBy", "organization", "withdrawnAt", "discussionId"]
    item: dict[str, Any] = {
        "paper": {"id": "2611.00003", "title": "Only\na title"} | dict.fromkeys(nested_keys),
        "title": None,
        "summary": None,
        "publishedAt": None,
        "thumbnail": None,
        "numComments": None,
        "submittedBy": None,
        "organization": None,
        "mediaUrls": None,
    }
    hf.add_day(DAY, [item])
    assert (await client.daily_papers(DAY)).papers == [
        # Counts sent as null are unknown, not 0: a known paper keeps its own (test_store).
        Paper(
            id="2611.00003",
            title="Only a title",
            featured_date=DAY,
            upvotes=None,
            num_comments=None,
        )
    ]


def test_wrong_types_are_coerced_or_dropped() -> None:
    item = {
        "paper": {
            "id": " 2611.00004 ",
            "title": "Typed badly",
            "authors": [{"name": ""}, {"name": 7}, "Plain String", {"name": " Kept\tName "}, 3],
            "publishedAt": "yesterday",
            "upvotes": "12",
            "ai_keywords": "diffusion, video , ,diffusion",
            "githubRepo": "",
            "githubStars": "7",
            "projectPage": "   ",
            "submittedOnDailyAt": 20261120,
            "organization": 42,
            "withdrawnAt": "2026-11-21T08:00:00Z",
            "ai_summary": ["not", "text"],
        },
        "title": 123,
        "summary": {"not": "text"},
        "numComments": "many",
        "thumbnail": "javascript:alert(1)",
        "submittedBy": "plain-user",
        "organization": "Meta AI",
        "publishedAt": "2026-11-19T23:30:00-02:00",
    }
    paper = parse_item(item)
    assert paper == Paper(
        id="2611.00004",
        title="Typed badly",
        authors=["Plain String", "Kept Name"],
        # no submittedOnDailyAt that parses: the item's own publishedAt, in UTC
        featured_date=date(2026, 11, 20),
        upvotes=12,
        num_comments=None,  # "many" is not a count
        ai_keywords=["diffusion", "video"],
        github_stars=7,
        organization="Meta AI",
        submitted_by="plain-user",
        withdrawn_at=datetime(2026, 11, 21, 8, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://github.com/example/repo", True),
        ("  HTTP://Example.org/page  ", True),
        ("http://10.0.0.1:8080", True),
        ("http://", False),
        ("https:///no-host", False),
        ("ftp://example.org/file", False),
        ("javascript:alert(1)", False),
        ("https://example.org/a b", False),
        ("https://example.org/a\nb", False),
        ("\x00https://example.org", False),
        ("https://example.org/\x1b]8;;https://evil.example/\x07", False),
        ("example.org", False),
        # Not a valid IPv6 literal: dropped (the standard library's parser raises on it).
        ("http://[::1", False),
        ("https://example.org?q=1#top", True),
    ],
)
def test_only_web_links_are_kept(url: str, kept: bool) -> None:
    item = {"paper": {"id": "2611.00005", "title": "Links", "githubRepo": url}}
    assert parse_item(item).github_repo == (url.strip() if kept else None)


@pytest.mark.parametrize(
    ("upvotes", "expected"),
    [
        (None, None),
        ("12", 12),
        (12.0, 12),
        (-3, None),
        (True, None),
        ("1e3", None),
        ("", None),
        ([], None),
        (2**31 - 1, 2**31 - 1),
        # Past what the database's integer columns hold: dropped, not a failed load.
        (2**31, None),
        (1e20, None),
        ("99999999999999999999", None),
    ],
)
def test_upvotes_coercion(upvotes: object, expected: int | None) -> None:
    """A count that is not one is unknown (None): a known paper keeps its own."""
    item = {"paper": {"id": "2611.00005", "title": "t", "upvotes": upvotes}}
    assert parse_item(item).upvotes == expected


@pytest.mark.parametrize(
    ("nested", "top", "expected"),
    [
        ({"name": "google", "fullname": "Google"}, None, "Google"),
        ({"name": "nvidia"}, None, "nvidia"),
        ("Allen AI", None, "Allen AI"),
        (None, {"name": "meta", "fullname": "AI at Meta"}, "AI at Meta"),
        (None, "Meta AI", "Meta AI"),
        ({"avatar": "https://x"}, {"name": "deepmind"}, "deepmind"),
        ({"fullname": "  "}, None, None),
        (None, None, None),
    ],
)
def test_organization_variants(nested: object, top: object, expected: str | None) -> None:
    item = {
        "paper": {"id": "2611.00006", "title": "t", "organization": nested},
        "organization": top,
    }
    assert parse_item(item).organization == expected


def test_ai_fields_fall_back_to_the_top_level() -> None:
    # How huggingface_hub-shaped or hand-made payloads carry them.
    item = {
        "paper": {"id": "2611.00007", "title": "t", "ai_summary": None},
        "ai_summary": "Top-level summary.",
        "ai_keywords": ["top"],
        "githubRepo": "https://github.com/top/repo",
        "githubStars": 0,
        "projectPage": "http://top.example",
    }
    paper = parse_item(item)
    assert (paper.ai_summary, paper.ai_keywords) == ("Top-level summary.", ["top"])
    assert (paper.github_repo, paper.github_stars) == ("https://github.com/top/repo", 0)
    assert paper.project_page == "http://top.example"


def test_nested_fields_win_over_top_level() -> None:
    item = item_2025() | {"ai_summary": "stale", "githubRepo": "https://github.com/stale/x"}
    paper = parse_item(item)
    assert paper.ai_summary == "MoE models route tokens to specialised experts."
    assert paper.github_repo == "https://github.com/example/moe"


def test_featured_date_order_of_preference() -> None:
    item = item_2025()
    assert parse_item(item).featured_date == date(2025, 3, 4)  # submittedOnDailyAt
    assert parse_item(item, featured=DAY).featured_date == DAY
    del item["paper"]["submittedOnDailyAt"]
    item["publishedAt"] = "2025-03-05T10:00:00.000Z"
    assert parse_item(item).featured_date == date(2025, 3, 5)
    del item["publishedAt"]
    assert parse_item(item).featured_date is None


def test_top_level_title_preferred_and_submitter_fallback() -> None:
    item = item_2025()
    item["title"] = "   "
    del item["submittedBy"]
    paper = parse_item(item)
    assert paper.title == "Mixture of Experts Route Better"  # paper.title, folded
    assert paper.submitted_by == "grace"  # paper.submittedOnDailyBy.user


def test_bare_paper_object() -> None:
    bare = copy.deepcopy(item_2025()["paper"])
    del bare["submittedOnDailyAt"]
    paper = parse_item(bare)
    assert (paper.id, paper.title, paper.upvotes) == (
        "2503.00002",
        "Mixture of Experts Route Better",
        87,
    )
    assert paper.published_at == datetime(2025, 3, 3, 17, 0, tzinfo=UTC)
    # A bare paper's publishedAt is its arXiv date, never its featured date.
    assert paper.featured_date is None
    assert paper.raw is bare


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ("a string", "expected an object, got str"),
        ({"paper": {"title": "no id"}}, "missing paper.id"),
        ({"paper": {"id": 2401.00001, "title": "numeric id"}}, "missing paper.id"),
        ({"paper": {"id": "  ", "title": "blank id"}}, "missing paper.id"),
        ({"paper": {"id": "../../evil", "title": "t"}}, "is not an arXiv id"),
        ({"paper": {"id": "2611.00008", "title": " \n "}, "title": ""}, "has no title"),
        ({"paper": None, "title": "paper is null"}, "missing paper.id"),
    ],
)
def test_malformed_items(item: object, reason: str) -> None:
    with pytest.raises(MalformedItem, match=reason):
        parse_item(item)


def test_parse_items_needs_a_list() -> None:
    with pytest.raises(MalformedItem, match="expected a list of items, got dict"):
        parse_items({"error": "nope"})


async def test_malformed_items_are_skipped_counted_and_logged(
    hf: FakeHuggingFace, client: HuggingFaceClient, caplog: pytest.LogCaptureFixture
) -> None:
    hf.add_day(
        DAY,
        [
            item_2024(),
            {"paper": {"title": "no id"}},
            "not an object",
            item_2025(),
            item_2024(),  # the same paper twice: kept once, not a fault
            {"paper": {"id": "2611.00009"}},
        ],
    )
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        result = await client.daily_papers(DAY)
    assert [p.id for p in result.papers] == ["2401.00001", "2503.00002"]
    assert result.skipped == 3
    warnings = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert warnings == [
        "skipping Hugging Face item 1: missing paper.id",
        "skipping Hugging Face item 2: expected an object, got str",
        "skipping Hugging Face item 5: paper 2611.00009 has no title",
    ]


# --- daily papers: pages, days, sorting ------------------------------------------------------


async def test_pagination_walks_until_a_short_page(
    hf: FakeHuggingFace, client: HuggingFaceClient
) -> None:
    hf.add_day(DAY, [small_item(n) for n in range(5)])
    result = await client.daily_papers(DAY, page_size=2)
    assert [p.id for p in result.papers] == [f"2611.{n:05d}" for n in range(5)]
    assert all(p.featured_date == DAY for p in result.papers)
    assert [r.query for r in hf.requests] == [
        {"date": "2026-11-20", "p": str(page), "limit": "2", "sort": "publishedAt"}
        for page in range(3)
    ]


async def test_pagination_stops_on_an_empty_page(
    hf: FakeHuggingFace, client: HuggingFaceClient
) -> None:
    hf.add_day(DAY, [small_item(n) for n in range(4)])
    result = await client.daily_papers(DAY, page_size=2)
    assert len(result.papers) == 4
    assert [r.query["p"] for r in hf.requests] == ["0", "1", "2"]


async def test_pagination_stops_at_max_pages(
    hf: FakeHuggingFace, client: HuggingFaceClient, caplog: pytest.LogCaptureFixture
) -> None:
    hf.add_day(DAY, [small_item(n) for n in range(5)])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        result = await client.daily_papers(DAY, page_size=2, max_pages=2)
    assert len(result.papers) == 4
    assert len(hf.requests) == 2
    assert "there may be more" in caplog.text


async def test_a_server_ignoring_pages_does_not_loop(
    hf: FakeHuggingFace, client: HuggingFaceClient
) -> None:
    page = [small_item(1), small_item(2)]
    hf.fail(200, body=page, times=2)
    result = await client.daily_papers(DAY, page_size=2)
    assert [p.id for p in result.papers] == ["2611.00001", "2611.00002"]
    assert len(hf.requests) == 2


async def test_trending_sort(hf: FakeHuggingFace, client: HuggingFaceClient) -> None:
    hf.add_day(DAY, [small_item(1, upvotes=3), small_item(2, upvotes=40), small_item(3, upvotes=9)])
    result = await client.daily_papers(DAY, sort="trending")
    assert [p.upvotes for p in result.papers] == [40, 9, 3]
    assert hf.requests[0].query["sort"] == "trending"


async def test_empty_day_is_normal(hf: FakeHuggingFace, client: HuggingFaceClient) -> None:
    hf.add_day(date(2026, 11, 19), [small_item(1)])
    assert await client.daily_papers(date(2026, 11, 21)) == FetchResult([], 0)
    assert len(hf.requests) == 1


async def test_no_day_asks_for_the_latest(hf: FakeHuggingFace, client: HuggingFaceClient) -> None:
    hf.add_day(date(2026, 11, 19), [small_item(1)])
    hf.add_day(date(2026, 11, 20), [item_2025()])
    [paper] = (await client.daily_papers()).papers
    assert "date" not in hf.requests[0].query
    assert paper.featured_date == date(2025, 3, 4)  # read from the item, not passed in


async def test_bad_arguments_are_refused_before_asking(
    hf: FakeHuggingFace, client: HuggingFaceClient
) -> None:
    with pytest.raises(ValueError, match="sort"):
        await client.daily_papers(DAY, sort="newest")
    with pytest.raises(ValueError, match="page_size"):
        await client.daily_papers(DAY, page_size=101)
    with pytest.raises(ValueError, match="query"):
        await client.search("  ")
    assert hf.requests == []


async def test_sends_a_user_agent(hf: FakeHuggingFace, sleeps: Sleeps) -> None:
    async with HuggingFaceClient(hf.base_url, user_agent="papers-test/9", sleep=sleeps) as c:
        await c.daily_papers(DAY)
    assert hf.requests[0].headers["user-agent"] == "papers-test/9"


# --- errors and retries -------------------------------------------------------------------------


async def test_invalid_date_is_not_retried(
    hf: FakeHuggingFace, client: HuggingFaceClient, sleeps: Sleeps
) -> None:
    hf.fail(400, body={"error": "Invalid date"}, times=5)
    with pytest.raises(HuggingFaceError) as caught:
        await client.daily_papers(DAY)
    assert str(caught.value) == (
        "Hugging Face rejected GET /api/daily_papers?date=2026-11-20&p=0&limit=100"
        "&sort=publishedAt after 1 attempt: HTTP 400 Bad Request: Invalid date"
    )
    assert (caught.value.status, caught.value.attempts) == (400, 1)
    assert len(hf.requests) == 1
    assert sleeps.waits == []


def test_fake_rejects_an_invalid_date(hf: FakeHuggingFace) -> None:
    with httpx.Client(base_url=hf.base_url) as http:
        response = http.get("/api/daily_papers", params={"date": "2026-13-45"})
    assert response.status_code == 400
    assert "Invalid date" in response.json()["error"]


async def test_rate_limit_honours_retry_after(
    hf: FakeHuggingFace, client: HuggingFaceClient, sleeps: Sleeps
) -> None:
    hf.add_day(DAY, [small_item(1)])
    hf.rate_limit(times=2, retry_after=7)
    result = await client.daily_papers(DAY)
    assert [p.id for p in result.papers] == ["2611.00001"]
    assert len(hf.requests) == 3
    assert sleeps.waits == [7.0, 7.0]


async def test_rate_limit_with_an_http_date(
    hf: FakeHuggingFace, client: HuggingFaceClient, sleeps: Sleeps
) -> None:
    hf.rate_limit(retry_after=email.utils.formatdate(time.time() + 30, usegmt=True))
    await client.daily_papers(DAY)
    [wait] = sleeps.waits
    assert 27 <= wait <= 30  # HTTP-dates have whole seconds


async def test_rate_limit_wait_is_capped(hf: FakeHuggingFace, sleeps: Sleeps) -> None:
    hf.rate_limit(retry_after=3600)
    async with HuggingFaceClient(hf.base_url, max_backoff=20, sleep=sleeps) as c:
        await c.daily_papers(DAY)
    assert sleeps.waits == [20]


async def test_rate_limit_without_retry_after_backs_off(
    hf: FakeHuggingFace, client: HuggingFaceClient, sleeps: Sleeps
) -> None:
    hf.rate_limit(retry_after=None)
    await client.daily_papers(DAY)
    [wait] = sleeps.waits
    assert 0.5 <= wait <= 1.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("5", 5.0),
        ("0", 0.0),
        ("-4", 0.0),
        ("Fri, 20 Nov 2026 10:00:30 GMT", 30.0),
        ("Fri, 20 Nov 2026 09:59:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_retry_after_header(header: str | None, expected: float | None) -> None:
    now = datetime(2026, 11, 20, 10, 0, tzinfo=UTC).timestamp()
    assert retry_after_seconds(header, now=now) == expected


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_then_success_back_off_exponentially(
    hf: FakeHuggingFace,
    client: HuggingFaceClient,
    sleeps: Sleeps,
    caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    hf.add_day(DAY, [small_item(1)])
    hf.server_error(times=2, status=status)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        result = await client.daily_papers(DAY)
    assert len(result.papers) == 1
    assert len(hf.requests) == 3
    first, second = sleeps.waits
    # backoff 0.5 doubling, plus up to 0.5 of jitter
    assert 0.5 <= first <= 1.0
    assert 1.0 <= second <= 1.5
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == 2
    assert f"HTTP {status} " in retries[0]
    assert f"retrying in {first:.2f}s" in retries[0]


async def test_persistent_server_errors_give_up_clearly(
    hf: FakeHuggingFace, client: HuggingFaceClient, sleeps: Sleeps
) -> None:
    hf.server_error(times=10)
    with pytest.raises(HuggingFaceError) as caught:
        await client.daily_papers(DAY)
    assert str(caught.value) == (
        "Hugging Face did not answer GET /api/daily_papers?date=2026-11-20&p=0&limit=100"
        "&sort=publishedAt after 5 attempts: HTTP 503 Service Unavailable"
    )
    assert (caught.value.status, caught.value.attempts) == (503, 5)
    assert len(hf.requests) == 5
    assert len(sleeps.waits) == 4
    assert sleeps.waits == sorted(sleeps.waits)


async def test_slow_answer_times_out_and_is_retried(hf: FakeHuggingFace, sleeps: Sleeps) -> None:
    hf.add_day(DAY, [small_item(1)])
    hf.slow(2.0)
    async with HuggingFaceClient(hf.base_url, timeout=0.2, sleep=sleeps) as c:
        result = await c.daily_papers(DAY)
    assert len(result.papers) == 1
    assert len(hf.requests) == 2


async def test_always_slow_gives_up(hf: FakeHuggingFace, sleeps: Sleeps) -> None:
    hf.slow(2.0, times=3)
    async with HuggingFaceClient(hf.base_url, timeout=0.2, retries=2, sleep=sleeps) as c:
        with pytest.raises(HuggingFaceError, match=r"after 3 attempts: no answer within 0\.2s"):
            await c.daily_papers(DAY)
    assert len(hf.requests) == 3


async def test_connection_refused_is_retried_then_reported(sleeps: Sleeps) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with HuggingFaceClient(f"http://127.0.0.1:{port}", retries=1, sleep=sleeps) as c:
        with pytest.raises(HuggingFaceError, match="after 2 attempts: ConnectError"):
            await c.paper("2401.00001")
    assert len(sleeps.waits) == 1


async def test_a_bad_base_url_is_not_retried(sleeps: Sleeps) -> None:
    async with HuggingFaceClient("ftp://huggingface.example", sleep=sleeps) as c:
        with pytest.raises(HuggingFaceError, match="after 1 attempt: bad base URL"):
            await c.search("diffusion")
    assert sleeps.waits == []


async def test_non_json_body_is_retried_once_then_reported(
    hf: FakeHuggingFace, client: HuggingFaceClient
) -> None:
    hf.not_json(times=5)
    with pytest.raises(
        HuggingFaceError, match=r"after 2 attempts: the answer is not JSON \(text/html"
    ):
        await client.daily_papers(DAY)
    assert len(hf.requests) == 2


async def test_non_json_body_once_then_success(
    hf: FakeHuggingFace, client: HuggingFaceClient
) -> None:
    hf.add_day(DAY, [small_item(1)])
    hf.not_json()
    assert len((await client.daily_papers(DAY)).papers) == 1


async def test_an_object_instead_of_a_list_is_an_error(
    hf: FakeHuggingFace, client: HuggingFaceClient
) -> None:
    hf.fail(200, body={"error": "surprise"})
    with pytest.raises(HuggingFaceError, match="with a JSON dict, not a list"):
        await client.daily_papers(DAY)
    assert len(hf.requests) == 1


# --- search and single papers ---------------------------------------------------------------------


async def test_search(hf: FakeHuggingFace, client: HuggingFaceClient) -> None:
    hf.add_day(DAY, [item_2024(), item_2025(), small_item(1, title="Mixtures elsewhere")])
    result = await client.search("mixture of experts", limit=5)
    assert [p.id for p in result.papers] == ["2503.00002"]
    assert result.papers[0].featured_date == date(2025, 3, 4)
    assert hf.requests[0].path == "/api/papers/search"
    assert hf.requests[0].query == {"q": "mixture of experts", "limit": "5"}


async def test_search_respects_limit(hf: FakeHuggingFace, client: HuggingFaceClient) -> None:
    hf.add_day(DAY, [small_item(n, title=f"Diffusion {n}") for n in range(4)])
    result = await client.search("diffusion", limit=2)
    assert len(result.papers) == 2


async def test_paper_by_id(hf: FakeHuggingFace, client: HuggingFaceClient) -> None:
    bare = copy.deepcopy(item_2025()["paper"])
    hf.add_paper(bare)
    paper = await client.paper("2503.00002")
    assert paper is not None
    assert (paper.title, paper.organization, paper.github_stars) == (
        "Mixture of Experts Route Better",
        "Google",
        1234,
    )
    assert paper.raw == bare
    assert hf.paths() == ["/api/papers/2503.00002"]


async def test_paper_found_in_a_loaded_day(hf: FakeHuggingFace, client: HuggingFaceClient) -> None:
    hf.add_day(DAY, [item_2024()])
    paper = await client.paper("2401.00001")
    assert paper is not None
    assert paper.authors == ["Ada Lovelace", "Alan Turing"]


async def test_missing_list_endpoint_is_an_error_not_empty(
    hf: FakeHuggingFace, client: HuggingFaceClient
) -> None:
    # Only /api/papers/{id} may be missing; a 404 elsewhere means a wrong base URL.
    hf.fail(404, body={"error": "Not Found"}, path="/api/papers/search")
    with pytest.raises(HuggingFaceError, match="HTTP 404 Not Found: Not Found") as caught:
        await client.search("diffusion")
    assert caught.value.status == 404


async def test_unknown_paper_is_none(
    hf: FakeHuggingFace, client: HuggingFaceClient, sleeps: Sleeps
) -> None:
    assert await client.paper("2611.99999") is None
    assert len(hf.requests) == 1
    assert sleeps.waits == []


async def test_paper_id_is_quoted(hf: FakeHuggingFace, client: HuggingFaceClient) -> None:
    assert await client.paper("hep-th/9901001") is None
    assert hf.requests[0].target == "/api/papers/hep-th%2F9901001"


async def test_paper_that_does_not_parse(hf: FakeHuggingFace, client: HuggingFaceClient) -> None:
    hf.fail(200, body={"id": "2611.00010"})
    with pytest.raises(HuggingFaceError, match=r"does not parse: paper 2611\.00010 has no title"):
        await client.paper("2611.00010")


# --- the fake itself (other test modules rely on it) ---------------------------------------------


def test_fake_pages_and_limits(hf: FakeHuggingFace) -> None:
    hf.add_day(DAY, [small_item(n) for n in range(3)])
    with httpx.Client(base_url=hf.base_url) as http:
        page = http.get("/api/daily_papers", params={"date": "2026-11-20", "p": 1, "limit": 2})
        assert [i["paper"]["id"] for i in page.json()] == ["2611.00002"]
        too_many = http.get("/api/daily_papers", params={"date": "2026-11-20", "limit": 101})
        assert too_many.status_code == 400
        missing = http.get("/api/papers/nope")
    assert (missing.status_code, missing.json()) == (404, {"error": "Entry not found"})


def test_fake_loads_saved_files(tmp_path: Path) -> None:
    named = tmp_path / "2026-11-20.json"
    named.write_text(json.dumps([small_item(1)]))
    unnamed = tmp_path / "sample.json"
    unnamed.write_text(json.dumps([item_2024(), item_2025()]))
    with FakeHuggingFace() as server:
        server.load_file(named)
        server.load_file(unnamed)
        with httpx.Client(base_url=server.base_url) as http:
            for day, ids in [
                ("2026-11-20", ["2611.00001"]),
                ("2024-01-02", ["2401.00001"]),
                ("2025-03-04", ["2503.00002"]),
            ]:
                items = http.get("/api/daily_papers", params={"date": day}).json()
                assert [i["paper"]["id"] for i in items] == ids


async def test_fetch_stores_the_days_and_builds_its_client_off_the_event_loop(
    hf: FakeHuggingFace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The client reads the CA bundle for its TLS context when built (tens of ms): on the event
    # loop that would hold up every command a running bot is answering meanwhile.
    built_in: list[threading.Thread] = []
    client_for = fetch.client_for

    def spy(app: App) -> HuggingFaceClient:
        built_in.append(threading.current_thread())
        return client_for(app)

    monkeypatch.setattr(fetch, "client_for", spy)
    hf.add_day(DAY.isoformat(), [item_2024()])
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/fetch.db",
        huggingface={"base_url": hf.base_url, "retries": 0},
    )
    app = App(settings)
    try:
        report = await fetch.fetch_days(app, [DAY])
        assert report.inserted == 1
        paper = app.store.get_paper("2401.00001")
        assert paper is not None and paper.title == "Scaling Laws for Tiny Models"
    finally:
        app.close()
    assert built_in and built_in[0] is not threading.current_thread()
