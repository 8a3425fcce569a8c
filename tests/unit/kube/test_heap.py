"""Releasing the C heap's free memory after a list (glibc's malloc_trim)."""

from __future__ import annotations

import platform

import pytest
from lbc.kube import heap


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_freed_heap_memory_is_handed_back_to_the_os() -> None:
    # Objects over pymalloc's 512 bytes come from the C heap; freed, glibc keeps their pages.
    held = [bytes(2000) + bytes([i % 256]) for i in range(20_000)]
    del held
    assert heap.release_free_memory() is True
