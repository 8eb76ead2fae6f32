"""Python's cyclic garbage collector, paused while a decoder builds many objects.

A decoder that parses a JSON document (orjson makes a ``dict`` or a ``list`` per JSON
object or array) and then builds columns from it makes millions of container objects in
one call. CPython's collector counts them, and every so many it walks every container
alive, the parsed document included: on a 6 MiB body of small records, half of the time of
the general JSON path went to those walks, and they find nothing, since a freshly parsed
document and the columns built from it hold no reference cycles. So the decoders that build
such objects run with the collector paused, as `gc.disable` does, and it is back on when
they end.

The pause is process-wide (the collector has one switch). Calls that overlap, in several
threads, share one pause: the first to start turns the collector off, if it was on, and the
last to end turns it back on. Objects are still freed as usual (by their reference
counts); only cycles made elsewhere in the process during a decode wait for the next
collection. Small bodies are not worth a pause and run as they are.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["PAUSE_FROM", "paused"]

#: Bodies of at least this many bytes are decoded with the collector paused.
PAUSE_FROM = 1 << 16

_lock = threading.Lock()
_depth = 0
_resume = False


@contextlib.contextmanager
def paused(nbytes: int = PAUSE_FROM) -> Iterator[None]:
    """The collector off for the ``with`` block if `nbytes` (the size of the body being
    decoded) is at least `PAUSE_FROM`; back on when the last overlapping block ends, if it
    was on when the first began."""
    global _depth, _resume
    if nbytes < PAUSE_FROM:
        yield
        return
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                gc.enable()
