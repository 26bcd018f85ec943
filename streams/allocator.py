"""glibc malloc settings for the worker process: fewer arenas, big blocks mapped apart.

Python objects live in CPython's own pools, but everything larger than 512 bytes (dict and
list tables of many entries, fetched record batches, the bytes of state records and Redis
commands) comes from glibc's malloc. Measured in a worker holding 1,000 queues over a day,
glibc held 136 MB of which 39 MB were in use: each thread that allocates (the consumer thread,
every /metrics request) gets an arena of its own that keeps what it freed, and the threshold
above which blocks are mapped apart rises with every big block freed, so big transient
blocks end up in the heap, which cannot shrink under the live ones. One arena, and a fixed
mapping threshold, give that memory back (docs/performance.md, "Memory").

Settings the operator gives through glibc's own environment variables (`MALLOC_ARENA_MAX`,
`MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`) are left as they are. Elsewhere than
glibc (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from typing import Final

log = logging.getLogger("ccpulse.worker")

#: mallopt() parameters (malloc.h).
M_TRIM_THRESHOLD: Final = -1
M_MMAP_THRESHOLD: Final = -3
M_ARENA_MAX: Final = -8
#: (parameter, value, the environment variable that sets it instead).
SETTINGS: Final = (
    (M_ARENA_MAX, 1, "MALLOC_ARENA_MAX"),
    (M_MMAP_THRESHOLD, 128 * 1024, "MALLOC_MMAP_THRESHOLD_"),
    (M_TRIM_THRESHOLD, 1024 * 1024, "MALLOC_TRIM_THRESHOLD_"),
)


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018  (glibc only: musl has no such symbol)
    except (OSError, AttributeError):
        return None
    return libc


def tune_allocator() -> list[str]:
    """Apply `SETTINGS` with mallopt(); returns what was set. Call it first thing in the
    process, before any thread starts: an arena limit binds only arenas not yet created."""
    libc = _libc()
    if libc is None:
        return []
    done = []
    for param, value, env in SETTINGS:
        if env in os.environ:
            continue
        if libc.mallopt(ctypes.c_int(param), ctypes.c_int(value)) == 1:
            done.append(f"{env.rstrip('_').lower()}={value}")
        else:
            log.debug("mallopt(%d, %d) refused", param, value)
    return done
