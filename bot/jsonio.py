"""JSON in and out: orjson where it can (several times faster at ingest), the standard library
where orjson is stricter than the data (NaN, integers over 64 bits), so no payload is refused
that the standard library would read."""

from __future__ import annotations

import json
from typing import Any

import orjson

from bot.models import SURROGATE


def loads(data: bytes | str) -> Any:
    """Parse JSON; raises `json.JSONDecodeError` (with line and column) when it is not JSON.
    A lone UTF-16 surrogate escape (``"\\ud83d"``, half an emoji) becomes U+FFFD: no
    database or UTF-8 encoder takes one, and orjson refuses the whole document for it."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return _without_surrogates(json.loads(data))


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    return value


def dumps(value: Any) -> str:
    """Serialise ``value`` as compact JSON text (UTF-8 characters kept as they are)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
