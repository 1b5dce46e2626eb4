"""CPU work on every core, in cache-sized pieces: the thread pool and the row bands that the
full-resolution pipeline, the colour mappings on arrays and the app's preview share.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cache

BAND_PIXELS = 1 << 16  # pixels per step of a pass chain: its temporaries stay in the cache


@cache
def worker_threads() -> ThreadPoolExecutor:
    """Threads for CPU work that numpy and OpenCV do without holding the GIL: one per core, kept."""
    return ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="pipeline")


if hasattr(os, "register_at_fork"):  # a forked child has none of its parent's threads: new ones
    os.register_at_fork(after_in_child=worker_threads.cache_clear)


def row_bands(height: int, width: int) -> Iterator[slice]:
    """Consecutive row ranges of about ``BAND_PIXELS`` pixels covering ``height`` rows."""
    rows = max(1, BAND_PIXELS // max(width, 1))
    return (slice(top, min(top + rows, height)) for top in range(0, height, rows))
