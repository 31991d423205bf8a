"""Prometheus metrics: what an operator graphs and alerts on, served at ``/metrics``.

Each ``App`` owns one ``Metrics`` with a registry of its own rather than prometheus-client's
global default: a process runs one App, so nothing is lost, while tests build many Apps in one
interpreter and each sees only its own counts, with no reset to remember.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

# What generate_latest writes (newer prometheus-client releases announce 1.0.0 by default).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Outcomes, as label values.
SENT = "sent"
EMPTY = "empty"  # nothing new: nothing was posted
FAILED = "failed"  # will be retried
GAVE_UP = "gave_up"  # permanent failure (channel gone, bot removed) or too many attempts
OK = "ok"
INVALID = "invalid"  # the user's input was refused with a hint
DENIED = "denied"  # not allowed to change this channel
ERROR = "error"  # a bug or an outage on our side


class Metrics:
    """The bot's metrics, in a registry of their own (plus the process's CPU, memory and GC)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.digests = Counter(
            "papers_bot_digests",
            "Digest deliveries by platform and outcome (sent, empty, failed, gave_up).",
            ["platform", "outcome"],
            registry=r,
        )
        self.delivery_seconds = Histogram(
            "papers_bot_delivery_seconds",
            "Time to post one digest to its platform, retries included.",
            ["platform"],
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=r,
        )
        self.commands = Counter(
            "papers_bot_commands",
            "/papers commands handled, by command and outcome (ok, invalid, denied, error).",
            ["command", "outcome"],
            registry=r,
        )
        self.command_seconds = Histogram(
            "papers_bot_command_seconds",
            "Time to answer a /papers command (the core's work, not the platform's).",
            ["command"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.fetch_errors = Counter(
            "papers_bot_fetch_errors",
            "Scheduled fetches from Hugging Face that failed (commands and digests carry on).",
            registry=r,
        )
        self.last_fetch = Gauge(
            "papers_bot_last_fetch_success_timestamp_seconds",
            "When a scheduled fetch from Hugging Face last succeeded (Unix time).",
            registry=r,
        )

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)
