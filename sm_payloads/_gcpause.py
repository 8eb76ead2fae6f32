"""Python's cyclic garbage collector, paused while a decoder builds many objects.

A decoder that parses a JSON document (orjson makes a ``dict`` or a ``list`` per JSON
object or array) and then builds columns from it makes millions of container objects in
one call. CPython's collector counts them, and every so many it walks every container
alive, the parsed document included: on a 6 MiB body of small records, half of the time of
the general JSON path went to those walks, and they find nothing, since a freshly parsed
document and the columns built from it hold no reference cycles. So the decoders that build
such objects run with the collector's automatic collections paused, and they start again
when the decoders end.

The pause sets the collector's first threshold to 0 (``gc.set_threshold``: no automatic
collection), not its switch (``gc.disable``): the switch stays the caller's, so a thread that
turns the collector off or on while a decode runs in another thread finds it as it left it
(a pause by the switch turned it back on at its end). The threshold is process-wide too.
Calls that overlap, in several threads, share one pause: the first to start keeps the
threshold and sets 0, the last to end puts the threshold back, unless it is no longer 0 (a
caller set its own meanwhile, which stays). Objects are still freed as usual (by their
reference counts); only cycles made elsewhere in the process during a decode wait for the
next collection (``gc.collect`` still collects at once). Small bodies are not worth a pause
and run as they are.
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
_threshold = 0  # the first threshold before the pause


@contextlib.contextmanager
def paused(nbytes: int = PAUSE_FROM) -> Iterator[None]:
    """No automatic collection during the ``with`` block if `nbytes` (the size of the body
    being decoded) is at least `PAUSE_FROM`; the collector's first threshold back when the
    last overlapping block ends (the switch of ``gc.enable`` and ``gc.disable`` untouched)."""
    global _depth, _threshold
    if nbytes < PAUSE_FROM:
        yield
        return
    with _lock:
        if _depth == 0:
            _threshold = gc.get_threshold()[0]
            gc.set_threshold(0)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and gc.get_threshold()[0] == 0:
                gc.set_threshold(_threshold)
