"""A reader for the repository's `.env`, the one place every port and address is written down.

It understands the subset Docker Compose does for this file: `KEY=value` lines, comments, optional
quotes, and `${KEY}` references to keys defined earlier in the file.
"""

from __future__ import annotations

import re
from pathlib import Path

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def parse(text: str) -> dict[str, str]:
    """Parse `.env` text into a dict, expanding `${KEY}` from earlier lines."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        if not sep or not key:
            raise ValueError(f".env line {number}: expected KEY=value, got {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = _expand(value, values, number)
    return values


def _expand(value: str, defined: dict[str, str], number: int) -> str:
    def lookup(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in defined:
            raise ValueError(f".env line {number}: ${{{key}}} is not defined above it")
        return defined[key]

    return _REFERENCE.sub(lookup, value)


def load(path: Path) -> dict[str, str]:
    """Read and parse a `.env` file."""
    return parse(path.read_text(encoding="utf-8"))
