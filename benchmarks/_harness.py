"""What every benchmark script shares: the contender record, the interleaved timing loop and
number formatting. Each script keeps its own result rows and tables."""

from __future__ import annotations

import dataclasses
import gc
import timeit
from collections.abc import Callable
from typing import Any

MB = 1e6


@dataclasses.dataclass
class Contender:
    """One thing to time: `func()` processes `rows` records and `nbytes` payload bytes."""

    name: str
    func: Callable[[], Any]
    rows: int
    nbytes: int
    role: str  # "ours", "sdk", "memcpy", "baseline" or "extra"
    note: str = ""


def time_contenders(
    contenders: list[Contender], repeat: int, quick: bool, *, gc_on: bool = False, shrink: int = 1
) -> list[tuple[float, int]]:
    """(best seconds per call, calls per timed run) for each contender.

    Loop sizes come from `timeit`'s autorange (at least 0.2 s per timed run, divided by
    `shrink` for slow contenders; one call with `quick`), which is also the warm-up. The
    runs are interleaved round-robin so that a slow spell of a noisy machine hits all
    contenders alike. `timeit` turns the garbage collector off unless `gc_on`.
    """
    setup = "gc.enable()" if gc_on else "pass"
    timers = [timeit.Timer(c.func, setup=setup, globals={"gc": gc}) for c in contenders]
    numbers = [1 if quick else max(1, t.autorange()[0] // shrink) for t in timers]
    best = [float("inf")] * len(contenders)
    for _ in range(repeat):
        for i, (t, number) in enumerate(zip(timers, numbers, strict=True)):
            best[i] = min(best[i], t.timeit(number) / number)
    return list(zip(best, numbers, strict=True))


def fmt_time(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} µs"


def fmt_rate(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 100:
        return f"{x:.0f}x"
    if x >= 10:
        return f"{x:.1f}x"
    if x >= 0.1:
        return f"{x:.2f}x"
    return f"{x:.2g}x"


def patched(module: Any, func: Callable[[], Any], **attrs: Any) -> Callable[[], Any]:
    """`func` run with attributes of `module` set to `attrs`, restored afterwards (for
    example the same code with the C extension switched off: ``_C=None``)."""

    def run() -> Any:
        saved = {k: getattr(module, k) for k in attrs}
        for k, v in attrs.items():
            setattr(module, k, v)
        try:
            return func()
        finally:
            for k, v in saved.items():
                setattr(module, k, v)

    return run
