"""Durations and sizes as users write them in options and YAML: ``150ms``, ``2m``, ``1h30m``,
``500MB``, ``1GiB``. One parser for each, used by every setting that takes one."""

from __future__ import annotations

import re
from typing import Any

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_PART = r"([0-9]*\.?[0-9]+)\s*(ms|min|s|m|h|d)"
_DURATION = re.compile(rf"(-?)\s*(?:([0-9]*\.?[0-9]+)|((?:{_PART}\s*)+))")
_SIZES = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_seconds(text: str) -> float:
    """Seconds in ``text``: a number (seconds), or numbers with units ``ms``, ``s``, ``m`` (or
    ``min``), ``h``, ``d``, several in a row (``1m30s``); case and spaces do not matter.

    A leading ``-`` is kept, for the setting to refuse with its own bound.

    Raises
    ------
    ValueError
        Naming the text as given.

    Examples
    --------
    >>> parse_seconds("150ms"), parse_seconds("2"), parse_seconds("1m30s"), parse_seconds("12h")
    (0.15, 2.0, 90.0, 43200.0)
    """
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"expected a duration such as 150ms, 0.5s, 2m or 1h30m, got {text!r}")
    sign = -1.0 if match.group(1) else 1.0
    if match.group(2) is not None:
        return sign * float(match.group(2))
    return sign * sum(float(n) * _UNITS[u] for n, u in re.findall(_PART, match.group(3)))


def duration(value: Any) -> Any:
    """:func:`parse_seconds` of a string; anything else unchanged (a pydantic "before" validator)."""
    return parse_seconds(value) if isinstance(value, str) else value


def parse_size(value: Any) -> Any:
    """``"500MB"``, ``"2GB"``, ``"1GiB"`` or a number (bytes) -> bytes (int); anything else
    unchanged (a pydantic "before" validator)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, str):
        return value
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-z]*)\s*", value.lower())
    if match is None or match.group(2) not in _SIZES:
        raise ValueError(f"expected a size such as 500MB, 2GB or 1GiB, got {value!r}")
    return int(float(match.group(1)) * _SIZES[match.group(2)])
