"""JSON in and out: orjson where it can (several times faster at ingest), the standard library
where orjson is stricter than the data (NaN, integers over 64 bits), so no payload is refused
that the standard library would read."""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(data: bytes | str) -> Any:
    """Parse JSON; raises `json.JSONDecodeError` (with line and column) when it is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def dumps(value: Any) -> str:
    """Serialise ``value`` as compact JSON text (UTF-8 characters kept as they are)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
