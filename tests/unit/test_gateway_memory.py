"""The hub's allocator settings take effect where the hub runs (Linux with glibc)."""

from __future__ import annotations

import platform

import pytest

from gateway.memory import return_large_blocks_to_the_system


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="the settings are glibc's; elsewhere they are skipped"
)
def test_glibc_accepts_the_hubs_allocator_settings() -> None:
    assert return_large_blocks_to_the_system()
