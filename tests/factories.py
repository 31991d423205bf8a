"""Small synthetic papers for tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.db import DeliveryRow
from bot.ledger import Claim, Ledger
from bot.models import Paper, Target
from bot.store import Store


def paper(
    id: str,
    title: str,
    *,
    summary: str = "",
    day: date = date(2026, 11, 20),
    upvotes: int | None = 0,
    **fields: Any,
) -> Paper:
    return Paper(
        id=id,
        title=title,
        summary=summary or f"We study {title.lower()}. Results are strong.",
        authors=fields.pop("authors", ["Ada Example", "Bo Sample"]),
        published_at=fields.pop("published_at", datetime(2026, 11, 18, tzinfo=UTC)),
        featured_date=day,
        upvotes=upvotes,
        **fields,
    )


def corpus() -> list[Paper]:
    """A dozen papers over three days, a few per topic."""
    d1, d2, d3 = date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20)
    return [
        paper(
            "2611.10001",
            "Sparse Mixture of Experts Routing at Scale",
            day=d3,
            upvotes=88,
            ai_keywords=["mixture of experts", "routing"],
            ai_summary="A router that balances experts without auxiliary losses.",
        ),
        paper(
            "2611.10002",
            "Latent Diffusion Models for Video Editing",
            day=d3,
            upvotes=51,
            ai_keywords=["diffusion", "video"],
        ),
        paper("2611.10003", "Gaussian Splatting for Dynamic Scenes", day=d3, upvotes=40),
        paper(
            "2611.10004",
            "Quantized Language Models on Mobile Phones",
            day=d3,
            upvotes=12,
            summary="We run 4-bit quantized LLMs on-device. Latency drops by half.",
        ),
        paper("2611.10005", "Graph Neural Networks for Molecules", day=d3, upvotes=3),
        paper(
            "2611.10006", "Retrieval-Augmented Generation with Long Contexts", day=d2, upvotes=70
        ),
        paper("2611.10007", "Consistency Distillation for Diffusion Models", day=d2, upvotes=33),
        paper("2611.10008", "Expert Parallelism for MoE Training", day=d2, upvotes=8),
        paper("2611.10009", "Speech Recognition with Self-Supervised Encoders", day=d2, upvotes=5),
        paper("2611.10010", "Continual Learning without Forgetting", day=d1, upvotes=21),
        paper("2611.10011", "Diffusion Policies for Robot Manipulation", day=d1, upvotes=19),
        paper("2611.10012", "A Benchmark for Code Agents", day=d1, upvotes=2),
    ]


def api_item(p: Paper, *, newer: bool = True) -> dict[str, Any]:
    """``p`` as one /api/daily_papers item (newer payloads carry the ai_* fields)."""
    inner: dict[str, Any] = {
        "id": p.id,
        "authors": [
            {"_id": f"{i:024x}", "name": n, "hidden": False} for i, n in enumerate(p.authors)
        ],
        "publishedAt": (p.published_at or datetime(2026, 11, 18, tzinfo=UTC))
        .isoformat()
        .replace("+00:00", "Z"),
        "title": p.title.replace(" ", "\n  ", 1),
        "summary": p.summary.replace(" ", "\n", 2),
        "upvotes": p.upvotes,
        "discussionId": f"{abs(hash(p.id)):024x}"[:24],
    }
    if newer:
        inner.update(
            ai_summary=p.ai_summary,
            ai_keywords=p.ai_keywords,
            githubRepo=p.github_repo,
            submittedOnDailyAt=f"{p.featured_date}T08:00:00.000Z" if p.featured_date else None,
        )
    return {
        "paper": inner,
        "publishedAt": f"{p.featured_date}T08:00:00.000Z" if p.featured_date else None,
        "title": p.title,
        "summary": p.summary,
        "thumbnail": f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/{p.id}.png",
        "numComments": p.num_comments,
        "submittedBy": {"_id": "0" * 24, "name": "example-user", "fullname": "Example User"},
        "isAuthorParticipating": False,
    }


def due_channel(store: Store, name: str, now: datetime, *, minutes_ago: int) -> Target:
    """A channel (following "diffusion models") whose digest was due ``minutes_ago`` minutes
    before ``now``, in Berlin time."""
    target = Target.parse(name)
    local = (now - timedelta(minutes=minutes_ago)).astimezone(ZoneInfo("Europe/Berlin"))
    store.set_schedule(target, time=f"{local:%H:%M}", timezone="Europe/Berlin")
    store.subscribe(target, "diffusion models")
    return target


# A scheduled digest's date and the time it was claimed at.
CLAIM_DAY = date(2026, 11, 20)
CLAIM_NOON = datetime(2026, 11, 20, 12, tzinfo=UTC)


def claimed(store: Store, name: str) -> tuple[Ledger, Claim]:
    """A first attempt at channel ``name``'s digest, claimed in the ledger as the scheduler
    claims one."""
    channel = store.ensure_channel(Target.parse(name))
    assert channel.id is not None
    ledger = Ledger(store, "a", lease_seconds=60)
    claim = ledger.claim(channel.id, CLAIM_DAY, due_at=CLAIM_NOON, now=CLAIM_NOON)
    assert claim is not None
    ledger.save_plan(claim, {})
    return ledger, claim


def retried(ledger: Ledger, claim: Claim) -> Claim:
    """The scheduler's retry of ``claim``, which failed: the same nonce, the next attempt, an
    hour later."""
    ledger.failed(claim, "HTTP 500", permanent=False, now=CLAIM_NOON)
    later = CLAIM_NOON + timedelta(hours=1)
    again = ledger.claim(claim.channel_id, CLAIM_DAY, due_at=CLAIM_NOON, now=later)
    assert again is not None and again.nonce == claim.nonce and again.attempt == 2
    return again


def stored_plan(store: Store, channel_id: int) -> dict[str, Any] | None:
    """The plan in channel ``channel_id``'s delivery row (the channel has one)."""
    with store.session() as s:
        return s.scalars(select(DeliveryRow.plan).where(DeliveryRow.channel_id == channel_id)).one()
