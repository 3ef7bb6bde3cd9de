"""Keeping large answers off fresh pages.

A cached dashboard is megabytes of bytes, built into a response and copied by gRPC on every
call. glibc serves allocations that large with mmap and returns them to the system when freed,
so each response touched a few thousand fresh pages, each a page fault: about a millisecond and a
half per copy of a 2.5 MB dashboard, more than finding it in the cache. Serving them from the
heap and keeping freed heap memory for the next response makes the copies plain memcpy.
"""

from __future__ import annotations

from services.runtime.allocator import M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, set_malloc_options

# Allocations below this come from the heap (a dashboard answer is a few megabytes).
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
# Free memory at the top of the heap kept for reuse rather than returned to the system.
TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024


def keep_large_allocations_on_the_heap() -> bool:
    """Tunes glibc's allocator for this process; False (and nothing changed) elsewhere."""
    return set_malloc_options(
        {M_MMAP_THRESHOLD: MMAP_THRESHOLD_BYTES, M_TRIM_THRESHOLD: TRIM_THRESHOLD_BYTES},
        "large answers (copies of cached dashboards may fault in fresh pages)",
    )
