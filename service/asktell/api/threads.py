"""The thread pool that runs blocking database work for async endpoints."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["run_blocking"]

T = TypeVar("T")

# asyncio's executor hand-off is about half the CPU of anyio's `to_thread` (its
# capacity limiter and cancellation scopes), which shows on the ask and tell paths.
# Few threads: each statement holds a thread for a fraction of a millisecond, and
# more threads only fight over the GIL (16 PostgreSQL clients: 296 trials/s with
# 32 threads, 443 with 4, 420 with 8, 347 with 2).
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="asktell-db")


async def run_blocking(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run `fn(*args, **kwargs)` on the pool and await its result."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_POOL, functools.partial(fn, *args, **kwargs))
