"""Words as search sees them: letters and digits, everything else a separator, lower-cased and
without diacritics. Shared by the search (queries, candidates' texts) and the store (the words
each paper adds to the vocabulary)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Longer "words" are noise (hashes, run-together URLs): never searched, never indexed as words.
MAX_WORD_LENGTH = 40

WORD = re.compile(r"[^\W_]+")
# ASCII bytes that are not letters or digits as spaces, every other byte as it is.
_ASCII_SEPARATORS = bytes(b if b >= 128 or chr(b).isalnum() else 32 for b in range(256))


def fold(word: str) -> str:
    """A word as the indexes compare it: without diacritics."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def split_words(text: str) -> list[str]:
    """The words of ``text`` (already lower-cased), in order, diacritics removed: what
    ``WORD.findall(fold(text))`` finds, several times faster. The text is cut at ASCII
    separators by a byte table first (UTF-8 sequences pass untouched); only the few pieces
    with other characters go through folding and the regular expression."""
    pieces = text.encode().translate(_ASCII_SEPARATORS).decode().split()
    if text.isascii():
        return pieces
    words: list[str] = []
    for piece in pieces:
        if piece.isascii():
            words.append(piece)
        else:
            words.extend(WORD.findall(fold(piece)))
    return words


def distinct_words(texts: Iterable[str | None]) -> set[str]:
    """The distinct searchable words of ``texts`` together. Lower-cased, not case-folded: both
    indexes keep ß and ς, which case folding would turn into "ss" and "σ"."""
    words = split_words(" ".join(t for t in texts if t).lower())
    return {w for w in words if len(w) <= MAX_WORD_LENGTH}


def text_key(text: str) -> str:
    """``text`` as its words alone, lower-cased and space separated: a title and the same title
    typed with other case, punctuation, spacing or accents have the same key."""
    return " ".join(split_words(unicodedata.normalize("NFKC", text).lower()))
