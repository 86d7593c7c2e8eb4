"""One thread pool for per-frame work that releases the GIL (scipy filters, PIL resizes, numpy)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import torch


@lru_cache(maxsize=1)
def frame_pool() -> ThreadPoolExecutor:
    """A pool with one worker per torch thread, created on first use and shared by every metric."""
    return ThreadPoolExecutor(max_workers=torch.get_num_threads(), thread_name_prefix="a2bench-frames")
