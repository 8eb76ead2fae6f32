"""Run one fuzz target under atheris (libFuzzer) and check the invariant on every input.

    python -m fuzz.harness TARGET --crash-dir DIR [libFuzzer flags and corpus dirs]

The invariant, per input:

* it ends in a result or one of our typed errors (`sm_payloads.PayloadError`); any other
  exception (``IndexError``, ``RecursionError``, ``MemoryError``, an ``AssertionError`` from
  a target's own consistency check...) is a finding of kind ``exception``;
* CPU time stays under ``TIME_BASE + TIME_PER_BYTE * len(input)`` (best of three runs, so
  a busy machine does not flake): otherwise a finding of kind ``slow``;
* the peak of memory traced by ``tracemalloc`` (numpy's buffers included) stays under
  ``MEM_BASE + MEM_PER_BYTE * len(input)``: otherwise ``memory`` (an allocation driven by a
  length or shape field rather than by the bytes present); measured on every
  ``SAMPLE_MEMORY_EVERY``-th input, since tracing slows every allocation;
* on every ``SCALE_EVERY``-th input, the body repeated ``SCALE`` times (more records of the
  line and RecordIO formats) takes at most ``SCALE_BASE + SCALE_SLACK * SCALE`` times as
  long: otherwise ``superlinear`` (a quadratic loop over records); that repeated body must
  also stay within the memory bound above (``memory``: an object per record or field, which
  a small input hides under ``MEM_BASE``) and, where the target has a fast-path input
  (`fuzz.targets.Target.fast`, timed once at start), take at most ``SCALE_BASE +
  TIME_FACTOR`` times that input's CPU time per byte (``slow-per-byte``: a shape that leaves
  the fast paths for a per-value crawl, like 60,000 one-value sparse records).

A time or memory finding counts only when a fresh interpreter without the coverage
instrumentation measures it too (`plain_confirm`; the instrumentation slows Python code
several-fold, not C, and its comparison hooks allocate), and its report gives the numbers
measured there.

Findings do not stop the run: each distinct one (kind, exception type, innermost frame of
the package) is written once to the crash directory as ``<target>-<kind>-<sig>.bin`` (the
smallest input seen, shrunk by `minimize`) with a ``.txt`` beside it, and, when
``SMP_FUZZ_FINDINGS`` names a file, appended there as a reproducer. Hangs beyond libFuzzer's
``-timeout`` end the process with libFuzzer's own ``timeout-*`` artifact.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
import time
import traceback
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy  # noqa: F401  (imported before instrumentation: only our package is instrumented)
import scipy.sparse  # noqa: F401

TIME_BASE = 0.5  # seconds of CPU
TIME_PER_BYTE = 50e-6
#: The decoders' memory bound (docs/reliability.md): peak traced bytes within 32 x the input
#: plus 8 MiB, numpy's buffers included.
MEM_BASE = 8 << 20
MEM_PER_BYTE = 32
#: A scaled input's CPU time per byte, at most this many times the target's fast-path input's
#: (measured under the same instrumentation; the decoders' own bound is 10x the fastest
#: input of the format, and the coverage instrumentation slows Python code, not C, so the
#: factor here leaves room for that).
TIME_FACTOR = float(os.environ.get("SMP_FUZZ_TIME_FACTOR", "40"))
#: Every n-th input is also run with its body repeated SCALE times (0: never), and must
#: take at most SCALE_BASE + SCALE_SLACK * SCALE times as long.
SCALE_EVERY = int(os.environ.get("SMP_FUZZ_SCALE_EVERY", "512"))
SCALE = 64
SCALE_BASE = 0.02
SCALE_SLACK = 8
#: Measure memory on every n-th input (tracemalloc costs time; 0: never, 1: every input).
SAMPLE_MEMORY_EVERY = int(os.environ.get("SMP_FUZZ_MEM_EVERY", "16"))


@dataclass
class Outcome:
    kind: str  # "ok", "exception", "slow", "memory", "superlinear", "slow-per-byte"
    detail: str = ""
    signature: str = ""
    seconds: float = 0.0
    peak: int = 0


def _signature(kind: str, exc: BaseException | None) -> str:
    if exc is None:
        return kind
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [
        f
        for f in frames
        if "sm_payloads" in f.filename or ("/fuzz/" in f.filename and not f.filename.endswith("harness.py"))
    ]
    where = ours[-1] if ours else (frames[-1] if frames else None)
    loc = f"{Path(where.filename).name}:{where.lineno}" if where is not None else "?"
    return f"{kind}:{type(exc).__name__}:{loc}"


def check(run: Callable[[bytes], None], data: bytes, *, measure_memory: bool = True) -> Outcome:
    """Run one input and classify it (no side effects). With `measure_memory` the input
    runs under tracemalloc (started for it alone: tracing slows every allocation)."""
    from sm_payloads import PayloadError

    started = False
    base = 0
    if measure_memory:
        if tracemalloc.is_tracing():
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
        else:
            tracemalloc.start(1)
            started = True
    t0 = time.process_time()
    exc: BaseException | None = None
    try:
        run(data)
    except PayloadError:
        pass
    except Exception as e:  # every other exception is a finding
        exc = e
    seconds = time.process_time() - t0
    peak = tracemalloc.get_traced_memory()[1] - base if measure_memory else 0
    if started:
        tracemalloc.stop()
    if exc is not None:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return Outcome("exception", tb, _signature("exception", exc), seconds, peak)
    if seconds > TIME_BASE + TIME_PER_BYTE * len(data):
        return Outcome("slow", f"{seconds:.3f} s CPU for {len(data)} bytes", "slow", seconds, peak)
    if measure_memory and peak > MEM_BASE + MEM_PER_BYTE * len(data):
        return Outcome("memory", f"peak {peak} bytes traced for {len(data)} bytes", "memory", seconds, peak)
    return Outcome("ok", seconds=seconds, peak=peak)


def repeat_body(data: bytes, times: int = SCALE) -> bytes:
    """The selector byte, then the body `times` over (more records of a line or RecordIO
    format; a longer, usually invalid, document of the others)."""
    return data[:1] + data[1:] * times


def _cpu(run: Callable[[bytes], None], data: bytes) -> float:
    from sm_payloads import PayloadError

    t0 = time.process_time()
    with contextlib.suppress(PayloadError):
        run(data)
    return time.process_time() - t0


def fast_rate(run: Callable[[bytes], None], data: bytes) -> float:
    """CPU seconds per byte of `data` (a target's fast-path input), best of three."""
    return min(_cpu(run, data) for _ in range(3)) / max(1, len(data))


def scaling(run: Callable[[bytes], None], data: bytes, rate: float | None = None) -> Outcome:
    """Time the input and its body repeated `SCALE` times: linear code takes about `SCALE`
    times as long; a finding (kind ``superlinear``) when the long one takes more than
    ``SCALE_BASE + SCALE_SLACK * SCALE`` times the short one's best of three, also at its
    own best of three. An exception on the long input is an ``exception`` finding. The long
    input's peak memory must stay within the memory bound (kind ``memory``), and with a
    fast-path `rate` (CPU seconds per byte, `fast_rate`) its CPU time within
    ``SCALE_BASE + TIME_FACTOR * rate * len(long input)`` (kind ``slow-per-byte``)."""
    if len(data) < 2:
        return Outcome("ok")
    big = repeat_body(data)
    first = check(run, big, measure_memory=False)
    if first.kind == "exception":
        return first
    short = min(_cpu(run, data) for _ in range(3))
    bound = SCALE_BASE + SCALE_SLACK * SCALE * short
    per_byte = SCALE_BASE + TIME_FACTOR * rate * len(big) if rate is not None else float("inf")
    if first.seconds > min(bound, per_byte):
        long = min([first.seconds, *(_cpu(run, big) for _ in range(2))])
        if long > bound:
            return Outcome(
                "superlinear",
                f"{len(data)} bytes: {short * 1e3:.3f} ms CPU; body x{SCALE} ({len(big)} bytes): "
                f"{long * 1e3:.1f} ms (linear would be about {SCALE * short * 1e3:.1f} ms); "
                f"reproduce with fuzz.harness.repeat_body(input)",
                "superlinear",
                long,
            )
        if long > per_byte:
            assert rate is not None
            return Outcome(
                "slow-per-byte",
                f"body x{SCALE} ({len(big)} bytes): {long * 1e3:.1f} ms CPU, "
                f"{long / len(big) * 1e9:.1f} ns per byte against the fast path's "
                f"{rate * 1e9:.2f} (at most {TIME_FACTOR:g}x); "
                "reproduce with fuzz.harness.repeat_body(input)",
                "slow-per-byte",
                long,
            )
    mem = check(run, big, measure_memory=True)
    if mem.kind == "memory":
        return Outcome(
            "memory",
            f"body x{SCALE} ({len(big)} bytes): {mem.detail}; reproduce with fuzz.harness.repeat_body(input)",
            "memory-scaled",
            mem.seconds,
            mem.peak,
        )
    return Outcome("ok")


def confirm(run: Callable[[bytes], None], data: bytes, first: Outcome) -> Outcome | None:
    """Re-run a slow or memory-hungry input: a finding only if it repeats (best of 3)."""
    if first.kind == "exception":
        return first
    best = first
    for _ in range(2):
        again = check(run, data)
        if again.kind == "ok":
            return None
        if again.kind == "exception":
            return again
        best = again if again.seconds < best.seconds else best
    return best


#: The kinds a fresh interpreter without the coverage instrumentation must confirm (see
#: `plain_confirm`): the instrumentation slows Python code several-fold and not C, and its
#: comparison hooks allocate (10 MB traced for numpy comparisons in a 6 kB CSV body).
MEASURED = ("slow", "memory", "superlinear", "slow-per-byte")


def plain_check(target: str, data: bytes, kind: str) -> Outcome:
    """`kind`'s check of `data` again in this (uninstrumented) process: a finding only when
    every try finds it (three for memory and time, two scaled runs)."""
    from .targets import TARGETS

    t = TARGETS[target]
    last = Outcome("ok")
    if kind in ("slow", "memory"):
        for _ in range(3):
            last = check(t.run, data, measure_memory=kind == "memory")
            if last.kind != kind:
                return Outcome("ok")
        return last
    sel = data[0] if data else 0
    rate = fast_rate(t.run, t.fast()) if t.fast is not None and t.whole(sel) else None
    for _ in range(2):
        last = scaling(t.run, data, rate)
        if last.kind == "ok":
            return last
    return last


def plain_confirm(target: str, data: bytes, found: Outcome) -> Outcome | None:
    """Run `plain_check` in a fresh interpreter without atheris (``python -m fuzz.harness
    --confirm``): the finding as measured there, or None when it does not repeat."""
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as f:
        f.write(data)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "fuzz.harness", "--confirm", target, found.kind, f.name],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=Path(__file__).resolve().parent.parent,
        )
    finally:
        os.unlink(f.name)
    if proc.returncode == 0:
        return None
    if proc.returncode == 1 and proc.stdout.startswith("{"):
        got = json.loads(proc.stdout)
        return Outcome(got["kind"], got["detail"] + " (confirmed without instrumentation)", got["signature"])
    return Outcome(
        found.kind,
        f"{found.detail}; the uninstrumented check failed (exit {proc.returncode}): {_tail(proc.stderr)}",
        found.signature,
        found.seconds,
        found.peak,
    )


def _confirm_main(argv: list[str]) -> int:
    """``--confirm TARGET KIND FILE``: exit 0 when `plain_check` finds nothing, else 1 with
    the outcome as JSON on stdout."""
    target, kind, path = argv
    logging.getLogger("sm_payloads").propagate = False
    out = plain_check(target, Path(path).read_bytes(), kind)
    if out.kind == "ok":
        return 0
    print(json.dumps({"kind": out.kind, "detail": out.detail, "signature": out.signature}))
    return 1


def minimize(run: Callable[[bytes], None], data: bytes, signature: str, budget: float = 5.0) -> bytes:
    """Shrink `data` while it still gives a finding with the same signature (ddmin-style:
    drop chunks, then lower bytes), within `budget` seconds of wall time."""
    deadline = time.monotonic() + budget

    def same(candidate: bytes) -> bool:
        out = check(run, candidate, measure_memory=signature == "memory")
        if out.kind != "ok" and signature in ("slow", "memory"):
            out = confirm(run, candidate, out) or Outcome("ok")
        return out.kind != "ok" and out.signature == signature

    best = data
    chunk = max(1, len(best) // 2)
    while chunk >= 1 and time.monotonic() < deadline:
        i = 0
        shrunk = False
        while i < len(best) and time.monotonic() < deadline:
            candidate = best[:i] + best[i + chunk :]
            if candidate != best and same(candidate):
                best = candidate
                shrunk = True
            else:
                i += chunk
        if not shrunk:
            chunk //= 2
    for i in range(len(best)):
        if time.monotonic() >= deadline:
            break
        for repl in (0x30, 0x00):
            if best[i] != repl:
                candidate = best[:i] + bytes([repl]) + best[i + 1 :]
                if same(candidate):
                    best = candidate
                    break
    return best


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())


def _tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def record(target: str, crash_dir: Path, data: bytes, outcome: Outcome, run: Callable[[bytes], None]) -> bool:
    """Write a finding once per signature (keep the smallest input). True when new."""
    crash_dir.mkdir(parents=True, exist_ok=True)
    sig = hashlib.sha1(outcome.signature.encode()).hexdigest()[:10]
    stem = crash_dir / f"{target}-{outcome.kind}-{sig}"
    binf, txtf = stem.with_suffix(".bin"), stem.with_suffix(".txt")
    new = not binf.exists()
    if not new and len(binf.read_bytes()) <= len(data):
        return False
    shrink = new and outcome.kind not in ("superlinear", "slow-per-byte")
    small = minimize(run, data, outcome.signature) if shrink else data
    binf.write_bytes(small)
    txtf.write_text(
        f"target: {target}\nkind: {outcome.kind}\nsignature: {outcome.signature}\n"
        f"input ({len(small)} bytes): {small!r}\n\n{outcome.detail}\n"
    )
    with (crash_dir / "findings.jsonl").open("a") as f:
        f.write(
            json.dumps(
                {
                    "target": target,
                    "kind": outcome.kind,
                    "signature": outcome.signature,
                    "file": binf.name,
                    "size": len(small),
                    "new": new,
                    "time": time.time(),
                }
            )
            + "\n"
        )
    notes = os.environ.get("SMP_FUZZ_FINDINGS")
    if new and notes:
        with open(notes, "a") as f:
            f.write(
                f"\n## fuzz/{target}: {outcome.signature}  ({_now()})\n\n"
                f"Reproducer (selector byte first, see fuzz/targets.py `run_{target}`): `{small!r}`\n\n"
                "```python\nfrom fuzz.targets import TARGETS\n"
                f"TARGETS[{target!r}].run({small!r})\n```\n\n"
                f"```\n{_tail(outcome.detail)}\n```\n"
                f"File: `{binf}`\n"
            )
    return new


def main(argv: list[str]) -> None:
    if len(argv) > 1 and argv[1] == "--confirm":
        raise SystemExit(_confirm_main(argv[2:]))
    import atheris  # type: ignore[import-untyped]

    if len(argv) < 2 or argv[1].startswith("-"):
        raise SystemExit("usage: python -m fuzz.harness TARGET --crash-dir DIR [libFuzzer args]")
    name = argv[1]
    rest = argv[2:]
    crash_dir = Path("fuzz-crashes")
    if "--crash-dir" in rest:
        i = rest.index("--crash-dir")
        crash_dir = Path(rest[i + 1])
        del rest[i : i + 2]

    with atheris.instrument_imports(include=["sm_payloads"]):
        import sm_payloads
        import sm_payloads.algorithms
        import sm_payloads.serving  # noqa: F401
    from .targets import TARGETS

    target = TARGETS[name]
    run = target.run
    rate = fast_rate(run, target.fast()) if target.fast is not None else None
    logging.getLogger("sm_payloads").propagate = False  # the serving log's tracebacks: not to stderr
    counter = [0]
    found = [0]

    def one_input(data: bytes) -> None:
        counter[0] += 1
        measure = SAMPLE_MEMORY_EVERY > 0 and counter[0] % SAMPLE_MEMORY_EVERY == 0
        out = check(run, data, measure_memory=measure)
        if out.kind == "ok" and SCALE_EVERY > 0 and counter[0] % SCALE_EVERY == 0:
            out = scaling(run, data, rate if target.whole(data[0] if data else 0) else None)
            if out.kind == "exception" or out.signature == "memory-scaled":  # the reproducer
                data = repeat_body(data)
        if out.kind == "ok":
            return
        scaled = out.kind in ("superlinear", "slow-per-byte")
        confirmed = confirm(run, data, out) if not scaled else out
        if confirmed is not None and confirmed.kind in MEASURED:
            confirmed = plain_confirm(name, data, confirmed)
        if confirmed is None:
            return
        if record(name, crash_dir, data, confirmed, run):
            found[0] += 1
            print(f"FINDING {name} {confirmed.signature}", file=sys.stderr, flush=True)

    atheris.Setup([argv[0], *rest], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
