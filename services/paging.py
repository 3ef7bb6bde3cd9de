"""Offset paging behind an opaque token, for list RPCs over small, ordered collections."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from services.errors import InvalidArgument

T = TypeVar("T")

MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_page_token: str
    total_size: int


def _encode(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode(token: str) -> int:
    try:
        kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        offset = int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        offset = -1
        kind = ""
    if kind != "offset" or offset < 0:
        raise InvalidArgument.for_field(
            "page.page_token", "is not a token this service issued; start again without one"
        )
    return offset


def paginate(items: Sequence[T], page_size: int, page_token: str) -> Page[T]:
    """A page of `items`. A page size of 0 means everything (capped at MAX_PAGE_SIZE)."""
    if page_size < 0:
        raise InvalidArgument.for_field("page.page_size", "must not be negative")
    size = MAX_PAGE_SIZE if page_size == 0 else min(page_size, MAX_PAGE_SIZE)
    offset = _decode(page_token) if page_token else 0
    window = items[offset : offset + size]
    more = offset + size < len(items)
    return Page(window, _encode(offset + size) if more else "", len(items))
