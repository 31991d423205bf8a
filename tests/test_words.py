from __future__ import annotations

import random

import pytest

from bot.words import MAX_WORD_LENGTH, WORD, distinct_words, fold, split_words

# Letters with and without diacritics (composed and combining), ligatures, superscripts, other
# scripts, ASCII and non-ASCII punctuation and spaces, the underscore.
_ALPHABET = "aZé9_-.,:;'\"\\/ \t\n\u00a0—’“½…ﬁ²ßǅ日本語١٢e\u0301Ωѐ"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("gpt-4 meets arxiv.org/abs/2401.00001",
         ["gpt", "4", "meets", "arxiv", "org", "abs", "2401", "00001"]),
        ("schrödinger’s café—naïve", ["schrodinger", "s", "cafe", "naive"]),
        ("ﬁne-tuning x²", ["fine", "tuning", "x2"]),
        ("snake_case 日本語", ["snake", "case", "日本語"]),
        ("", []),
    ],
)  # fmt: skip
def test_words_are_letters_and_digits_without_diacritics(text: str, words: list[str]) -> None:
    assert split_words(text) == words


def test_the_fast_split_finds_what_the_regular_expression_finds() -> None:
    rng = random.Random(7)
    for _ in range(5000):
        text = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 40))).casefold()
        assert split_words(text) == WORD.findall(fold(text)), text


def test_distinct_words_fold_case_and_leave_out_noise() -> None:
    long = "x" * (MAX_WORD_LENGTH + 1)
    words = distinct_words(["Diffusion MODELS", None, f"diffusion {long} Über", ""])
    assert words == {"diffusion", "models", "uber"}
    assert distinct_words([None, ""]) == set()
