"""The hub's allocator settings take effect where the hub runs (Linux with glibc), and its garbage
collector settings anywhere."""

from __future__ import annotations

import gc
import platform

import pytest

from gateway.memory import give_back_free_heap, return_large_blocks_to_the_system
from services.runtime.garbage import collect_cycles_less_often


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="the settings are glibc's; elsewhere they are skipped"
)
def test_glibc_accepts_the_hubs_allocator_settings() -> None:
    assert return_large_blocks_to_the_system()


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's; elsewhere it is skipped"
)
def test_glibc_takes_back_the_free_heap() -> None:
    assert give_back_free_heap()


def test_the_hub_collects_cycles_less_often_and_freezes_what_exists_at_start() -> None:
    before = gc.get_threshold()
    try:
        collect_cycles_less_often(12_345)
        assert gc.get_threshold()[0] == 12_345
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
