"""Large answers are served from reused heap memory where the C library lets us say so (glibc),
not from fresh pages each time."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROUNDS, IN_FLIGHT, MEGABYTES = 20, 3, 3

# A few multi-megabyte responses built, sent and dropped, round after round, in a fresh process
# (the allocator's settings are process-wide); prints the page faults it took.
_PROGRAM = textwrap.dedent(
    f"""
    import resource, sys
    from services.calculation.allocator import keep_large_allocations_on_the_heap
    print(keep_large_allocations_on_the_heap())
    part = b"x" * ({MEGABYTES} * 1024 * 1024)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range({ROUNDS}):
        answers = [b"".join((b"head", part)) for _ in range({IN_FLIGHT})]
        del answers
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="tunes glibc's allocator")
def test_large_answers_reuse_heap_memory_instead_of_fresh_pages() -> None:
    run = subprocess.run(
        [sys.executable, "-c", _PROGRAM],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    tuned, faults = run.stdout.split()
    assert tuned == "True"
    pages_if_every_answer_were_fresh = ROUNDS * IN_FLIGHT * MEGABYTES * 1024 * 1024 // 4096
    # Only the first round's answers touch new pages.
    assert int(faults) < pages_if_every_answer_were_fresh // 4
