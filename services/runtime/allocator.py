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

log = logging.getLogger(__name__)

# Parameter numbers of malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def set_malloc_options(options: Mapping[int, int], purpose: str) -> bool:
    """Applies every option; False when this is not glibc or it refused one (`purpose` says in
    the warning what then suffers)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False  # not glibc
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    accepted = [bool(mallopt(parameter, value)) for parameter, value in options.items()]
    if not all(accepted):
        log.warning("the C allocator refused settings for %s", purpose)
    return all(accepted)
