"""glibc's malloc options for one process (mallopt(3)).

Which options a process wants depends on what it allocates (a hub holding thousands of small
long-lived streams, a calculation service copying multi-megabyte answers), so each process keeps
its own policy and reasons; this module only applies one. Elsewhere than glibc nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

# Parameter numbers of malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def _glibc_function(name: str) -> Any:
    """A function of glibc's malloc, or None elsewhere than glibc."""
    library = ctypes.util.find_library("c")
    if library is None:
        return None
    try:
        return getattr(ctypes.CDLL(library), name)
    except (OSError, AttributeError):
        return None  # not glibc


def set_malloc_options(options: Mapping[int, int], purpose: str) -> bool:
    """Applies every option; False when this is not glibc or it refused one (`purpose` says in
    the warning what then suffers)."""
    mallopt = _glibc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    accepted = [bool(mallopt(parameter, value)) for parameter, value in options.items()]
    if not all(accepted):
        log.warning("the C allocator refused settings for %s", purpose)
    return all(accepted)


_malloc_trim = _glibc_function("malloc_trim")
if _malloc_trim is not None:
    _malloc_trim.argtypes = (ctypes.c_size_t,)
    _malloc_trim.restype = ctypes.c_int


def trim_heap() -> bool:
    """Hands the heap's free pages back to the system (malloc_trim(3)); False elsewhere than
    glibc, which by itself gives back only free memory at the top of the heap."""
    if _malloc_trim is None:
        return False
    _malloc_trim(0)
    return True
