"""bench.eval_scale: the judgments it builds, and a small run end to end (CI runs no other
part of it, so this keeps it working)."""

from __future__ import annotations

import json

import pytest

from bench.eval_scale import grade, judgments, main


def test_a_paper_is_relevant_when_about_what_was_asked() -> None:
    one = frozenset({"diffusion models"})
    assert grade(("diffusion models", "diffusion models"), one) == 2
    assert grade(("mixture of experts", "diffusion models"), one) == 1  # its second topic
    assert grade(("mixture of experts", "quantization"), one) == 0
    two = frozenset({"diffusion models", "quantization"})
    assert grade(("quantization", "diffusion models"), two) == 2
    assert grade(("diffusion models", "diffusion models"), two) == 1
    assert grade(("mixture of experts", "speech recognition"), two) == 0
    abouts = [("diffusion models", "quantization"), ("quantization", "quantization")]
    assert judgments(["a", "b"], abouts, two) == {"a": 2, "b": 1}


def test_a_small_run_judges_both_systems(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--papers", "1500", "--topics", "30", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["queries"] == 30 and summary["papers"] == 1500
    ours, bm25 = summary["systems"]["ours"], summary["systems"]["bm25"]
    for figures in (ours, bm25):
        assert 0.0 <= figures["ndcg@5 all"] <= 1.0
    # Our search finds what was asked far better than chance on its own benchmark topics.
    assert ours["ndcg@5 one topic"] > 0.8
    assert ours["answered nothing"] == 0
