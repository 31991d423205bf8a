"""Figures, their targets and baselines, and the table and JSON they end up in."""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def load() -> tuple[float, float, float]:
    """The machine's load average (1, 5, 15 minutes), rounded."""
    one, five, fifteen = os.getloadavg()
    return round(one, 2), round(five, 2), round(fifteen, 2)


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Figure:
    """One measured figure, beside its baseline measured in the same run.

    ``better`` says which way is good ("lower" for times and memory, "higher" for rates);
    ``target`` is the bound the issue sets (None when the row is informational)."""

    section: str
    what: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_what: str = ""
    target: float | None = None
    better: str = "lower"
    note: str = ""
    load: tuple[float, float, float] = field(default_factory=load)

    @property
    def met(self) -> bool | None:
        if self.target is None or math.isnan(self.value):
            return None
        return self.value <= self.target if self.better == "lower" else self.value >= self.target


def _num(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if math.isnan(value):
        return "n/a"
    if unit == "s" or (unit == "ms" and value < 10):
        return f"{value:.2f} {unit}"
    if unit in ("×",):
        return f"{value:.2f}{unit}"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.1f} {unit}"


def table(figures: Sequence[Figure]) -> str:
    """The figures as a plain-text table (also valid Markdown)."""
    rows = [("what", "measured", "baseline (same run)", "target", "", "load 1m")]
    for f in figures:
        target = "—"
        if f.target is not None:
            target = ("≤ " if f.better == "lower" else "≥ ") + _num(f.target, f.unit)
        mark = {True: "met", False: "MISSED", None: ""}[f.met]
        base = _num(f.baseline, f.unit) + (f" ({f.baseline_what})" if f.baseline_what else "")
        if f.baseline is None and f.baseline_what:
            base = f.baseline_what
        rows.append((f.what, _num(f.value, f.unit), base, target, mark, f"{f.load[0]:.2f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, r in enumerate(rows):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
        if k == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def write_json(path: Path, figures: Sequence[Figure], meta: dict[str, Any]) -> None:
    doc = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **meta,
        "figures": [
            {**asdict(f), "met": f.met, "value": _finite(f.value), "baseline": _finite(f.baseline)}
            for f in figures
        ],
    }
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 4)


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``."""

    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started
